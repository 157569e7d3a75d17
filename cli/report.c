/* report.c - `tessera report`: one self-contained HTML file (inline CSS and
 * SVG, no script, no external font, image or link) a regional analyst can
 * email. Every number in it is one the collector released (trend tables and
 * spike alerts); the only arithmetic done here is the difference of two
 * released counts in the period-on-period table, labelled as such.
 *
 * Collectors since the cell-key method (issue 14) perturb every count and add
 * total cells, marked by an empty key ("" = every value of that dimension);
 * older ones suppress small cells instead. Both shapes are drawn: totals are
 * recognised by their empty keys, never by position, and a suppressed cell
 * gets a neutral mark that claims no height. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "cli.h"
#include "tessera/spike.h"
#include "tessera/client.h"
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

/* Most values an axis of a table can have here (weeks of a long period,
 * areas of a region, codes of a list). */
#define S_AXIS_MAX 512
/* Most spike alerts listed under the charts. */
#define S_LIST_MAX 200

/* One trends table as released, or why it was withheld. */
typedef struct {
    tsr_msg_t m;
    int rc; /* 0 released; 1 refused (why); -(exit code 3 to 6) no answer (why) */
    char why[1536];
} s_table_t;

typedef struct {
    tsr_conn_t *conn;
    const cli_conn_opts_t *co;
    uint64_t next_id;
    int32_t since, until; /* since: a Monday; until: as asked */
    int32_t end;          /* Sunday of until's week: the collector counts whole weeks */
    const char *region;
    unsigned k, max_deviation; /* from the responses; max_deviation 0: suppression era */
    bool any_suppressed;       /* an old-style suppressed cell was drawn */
    unsigned queries;
} s_report_t;

static const tsr_response_t *s_resp(const s_table_t *t)
{
    return &t->m.u.response;
}

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

/* A total cell: one of its keys is "" (every value of that dimension). */
static bool s_is_total(const tsr_trend_cell_t *c)
{
    for (size_t d = 0; d < c->n_keys && d < TSR_TRENDS_MAX_BY; d++)
        if (c->keys[d][0] == '\0')
            return true;
    return false;
}

/* The cell with keys k0 (and k1 for a two-dimensional table), or NULL when
 * the collector left it out. "" finds a total. */
static const tsr_trend_cell_t *s_cell(const tsr_response_t *r, const char *k0, const char *k1)
{
    for (size_t i = 0; i < r->n_cells; i++) {
        const tsr_trend_cell_t *c = &r->cells[i];
        if (!strcmp(c->keys[0], k0) && (!k1 || !strcmp(c->keys[1], k1)))
            return c;
    }
    return NULL;
}

typedef struct {
    const char *v[S_AXIS_MAX];
    size_t n;
} s_axis_t;

/* The values of dimension d in r, in the collector's order, without "". */
static void s_axis(s_axis_t *ax, const tsr_response_t *r, size_t d)
{
    ax->n = cli_trends_axis(r, d, ax->v, S_AXIS_MAX);
}

/* The code list a dimension's values come from, or -1. */
static int s_dim_list(const char *dim)
{
    static const struct {
        const char *dim;
        tsr_codes_list_t list;
    } map[] = {
        {"contact_platform", TSR_CODES_PLATFORM},
        {"moved_to_platform", TSR_CODES_PLATFORM},
        {"demand", TSR_CODES_DEMAND},
        {"payment_method", TSR_CODES_PAYMENT_METHOD},
        {"tactic", TSR_CODES_TACTIC},
        {"age_band", TSR_CODES_AGE_BAND},
        {"gender", TSR_CODES_GENDER},
        {"agency_type", TSR_CODES_AGENCY_TYPE},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i].dim, dim))
            return (int)map[i].list;
    return -1;
}

/* What a person reads for value key of dimension dim: an area's name, a
 * code's display name ("X (Twitter)" for the platform x, so it is never taken
 * for the old suppression mark), "All" for a total. Returns a string that
 * lives as long as the program, or key itself. */
static const char *s_label(const char *dim, const char *key)
{
    if (key[0] == '\0')
        return "All";
    if (!strcmp(key, "none")) /* a list recorded as empty: "none" is no code */
        return "None";
    if (!strcmp(dim, "area")) {
        const tsr_area_t *a = tsr_area_find(key);
        return a ? a->name : key;
    }
    int list = s_dim_list(dim);
    if (list >= 0) {
        int v = tsr_codes_value((tsr_codes_list_t)list, key);
        const char *label = v > 0 ? tsr_codes_label((tsr_codes_list_t)list, v) : NULL;
        if (label && label[0])
            return label;
    }
    if (list == TSR_CODES_PLATFORM && !strcmp(key, "x"))
        return "X (Twitter)";
    return key;
}

/* A cell's released text: its count, or for an old-style suppressed cell
 * "<k" / "x". */
