/* spikes.c - `tessera spikes backtest`: runs a detection method over a
 * series file, so analysts can try the methods on their own data and anyone
 * can check them against R's surveillance package. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tessera/err.h"
#include "tessera/record.h"
#include "tessera/spike.h"

static const char s_usage[] =
    "usage: tessera spikes backtest --method c1|c2|c3|farrington --input SERIES.csv\n"
    "                               [--format csv|table|json] [parameters]\n"
    "\n"
    "Runs a spike detection method over a series and prints, for every period\n"
    "with enough history: period,observed,expected,upperbound,alarm. The methods\n"
    "give the numbers of R's surveillance package (earsC, farringtonFlexible);\n"
    "docs/DETECTION.md explains them.\n"
    "\n"
    "SERIES.csv has the header period,count and one row per period: daily for\n"
    "EARS, weekly for Farrington (each week dated by its Monday), no gaps.\n"
    "\n"
    "EARS parameters:\n"
    "  --baseline N          reference days (7)\n"
    "  --min-sigma X         floor for the standard deviation (0)\n"
    "  --alpha A             0.001 for C1 and C2, 0.025 for C3\n"
    "Farrington flexible parameters:\n"
    "  --b N                 years back (3)        --w N   half window (3)\n"
    "  --no-periods N        seasonal levels (10)  --past-weeks N  recent weeks left out (26)\n"
    "  --weights-threshold X (2.58)                --no-reweight\n"
    "  --no-trend            --p-trend P (0.05)    --alpha A (0.05)\n"
    "  --threshold nbPlugin|muan (nbPlugin)        --limit54 CASES,WEEKS (5,4)\n";

/* Prints a number R-style: NA for not available, else 10 significant digits. */
static void s_num(char *out, size_t cap, double v)
{
    if (v != v)
        snprintf(out, cap, "NA");
    else
        snprintf(out, cap, "%.10g", v);
}

static bool s_parse_double(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s && !*end;
}

static bool s_parse_int(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    *out = (int)v;
    return *s && !*end && v >= 0 && v < 100000;
}

/* v as JSON: a number; NA (NaN) null; an infinity (C3 over a constant
 * baseline) "Inf" or "-Inf" as R writes it, JSON having no such number. */
static json_t *s_json_num(double v)
{
    if (isnan(v))
        return json_null();
    if (isinf(v))
        return json_string(v > 0 ? "Inf" : "-Inf");
    return json_real(v);
}

/* Says on stderr that no period of s had enough history for method. */
static void s_no_history(const tsr_series_t *s, const char *method)
{
    fprintf(stderr, "tessera spikes: %zu periods are not enough history for %s\n", s->n, method);
}

/* The evaluated periods as a JSON array of objects: the same fields as the
 * CSV, numbers as numbers, NA as null. Returns the exit code. */
static int s_print_json(const tsr_series_t *s, const tsr_spike_point_t *out, const char *method)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < s->n; i++) {
        if (!out[i].evaluated)
            continue;
        char day[11];
        json_t *o = json_object();
        json_array_append_new(arr, o);
        json_object_set_new(o, "period", json_string(tsr_day_format(day, s->day[i])));
        json_object_set_new(o, "observed", json_integer((json_int_t)s->count[i]));
        json_object_set_new(o, "expected", s_json_num(out[i].expected));
        json_object_set_new(o, "upperbound", s_json_num(out[i].upperbound));
        json_object_set_new(o, "alarm", out[i].alarm == TSR_ALARM_NA
                                            ? json_null()
                                            : json_boolean(out[i].alarm == TSR_ALARM_YES));
    }
    char *text = arr ? json_dumps(arr, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) : NULL;
    bool ok = text != NULL;
    if (ok)
        puts(text);
    else
        fprintf(stderr, "tessera spikes: out of memory\n");
    if (arr && json_array_size(arr) == 0)
        s_no_history(s, method);
    free(text);
    json_decref(arr);
    return ok ? 0 : 1;
}

/* The evaluated periods as CSV (period,observed,expected,upperbound,alarm),
 * or as a table for people. */
static void s_print_rows(const tsr_series_t *s, const tsr_spike_point_t *out, const char *method,
                         bool table)
{
    printf(table ? "%-10s  %8s  %12s  %12s  %s\n" : "%s,%s,%s,%s,%s\n", "period", "observed",
           "expected", "upperbound", "alarm");
    size_t shown = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!out[i].evaluated)
            continue;
        char day[11], e[32], u[32];
        tsr_day_format(day, s->day[i]);
        s_num(e, sizeof e, out[i].expected);
        s_num(u, sizeof u, out[i].upperbound);
        const char *al = out[i].alarm == TSR_ALARM_NA ? "NA" : out[i].alarm ? "1" : "0";
        printf(table ? "%-10s  %8.0f  %12s  %12s  %s\n" : "%s,%.0f,%s,%s,%s\n", day, s->count[i],
               e, u, al);
        shown++;
    }
    if (shown == 0)
        s_no_history(s, method);
}

/* What `tessera spikes backtest` was asked for. */
typedef struct {
    const char *method, *input, *format;
    bool farrington;
    double alpha; /* 0: the method's default */
    tsr_ears_opts_t eo;
    tsr_farrington_opts_t fo;
} s_args_t;

/* The options after "backtest" into a: -1 to go on, else the exit code (0
 * for --help). */
