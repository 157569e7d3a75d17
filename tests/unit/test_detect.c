/* test_detect.c - spike and cross-area alerts raised by the collector's store
 * from committed records: a burst across three areas of one region raises
 * exactly one cross-area alert for that day; evaluating again, or after a
 * restart, raises nothing new; retractions take records out of the counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"
#include "tsr_detect.h"

#include <string.h>

static const char *const s_areas[] = {"E08000035", "E08000032", "E06000014", "E06000052"};

static tsr_store_t *s_open(void) { return tsr_detect_open(NULL); }

static void test_burst_across_three_areas(void **state)
{
    (void)state;
    tsr_store_t *s = s_open();
    /* a quiet background: 0, 1, 2 cases a day in each area for 30 days */
    static tsr_incident_t incs[400];
    size_t n = 0;
    for (int d = 30; d >= 1; d--)
        for (int a = 0; a < 4; a++)
            for (int k = 0; k < (d + a) % 3; k++)
                tsr_detect_record(&incs[n++], s_areas[a], DAY - d);
    tsr_detect_store(s, incs, n);
    if (getenv("TSR_DEBUG")) {
        tsr_response_t r;
        memset(&r, 0, sizeof r);
        tsr_store_alerts(s, 0, 1000, NULL, NULL, &r);
        for (size_t i = 0; i < r.n_alerts && i < 10; i++)
            printf("%s\n", r.alerts[i].summary);
    }
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_SPIKE, NULL), 0);
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_CROSS_AREA, NULL), 0);

    /* the burst: 8 cases each in Leeds, Bradford and York on one day */
    n = 0;
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < 8; k++)
            tsr_detect_record(&incs[n++], s_areas[a], DAY);
    size_t raised = tsr_detect_store(s, incs, n);
    assert_true(raised > 3);
    tsr_alert_t cross = {0};
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_CROSS_AREA, &cross), 1);
    assert_string_equal(cross.series, "region:E12000003");
    assert_int_equal(cross.period_day, DAY);
    assert_int_equal(cross.observed, 24);
    assert_int_equal(cross.n_areas, 3);
    assert_string_equal(cross.areas[0], "E06000014");
    assert_string_equal(cross.areas[1], "E08000032");
    assert_string_equal(cross.areas[2], "E08000035");
    if (getenv("TSR_DEBUG"))
        printf("%s\n%s\n", cross.summary, cross.trigger);
    assert_non_null(strstr(cross.trigger, "3 areas alarm together"));
    assert_non_null(strstr(cross.trigger, "contact_platform:instagram (3)"));
    assert_non_null(strstr(cross.trigger, "the region's excess is spread over its areas"));
    tsr_alert_clear(&cross);
    size_t spikes = tsr_detect_count(s, TSR_ALERT_SPIKE, NULL);
    assert_true(spikes >= 9); /* each area, C1..C3 at least */

    /* a fourth area joining later that day raises no second cross-area alert */
    n = 0;
    for (int k = 0; k < 8; k++)
        tsr_detect_record(&incs[n++], s_areas[0], DAY);
    tsr_detect_store(s, incs, n);
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_CROSS_AREA, NULL), 1);
    spikes = tsr_detect_count(s, TSR_ALERT_SPIKE, NULL);

    /* evaluating the day again (the boundary run) and after a restart: nothing new */
    assert_int_equal(tsr_store_day_closed(s, DAY, (int64_t)(DAY + 1) * 86400), 0);
    size_t np;
    tsr_store_published(s, &np);
    assert_int_equal(np, 0);
    tsr_store_close(&s);
    s = s_open();
    assert_int_equal(tsr_store_day_closed(s, DAY, (int64_t)(DAY + 1) * 86400), 0);
    tsr_store_published(s, &np);
    assert_int_equal(np, 0);
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_SPIKE, NULL), spikes);
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_CROSS_AREA, NULL), 1);
    tsr_store_close(&s);
}