static const char *s_text(char *out, size_t cap, const s_report_t *r, const tsr_trend_cell_t *c)
{
    return cli_cell_text(out, cap, c, r->k, true);
}

/* The data-count and data-kind attributes of a drawn count (what
 * tools/report_cells.py measures). */
static void s_data(FILE *fp, s_report_t *r, const tsr_trend_cell_t *c)
{
    if (!c) {
        fputs(" data-kind=\"absent\"", fp); /* no count: none was released */
        return;
    }
    if (c->suppressed) {
        r->any_suppressed = true;
        fprintf(fp, " data-count=\"hidden\" data-kind=\"%s\"",
                c->protective ? "protective" : "small");
        return;
    }
    fprintf(fp, " data-count=\"%" PRIu64 "\" data-kind=\"%s\"", c->count,
            s_is_total(c) ? "total" : "cell");
}

/* An axis top at or above v that halves to a whole number: a multiple of
 * 2 (v < 10), or of two fifths of v's power of ten (22 -> 24, 150 -> 160). */
static uint64_t s_nice(uint64_t v)
{
    uint64_t p = 1;
    while (p * 10 <= v)
        p *= 10;
    uint64_t step = p < 10 ? 2 : 2 * p / 5;
    return (v + step - 1) / step * step;
}

/* Horizontal bars for a one-dimensional table of dimension dim; its total,
 * when the collector released one, under the bars. */
static void s_bars(FILE *fp, s_report_t *rep, const char *title, const char *dim,
                   const s_table_t *t)
{
    const tsr_response_t *r = s_resp(t);
    s_axis_t ax;
    s_axis(&ax, r, 0);
    uint64_t max = rep->k;
    for (size_t i = 0; i < r->n_cells; i++)
        if (!r->cells[i].suppressed && !s_is_total(&r->cells[i]) && r->cells[i].count > max)
            max = r->cells[i].count;
    int h = 18 * (int)ax.n + 6, left = 250;
    fputs("<figure><figcaption>", fp);
    s_esc(fp, title);
    fprintf(fp, "</figcaption><svg width=\"%d\" height=\"%d\" role=\"img\">\n", left + 340, h);
    for (size_t i = 0; i < ax.n; i++) {
        const tsr_trend_cell_t *c = s_cell(r, ax.v[i], NULL);
        char txt[32];
        int y = 3 + 18 * (int)i;
        fprintf(fp, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6, y + 12);
        s_esc(fp, s_label(dim, ax.v[i]));
        fputs("</text>", fp);
        if (c->suppressed) {
            /* neutral: a dashed outline of no particular length */
            fprintf(fp,
                    "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"13\" class=\"supp\"/>"
                    "<text x=\"%d\" y=\"%d\"",
                    left, y + 2, left + 20, y + 12);
        } else {
            double w = 300.0 * (double)c->count / (double)max;
            fprintf(fp,
                    "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"13\" class=\"bar\"/>"
                    "<text x=\"%.1f\" y=\"%d\"",
                    left, y + 2, c->count && w < 1 ? 1.0 : w, left + w + 5, y + 12);
        }
        s_data(fp, rep, c);
        fprintf(fp, ">%s</text>\n", s_text(txt, sizeof txt, rep, c));
    }
    fputs("</svg>", fp);
    const tsr_trend_cell_t *tot = s_cell(r, "", NULL);
    if (tot) {
        char txt[32];
        fputs("<p class=\"tot\">All: <span", fp);
        s_data(fp, rep, tot);
        fprintf(fp, ">%s</span> <span class=\"note\">(a total released on its own)</span></p>",
                s_text(txt, sizeof txt, rep, tot));
    }
    fputs("</figure>\n", fp);
}

/* A two-dimensional table as a shaded grid, rows the values of dim0, columns
 * those of dim1; the collector's row and column totals (and grand total) in
 * a last column and row of their own, unshaded. */
