/* report.c - `tessera report`: one self-contained HTML file (inline CSS and
 * SVG, no script, no external font or image) a regional analyst can email.
 * Every number in it comes from the collector's trend tables and spike
 * alerts, after disclosure control: nothing here computes a count the
 * collector did not release. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "cli.h"
#include "tessera/client.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/record.h"

static const char s_usage[] =
    "usage: tessera report --region CODE --out FILE.html --server-key COLLECTOR.pub\n"
    "                      --key NAME.key [--since YYYY-MM-DD] [--until YYYY-MM-DD]\n"
    "                      [--collector ENDPOINT]\n"
    "\n"
    "Writes one self-contained HTML file for a region: weekly incidents per area\n"
    "(small multiples) with spike alerts marked, contact and moved-to platforms by\n"
    "month, demands, payment methods, tactics, and age band by gender. Every\n"
    "figure has the collector's disclosure control applied (<k: a small count;\n"
    "x: hidden to protect another cell). Default period: the last 26 weeks.\n" CLI_CONN_USAGE;

typedef struct {
    tsr_conn_t *conn;
    uint64_t next_id;
    int32_t since, until;
    const char *region;
    unsigned k;
} s_report_t;

/* One trends query; 0 with *out filled, or 1 with why (refused tables are
 * part of the report: they say "withheld"). */
static int s_trends(s_report_t *r, const char *by, const char *where_dim, const char *where_val,
                    tsr_msg_t *out, char *why, size_t cap)
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
    q->since_day = r->since;
    q->until_day = r->until;
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
    int rc = tsr_conn_request(r->conn, &req, out, 10000, &err);
    if (rc != 0) {
        snprintf(why, cap, "%s", err.reason);
        return -1;
    }
    if (out->kind != TSR_MSG_RESPONSE || out->u.response.status != TSR_QSTATUS_OK) {
        snprintf(why, cap, "%s", out->kind == TSR_MSG_RESPONSE ? out->u.response.error : "?");
        return 1;
    }
    if (out->u.response.k)
        r->k = out->u.response.k;
    return 0;
}

/* HTML-escapes s into fp. */
static void s_esc(FILE *fp, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&#39;", fp); break;
        default: fputc(*s, fp);
        }
}

/* Horizontal bars for a one-dimensional table. */
static void s_bars(FILE *fp, const char *title, const tsr_msg_t *m, unsigned k)
{
    const tsr_response_t *r = &m->u.response;
    uint64_t max = k;
    for (size_t i = 0; i < r->n_cells; i++)
        if (!r->cells[i].suppressed && r->cells[i].count > max)
            max = r->cells[i].count;
    int h = 18 * (int)r->n_cells + 10;
    fputs("<figure><figcaption>", fp);
    s_esc(fp, title);
    fprintf(fp, "</figcaption><svg width=\"600\" height=\"%d\" role=\"img\">\n", h);
    for (size_t i = 0; i < r->n_cells; i++) {
        const tsr_trend_cell_t *c = &r->cells[i];
        char t[32];
        cli_cell_text(t, sizeof t, c, k, true);
        double w = c->suppressed ? 300.0 * (c->protective ? k : k - 1) / (double)max
                                 : 300.0 * (double)c->count / (double)max;
        /* an area's name, not only its code */
        const tsr_area_t *area = tsr_area_find(c->keys[0]);
        int y = 5 + 18 * (int)i;
        fprintf(fp, "<text x=\"235\" y=\"%d\" text-anchor=\"end\">", y + 12);
        s_esc(fp, area ? area->name : c->keys[0]);
        fprintf(fp, "</text><rect x=\"240\" y=\"%d\" width=\"%.1f\" height=\"13\" class=\"%s\"/>"
                    "<text x=\"%.1f\" y=\"%d\" data-count=\"%s\">%s</text>\n",
                y + 2, w < 1 && !c->suppressed && c->count ? 1.0 : w,
                c->suppressed ? (c->protective ? "prot" : "small") : "bar", 246 + w, y + 12,
                c->suppressed ? "hidden" : t, t);
    }
    fputs("</svg></figure>\n", fp);
}

