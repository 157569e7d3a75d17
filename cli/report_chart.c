/* report_chart.c - the SVG of `tessera report`: bars, shaded grids, the
 * weekly charts with their alert marks, and the legend. Nothing is scripted
 * or loaded from elsewhere; a suppressed cell gets a neutral mark that
 * claims no height. */
#include <inttypes.h>
#include <string.h>

#include "report_int.h"
#include "tessera/record.h"

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
void cli_report_bars(FILE *fp, s_report_t *rep, const char *title, const char *dim,
                     const s_table_t *t)
{
    const tsr_response_t *r = s_resp(t);
    s_axis_t ax;
    s_axis(&ax, r, 0);
    uint64_t max = rep->k;
    for (size_t i = 0; i < r->n_cells; i++)
        if (!r->cells[i].suppressed && !cli_report_is_total(&r->cells[i]) &&
            r->cells[i].count > max)
            max = r->cells[i].count;
    int h = 18 * (int)ax.n + 6, left = 250;
    fputs("<figure><figcaption>", fp);
    cli_report_esc(fp, title);
    fprintf(fp, "</figcaption><svg width=\"%d\" height=\"%d\" role=\"img\">\n", left + 340, h);
    for (size_t i = 0; i < ax.n; i++) {
        const tsr_trend_cell_t *c = cli_report_cell(r, ax.v[i], NULL);
        char txt[32];
        int y = 3 + 18 * (int)i;
        fprintf(fp, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6, y + 12);
        cli_report_esc(fp, cli_report_label(dim, ax.v[i]));
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
        cli_report_data(fp, rep, c);
        fprintf(fp, ">%s</text>\n", s_text(txt, sizeof txt, rep, c));
    }
    fputs("</svg>", fp);
    const tsr_trend_cell_t *tot = cli_report_cell(r, "", NULL);
    if (tot) {
        char txt[32];
        fputs("<p class=\"tot\">All: <span", fp);
        cli_report_data(fp, rep, tot);
        fprintf(fp, ">%s</span> <span class=\"note\">(a total released on its own)</span></p>",
                s_text(txt, sizeof txt, rep, tot));
    }
    fputs("</figure>\n", fp);
}

/* A two-dimensional table as a shaded grid, rows the values of dim0, columns
 * those of dim1; the collector's row and column totals (and grand total) in
 * a last column and row of their own, unshaded. */
void cli_report_grid(FILE *fp, s_report_t *rep, const char *title, const char *dim0,
                     const char *dim1, const s_table_t *t)
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
        if (!c->suppressed && !cli_report_is_total(c) && c->count > max)
            max = c->count;
    }
    for (size_t i = 0; i < rows.n; i++)
        if (strlen(cli_report_label(dim0, rows.v[i])) > lrow)
            lrow = strlen(cli_report_label(dim0, rows.v[i]));
    for (size_t j = 0; j < cols.n; j++)
        if (strlen(cli_report_label(dim1, cols.v[j])) > lcol)
            lcol = strlen(cli_report_label(dim1, cols.v[j]));
    size_t ncols = cols.n + row_tot, nrows = rows.n + col_tot;
    int cw = 50, ch = 20, left = 12 + 6 * (int)lrow, top = 14 + (int)(4.4 * (double)lcol);
    fputs("<figure><figcaption>", fp);
    cli_report_esc(fp, title);
    fprintf(fp, "</figcaption><svg width=\"%d\" height=\"%d\" role=\"img\">\n",
            left + cw * (int)ncols + 6 * (int)lcol * 3 / 4, top + ch * (int)nrows + 4);
    for (size_t j = 0; j < ncols; j++) {
        fprintf(fp, "<text transform=\"translate(%d,%d) rotate(-40)\"%s>", left + cw * (int)j + 12,
                top - 6, j < cols.n ? "" : " class=\"totlabel\"");
        cli_report_esc(fp, j < cols.n ? cli_report_label(dim1, cols.v[j]) : "All");
        fputs("</text>\n", fp);
    }
    for (size_t i = 0; i < nrows; i++) {
        const char *k0 = i < rows.n ? rows.v[i] : "";
        fprintf(fp, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\"%s>", left - 6,
                top + ch * (int)i + 14, i < rows.n ? "" : " class=\"totlabel\"");
        cli_report_esc(fp, cli_report_label(dim0, k0));
        fputs("</text>\n", fp);
        for (size_t j = 0; j < ncols; j++) {
            const char *k1 = j < cols.n ? cols.v[j] : "";
            const tsr_trend_cell_t *c = cli_report_cell(r, k0, k1);
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
            cli_report_data(fp, rep, c);
            fprintf(fp, ">%s</text>\n", txt);
        }
    }
    fputs("</svg></figure>\n", fp);
}

