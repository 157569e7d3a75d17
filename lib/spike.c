/* spike.c - EARS C1-C3, following R's surveillance 1.20 (earsC and the
 * functions it calls) step by step so that the numbers agree, and the
 * series files (see spike.h; the method in words is in docs/DETECTION.md).
 * Farrington flexible is spike_farrington.c, on the GLM of spike_glm.c
 * (R's glm.fit). Comments name the R code each part mirrors. Distribution
 * functions come from GSL. */
#include "tessera/spike.h"
#include "tessera/csv.h"
#include "tessera/err.h"
#include "tessera/record.h"

#include <errno.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* R's pmax(a, b) for two numbers: NaN (NA) wins, unlike C's fmax. */
static double r_pmax(double a, double b)
{
    if (isnan(a) || isnan(b))
        return NAN;
    return a > b ? a : b;
}

/* qnorm(1 - alpha) */
static double s_z(double alpha) { return gsl_cdf_ugaussian_Qinv(alpha); }

/* --- EARS (surveillance::earsC) ------------------------------------------------ */

void tsr_ears_defaults(tsr_ears_opts_t *o, tsr_ears_method_t method)
{
    *o = (tsr_ears_opts_t){.method = method, .baseline = 7, .min_sigma = 0, .alpha = 0};
}

/* Mean and sample standard deviation (R's sd: n - 1) of y[from..from+n). */
static void s_mean_sd(const double *y, size_t from, int n, double *mean, double *sd)
{
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++)
        m += y[from + (size_t)i];
    m /= n;
    for (int i = 0; i < n; i++) {
        double d = y[from + (size_t)i] - m;
        ss += d * d;
    }
    *mean = m;
    *sd = sqrt(ss / (n - 1));
}

int tsr_ears(const double *y, size_t n, const tsr_ears_opts_t *o, tsr_spike_point_t *out)
{
    if (o->baseline < 3 || o->min_sigma < 0 || o->alpha < 0 || o->alpha >= 1 ||
        o->method < TSR_EARS_C1 || o->method > TSR_EARS_C3)
        return TSR_EINVAL;
    double alpha = o->alpha > 0 ? o->alpha : o->method == TSR_EARS_C3 ? 0.025 : 0.001;
    double z = s_z(alpha);
    size_t bl = (size_t)o->baseline;
    /* the reference window of period t: t-bl..t-1 (C1) or t-bl-2..t-3 (C2, C3) */
    size_t gap = o->method == TSR_EARS_C1 ? 0 : 2;
    size_t first = bl + gap + (o->method == TSR_EARS_C3 ? 2 : 0);
    for (size_t t = 0; t < n; t++) {
        tsr_spike_point_t *p = &out[t];
        *p = (tsr_spike_point_t){.evaluated = t >= first, .expected = NAN, .upperbound = NAN,
                                 .alarm = TSR_ALARM_NA};
        if (!p->evaluated)
            continue;
        double mean, sd;
        s_mean_sd(y, t - gap - bl, (int)bl, &mean, &sd);
        double sigma = r_pmax(sd, o->min_sigma);
        p->expected = mean;
        if (o->method != TSR_EARS_C3) {
            p->upperbound = mean + z * sigma;
        } else {
            /* C2 statistics of t-2 and t-1; the bound is what y[t] would have
             * to exceed for their positive parts plus its own to pass z */
            double part[2];
            for (int lag = 2; lag >= 1; lag--) {
                size_t u = t - (size_t)lag;
                double m2, sd2;
                s_mean_sd(y, u - gap - bl, (int)bl, &m2, &sd2);
                double c2 = (y[u] - m2) / r_pmax(sd2, o->min_sigma);
                part[2 - lag] = r_pmax(0, c2 - 1);
            }
            p->upperbound = r_pmax(0, y[t] + sigma * (z - (part[0] + part[1])));
        }
        p->alarm = isnan(p->upperbound) ? TSR_ALARM_NA
                                        : (y[t] > p->upperbound ? TSR_ALARM_YES : TSR_ALARM_NO);
    }
    return 0;
}

/* --- series files ------------------------------------------------------------------- */

typedef struct {
    tsr_series_t *s;
    size_t cap;
    int step;
    const char *path;
    tsr_error_t *err;
    bool header;
} s_load_t;

static int s_load_row(void *ctx, char **fields, size_t nf, long line)
{
    s_load_t *l = ctx;
    tsr_series_t *s = l->s;
    tsr_error_at(l->err, l->path, line);
    if (!l->header) {
        if (nf != 2 || strcmp(fields[0], "period") != 0 || strcmp(fields[1], "count") != 0)
            return tsr_error_set(l->err, "", "the first line must be the header 'period,count'");
        l->header = true;
        return 0;
    }
    if (nf != 2)
        return tsr_error_set(l->err, "", "%zu fields; want 2 (period,count)", nf);
    int32_t day;
    if (tsr_day_parse(fields[0], &day) != 0)
        return tsr_error_set(l->err, "period", "'%s' is not a date (YYYY-MM-DD)", fields[0]);
    char *end;
    double c = strtod(fields[1], &end);
    if (*fields[1] == '\0' || *end || c < 0 || c != floor(c) || c > 1e9)
        return tsr_error_set(l->err, "count", "'%s' is not a whole number of cases", fields[1]);
    if (s->n > 0) {
        int32_t d = day - s->day[s->n - 1];
        if (l->step == 0 && s->n == 1 && (d == 1 || d == 7))
            l->step = d;
        if (d != l->step) {
            char prev[11];
            return tsr_error_set(l->err, "period",
                                 "%s does not follow %s by %d day%s (periods must be "
                                 "consecutive, without gaps)",
                                 fields[0], tsr_day_format(prev, s->day[s->n - 1]),
                                 l->step ? l->step : 1, l->step == 1 || !l->step ? "" : "s");
        }
    }
    if (s->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        int32_t *d = realloc(s->day, cap * sizeof *d);
        if (d)
            s->day = d;
        double *cn = realloc(s->count, cap * sizeof *cn);
        if (cn)
            s->count = cn;
        if (!d || !cn)
            return TSR_ENOMEM;
        l->cap = cap;
    }
    s->day[s->n] = day;
    s->count[s->n++] = c;
    return 0;
}

int tsr_series_load(tsr_series_t *s, const char *path, int step, tsr_error_t *err)
{
    memset(s, 0, sizeof *s);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        tsr_error_at(err, path, 0);
        tsr_error_set(err, "", "cannot open: %s", strerror(errno));
        return TSR_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(fp);
                return TSR_ENOMEM;
            }
            buf = b;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    fclose(fp);
    s_load_t l = {s, 0, step, path, err, false};
    int rc = tsr_csv_parse(buf, len, s_load_row, &l, err);
    free(buf);
    if (rc == 0 && s->n == 0)
        rc = tsr_error_set(err, "", "no periods");
    if (rc != 0) {
        if (err && err->file[0] == '\0')
            snprintf(err->file, sizeof err->file, "%s", path);
        tsr_series_free(s);
        return rc;
    }
    s->step = l.step ? l.step : (step ? step : 1);
    return 0;
}

void tsr_series_free(tsr_series_t *s)
{
    free(s->day);
    free(s->count);
    memset(s, 0, sizeof *s);
}

const char *tsr_spike_method_title(const char *method)
{
    static const char *const names[][2] = {
        {"c1", "EARS C1"}, {"c2", "EARS C2"}, {"c3", "EARS C3"}, {"farrington", "Farrington flexible"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(method, names[i][0]))
            return names[i][1];
    return NULL;
}