/* A two-dimensional table as a shaded grid. */
static void s_grid(FILE *fp, const char *title, const tsr_msg_t *m, unsigned k)
{
    const tsr_response_t *r = &m->u.response;
    size_t ncols = 0;
    while (ncols < r->n_cells && !strcmp(r->cells[ncols].keys[0], r->cells[0].keys[0]))
        ncols++;
    if (ncols == 0)
        return;
    size_t nrows = r->n_cells / ncols;
    uint64_t max = k;
    for (size_t i = 0; i < r->n_cells; i++)
        if (!r->cells[i].suppressed && r->cells[i].count > max)
            max = r->cells[i].count;
    int cw = 62, ch = 20, left = 150, top = 70;
    fputs("<figure><figcaption>", fp);
    s_esc(fp, title);
    fprintf(fp, "</figcaption><svg width=\"%d\" height=\"%d\" role=\"img\">\n",
            left + cw * (int)ncols + 10, top + ch * (int)nrows + 10);
    for (size_t j = 0; j < ncols; j++) {
        fprintf(fp, "<text transform=\"translate(%d,%d) rotate(-40)\">", left + cw * (int)j + 10,
                top - 6);
        s_esc(fp, r->cells[j].keys[1]);
        fputs("</text>\n", fp);
    }
    for (size_t i = 0; i < nrows; i++) {
        fprintf(fp, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6,
                top + ch * (int)i + 14);
        s_esc(fp, r->cells[i * ncols].keys[0]);
        fputs("</text>\n", fp);
        for (size_t j = 0; j < ncols; j++) {
            const tsr_trend_cell_t *c = &r->cells[i * ncols + j];
            char t[32];
            cli_cell_text(t, sizeof t, c, k, true);
            double shade = c->suppressed ? 0 : (double)c->count / (double)max;
            fprintf(fp, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"%s\" "
                        "fill-opacity=\"%.2f\"/><text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                        "data-count=\"%s\">%s</text>\n",
                    left + cw * (int)j, top + ch * (int)i, cw - 2, ch - 2,
                    c->suppressed ? "small" : "heat", c->suppressed ? 1.0 : 0.15 + 0.85 * shade,
                    left + cw * (int)j + cw / 2, top + ch * (int)i + 14,
                    c->suppressed ? "hidden" : t, t);
        }
    }
    fputs("</svg></figure>\n", fp);
}

/* Weekly bars of one series, with the weeks that had a spike alert marked. */
static void s_weekly(FILE *fp, const char *title, const tsr_msg_t *m, unsigned k,
                     const int32_t *alert_weeks, size_t n_alerts)
{
    const tsr_response_t *r = &m->u.response;
    uint64_t max = k;
    for (size_t i = 0; i < r->n_cells; i++)
        if (!r->cells[i].suppressed && r->cells[i].count > max)
            max = r->cells[i].count;
    int bw = r->n_cells ? (int)(300 / r->n_cells) : 10, h = 90;
    if (bw < 2)
        bw = 2;
    fputs("<figure class=\"mini\"><figcaption>", fp);
    s_esc(fp, title);
    fprintf(fp, "</figcaption><svg width=\"%d\" height=\"%d\" role=\"img\">\n",
            bw * (int)r->n_cells + 40, h + 30);
    for (size_t i = 0; i < r->n_cells; i++) {
        const tsr_trend_cell_t *c = &r->cells[i];
        char t[32];
        cli_cell_text(t, sizeof t, c, k, true);
        double v = c->suppressed ? (c->protective ? k : k - 1) : (double)c->count;
        double bh = (h - 10) * v / (double)max;
        int x = 30 + bw * (int)i;
        fprintf(fp, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" class=\"%s\">"
                    "<title data-count=\"%s\">",
                x, h - bh, bw - 1, bh, c->suppressed ? (c->protective ? "prot" : "small") : "bar",
                c->suppressed ? "hidden" : t);
        s_esc(fp, c->keys[0]);
        fprintf(fp, ": %s</title></rect>\n", t);
        int32_t week;
        if (tsr_day_parse(c->keys[0], &week) == 0)
            for (size_t a = 0; a < n_alerts; a++)
                if (alert_weeks[a] == week)
                    fprintf(fp, "<path d=\"M%d %d l4 -8 l4 8 z\" class=\"alert\"><title>spike "
                                "alert</title></path>\n",
                            x + bw / 2 - 4, (int)(h - bh) - 2);
    }
    fprintf(fp, "<text x=\"26\" y=\"12\" text-anchor=\"end\">%" PRIu64 "</text>"
                "<text x=\"26\" y=\"%d\" text-anchor=\"end\">0</text>", max, h);
    if (r->n_cells) {
        fprintf(fp, "<text x=\"30\" y=\"%d\">", h + 16);
        s_esc(fp, r->cells[0].keys[0]);
        fprintf(fp, "</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">",
                30 + bw * (int)r->n_cells, h + 16);
        s_esc(fp, r->cells[r->n_cells - 1].keys[0]);
        fputs("</text>", fp);
    }
    fputs("</svg></figure>\n", fp);
}

