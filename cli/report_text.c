/* report_text.c - the words of `tessera report`: escaping, labels for
 * people, the period-on-period table and the list of spike alerts. Every
 * count shown is one the collector released; the only arithmetic is the
 * change between two of them, labelled as such. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"
#include "tessera/codes.h"
#include "tessera/record.h"
#include "tessera/spike.h"

/* HTML-escapes s into fp. */
void cli_report_esc(FILE *fp, const char *s)
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
const char *cli_report_label(const char *dim, const char *key)
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

/* The data-count and data-kind attributes of a drawn count (what
 * tools/report_cells.py measures). */
void cli_report_data(FILE *fp, s_report_t *r, const tsr_trend_cell_t *c)
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
            cli_report_is_total(c) ? "total" : "cell");
}

/* The alerts' method, for people. */
const char *cli_report_method(const char *m)
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
        cli_report_esc(fp, buf);
        return;
    }
    *colon = '\0';
    for (const char *p = buf; *p; p++)
        fputc(*p == '_' ? ' ' : *p, fp);
    fputc(' ', fp);
    cli_report_esc(fp, cli_report_label(buf, colon + 1));
}

/* A series name ("area:E08000035/contact_platform:x") for people: "Leeds,
 * contact platform X (Twitter)". */
void cli_report_series(FILE *fp, const char *series)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", series);
    char *sub = strchr(buf, '/');
    if (sub)
        *sub++ = '\0';
    char *colon = strchr(buf, ':');
    if (colon && !strncmp(buf, "area:", 5)) {
        cli_report_esc(fp, cli_report_label("area", colon + 1));
    } else if (colon && !strncmp(buf, "region:", 7)) {
        const char *name = tsr_region_name(colon + 1);
        cli_report_esc(fp, name ? name : colon + 1);
        fputs(" (whole region)", fp);
    } else {
        cli_report_esc(fp, buf);
    }
    if (sub) {
        fputs(", ", fp);
        s_sub_text(fp, sub);
    }
}

/* "observed 12 vs expected 1.1" (the observed count below k is not sent to
 * analysts). */
void cli_report_observed(FILE *fp, const s_report_t *r, const tsr_alert_t *a)
{
    if (a->observed_suppressed)
        fprintf(fp, "observed &lt;%u", r->k);
    else
        fprintf(fp, "observed %" PRIu64, a->observed);
    fprintf(fp, " vs expected %.1f", a->expected);
}

/* A spike or cross-area alert on series (or one of its sub-series, e.g.
 * area:X/demand:money) within the report's period. */
bool cli_report_alert_on(const s_report_t *r, const tsr_alert_t *a, const char *series)
{
    if (a->kind == TSR_ALERT_LINKAGE || a->period_day < r->since || a->period_day > r->end)
        return false;
    if (!series)
        return true;
    size_t sl = strlen(series);
    return !strncmp(a->series, series, sl) && (a->series[sl] == '\0' || a->series[sl] == '/');
}

void cli_report_withheld(FILE *fp, const char *title, const char *why)
{
    fputs("<figure><figcaption>", fp);
    cli_report_esc(fp, title);
    fputs("</figcaption><p class=\"note\">Withheld: ", fp);
    cli_report_esc(fp, why);
    fputs("</p></figure>\n", fp);
}

/* The cell of one row (or a total, key "") of a 1-D table, as a table cell;
 * *value set when it is a released number. */
static void s_td(FILE *fp, s_report_t *rep, const s_table_t *t, const char *key, bool *num,
                 uint64_t *value)
{
    const tsr_trend_cell_t *c = t->rc == 0 ? cli_report_cell(s_resp(t), key, NULL) : NULL;
    char txt[32];
    *num = c && !c->suppressed;
    *value = *num ? c->count : 0;
    if (!c) {
        fputs("<td class=\"num na\">not released</td>", fp);
        return;
    }
    fputs("<td class=\"num\"", fp);
    cli_report_data(fp, rep, c);
    fprintf(fp, ">%s</td>", s_text(txt, sizeof txt, rep, c));
}

/* This period against the previous one of the same length: per area and for
 * the region's total (the collector's total cell). The change is the
 * difference of two released numbers, and only that. */
void cli_report_compare(FILE *fp, s_report_t *rep, const s_table_t *now,
                        const s_table_t *prev, int32_t prev_since)
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
            cli_report_esc(fp, cli_report_label("area", key));
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
        cli_report_esc(fp, prev->why);
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
void cli_report_alerts(FILE *fp, const s_report_t *rep, const tsr_msg_t *alerts)
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
        if (cli_report_alert_on(rep, &r->alerts[i], NULL)) {
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
        cli_report_series(fp, base);
        fputs("</td><td>", fp);
        /* the base series' alerts; when only sub-series alarmed, theirs */
        bool on_base = list[g]->series[bl] == '\0';
        size_t shown = 0;
        for (size_t i = g; i < e; i++) {
            if (on_base && list[i]->series[bl] != '\0')
                continue;
            fputs(shown++ ? "<br>" : "", fp);
            cli_report_esc(fp, cli_report_method(list[i]->method));
            if (!on_base) {
                fputs(" (", fp);
                s_sub_text(fp, list[i]->series + bl + 1);
                fputc(')', fp);
            }
            fputs(": ", fp);
            cli_report_observed(fp, rep, list[i]);
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

/* The sentence on how numbers are released (in the header and the method). */
void cli_report_release_note(FILE *fp, const s_report_t *rep)
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
