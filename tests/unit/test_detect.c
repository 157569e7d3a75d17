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

#include <string.h>

#include "store.h"
#include "tessera/err.h"

#define DAY 20780 /* the burst day (2026-11-23); the collector's "today" */

static const char *const s_areas[] = {"E08000035", "E08000032", "E06000014", "E06000052"};

static tsr_store_t *s_open(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/db", s_dir);
    tsr_store_opts_t o = {.kv = {.dir = path, .map_size = 16u << 20}};
    tsr_store_t *s;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_open(&s, &o, &err), 0);
    return s;
}

static uint32_t s_next_id = 1;

static void s_record(tsr_incident_t *inc, const char *area, int32_t day)
{
    memset(inc, 0, sizeof *inc);
    uint32_t id = s_next_id++;
    memcpy(inc->record_id, &id, sizeof id);
    inc->version = 1;
    inc->agency_type = 1;
    snprintf(inc->area_code, sizeof inc->area_code, "%s", area);
    inc->reported_day = day;
    inc->date_precision = TSR_PRECISION_DAY;
    inc->age_band = 3;
    inc->gender = 1;
    inc->contact_platforms = 1u << 1;
    inc->demands = 1u << 1;
    inc->amount_demanded_band = 9;
    inc->amount_paid_band = 9;
    inc->paid = 3;
}

/* Stores n records in one transaction at the collector time of DAY noon;
 * returns the alerts raised. */
static size_t s_store(tsr_store_t *s, tsr_incident_t *incs, size_t n)
{
    tsr_client_t c = {.role = TSR_ROLE_AGENT, .all_areas = true};
    snprintf(c.id, sizeof c.id, "agency-1");
    tsr_store_item_t *items = calloc(n, sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i].incident = &incs[i];
    tsr_store_batch_t b = {&c, items, n};
    assert_int_equal(tsr_store_apply(s, &b, 1, (int64_t)DAY * 86400 + 43200), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(items[i].outcome, TSR_OUTCOME_REJECTED);
    free(items);
    /* detection runs in its own transaction after the ingest one */
    size_t np;
    assert_true(tsr_store_pending(s));
    assert_int_equal(tsr_store_evaluate(s, (int64_t)DAY * 86400 + 43200), 0);
    assert_false(tsr_store_pending(s));
    tsr_store_published(s, &np);
    return np;
}

static size_t s_count_kind(tsr_store_t *s, int kind, tsr_alert_t *last)
{
    tsr_response_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(tsr_store_alerts(s, 0, 1000, NULL, NULL, &r), 0);
    size_t n = 0;
    for (size_t i = 0; i < r.n_alerts; i++)
        if (r.alerts[i].kind == kind) {
            n++;
            if (last) {
                tsr_alert_clear(last);
                *last = r.alerts[i];
                memset(&r.alerts[i], 0, sizeof r.alerts[i]);
            }
        }
    tsr_msg_t m = {.kind = TSR_MSG_RESPONSE};
    m.u.response = r;
    tsr_msg_clear(&m);
    return n;
}

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
                s_record(&incs[n++], s_areas[a], DAY - d);
    s_store(s, incs, n);
    if (getenv("TSR_DEBUG")) {
        tsr_response_t r;
        memset(&r, 0, sizeof r);
        tsr_store_alerts(s, 0, 1000, NULL, NULL, &r);
        for (size_t i = 0; i < r.n_alerts && i < 10; i++)
            printf("%s\n", r.alerts[i].summary);
    }
    assert_int_equal(s_count_kind(s, TSR_ALERT_SPIKE, NULL), 0);
    assert_int_equal(s_count_kind(s, TSR_ALERT_CROSS_AREA, NULL), 0);

    /* the burst: 8 cases each in Leeds, Bradford and York on one day */
    n = 0;
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < 8; k++)
            s_record(&incs[n++], s_areas[a], DAY);
    size_t raised = s_store(s, incs, n);
    assert_true(raised > 3);
    tsr_alert_t cross = {0};
    assert_int_equal(s_count_kind(s, TSR_ALERT_CROSS_AREA, &cross), 1);
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
    size_t spikes = s_count_kind(s, TSR_ALERT_SPIKE, NULL);
    assert_true(spikes >= 9); /* each area, C1..C3 at least */

    /* a fourth area joining later that day raises no second cross-area alert */
    n = 0;
    for (int k = 0; k < 8; k++)
        s_record(&incs[n++], s_areas[0], DAY);
    s_store(s, incs, n);
    assert_int_equal(s_count_kind(s, TSR_ALERT_CROSS_AREA, NULL), 1);
    spikes = s_count_kind(s, TSR_ALERT_SPIKE, NULL);

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
    assert_int_equal(s_count_kind(s, TSR_ALERT_SPIKE, NULL), spikes);
    assert_int_equal(s_count_kind(s, TSR_ALERT_CROSS_AREA, NULL), 1);
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