static void s_grid(FILE *fp, s_report_t *rep, const char *title, const char *dim0, const char *dim1,
                   const s_table_t *t)
{
    const tsr_response_t *r = s_resp(t);
    s_axis_t rows, cols;
    s_axis(&rows, r, 0);
    s_axis(&cols, r, 1);
    if (rows.n == 0 || cols.n == 0)
        return;
    bool row_tot = false, col_tot = false;
    uint64_t max = rep->k;
    size_t lrow = 3, lcol = 3;
    for (size_t i = 0; i < r->n_cells; i++) {
        const tsr_trend_cell_t *c = &r->cells[i];
        row_tot |= c->keys[1][0] == '\0';
        col_tot |= c->keys[0][0] == '\0';
        if (!c->suppressed && !s_is_total(c) && c->count > max)
            max = c->count;
    }
    for (size_t i = 0; i < rows.n; i++)
        if (strlen(s_label(dim0, rows.v[i])) > lrow)
            lrow = strlen(s_label(dim0, rows.v[i]));
    for (size_t j = 0; j < cols.n; j++)
        if (strlen(s_label(dim1, cols.v[j])) > lcol)
            lcol = strlen(s_label(dim1, cols.v[j]));
    size_t ncols = cols.n + row_tot, nrows = rows.n + col_tot;
    int cw = 50, ch = 20, left = 12 + 6 * (int)lrow, top = 14 + (int)(4.4 * (double)lcol);
    fputs("<figure><figcaption>", fp);
    s_esc(fp, title);
    fprintf(fp, "</figcaption><svg width=\"%d\" height=\"%d\" role=\"img\">\n",
            left + cw * (int)ncols + 6 * (int)lcol * 3 / 4, top + ch * (int)nrows + 4);
    for (size_t j = 0; j < ncols; j++) {
        fprintf(fp, "<text transform=\"translate(%d,%d) rotate(-40)\"%s>", left + cw * (int)j + 12,
                top - 6, j < cols.n ? "" : " class=\"totlabel\"");
        s_esc(fp, j < cols.n ? s_label(dim1, cols.v[j]) : "All");
        fputs("</text>\n", fp);
    }
    for (size_t i = 0; i < nrows; i++) {
        const char *k0 = i < rows.n ? rows.v[i] : "";
        fprintf(fp, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\"%s>", left - 6,
                top + ch * (int)i + 14, i < rows.n ? "" : " class=\"totlabel\"");
        s_esc(fp, s_label(dim0, k0));
        fputs("</text>\n", fp);
        for (size_t j = 0; j < ncols; j++) {
            const char *k1 = j < cols.n ? cols.v[j] : "";
            const tsr_trend_cell_t *c = s_cell(r, k0, k1);
            bool total = i >= rows.n || j >= cols.n;
            int x = left + cw * (int)j, y = top + ch * (int)i;
            char txt[32] = "\xe2\x80\x93"; /* en dash: left out by the collector */
            if (!c)
                fprintf(fp, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"none\"/>",
                        x, y, cw - 2, ch - 2);
            else if (c->suppressed || total)
                fprintf(fp, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"%s\"/>", x,
                        y, cw - 2, ch - 2, c->suppressed ? "supp" : "totcell");
            else {
                double shade = (double)c->count / (double)max;
                fprintf(fp,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"heat\" "
                        "fill-opacity=\"%.2f\"/>",
                        x, y, cw - 2, ch - 2, 0.06 + 0.9 * shade);
            }
            if (c)
                s_text(txt, sizeof txt, rep, c);
            bool dark = c && !c->suppressed && !total && c->count * 2 > max;
            fprintf(fp, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\"%s", x + cw / 2 - 1, y + 14,
                    dark ? " class=\"ondark\"" : "");
            s_data(fp, rep, c);
            fprintf(fp, ">%s</text>\n", txt);
        }
    }
    fputs("</svg></figure>\n", fp);
}

/* The alerts' method, for people. */
static const char *s_method(const char *m)
{
    const char *title = tsr_spike_method_title(m);
    if (title)
        return title;
    return !strcmp(m, "ears") ? "EARS (several areas)" : m;
}

/* A sub-series ("contact_platform:x") for people: "contact platform X
 * (Twitter)". */
static void s_sub_text(FILE *fp, const char *sub)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", sub);
    char *colon = strchr(buf, ':');
    if (!colon) {
        s_esc(fp, buf);
        return;
    }
    *colon = '\0';
    for (const char *p = buf; *p; p++)
        fputc(*p == '_' ? ' ' : *p, fp);
    fputc(' ', fp);
    s_esc(fp, s_label(buf, colon + 1));
}

/* A series name ("area:E08000035/contact_platform:x") for people: "Leeds,
 * contact platform X (Twitter)". */
static void s_series_text(FILE *fp, const char *series)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", series);
    char *sub = strchr(buf, '/');
    if (sub)
        *sub++ = '\0';
    char *colon = strchr(buf, ':');
    if (colon && !strncmp(buf, "area:", 5)) {
        s_esc(fp, s_label("area", colon + 1));
    } else if (colon && !strncmp(buf, "region:", 7)) {
        const char *name = tsr_region_name(colon + 1);
        s_esc(fp, name ? name : colon + 1);
        fputs(" (whole region)", fp);
    } else {
        s_esc(fp, buf);
    }
    if (sub) {
        fputs(", ", fp);
        s_sub_text(fp, sub);
    }
}

/* "observed 12 vs expected 1.1" (the observed count below k is not sent to
 * analysts). */
static void s_observed(FILE *fp, const s_report_t *r, const tsr_alert_t *a)
{
    if (a->observed_suppressed)
        fprintf(fp, "observed &lt;%u", r->k);
    else
        fprintf(fp, "observed %" PRIu64, a->observed);
    fprintf(fp, " vs expected %.1f", a->expected);
}