/* The weeks (Mondays) of spike and cross-area alerts on a series. */
static size_t s_alert_weeks(const tsr_msg_t *alerts, const char *series, int32_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; alerts && i < alerts->u.response.n_alerts && n < cap; i++) {
        const tsr_alert_t *a = &alerts->u.response.alerts[i];
        size_t sl = strlen(series);
        if (a->kind == TSR_ALERT_LINKAGE || strncmp(a->series, series, sl) != 0 ||
            (a->series[sl] != '\0' && a->series[sl] != '/'))
            continue;
        out[n++] = tsr_day_week_monday(a->period_day);
    }
    return n;
}

static void s_withheld(FILE *fp, const char *title, const char *why)
{
    fputs("<figure><figcaption>", fp);
    s_esc(fp, title);
    fputs("</figcaption><p class=\"note\">Withheld: ", fp);
    s_esc(fp, why);
    fputs("</p></figure>\n", fp);
}

int cli_cmd_report(int argc, char **argv)
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
    cli_conn_opts_t co;
    cli_conn_defaults(&co);
    s_report_t rep = {.k = 5};
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_conn_option(&co, c, optarg))
            continue;
        switch (c) {
        case 'r': rep.region = optarg; break;
        case 'o': out = optarg; break;
        case 's':
        case 'u':
            if (tsr_day_parse(optarg, c == 's' ? &rep.since : &rep.until) != 0) {
                fprintf(stderr, "tessera report: '%s' is not a date (YYYY-MM-DD)\n", optarg);
                return 2;
            }
            break;
        case 'h': fputs(s_usage, stdout); return 0;
        default: fputs(s_usage, stderr); return 2;
        }
    }
    if (!rep.region || !out || optind != argc) {
        fputs(s_usage, stderr);
        return 2;
    }
    if (!tsr_region_exists(rep.region)) {
        fprintf(stderr, "tessera report: --region %s is not a region code (e.g. E12000003)\n",
                rep.region);
        return 2;
    }
    if (!cli_conn_complete(&co, "report"))
        return 2;
    if (!rep.until)
        rep.until = tsr_day_today();
    if (!rep.since)
        rep.since = tsr_day_week_monday(rep.until) - 7 * 25;
    rep.since = tsr_day_week_monday(rep.since);
    void *ctx = zmq_ctx_new();
    tsr_error_t err;
    char msg[768], why[256];
    tsr_error_clear(&err);
    if (tsr_conn_open(&rep.conn, ctx, co.endpoint, co.server, co.key, &err) != 0) {
        fprintf(stderr, "tessera report: %s\n", tsr_error_format(&err, msg, sizeof msg));
        zmq_ctx_term(ctx);
        return 1;
    }
    /* the areas first: without them there is no report */
    tsr_msg_t areas;
    int rc = s_trends(&rep, "area", NULL, NULL, &areas, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "tessera report: %s\n", why);
        tsr_msg_clear(&areas);
        tsr_conn_close(&rep.conn);
        zmq_ctx_term(ctx);
        return rc < 0 ? 3 : 1;
    }
    FILE *fp = fopen(out, "w");
    if (!fp) {
        perror(out);
        tsr_msg_clear(&areas);
        tsr_conn_close(&rep.conn);
        zmq_ctx_term(ctx);
        return 1;
    }
    /* spike alerts, to mark on the series */
    tsr_msg_t alerts = {0}, req = {.kind = TSR_MSG_QUERY};
    req.u.query.request_id = ++rep.next_id;
    req.u.query.kind = TSR_QUERY_ALERTS;
    req.u.query.max = 1000;
    if (tsr_conn_request(rep.conn, &req, &alerts, 10000, &err) != 0 ||
        alerts.kind != TSR_MSG_RESPONSE || alerts.u.response.status != TSR_QSTATUS_OK)
        tsr_msg_clear(&alerts);
    char d1[11], d2[11], now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%d %H:%M UTC", &tm);
    const char *rname = tsr_region_name(rep.region); /* it exists: checked above */
    fprintf(fp,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<title>Tessera regional report: %s</title>\n<style>\n"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}\n"
            "h1{font-size:1.5em}h2{font-size:1.15em;border-bottom:1px solid #ccc}\n"
            "figure{display:inline-block;margin:0 1.5em 1.5em 0;vertical-align:top}\n"
            "figcaption{font-weight:bold;font-size:.9em}svg text{font-size:11px}\n"
            ".bar{fill:#3b6ea8}.heat{fill:#3b6ea8}.small{fill:#d9d9d9}"
            ".prot{fill:none;stroke:#888;stroke-dasharray:3 2}.alert{fill:#c0392b}\n"
            ".note{font-size:.85em;color:#555}.mini figcaption{font-weight:normal}\n"
            "</style></head><body>\n",
            rname);
    fprintf(fp, "<h1>Sexually coerced extortion of children: %s (%s)</h1>\n", rname, rep.region);
    fprintf(fp,
            "<p class=\"note\">Reports received from %s to %s (whole weeks), produced %s by "
            "Tessera from minimised agency records. <b>&lt;%u</b> means a count from 1 to %u "
            "(or a zero hidden with it); <b>x</b> means a count hidden so that no small count "
            "can be worked out from the others. Spike alerts (red marks) come from EARS C1-C3 on "
            "daily counts and Farrington flexible on weekly counts, as in R's surveillance "
            "package. Lists (platforms, demands, tactics) count a case once per value.</p>\n",
            tsr_day_format(d1, rep.since), tsr_day_format(d2, rep.until), now, rep.k, rep.k - 1);
    fputs("<h2>Cases by area</h2>\n", fp);
    s_bars(fp, "Cases in the period", &areas, rep.k);
    fputs("<h2>Weekly cases per area</h2>\n", fp);
    int32_t aw[256];
    tsr_msg_t m;
    char series[64];
    snprintf(series, sizeof series, "region:%s", rep.region);
    if (s_trends(&rep, "week", NULL, NULL, &m, why, sizeof why) == 0)
        s_weekly(fp, "The whole region", &m, rep.k, aw, s_alert_weeks(&alerts, series, aw, 256));
    else
        s_withheld(fp, "The whole region", why);
    tsr_msg_clear(&m);
    for (size_t i = 0; i < areas.u.response.n_cells; i++) {
        const char *code = areas.u.response.cells[i].keys[0];
        const tsr_area_t *a = tsr_area_find(code);
        char title[256];
        snprintf(title, sizeof title, "%s (%.16s)", a ? a->name : code, code);
        snprintf(series, sizeof series, "area:%.16s", code);
        if (s_trends(&rep, "week", "area", code, &m, why, sizeof why) == 0)
            s_weekly(fp, title, &m, rep.k, aw, s_alert_weeks(&alerts, series, aw, 256));
        else
            s_withheld(fp, title, why);
        tsr_msg_clear(&m);
    }
    static const struct {
        const char *by, *title;
    } parts[] = {
        {"month,contact_platform", "First contact platform by month"},
        {"month,moved_to_platform", "Platform moved to by month"},
        {"demand", "Demands"},
        {"payment_method", "Payment methods"},
        {"tactic", "Tactics"},
        {"age_band,gender", "Age band by gender"},
    };
    fputs("<h2>How it happens</h2>\n", fp);
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        if (s_trends(&rep, parts[p].by, NULL, NULL, &m, why, sizeof why) != 0)
            s_withheld(fp, parts[p].title, why);
        else if (strchr(parts[p].by, ','))
            s_grid(fp, parts[p].title, &m, rep.k);
        else
            s_bars(fp, parts[p].title, &m, rep.k);
        tsr_msg_clear(&m);
    }
    fputs("<h2>Method</h2>\n<p class=\"note\">Counts come from the regional collector's trend "
          "tables after statistical disclosure control (docs/PRIVACY.md): small cells "
          "suppressed, more cells suppressed until a linear-program audit finds none of them "
          "recoverable from the others and the totals. No record, identifier or agency appears "
          "in this report. Weeks run Monday to Sunday.</p>\n</body></html>\n",
          fp);
    bool ok = fflush(fp) == 0 && !ferror(fp);
    fclose(fp);
    tsr_msg_clear(&areas);
    tsr_msg_clear(&alerts);
    tsr_conn_close(&rep.conn);
    zmq_ctx_term(ctx);
    if (!ok) {
        fprintf(stderr, "tessera report: could not write %s\n", out);
        return 1;
    }
    printf("report written to %s\n", out);
    return 0;
}
