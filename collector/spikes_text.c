/* spikes_text.c - spike and cross alerts in words: the summary stored
 * with an alert, and the one released to a user who may not see small
 * counts (rules in docs/DETECTION.md). */
#include "spikes_int.h"
#include "tessera/codes.h"

#include <stdio.h>
#include <string.h>

/* "area:E08000035" -> "Leeds (E08000035)"; features kept as they are. */
static void p_describe(char *out, size_t cap, const char *series)
{
    if (!strcmp(series, P_NATION)) {
        snprintf(out, cap, "national");
        return;
    }
    char code[16] = "";
    const char *rest = strchr(series, '/');
    const char *colon = strchr(series, ':');
    if (colon)
        snprintf(code, sizeof code, "%.*s", (int)((rest ? rest : series + strlen(series)) - colon - 1),
                 colon + 1);
    const char *name = NULL;
    if (!strncmp(series, "area:", 5)) {
        const tsr_area_t *a = tsr_area_find(code);
        name = a ? a->name : NULL;
    } else if (!strncmp(series, "region:", 7)) {
        name = tsr_region_name(code);
    }
    snprintf(out, cap, "%s (%s)%s%s", name ? name : code, code, rest ? " " : "", rest ? rest + 1 : "");
}

/* The method's name as the docs give it: "EARS C3", "Farrington flexible". */
static const char *p_method_title(const char *method)
{
    const char *title = tsr_spike_method_title(method);
    return title ? title : method;
}

/* What a spike alert's expectation and threshold were made from, in words
 * (DETECTION.md; the numbers are R surveillance's, only explained here):
 * the baseline days of day t, and for C3 why its threshold can sit below
 * the expectation. */
static void p_explain(const tsr_alert_t *a, char *out, size_t cap)
{
    char d1[11], d2[11], d3[11], d4[11], d5[11];
    int32_t t = a->period_day;
    const char *m = a->method;
    if (!strcmp(m, "c1"))
        snprintf(out, cap, "expected %.1f (the mean of the 7 days %s to %s); EARS C1 flags more "
                 "than %.1f", a->expected, tsr_day_format(d1, t - 7), tsr_day_format(d2, t - 1),
                 a->upperbound);
    else if (!strcmp(m, "c2"))
        snprintf(out, cap, "expected %.1f (the mean of the 7 days %s to %s, the two days before "
                 "left out); EARS C2 flags more than %.1f", a->expected,
                 tsr_day_format(d1, t - 9), tsr_day_format(d2, t - 3), a->upperbound);
    else if (!strcmp(m, "c3"))
        snprintf(out, cap, "expected %.1f (the mean of the 7 days %s to %s); EARS C3 adds up how "
                 "far %s, %s and %s each rose over their own 7-day baselines, so the rises of "
                 "the two days before carry over: after them, more than %.1f on %s passed its "
                 "threshold", a->expected, tsr_day_format(d1, t - 9), tsr_day_format(d2, t - 3),
                 tsr_day_format(d3, t - 2), tsr_day_format(d4, t - 1), tsr_day_format(d5, t),
                 a->upperbound, d5);
    else if (!strcmp(m, "farrington"))
        snprintf(out, cap, "expected %.1f (from the same weeks of earlier years); Farrington "
                 "flexible flags more than %.1f", a->expected, a->upperbound);
    else
        snprintf(out, cap, "expected %.1f, threshold %.1f (%s)", a->expected, a->upperbound, m);
}

/* A cross-area alert's text; a cross-region one (the national series)
 * names its regions, which the alert's areas hold. */
static void p_cross_text(const tsr_alert_t *a, const char *what, const char *period,
                         const char *day, char *out, size_t cap)
{
    bool national = !strcmp(a->series, P_NATION);
    int n = snprintf(out, cap, "%s: %s, %s %s: %s", national ? "cross-region" : "cross-area", what,
                     period, day, a->trigger);
    for (size_t i = 0; national && n > 0 && (size_t)n < cap && i < a->n_areas; i++) {
        const char *name = tsr_region_name(a->areas[i]);
        n += snprintf(out + n, cap - (size_t)n, "%s%s (%s)", i ? ", " : "; regions: ",
                      name ? name : a->areas[i], a->areas[i]);
    }
}

void tsr_spikes_summary(const tsr_alert_t *a, unsigned k, char *out, size_t cap)
{
    char what[160], day[11], why[384];
    p_describe(what, sizeof what, a->series);
    tsr_day_format(day, a->period_day);
    const char *period = !strcmp(a->method, "farrington") ? "week of" : "day";
    if (a->kind == TSR_ALERT_CROSS_AREA) {
        p_cross_text(a, what, period, day, out, cap);
    } else if (k > 0 && a->observed < k) { /* the bound would tell how many */
        snprintf(out, cap, "spike: %s, %s %s: <%u reports (%s)", what, period, day, k,
                 p_method_title(a->method));
    } else {
        p_explain(a, why, sizeof why);
        snprintf(out, cap, "spike: %s, %s %s: %llu reports, %s", what, period, day,
                 (unsigned long long)a->observed, why);
    }
}

void tsr_spikes_summary_released(const tsr_alert_t *a, unsigned k, char *out, size_t cap)
{
    char what[160], day[11], d1[11], d2[11];
    p_describe(what, sizeof what, a->series);
    tsr_day_format(day, a->period_day);
    bool weekly = !strcmp(a->method, "farrington");
    const char *period = weekly ? "week of" : "day";
    /* the four whole ISO weeks before the period's week (answer.c, s_alert_release) */
    int32_t before = tsr_day_week_monday(a->period_day) - 28;
    if (a->kind == TSR_ALERT_CROSS_AREA)
        p_cross_text(a, what, period, day, out, cap);
    else if (a->observed_suppressed)
        snprintf(out, cap, "spike: %s, %s %s: <%u reports (%s)", what, period, day, k,
                 p_method_title(a->method));
    else
        snprintf(out, cap, "spike: %s, %s %s: %llu reports against %.1f a %s in the four weeks "
                 "%s to %s; %s flagged it (its threshold is made from exact counts, so it is not "
                 "shown)", what, period, day, (unsigned long long)a->observed, a->expected,
                 weekly ? "week" : "day", tsr_day_format(d1, before),
                 tsr_day_format(d2, before + 27), p_method_title(a->method));
}
