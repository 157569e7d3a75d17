/* test_spikes.c - the national tier's spike rules (issue 19): the
 * national series (collector/spikes.c) and the cross-region alert
 * (collector/spikes_cross.c), at most one per period, raised only where
 * the rule is on. A burst in Leeds and in Manchester on one day raises
 * exactly one cross-region alert naming Yorkshire and the North West; with
 * the rule off the same records raise none (and no national spike), and
 * turning it on finds the national series' history complete; a burst
 * within one region raises no cross-region alert. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"
#include "tsr_detect.h"

/* Leeds (Yorkshire), Manchester (North West), Newcastle (North East),
 * Bradford (Yorkshire) */
static const char *const s_areas[] = {"E08000035", "E08000003", "E08000021", "E08000032"};

static tsr_store_t *s_open(bool cross_region)
{
    tsr_spikes_opts_t o;
    tsr_spikes_defaults(&o);
    o.cross_region = cross_region;
    return tsr_detect_open(&o);
}

static tsr_incident_t s_incs[400];

/* A quiet background: 0, 1, 2 cases a day in each area for the 30 days
 * before DAY. No alert. */
static void s_background(tsr_store_t *s)
{
    size_t n = 0;
    for (int d = 30; d >= 1; d--)
        for (int a = 0; a < 4; a++)
            for (int k = 0; k < (d + a) % 3; k++)
                tsr_detect_record(&s_incs[n++], s_areas[a], DAY - d);
    tsr_detect_store(s, s_incs, n);
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_SPIKE, NULL), 0);
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_CROSS_AREA, NULL), 0);
}

/* count cases on DAY in each of the areas s_areas[first..first+n) */
static void s_burst(tsr_store_t *s, size_t first, size_t n_areas, int count)
{
    size_t n = 0;
    for (size_t a = first; a < first + n_areas; a++)
        for (int k = 0; k < count; k++)
            tsr_detect_record(&s_incs[n++], s_areas[a], DAY);
    tsr_detect_store(s, s_incs, n);
}

static const char s_two_regions[] =
    "cross-region: national, day 2026-11-23: 2 regions alarm together, same feature in several "
    "regions: contact_platform:instagram (2), demand:money (2) (c1, c2); regions: North West "
    "(E12000002), Yorkshire and The Humber (E12000003)";

static void s_expect_two_regions(tsr_store_t *s)
{
    tsr_alert_t x = {0};
    assert_int_equal(tsr_detect_count_on(s, TSR_ALERT_CROSS_AREA, "nation:all", &x), 1);
    assert_int_equal(x.period_day, DAY);
    assert_string_equal(x.method, "ears");
    assert_int_equal(x.observed, 16);
    assert_int_equal(x.n_areas, 2);
    assert_string_equal(x.areas[0], "E12000002");
    assert_string_equal(x.areas[1], "E12000003");
    if (getenv("TSR_DEBUG"))
        printf("%s\n", x.summary);
    assert_string_equal(x.summary, s_two_regions);
    tsr_alert_clear(&x);
    /* one area per region alarmed: no region has a cross-area alert */
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_CROSS_AREA, NULL), 1);
}

static void test_burst_in_two_regions(void **state)
{
    (void)state;
    tsr_store_t *s = s_open(true);
    s_background(s);
    /* 8 cases each in Leeds and Manchester on one day */
    s_burst(s, 0, 2, 8);
    s_expect_two_regions(s);
    /* the national series alarms in its own spike alerts too (C1, C2) */
    tsr_alert_t x = {0};
    assert_int_equal(tsr_detect_count_on(s, TSR_ALERT_SPIKE, "nation:all", &x), 2);
    assert_int_equal(x.observed, 16);
    tsr_alert_clear(&x);
    /* Newcastle joining later that day raises no second cross-region alert */
    s_burst(s, 2, 1, 8);
    assert_int_equal(tsr_detect_count_on(s, TSR_ALERT_CROSS_AREA, "nation:all", NULL), 1);
    /* nor does the day's boundary run, nor one after a restart */
    assert_int_equal(tsr_store_day_closed(s, DAY, (int64_t)(DAY + 1) * 86400), 0);
    tsr_store_close(&s);
    s = s_open(true);
    assert_int_equal(tsr_store_day_closed(s, DAY, (int64_t)(DAY + 1) * 86400), 0);
    assert_int_equal(tsr_detect_count_on(s, TSR_ALERT_CROSS_AREA, "nation:all", NULL), 1);
    tsr_store_close(&s);
}

/* A regional collector (the rule off): the same records raise no
 * cross-region alert and no national spike. The national series is counted
 * all the same, so the rule turned on (SIGHUP, a relay listed) finds its
 * history and the day's boundary run raises the alert. */
static void test_off_then_on(void **state)
{
    (void)state;
    tsr_store_t *s = s_open(false);
    s_background(s);
    s_burst(s, 0, 2, 8);
    assert_int_equal(tsr_detect_count_on(s, TSR_ALERT_CROSS_AREA, "nation:all", NULL), 0);
    assert_int_equal(tsr_detect_count_on(s, TSR_ALERT_SPIKE, "nation:all", NULL), 0);
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_CROSS_AREA, NULL), 0);
    assert_true(tsr_detect_count(s, TSR_ALERT_SPIKE, NULL) >= 6); /* Leeds', Manchester's, ... */
    tsr_store_cross_region(s, true);
    assert_int_equal(tsr_store_day_closed(s, DAY, (int64_t)(DAY + 1) * 86400), 0);
    s_expect_two_regions(s);
    tsr_store_close(&s);
}