/* A spike or cross-area alert on series (or one of its sub-series, e.g.
 * area:X/demand:money) within the report's period. */
static bool s_alert_on(const s_report_t *r, const tsr_alert_t *a, const char *series)
{
    if (a->kind == TSR_ALERT_LINKAGE || a->period_day < r->since || a->period_day > r->end)
        return false;
    if (!series)
        return true;
    size_t sl = strlen(series);
    return !strncmp(a->series, series, sl) && (a->series[sl] == '\0' || a->series[sl] == '/');
}

typedef struct {
    int32_t monday[S_AXIS_MAX]; /* the report's weeks */
    size_t n;
    int32_t partial[2]; /* weeks still being reported (0: none) */
} s_weeks_t;

static bool s_partial(const s_weeks_t *w, int32_t monday)
{
    return monday == w->partial[0] || monday == w->partial[1];
}

/* Weekly bars of one series on a y-axis of ymax; cell(i) are the released
 * cells of the weeks (NULL: left out). Alerts on series mark their weeks,
 * each mark titled with the alerts' date, method and observed vs expected. */
static void s_weekly(FILE *fp, s_report_t *rep, const char *title, const s_weeks_t *w,
                     const tsr_trend_cell_t *const *cells, uint64_t ymax, int bw, int h,
                     const tsr_msg_t *alerts, const char *series, bool big)
{
    int left = 30, top = 12;
    fprintf(fp, "<figure class=\"%s\"><figcaption>", big ? "big" : "mini");
    s_esc(fp, title);
    fprintf(fp, "</figcaption><svg width=\"%d\" height=\"%d\" role=\"img\">\n",
            left + bw * (int)w->n + 8, top + h + 20);
    for (int g = 0; g <= 2; g++) { /* gridlines at 0, half and the top */
        int y = top + h - h * g / 2;
        fprintf(fp,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"%s\"/>"
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"axis\">%" PRIu64 "</text>",
                left, y, left + bw * (int)w->n, y, g ? "grid" : "base", left - 3, y + 4,
                ymax * (uint64_t)g / 2);
    }
    fputc('\n', fp);
    for (size_t i = 0; i < w->n; i++) {
        const tsr_trend_cell_t *c = cells[i];
        char day[11], txt[32];
        int x = left + bw * (int)i;
        double bh = 0;
        tsr_day_format(day, w->monday[i]);
        bool part = s_partial(w, w->monday[i]);
        if (c && c->suppressed) {
            fprintf(fp, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"4\" class=\"supp\">", x + 1,
                    top + h - 4, bw - 2);
        } else {
            bh = c ? (double)h * (double)c->count / (double)ymax : 0;
            fprintf(fp, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" class=\"%s\">",
                    x + 1, top + h - bh, bw - 2, bh, part ? "part" : "bar");
        }
        fputs("<title", fp);
        s_data(fp, rep, c);
        fprintf(fp, ">week of %s: %s%s</title></rect>\n", day,
                c ? s_text(txt, sizeof txt, rep, c) : "not listed",
                part ? " (partial week: still being reported)" : "");
        /* one mark per week, however many alerts it had */
        size_t n_on = 0;
        for (size_t a = 0; alerts && a < alerts->u.response.n_alerts; a++) {
            const tsr_alert_t *al = &alerts->u.response.alerts[a];
            if (!s_alert_on(rep, al, series) || tsr_day_week_monday(al->period_day) != w->monday[i])
                continue;
            if (n_on++ == 0)
                fprintf(fp, "<path d=\"M%d %.0f l4 -7 l4 7 z\" class=\"alert\"><title>",
                        x + bw / 2 - 4, top + h - bh - 1);
            else
                fputc('\n', fp);
            tsr_day_format(day, al->period_day);
            fprintf(fp, "Spike alert %s, %s: ", day, s_method(al->method));
            s_observed(fp, rep, al);
            fputs(" (", fp);
            s_series_text(fp, al->series);
            fputc(')', fp);
        }
        if (n_on)
            fputs("</title></path>\n", fp);
    }
    char d1[11], d2[11];
    if (w->n)
        fprintf(fp,
                "<text x=\"%d\" y=\"%d\" class=\"axis\">%s</text>"
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"axis\">%s</text>",
                left, top + h + 14, tsr_day_format(d1, w->monday[0]), left + bw * (int)w->n,
                top + h + 14, tsr_day_format(d2, w->monday[w->n - 1]));
    fputs("</svg></figure>\n", fp);
}

static void s_withheld(FILE *fp, const char *title, const char *why)
{
    fputs("<figure><figcaption>", fp);
    s_esc(fp, title);
    fputs("</figcaption><p class=\"note\">Withheld: ", fp);
    s_esc(fp, why);
    fputs("</p></figure>\n", fp);
}

/* The cell of one row (or a total, key "") of a 1-D table, as a table cell;
 * *value set when it is a released number. */
