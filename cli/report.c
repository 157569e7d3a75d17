/* report.c - `tessera report`: one self-contained HTML file (inline CSS and
 * SVG, no script, no external font, image or link) a regional analyst can
 * email. Every number in it is one the collector released (trend tables and
 * spike alerts); the only arithmetic done on them is the difference of two
 * released counts in the period-on-period table, labelled as such
 * (report_text.c; the charts are report_chart.c).
 *
 * Collectors since the cell-key method (issue 14) perturb every count and add
 * total cells, marked by an empty key ("" = every value of that dimension);
 * older ones suppress small cells instead. Both shapes are drawn: totals are
 * recognised by their empty keys, never by position, and a suppressed cell
 * gets a neutral mark that claims no height.
 *
 * This file asks the collector and writes the page in order; the words and
 * tables are report_text.c, the charts report_chart.c (report_int.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "report_int.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/record.h"

static const char s_usage[] =
    "usage: tessera report --region CODE --out FILE.html --server-key COLLECTOR.pub\n"
    "                      --key NAME.key [--since YYYY-MM-DD] [--until YYYY-MM-DD]\n"
    "                      [--collector ENDPOINT]\n"
    "\n"
    "Writes one self-contained HTML file for a region (inline CSS and SVG: no\n"
    "script, and nothing it loads from elsewhere), in about ten queries:\n"
    "  - a legend, and what the released numbers may differ from the true counts by;\n"
    "  - cases per area in the period, and this period against the previous one\n"
    "    of the same length (per area and for the region total, with the change);\n"
    "  - weekly cases for the whole region, and small multiples per area that share\n"
    "    one y-axis, the current partial week drawn lighter, spike alerts marked\n"
    "    (each mark says its date, method, and observed against expected);\n"
    "  - the spike alerts of the period as a list;\n"
    "  - contact and moved-to platforms by month, demands, payment methods,\n"
    "    tactics, and age band by gender, with the collector's totals.\n"
    "Every figure is as the collector released it (cell-key method: perturbed by\n"
    "at most a stated amount, never 1 to k-1; older collectors: <k and x for\n"
    "suppressed cells). Default period: the last 26 weeks, up to today.\n" CLI_CONN_USAGE;


/* One trends query over [since, until] in the region, optionally filtered by
 * where_dim=where_val. Fills t; t->m is the caller's to clear. */
static void s_trends(s_report_t *r, s_table_t *t, const char *by, int32_t since, int32_t until,
                     const char *where_dim, const char *where_val)
{
    tsr_msg_t req = {.kind = TSR_MSG_QUERY};
    tsr_query_t *q = &req.u.query;
    q->request_id = ++r->next_id;
    q->kind = TSR_QUERY_TRENDS;
    char b[64];
    snprintf(b, sizeof b, "%s", by);
    char *comma = strchr(b, ',');
    if (comma)
        *comma = '\0';
    q->by[0] = tsr_dimension_parse(b);
    q->by[1] = comma ? tsr_dimension_parse(comma + 1) : 0;
    q->n_by = comma ? 2 : 1;
    q->since_day = since;
    q->until_day = until;
    q->filters[0].dimension = tsr_dimension_parse("region");
    snprintf(q->filters[0].value, sizeof q->filters[0].value, "%s", r->region);
    q->n_filters = 1;
    if (where_dim) {
        q->filters[1].dimension = tsr_dimension_parse(where_dim);
        snprintf(q->filters[1].value, sizeof q->filters[1].value, "%s", where_val);
        q->n_filters = 2;
    }
    tsr_error_t err;
    tsr_error_clear(&err);
    memset(t, 0, sizeof *t);
    r->queries++;
    if (tsr_conn_request(r->conn, &req, &t->m, 10000, &err) != 0) {
        /* not answered: -(the exit code), with what to fix */
        int code = cli_conn_why("report", r->co, r->conn, t->why, sizeof t->why);
        if (code == 0) {
            snprintf(t->why, sizeof t->why, "%s", err.reason);
            code = 1;
        }
        t->rc = -code;
        return;
    }
    if (t->m.kind == TSR_MSG_RESPONSE && t->m.u.response.status == TSR_QSTATUS_RATE_LIMITED) {
        cli_refusal_text(t->why, sizeof t->why, &t->m.u.response);
        t->rc = 1;
        return;
    }
    if (t->m.kind != TSR_MSG_RESPONSE || t->m.u.response.status != TSR_QSTATUS_OK) {
        snprintf(t->why, sizeof t->why, "%s",
                 t->m.kind == TSR_MSG_RESPONSE ? t->m.u.response.error : "unexpected reply");
        t->rc = 1;
        return;
    }
    if (t->m.u.response.k)
        r->k = t->m.u.response.k;
    if (t->m.u.response.max_deviation > r->max_deviation)
        r->max_deviation = t->m.u.response.max_deviation;
}