static bool s_partial(const s_weeks_t *w, int32_t monday)
{
    return monday == w->partial[0] || monday == w->partial[1];
}

bool cli_report_weeks(s_weeks_t *w, const s_report_t *rep, int32_t today)
{
    w->n = 0;
    for (int32_t m = rep->since; m <= rep->end && w->n < S_AXIS_MAX; m += 7)
        w->monday[w->n++] = m;
    /* partial: until's week when until is not its Sunday, and this week */
    w->partial[0] = rep->until != rep->end ? tsr_day_week_monday(rep->until) : 0;
    w->partial[1] = tsr_day_week_monday(today);
    bool any_partial = false;
    for (size_t i = 0; i < w->n; i++)
        any_partial |= s_partial(w, w->monday[i]);
    return any_partial;
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
    cli_report_esc(fp, title);
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
        cli_report_data(fp, rep, c);
        fprintf(fp, ">week of %s: %s%s</title></rect>\n", day,
                c ? s_text(txt, sizeof txt, rep, c) : "not listed",
                part ? " (partial week: still being reported)" : "");
        /* one mark per week, however many alerts it had */
        size_t n_on = 0;
        for (size_t a = 0; alerts && a < alerts->u.response.n_alerts; a++) {
            const tsr_alert_t *al = &alerts->u.response.alerts[a];
            if (!cli_report_alert_on(rep, al, series) ||
                tsr_day_week_monday(al->period_day) != w->monday[i])
                continue;
            if (n_on++ == 0)
                fprintf(fp, "<path d=\"M%d %.0f l4 -7 l4 7 z\" class=\"alert\"><title>",
                        x + bw / 2 - 4, top + h - bh - 1);
            else
                fputc('\n', fp);
            tsr_day_format(day, al->period_day);
            fprintf(fp, "Spike alert %s, %s: ", day, cli_report_method(al->method));
            cli_report_observed(fp, rep, al);
            fputs(" (", fp);
            cli_report_series(fp, al->series);
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
void cli_report_legend(FILE *fp, const s_report_t *rep, bool any_partial)
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
void cli_report_weekly(FILE *fp, s_report_t *rep, const s_data_t *d, const s_weeks_t *w)
{
    static const tsr_trend_cell_t *cells[S_AXIS_MAX * 2];
    char series[64], title[256];
    fputs("<h2>Weekly cases</h2>\n", fp);
    snprintf(series, sizeof series, "region:%s", rep->region);
    const s_table_t *rt = d->region_from_totals ? &d->grid : &d->region;
    if (rt->rc != 0) {
        cli_report_withheld(fp, "The whole region", rt->why);
    } else {
        for (size_t i = 0; i < w->n; i++) {
            char day[11];
            tsr_day_format(day, w->monday[i]);
            cells[i] = d->region_from_totals ? cli_report_cell(s_resp(rt), "", day)
                                             : cli_report_cell(s_resp(rt), day, NULL);
        }
        int bw = w->n ? 860 / (int)w->n : 20;
        s_weekly(fp, rep, "The whole region", w, cells, s_ymax(cells, w->n, rep->k),
                 bw > 40 ? 40 : bw, 120, d->alerts_ok ? &d->alerts : NULL, series, true);
    }
    fputs("<h3>Per area (one shared y-axis)</h3>\n<div class=\"grid\">\n", fp);
    if (d->grid.rc != 0) {
        cli_report_withheld(fp, "Weekly cases per area", d->grid.why);
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
        if (!c->suppressed && !cli_report_is_total(c) && c->count > ymax)
            ymax = c->count;
    }
    ymax = s_nice(ymax);
    int bw = w->n ? 200 / (int)w->n : 8;
    if (bw < 3)
        bw = 3;
    for (size_t a = 0; a < areas.n; a++) {
        for (size_t i = 0; i < w->n; i++) {
            char day[11];
            cells[i] =
                cli_report_cell(s_resp(&d->grid), areas.v[a], tsr_day_format(day, w->monday[i]));
        }
        snprintf(title, sizeof title, "%s (%.16s)", cli_report_label("area", areas.v[a]),
                 areas.v[a]);
        snprintf(series, sizeof series, "area:%.16s", areas.v[a]);
        s_weekly(fp, rep, title, w, cells, ymax, bw, 60, d->alerts_ok ? &d->alerts : NULL, series,
                 false);
    }
    fputs("</div>\n", fp);
}