static void s_td(FILE *fp, s_report_t *rep, const s_table_t *t, const char *key, bool *num,
                 uint64_t *value)
{
    const tsr_trend_cell_t *c = t->rc == 0 ? s_cell(s_resp(t), key, NULL) : NULL;
    char txt[32];
    *num = c && !c->suppressed;
    *value = *num ? c->count : 0;
    if (!c) {
        fputs("<td class=\"num na\">not released</td>", fp);
        return;
    }
    fputs("<td class=\"num\"", fp);
    s_data(fp, rep, c);
    fprintf(fp, ">%s</td>", s_text(txt, sizeof txt, rep, c));
}

/* This period against the previous one of the same length: per area and for
 * the region's total (the collector's total cell). The change is the
 * difference of two released numbers, and only that. */
static void s_compare(FILE *fp, s_report_t *rep, const s_table_t *now, const s_table_t *prev,
                      int32_t prev_since)
{
    char a[11], b[11], c[11], d[11];
    fprintf(fp,
            "<table class=\"cmp\"><thead><tr><th>Area</th><th>Previous<br><small>%s to "
            "%s</small></th><th>This period<br><small>%s to %s</small></th><th>Change</th></tr>"
            "</thead><tbody>\n",
            tsr_day_format(a, prev_since), tsr_day_format(b, rep->since - 1),
            tsr_day_format(c, rep->since), tsr_day_format(d, rep->end));
    s_axis_t ax = {.n = 0}, ax2 = {.n = 0};
    if (now->rc == 0)
        s_axis(&ax, s_resp(now), 0);
    if (prev->rc == 0)
        s_axis(&ax2, s_resp(prev), 0);
    for (size_t j = 0; j < ax2.n && ax.n < S_AXIS_MAX;
         j++) { /* areas of the previous period only */
        size_t i = 0;
        while (i < ax.n && strcmp(ax.v[i], ax2.v[j]) != 0)
            i++;
        if (i == ax.n)
            ax.v[ax.n++] = ax2.v[j];
    }
    for (size_t i = 0; i <= ax.n; i++) {
        const char *key = i < ax.n ? ax.v[i] : "";
        bool n1, n2;
        uint64_t v1, v2;
        fputs(i < ax.n ? "<tr><td>" : "<tr class=\"totrow\"><td>", fp);
        if (i < ax.n)
            s_esc(fp, s_label("area", key));
        else
            fputs("Whole region (total)", fp);
        fputs("</td>", fp);
        s_td(fp, rep, prev, key, &n1, &v1);
        s_td(fp, rep, now, key, &n2, &v2);
        if (n1 && n2)
            fprintf(fp, "<td class=\"num\">%s%" PRId64 "</td></tr>\n", v2 > v1 ? "+" : "",
                    (int64_t)v2 - (int64_t)v1);
        else
            fputs("<td class=\"num na\">\xe2\x80\x93</td></tr>\n", fp);
    }
    fputs("</tbody></table>\n<p class=\"note\">", fp);
    if (prev->rc != 0) {
        fputs("The previous period was withheld: ", fp);
        s_esc(fp, prev->why);
        fputs(". ", fp);
    }
    if (rep->max_deviation)
        fprintf(fp,
                "The change is the difference of two perturbed counts: each may be off by "
                "up to %u, so the change may be off by up to %u. ",
                rep->max_deviation, 2 * rep->max_deviation);
    else
        fputs("The change is the difference of the two released counts; it is not given where "
              "either is hidden. ",
              fp);
    fputs("&ldquo;Not released&rdquo;: the collector gave no such cell (an area with no cases "
          "released, or a total from a collector that does not release totals).</p>\n",
          fp);
}

/* Length of a series' base ("area:E08000035" of "area:E08000035/demand:money"). */
static size_t s_base_len(const char *series)
{
    const char *slash = strchr(series, '/');
    return slash ? (size_t)(slash - series) : strlen(series);
}

/* Orders alerts by day, then base series, then series. */
static int s_alert_cmp(const void *x, const void *y)
{
    const tsr_alert_t *a = *(const tsr_alert_t *const *)x, *b = *(const tsr_alert_t *const *)y;
    if (a->period_day != b->period_day)
        return a->period_day < b->period_day ? -1 : 1;
    size_t la = s_base_len(a->series), lb = s_base_len(b->series);
    int c = strncmp(a->series, b->series, la < lb ? la : lb);
    if (c || la != lb)
        return c ? c : la < lb ? -1 : 1;
    return strcmp(a->series, b->series);
}

/* Spike and cross-area alerts of the period, oldest first: one row per day
 * and area (or region), with each method's observed vs expected on the
 * area's own series, and the sub-series (a platform, a demand...) that
 * alarmed with it named after. */