/* A total cell: one of its keys is "" (every value of that dimension). */
bool cli_report_is_total(const tsr_trend_cell_t *c)
{
    for (size_t d = 0; d < c->n_keys && d < TSR_TRENDS_MAX_BY; d++)
        if (c->keys[d][0] == '\0')
            return true;
    return false;
}

/* The cell with keys k0 (and k1 for a two-dimensional table), or NULL when
 * the collector left it out. "" finds a total. */
const tsr_trend_cell_t *cli_report_cell(const tsr_response_t *r, const char *k0, const char *k1)
{
    for (size_t i = 0; i < r->n_cells; i++) {
        const tsr_trend_cell_t *c = &r->cells[i];
        if (!strcmp(c->keys[0], k0) && (!k1 || !strcmp(c->keys[1], k1)))
            return c;
    }
    return NULL;
}

static const struct {
    const char *by, *d0, *d1, *title;
} s_parts[] = {
    {"month,contact_platform", "month", "contact_platform", "First contact platform by month"},
    {"month,moved_to_platform", "month", "moved_to_platform", "Platform moved to by month"},
    {"demand", "demand", NULL, "Demands"},
    {"payment_method", "payment_method", NULL, "Payment methods"},
    {"tactic", "tactic", NULL, "Tactics"},
    {"age_band,gender", "age_band", "gender", "Age band by gender"},
};
_Static_assert(sizeof s_parts / sizeof s_parts[0] == S_NPARTS, "S_NPARTS (report_int.h)");

static void s_ask(s_report_t *rep, s_data_t *d, int32_t prev_since)
{
    s_trends(rep, &d->prev, "area", prev_since, rep->since - 1, NULL, NULL);
    tsr_msg_t req = {.kind = TSR_MSG_QUERY};
    req.u.query.request_id = ++rep->next_id;
    req.u.query.kind = TSR_QUERY_ALERTS;
    req.u.query.max = 1000;
    tsr_error_t err;
    tsr_error_clear(&err);
    d->alerts_ok = tsr_conn_request(rep->conn, &req, &d->alerts, 10000, &err) == 0 &&
                   d->alerts.kind == TSR_MSG_RESPONSE &&
                   d->alerts.u.response.status == TSR_QSTATUS_OK;
    if (!d->alerts_ok)
        tsr_msg_clear(&d->alerts);
    /* every area's weeks in one query: under the cell-key method a cell's
     * records fix its value, so these are the cells a query per area gives */
    s_trends(rep, &d->grid, "area,week", rep->since, rep->until, NULL, NULL);
    if (d->grid.rc == 0)
        for (size_t i = 0; i < s_resp(&d->grid)->n_cells && !d->region_from_totals; i++)
            d->region_from_totals = s_resp(&d->grid)->cells[i].keys[0][0] == '\0';
    if (!d->region_from_totals) /* an older collector: no totals */
        s_trends(rep, &d->region, "week", rep->since, rep->until, NULL, NULL);
    for (size_t p = 0; p < S_NPARTS; p++)
        s_trends(rep, &d->parts[p], s_parts[p].by, rep->since, rep->until, NULL, NULL);
}

static void s_data_clear(s_data_t *d)
{
    tsr_msg_clear(&d->areas.m);
    tsr_msg_clear(&d->prev.m);
    tsr_msg_clear(&d->grid.m);
    tsr_msg_clear(&d->region.m);
    for (size_t p = 0; p < S_NPARTS; p++)
        tsr_msg_clear(&d->parts[p].m);
    tsr_msg_clear(&d->alerts);
}