static int s_options(s_args_t *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"method", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"format", required_argument, NULL, 'f'},
        {"baseline", required_argument, NULL, 'B'},
        {"min-sigma", required_argument, NULL, 'S'},
        {"alpha", required_argument, NULL, 'a'},
        {"b", required_argument, NULL, 'b'},
        {"w", required_argument, NULL, 'w'},
        {"no-periods", required_argument, NULL, 'p'},
        {"past-weeks", required_argument, NULL, 'P'},
        {"weights-threshold", required_argument, NULL, 'T'},
        {"no-reweight", no_argument, NULL, 'R'},
        {"no-trend", no_argument, NULL, 'N'},
        {"p-trend", required_argument, NULL, 't'},
        {"threshold", required_argument, NULL, 'x'},
        {"limit54", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    *a = (s_args_t){.format = "csv"};
    tsr_ears_opts_t *eo = &a->eo;
    tsr_farrington_opts_t *fo = &a->fo;
    tsr_ears_defaults(eo, TSR_EARS_C1);
    tsr_farrington_defaults(fo);
    bool ok = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->method = optarg; break;
        case 'i': a->input = optarg; break;
        case 'f': a->format = optarg; break;
        case 'B': ok &= s_parse_int(optarg, &eo->baseline); break;
        case 'S': ok &= s_parse_double(optarg, &eo->min_sigma); break;
        case 'a': ok &= s_parse_double(optarg, &a->alpha) && a->alpha > 0 && a->alpha < 1; break;
        case 'b': ok &= s_parse_int(optarg, &fo->b); break;
        case 'w': ok &= s_parse_int(optarg, &fo->w); break;
        case 'p': ok &= s_parse_int(optarg, &fo->no_periods); break;
        case 'P': ok &= s_parse_int(optarg, &fo->past_weeks_not_included); break;
        case 'T': ok &= s_parse_double(optarg, &fo->weights_threshold); break;
        case 'R': fo->reweight = false; break;
        case 'N': fo->trend = false; break;
        case 't': ok &= s_parse_double(optarg, &fo->p_threshold_trend); break;
        case 'x':
            if (!strcmp(optarg, "nbPlugin"))
                fo->threshold = TSR_FF_NBPLUGIN;
            else if (!strcmp(optarg, "muan"))
                fo->threshold = TSR_FF_MUAN;
            else
                ok = false;
            break;
        case 'l':
            ok &= sscanf(optarg, "%d,%d", &fo->limit54_cases, &fo->limit54_period) == 2;
            break;
        case 'h': fputs(s_usage, stdout); return 0;
        default: fputs(s_usage, stderr); return 2;
        }
    }
    const char *m = a->method;
    a->farrington = m && !strcmp(m, "farrington");
    bool ears = m && (!strcmp(m, "c1") || !strcmp(m, "c2") || !strcmp(m, "c3"));
    if (!ok || !a->input || !(a->farrington || ears) || optind != argc ||
        (strcmp(a->format, "csv") && strcmp(a->format, "table") && strcmp(a->format, "json"))) {
        fprintf(stderr, "tessera spikes backtest: %s\n\n%s",
                !ok ? "a parameter is not a valid number"
                    : !(a->farrington || ears) ? "--method must be c1, c2, c3 or farrington"
                                               : "--input SERIES.csv is required",
                s_usage);
        return 2;
    }
    return -1;
}

int cli_cmd_spikes(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "backtest") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(s_usage, stdout);
            return 0;
        }
        fputs(s_usage, stderr);
        return 2;
    }
    s_args_t a;
    int rc = s_options(&a, argc - 1, argv + 1);
    if (rc >= 0)
        return rc;
    tsr_series_t s;
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    if (tsr_series_load(&s, a.input, a.farrington ? 7 : 1, &err) != 0) {
        fprintf(stderr, "tessera spikes: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return 1;
    }
    if (a.farrington && (s.day[0] + 3) % 7 != 0) {
        char d[11];
        fprintf(stderr, "tessera spikes: %s:2: period: %s is not a Monday (weekly series are "
                        "dated by the Monday of each week)\n",
                a.input, tsr_day_format(d, s.day[0]));
        tsr_series_free(&s);
        return 1;
    }
    tsr_spike_point_t *out = calloc(s.n, sizeof *out);
    rc = out ? 0 : TSR_ENOMEM;
    if (rc == 0 && a.farrington) {
        if (a.alpha > 0)
            a.fo.alpha = a.alpha;
        rc = tsr_farrington(s.count, s.n, &a.fo, out);
    } else if (rc == 0) {
        char k = a.method[1];
        a.eo.method = k == '1' ? TSR_EARS_C1 : k == '2' ? TSR_EARS_C2 : TSR_EARS_C3;
        a.eo.alpha = a.alpha;
        rc = tsr_ears(s.count, s.n, &a.eo, out);
    }
    if (rc != 0) {
        fprintf(stderr, "tessera spikes: %s\n",
                rc == TSR_EINVAL ? "the parameters are out of range (see --help)" : tsr_strerror(rc));
        free(out);
        tsr_series_free(&s);
        return rc == TSR_EINVAL ? 2 : 1;
    }
    if (!strcmp(a.format, "json"))
        rc = s_print_json(&s, out, a.method);
    else
        s_print_rows(&s, out, a.method, !strcmp(a.format, "table"));
    free(out);
    tsr_series_free(&s);
    return rc;
}