static void s_alert_list(FILE *fp, const s_report_t *rep, const tsr_msg_t *alerts)
{
    fputs("<h2>Spike alerts in this period</h2>\n", fp);
    if (!alerts || alerts->kind != TSR_MSG_RESPONSE) {
        fputs("<p class=\"note\">The collector did not answer the alerts query: no alerts "
              "are marked.</p>\n",
              fp);
        return;
    }
    const tsr_response_t *r = &alerts->u.response;
    static const tsr_alert_t *list[S_LIST_MAX];
    size_t n = 0, more = 0;
    for (size_t i = 0; i < r->n_alerts; i++)
        if (s_alert_on(rep, &r->alerts[i], NULL)) {
            if (n < S_LIST_MAX)
                list[n++] = &r->alerts[i];
            else
                more++;
        }
    if (n == 0) {
        fputs("<p class=\"note\">None.</p>\n", fp);
        return;
    }
    qsort(list, n, sizeof list[0], s_alert_cmp);
    fputs("<table class=\"alerts\"><thead><tr><th>Date</th><th>Series</th><th>Method: "
          "observed vs expected</th><th>Also alarmed, same day</th></tr></thead><tbody>\n",
          fp);
    for (size_t g = 0, e; g < n; g = e) {
        size_t bl = s_base_len(list[g]->series);
        for (e = g + 1;
             e < n && list[e]->period_day == list[g]->period_day &&
             s_base_len(list[e]->series) == bl && !strncmp(list[e]->series, list[g]->series, bl);
             e++)
            ;
        char day[11], base[128];
        snprintf(base, sizeof base, "%.*s", (int)bl, list[g]->series);
        fprintf(fp, "<tr><td>%s</td><td>", tsr_day_format(day, list[g]->period_day));
        s_series_text(fp, base);
        fputs("</td><td>", fp);
        /* the base series' alerts; when only sub-series alarmed, theirs */
        bool on_base = list[g]->series[bl] == '\0';
        size_t shown = 0;
        for (size_t i = g; i < e; i++) {
            if (on_base && list[i]->series[bl] != '\0')
                continue;
            fputs(shown++ ? "<br>" : "", fp);
            s_esc(fp, s_method(list[i]->method));
            if (!on_base) {
                fputs(" (", fp);
                s_sub_text(fp, list[i]->series + bl + 1);
                fputc(')', fp);
            }
            fputs(": ", fp);
            s_observed(fp, rep, list[i]);
        }
        fputs("</td><td>", fp);
        shown = 0;
        for (size_t i = g; on_base && i < e; i++) {
            if (list[i]->series[bl] == '\0' ||
                (i > g && !strcmp(list[i]->series, list[i - 1]->series)))
                continue; /* the base, or a sub-series already named */
            fputs(shown++ ? ", " : "", fp);
            s_sub_text(fp, list[i]->series + bl + 1);
        }
        fputs("</td></tr>\n", fp);
    }
    fputs("</tbody></table>\n<p class=\"note\">Methods: EARS C1-C3 on daily counts, "
          "Farrington flexible on weekly counts (the date is then the week's), EARS "
          "&ldquo;several areas&rdquo; for a cross-area alert. Hover a red mark on a chart for "
          "the alerts of its week.</p>\n",
          fp);
    if (more)
        fprintf(fp, "<p class=\"note\">And %zu more (tessera alerts lists them all).</p>\n", more);
}

/* One legend entry: a swatch (SVG drawn at x, y) and its words after it;
 * returns where the next entry starts. */
static int s_key(FILE *fp, int x, int y, const char *swatch_class, const char *words)
{
    if (!strcmp(swatch_class, "alert"))
        fprintf(fp, "<path d=\"M%d %d l7 -12 l7 12 z\" class=\"alert\"/>", x, y + 14);
    else if (!strcmp(swatch_class, "heat"))
        fprintf(fp,
                "<rect x=\"%d\" y=\"%d\" width=\"7\" height=\"14\" class=\"heat\" "
                "fill-opacity=\"0.25\"/><rect x=\"%d\" y=\"%d\" width=\"7\" "
                "height=\"14\" class=\"heat\" fill-opacity=\"0.9\"/>",
                x, y + 2, x + 7, y + 2);
    else
        fprintf(fp, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" class=\"%s\"/>", x, y + 2,
                swatch_class);
    fprintf(fp, "<text x=\"%d\" y=\"%d\">%s</text>", x + 20, y + 14, words);
    return x + 20 + (int)(6.6 * (double)strlen(words)) + 24; /* 12px sans: ~6.6px a character */
}

/* What the marks mean; drawn after the queries, so it names only what the
 * report shows. */