static const char s_css[] =
    "body{font-family:sans-serif;max-width:1100px;margin:1.5em auto;color:#222;padding:0 1em}\n"
    "h1{font-size:1.45em}h2{font-size:1.15em;border-bottom:1px solid #ccc;margin-top:1.6em}\n"
    "h3{font-size:1em;font-weight:normal;color:#444}\n"
    "figure{display:inline-block;margin:0 1.5em 1.2em 0;vertical-align:top}\n"
    "figcaption{font-weight:bold;font-size:.9em}svg text{font-size:11px;fill:#222}\n"
    ".mini{margin:0 .8em .8em 0}.mini figcaption{font-weight:normal;font-size:.8em}\n"
    ".bar,.heat{fill:#3b6ea8}.alert{fill:#c0392b}\n"
    /* no url(): a pattern fill would be the one reference in the file */
    ".part{fill:#b9cde4;stroke:#3b6ea8;stroke-dasharray:2 1.5}\n"
    ".supp{fill:#fff;stroke:#777;stroke-dasharray:2 2}.none{fill:#f6f6f6}\n"
    ".totcell{fill:#eee;stroke:#bbb}.totlabel{font-style:italic}\n"
    "svg text.ondark{fill:#fff}svg text.axis{font-size:9px;fill:#666}\n"
    ".grid line.grid{stroke:#e4e4e4}line.grid{stroke:#e4e4e4}line.base{stroke:#999}\n"
    ".note{font-size:.85em;color:#555}.lead{font-size:.95em;background:#f3f6fa;"
    "border-left:4px solid #3b6ea8;padding:.5em .8em}\n"
    ".legend{border:1px solid #ddd;padding:.4em .6em;margin:.8em 0}\n"
    ".legend svg text{font-size:12px}.tot{font-size:.85em;margin:.2em 0 0 0}\n"
    "table{border-collapse:collapse;font-size:.85em;margin:.4em 0}"
    "th,td{border-bottom:1px solid #e2e2e2;padding:.25em .7em;text-align:left}"
    "td.num,th:not(:first-child){text-align:right}.na{color:#888}.totrow td{font-weight:bold}\n"
    "table.alerts th,table.alerts td{text-align:left;vertical-align:top}"
    "table.alerts td{padding:.15em .7em}table.alerts td:last-child{color:#555;max-width:30em}\n"
    "table.alerts td:first-child{white-space:nowrap}\n";

/* The options into rep and *out, with the period's defaults (the last 26
 * weeks up to today): -1 to go on, else the exit code (0 for --help). */
static int s_options(s_report_t *rep, cli_conn_opts_t *co, const char **out, int argc,
                     char **argv, int32_t today)
{
    static const struct option opts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"region", required_argument, NULL, 'r'},
        {"out", required_argument, NULL, 'o'},
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_conn_option(co, c, optarg))
            continue;
        switch (c) {
        case 'r': rep->region = optarg; break;
        case 'o': *out = optarg; break;
        case 's':
        case 'u':
            if (tsr_day_parse(optarg, c == 's' ? &rep->since : &rep->until) != 0) {
                fprintf(stderr, "tessera report: '%s' is not a date (YYYY-MM-DD)\n", optarg);
                return 2;
            }
            break;
        case 'h': fputs(s_usage, stdout); return 0;
        default: fputs(s_usage, stderr); return 2;
        }
    }
    if (!rep->region || !*out || optind != argc) {
        fputs(s_usage, stderr);
        return 2;
    }
    if (!tsr_region_exists(rep->region)) {
        fprintf(stderr, "tessera report: --region %s is not a region code (e.g. E12000003)\n",
                rep->region);
        return 2;
    }
    if (!cli_conn_complete(co, "report"))
        return 2;
    if (!rep->until)
        rep->until = today;
    if (!rep->since)
        rep->since = tsr_day_week_monday(rep->until) - 7 * 25;
    rep->since = tsr_day_week_monday(rep->since);
    rep->end = tsr_day_week_monday(rep->until) + 6;
    if (rep->since > rep->until) {
        fprintf(stderr, "tessera report: --since is after --until\n");
        return 2;
    }
    return -1;
}