static void test_summary_for_analysts(void **state)
{
    (void)state;
    tsr_alert_t a = {.kind = TSR_ALERT_SPIKE, .period_day = DAY, .observed = 3, .expected = 0.4,
                     .upperbound = 2.1};
    snprintf(a.series, sizeof a.series, "area:E08000035/tactic:webcam_capture");
    snprintf(a.method, sizeof a.method, "c2");
    char out[512];
    tsr_spikes_summary(&a, 5, out, sizeof out);
    assert_string_equal(out, "spike: Leeds (E08000035) tactic:webcam_capture, day 2026-11-23: <5 "
                             "reports (EARS C2)");
    tsr_spikes_summary(&a, 0, out, sizeof out);
    assert_string_equal(out, "spike: Leeds (E08000035) tactic:webcam_capture, day 2026-11-23: 3 "
                             "reports, expected 0.4 (the mean of the 7 days 2026-11-14 to "
                             "2026-11-20, the two days before left out); EARS C2 flags more than "
                             "2.1");
    /* the released text: a count of four whole weeks, no threshold */
    a.observed = 7;
    a.expected = 0.5;
    a.upperbound = 0;
    tsr_spikes_summary_released(&a, 5, out, sizeof out);
    assert_string_equal(out, "spike: Leeds (E08000035) tactic:webcam_capture, day 2026-11-23: 7 "
                             "reports against 0.5 a day in the four weeks 2026-10-26 to "
                             "2026-11-22; EARS C2 flagged it (its threshold is made from exact "
                             "counts, so it is not shown)");
    a.observed_suppressed = true;
    tsr_spikes_summary_released(&a, 5, out, sizeof out);
    assert_string_equal(out, "spike: Leeds (E08000035) tactic:webcam_capture, day 2026-11-23: <5 "
                             "reports (EARS C2)");
}

/* Issue 16: "3 reports, expected 3.1, upper bound 0.9" read as nonsense. C3's
 * bound carries the rises of the two days before; the text says so, with
 * every day named, and the numbers as R gives them. */
static void test_summary_explains_each_method(void **state)
{
    (void)state;
    tsr_alert_t a = {.kind = TSR_ALERT_SPIKE, .period_day = DAY, .observed = 3, .expected = 3.1,
                     .upperbound = 0.9};
    snprintf(a.series, sizeof a.series, "area:E08000035");
    char out[512];
    snprintf(a.method, sizeof a.method, "c3");
    tsr_spikes_summary(&a, 0, out, sizeof out);
    assert_string_equal(out, "spike: Leeds (E08000035), day 2026-11-23: 3 reports, expected 3.1 "
                             "(the mean of the 7 days 2026-11-14 to 2026-11-20); EARS C3 adds up "
                             "how far 2026-11-21, 2026-11-22 and 2026-11-23 each rose over their "
                             "own 7-day baselines, so the rises of the two days before carry "
                             "over: after them, more than 0.9 on 2026-11-23 passed its threshold");
    snprintf(a.method, sizeof a.method, "c1");
    a.expected = 1.25;
    a.upperbound = 4.04;
    tsr_spikes_summary(&a, 0, out, sizeof out);
    assert_string_equal(out, "spike: Leeds (E08000035), day 2026-11-23: 3 reports, expected 1.2 "
                             "(the mean of the 7 days 2026-11-16 to 2026-11-22); EARS C1 flags "
                             "more than 4.0");
    snprintf(a.method, sizeof a.method, "farrington");
    a.period_day = DAY - 7;
    tsr_spikes_summary(&a, 0, out, sizeof out);
    assert_string_equal(out, "spike: Leeds (E08000035), week of 2026-11-16: 3 reports, expected "
                             "1.2 (from the same weeks of earlier years); Farrington flexible "
                             "flags more than 4.0");
}

static int s_setup(void **state)
{
    (void)state;
    return tsr_test_dir_make("detect");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_across_three_areas),
        cmocka_unit_test(test_summary_for_analysts),
        cmocka_unit_test(test_summary_explains_each_method),
    };
    return cmocka_run_group_tests(tests, s_setup, tsr_test_dir_remove);
}