static void s_legend(FILE *fp, const s_report_t *rep, bool any_partial)
{
    char small[160];
    fputs("<div class=\"legend\"><svg width=\"1060\" height=\"44\" role=\"img\">", fp);
    int x = s_key(fp, 0, 2, "bar", "cases, as released");
    if (any_partial)
        x = s_key(fp, x, 2, "part", "partial week (lighter, dashed): still being reported");
    x = s_key(fp, x, 2, "alert", "spike alert (its title: date, method, observed vs expected)");
    x = s_key(fp, 0, 24, "heat", "grids: darker, more cases");
    x = s_key(fp, x, 24, "totcell", "total, released on its own");
    if (rep->any_suppressed) {
        snprintf(small, sizeof small,
                 "&lt;%u: 1 to %u (or a zero hidden with it); x: hidden to protect another cell",
                 rep->k, rep->k - 1);
        s_key(fp, x, 24, "supp", small);
    }
    fputs("</svg>\n<p class=\"note\">The weekly charts of the areas share one y-axis, so bars "
          "compare across areas; the whole region's chart has its own. Platforms are named as "
          "in the code list (X, formerly Twitter, is &ldquo;X (Twitter)&rdquo;).</p></div>\n",
          fp);
}

/* The sentence on how numbers are released (in the header and the method). */
static void s_release_note(FILE *fp, const s_report_t *rep)
{
    if (rep->max_deviation)
        fprintf(fp,
                "Every number is released by the cell-key method: it may differ from the "
                "true count by up to %u (never shows 1 to %u), the same records always "
                "give the same number, and totals are perturbed on their own, so they need "
                "not equal the sum of their parts.",
                rep->max_deviation, rep->k - 1);
    else
        fprintf(fp,
                "Counts were released with suppression by this collector: <b>&lt;%u</b> "
                "means a count from 1 to %u (or a zero hidden with it); <b>x</b> means a "
                "count hidden so that no small count can be worked out from the others.",
                rep->k, rep->k - 1);
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
#define S_NPARTS (sizeof s_parts / sizeof s_parts[0])

/* Everything the report draws, asked for before a line is written. */
typedef struct {
    s_table_t areas, prev, grid, region, parts[S_NPARTS];
    bool region_from_totals; /* the grid's column totals are the region's weeks */
    tsr_msg_t alerts;
    bool alerts_ok;
} s_data_t;

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

/* The largest released count among a chart's cells, as a round axis top. */
static uint64_t s_ymax(const tsr_trend_cell_t *const *cells, size_t n, unsigned k)
{
    uint64_t max = k;
    for (size_t i = 0; i < n; i++)
        if (cells[i] && !cells[i]->suppressed && cells[i]->count > max)
            max = cells[i]->count;
    return s_nice(max);
}

/* The weekly section: the region, then one small multiple per area of the
 * area x week grid, all on one y-axis. */
static void s_weekly_section(FILE *fp, s_report_t *rep, s_data_t *d, const s_weeks_t *w)
{
    static const tsr_trend_cell_t *cells[S_AXIS_MAX * 2];
    char series[64], title[256];
    fputs("<h2>Weekly cases</h2>\n", fp);
    snprintf(series, sizeof series, "region:%s", rep->region);
    const s_table_t *rt = d->region_from_totals ? &d->grid : &d->region;
    if (rt->rc != 0) {
        s_withheld(fp, "The whole region", rt->why);
    } else {
        for (size_t i = 0; i < w->n; i++) {
            char day[11];
            tsr_day_format(day, w->monday[i]);
            cells[i] =
                d->region_from_totals ? s_cell(s_resp(rt), "", day) : s_cell(s_resp(rt), day, NULL);
        }
        int bw = w->n ? 860 / (int)w->n : 20;
        s_weekly(fp, rep, "The whole region", w, cells, s_ymax(cells, w->n, rep->k),
                 bw > 40 ? 40 : bw, 120, d->alerts_ok ? &d->alerts : NULL, series, true);
    }
    fputs("<h3>Per area (one shared y-axis)</h3>\n<div class=\"grid\">\n", fp);
    if (d->grid.rc != 0) {
        s_withheld(fp, "Weekly cases per area", d->grid.why);
        fputs("</div>\n", fp);
        return;
    }
    s_axis_t areas;
    s_axis(&areas, s_resp(&d->grid), 0);
    /* an area whose weeks were all released as 0 may be left out of the
     * grid: it still gets its (empty) chart */
    s_axis_t more;
    s_axis(&more, s_resp(&d->areas), 0);
    for (size_t j = 0; j < more.n && areas.n < S_AXIS_MAX; j++) {
        size_t i = 0;
        while (i < areas.n && strcmp(areas.v[i], more.v[j]) != 0)
            i++;
        if (i == areas.n)
            areas.v[areas.n++] = more.v[j];
    }
    /* one y-axis for all: the largest released area-week cell */
    uint64_t ymax = rep->k;
    for (size_t i = 0; i < s_resp(&d->grid)->n_cells; i++) {
        const tsr_trend_cell_t *c = &s_resp(&d->grid)->cells[i];
        if (!c->suppressed && !s_is_total(c) && c->count > ymax)
            ymax = c->count;
    }
    ymax = s_nice(ymax);
    int bw = w->n ? 200 / (int)w->n : 8;
    if (bw < 3)
        bw = 3;
    for (size_t a = 0; a < areas.n; a++) {
        for (size_t i = 0; i < w->n; i++) {
            char day[11];
            cells[i] = s_cell(s_resp(&d->grid), areas.v[a], tsr_day_format(day, w->monday[i]));
        }
        snprintf(title, sizeof title, "%s (%.16s)", s_label("area", areas.v[a]), areas.v[a]);
        snprintf(series, sizeof series, "area:%.16s", areas.v[a]);
        s_weekly(fp, rep, title, w, cells, ymax, bw, 60, d->alerts_ok ? &d->alerts : NULL, series,
                 false);
    }
    fputs("</div>\n", fp);
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
    s_report_t rep = {.k = 5, .co = &co};
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
    int32_t today = tsr_day_today();
    if (!rep.until)
        rep.until = today;
    if (!rep.since)
        rep.since = tsr_day_week_monday(rep.until) - 7 * 25;
    rep.since = tsr_day_week_monday(rep.since);
    rep.end = tsr_day_week_monday(rep.until) + 6;
    if (rep.since > rep.until) {
        fprintf(stderr, "tessera report: --since is after --until\n");
        return 2;
    }
    /* the previous period: as many whole weeks, just before */
    int32_t prev_since = rep.since - (rep.end - rep.since + 1);
    s_weeks_t w = {.n = 0};
    for (int32_t m = rep.since; m <= rep.end && w.n < S_AXIS_MAX; m += 7)
        w.monday[w.n++] = m;
    /* partial: until's week when until is not its Sunday, and this week */
    w.partial[0] = rep.until != rep.end ? tsr_day_week_monday(rep.until) : 0;
    w.partial[1] = tsr_day_week_monday(today);
    bool any_partial = false;
    for (size_t i = 0; i < w.n; i++)
        any_partial |= s_partial(&w, w.monday[i]);

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
    char d1[11], d2[11], now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%d %H:%M UTC", &tm);
    const char *rname = tsr_region_name(rep.region); /* it exists: checked above */
    fprintf(fp,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<meta name=\"tessera-k\" content=\"%u\">\n"
            "<meta name=\"tessera-max-deviation\" content=\"%u\">\n"
            "<title>Tessera regional report: %s</title>\n<style>\n%s</style></head><body>\n",
            rep.k, rep.max_deviation, rname, s_css);
    fprintf(fp, "<h1>Sexually coerced extortion of children: %s (%s)</h1>\n", rname, rep.region);
    fprintf(fp,
            "<p class=\"note\">Reports received from %s to %s (whole weeks, Monday to Sunday), "
            "produced %s by Tessera from minimised agency records, in %u queries.</p>\n"
            "<p class=\"lead\">",
            tsr_day_format(d1, rep.since), tsr_day_format(d2, rep.end), now, rep.queries + 1);
    s_release_note(fp, &rep);
    fputs("</p>\n", fp);
    /* the legend needs to know whether suppressed cells are drawn: a dry
     * pass over the tables sets rep.any_suppressed */
    for (size_t p = 0; p < S_NPARTS + 4; p++) {
        const s_table_t *tb = p < S_NPARTS        ? &d.parts[p]
                              : p == S_NPARTS     ? &d.areas
                              : p == S_NPARTS + 1 ? &d.prev
                              : p == S_NPARTS + 2 ? &d.grid
                                                  : &d.region;
        for (size_t i = 0; tb->rc == 0 && i < s_resp(tb)->n_cells; i++)
            rep.any_suppressed |= s_resp(tb)->cells[i].suppressed;
    }
    s_legend(fp, &rep, any_partial);
    fputs("<h2>Cases by area</h2>\n", fp);
    s_bars(fp, &rep, "Cases in the period", "area", &d.areas);
    fputs("<h3>This period against the previous one</h3>\n", fp);
    s_compare(fp, &rep, &d.areas, &d.prev, prev_since);
    s_weekly_section(fp, &rep, &d, &w);
    s_alert_list(fp, &rep, d.alerts_ok ? &d.alerts : NULL);
    fputs("<h2>How it happens</h2>\n", fp);
    for (size_t p = 0; p < S_NPARTS; p++) {
        if (d.parts[p].rc != 0)
            s_withheld(fp, s_parts[p].title, d.parts[p].why);
        else if (s_parts[p].d1)
            s_grid(fp, &rep, s_parts[p].title, s_parts[p].d0, s_parts[p].d1, &d.parts[p]);
        else
            s_bars(fp, &rep, s_parts[p].title, s_parts[p].d0, &d.parts[p]);
    }
    fputs("<h2>Method</h2>\n<p class=\"note\">", fp);
    s_release_note(fp, &rep);
    if (rep.max_deviation)
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