/* The page, from the tables in d; the caller checks fp for errors. */
static void s_page(FILE *fp, s_report_t *rep, const s_data_t *d, const s_weeks_t *w,
                   bool any_partial, int32_t prev_since)
{
    char d1[11], d2[11], now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%d %H:%M UTC", &tm);
    const char *rname = tsr_region_name(rep->region); /* it exists: s_options checked */
    fprintf(fp,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<meta name=\"tessera-k\" content=\"%u\">\n"
            "<meta name=\"tessera-max-deviation\" content=\"%u\">\n"
            "<title>Tessera regional report: %s</title>\n<style>\n%s</style></head><body>\n",
            rep->k, rep->max_deviation, rname, s_css);
    fprintf(fp, "<h1>Sexually coerced extortion of children: %s (%s)</h1>\n", rname, rep->region);
    fprintf(fp,
            "<p class=\"note\">Reports received from %s to %s (whole weeks, Monday to Sunday), "
            "produced %s by Tessera from minimised agency records, in %u queries.</p>\n"
            "<p class=\"lead\">",
            tsr_day_format(d1, rep->since), tsr_day_format(d2, rep->end), now, rep->queries + 1);
    cli_report_release_note(fp, rep);
    fputs("</p>\n", fp);
    /* the legend needs to know whether suppressed cells are drawn: a dry
     * pass over the tables sets rep->any_suppressed */
    for (size_t p = 0; p < S_NPARTS + 4; p++) {
        const s_table_t *tb = p < S_NPARTS        ? &d->parts[p]
                              : p == S_NPARTS     ? &d->areas
                              : p == S_NPARTS + 1 ? &d->prev
                              : p == S_NPARTS + 2 ? &d->grid
                                                  : &d->region;
        for (size_t i = 0; tb->rc == 0 && i < s_resp(tb)->n_cells; i++)
            rep->any_suppressed |= s_resp(tb)->cells[i].suppressed;
    }
    cli_report_legend(fp, rep, any_partial);
    fputs("<h2>Cases by area</h2>\n", fp);
    cli_report_bars(fp, rep, "Cases in the period", "area", &d->areas);
    fputs("<h3>This period against the previous one</h3>\n", fp);
    cli_report_compare(fp, rep, &d->areas, &d->prev, prev_since);
    cli_report_weekly(fp, rep, d, w);
    cli_report_alerts(fp, rep, d->alerts_ok ? &d->alerts : NULL);
    fputs("<h2>How it happens</h2>\n", fp);
    for (size_t p = 0; p < S_NPARTS; p++) {
        if (d->parts[p].rc != 0)
            cli_report_withheld(fp, s_parts[p].title, d->parts[p].why);
        else if (s_parts[p].d1)
            cli_report_grid(fp, rep, s_parts[p].title, s_parts[p].d0, s_parts[p].d1, &d->parts[p]);
        else
            cli_report_bars(fp, rep, s_parts[p].title, s_parts[p].d0, &d->parts[p]);
    }
    fputs("<h2>Method</h2>\n<p class=\"note\">", fp);
    cli_report_release_note(fp, rep);
    if (rep->max_deviation)
        fputs(" Months are periods of whole ISO weeks: the weeks whose Thursday falls in that "
              "month.",
              fp);
    fputs(" Counts come from the regional collector's trend tables (docs/PRIVACY.md). Spike "
          "alerts come from EARS C1-C3 on daily counts and Farrington flexible on weekly "
          "counts, as in R's surveillance package; an analyst's observed count is released as "
          "the tables' are. Lists (platforms, demands, tactics) count a case once per value. "
          "No record, identifier or agency appears in this report. Weeks run Monday to "
          "Sunday.</p>\n</body></html>\n",
          fp);
}

int cli_cmd_report(int argc, char **argv)
{
    cli_conn_opts_t co;
    cli_conn_defaults(&co);
    s_report_t rep = {.k = 5, .co = &co};
    const char *out = NULL;
    int32_t today = tsr_day_today();
    int rc = s_options(&rep, &co, &out, argc, argv, today);
    if (rc >= 0)
        return rc;
    /* the previous period: as many whole weeks, just before */
    int32_t prev_since = rep.since - (rep.end - rep.since + 1);
    s_weeks_t w;
    bool any_partial = cli_report_weeks(&w, &rep, today);

    void *ctx = zmq_ctx_new();
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    if (tsr_conn_open(&rep.conn, ctx, co.endpoint, co.server, co.key, &err) != 0) {
        fprintf(stderr, "tessera report: %s\n", tsr_error_format(&err, msg, sizeof msg));
        zmq_ctx_term(ctx);
        return 1;
    }
    static s_data_t d; /* large: the axes of every table */
    memset(&d, 0, sizeof d);
    /* the areas first: without them there is no report */
    s_trends(&rep, &d.areas, "area", rep.since, rep.until, NULL, NULL);
    if (d.areas.rc != 0) {
        fprintf(stderr, "tessera report: %s\n", d.areas.why);
        s_data_clear(&d);
        tsr_conn_close(&rep.conn);
        zmq_ctx_term(ctx);
        return d.areas.rc < 0 ? -d.areas.rc : 1;
    }
    s_ask(&rep, &d, prev_since);
    tsr_conn_close(&rep.conn);
    zmq_ctx_term(ctx);
    FILE *fp = fopen(out, "w");
    if (!fp) {
        perror(out);
        s_data_clear(&d);
        return 1;
    }
    s_page(fp, &rep, &d, &w, any_partial, prev_since);
    bool ok = fflush(fp) == 0 && !ferror(fp);
    fclose(fp);
    s_data_clear(&d);
    if (!ok) {
        fprintf(stderr, "tessera report: could not write %s\n", out);
        return 1;
    }
    printf("report written to %s\n", out);
    return 0;
}