/* A burst in Leeds and Bradford, both Yorkshire: the region's cross-area
 * alert, and no cross-region one (one region alarms, and it holds all of
 * the national excess). */
static void test_burst_in_one_region(void **state)
{
    (void)state;
    tsr_store_t *s = s_open(true);
    s_background(s);
    size_t n = 0;
    for (int k = 0; k < 8; k++) {
        tsr_detect_record(&s_incs[n++], s_areas[0], DAY);
        tsr_detect_record(&s_incs[n++], s_areas[3], DAY);
    }
    tsr_detect_store(s, s_incs, n);
    tsr_alert_t x = {0};
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_CROSS_AREA, &x), 1);
    assert_string_equal(x.series, "region:E12000003");
    tsr_alert_clear(&x);
    assert_int_equal(tsr_detect_count_on(s, TSR_ALERT_SPIKE, "nation:all", NULL), 2);
    tsr_store_close(&s);
}

/* Condition (b): 2 cases in Leeds, Manchester and Newcastle and 1 in
 * Bradford, too few for any region to alarm, make the national series
 * alarm with its excess spread over the regions. */
static void test_national_excess_spread(void **state)
{
    (void)state;
    tsr_store_t *s = s_open(true);
    s_background(s);
    size_t n = 0;
    for (size_t a = 0; a < 4; a++)
        for (int k = 0; k < (a == 3 ? 1 : 2); k++)
            tsr_detect_record(&s_incs[n++], s_areas[a], DAY);
    tsr_detect_store(s, s_incs, n);
    if (getenv("TSR_DEBUG")) {
        tsr_response_t r;
        memset(&r, 0, sizeof r);
        tsr_store_alerts(s, 0, 1000, NULL, NULL, &r);
        for (size_t i = 0; i < r.n_alerts; i++)
            printf("%s\n", r.alerts[i].summary);
        tsr_msg_t m = {.kind = TSR_MSG_RESPONSE};
        m.u.response = r;
        tsr_msg_clear(&m);
    }
    tsr_alert_t x = {0};
    assert_int_equal(tsr_detect_count(s, TSR_ALERT_CROSS_AREA, &x), 1);
    assert_string_equal(x.series, "nation:all");
    assert_int_equal(x.observed, 7);
    assert_int_equal(x.n_areas, 0); /* no region alarmed on its own */
    assert_string_equal(x.summary, "cross-region: national, day 2026-11-23: the national excess "
                                   "is spread over its regions (largest share: Yorkshire and The "
                                   "Humber) (c1, c2)");
    tsr_alert_clear(&x);
    tsr_store_close(&s);
}

static void test_summary(void **state)
{
    (void)state;
    tsr_area_code_t regions[2] = {"E12000001", "E12000007"};
    tsr_alert_t a = {.kind = TSR_ALERT_CROSS_AREA, .period_day = DAY - 7, .observed = 40,
                     .areas = regions, .n_areas = 2};
    snprintf(a.series, sizeof a.series, "nation:all");
    snprintf(a.method, sizeof a.method, "farrington");
    snprintf(a.trigger, sizeof a.trigger, "2 regions alarm together (farrington)");
    char out[512];
    tsr_spikes_summary(&a, 5, out, sizeof out);
    assert_string_equal(out, "cross-region: national, week of 2026-11-16: 2 regions alarm "
                             "together (farrington); regions: North East (E12000001), London "
                             "(E12000007)");
    /* an analyst's reads the same: no counts in it */
    tsr_spikes_summary_released(&a, 5, out, sizeof out);
    assert_string_equal(out, "cross-region: national, week of 2026-11-16: 2 regions alarm "
                             "together (farrington); regions: North East (E12000001), London "
                             "(E12000007)");
    /* the national series' own spike */
    a.kind = TSR_ALERT_SPIKE;
    a.expected = 12.5;
    a.upperbound = 20.25;
    tsr_spikes_summary(&a, 0, out, sizeof out);
    assert_string_equal(out, "spike: national, week of 2026-11-16: 40 reports, expected 12.5 "
                             "(from the same weeks of earlier years); Farrington flexible flags "
                             "more than 20.2");
}

static int s_setup(void **state)
{
    (void)state;
    return tsr_test_dir_make("spikes");
}

/* each test on a store of its own */
static int s_fresh(void **state)
{
    return tsr_test_dir_remove(state) == 0 ? tsr_test_dir_make("spikes") : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_burst_in_two_regions, s_fresh),
        cmocka_unit_test_setup(test_off_then_on, s_fresh),
        cmocka_unit_test_setup(test_burst_in_one_region, s_fresh),
        cmocka_unit_test_setup(test_national_excess_spread, s_fresh),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, s_setup, tsr_test_dir_remove);
}
