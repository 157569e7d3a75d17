/* test_refusals.c - repeated refusals in the audit log (collector/
 * refusals.c): the first few of a window one by one, the rest as one
 * entry when the window has passed, per peer and kind; a failed write is
 * kept for the next flush. Time is given, not read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "refusals.h"

/* What flush wrote, and whether the next write fails. */
static tsr_audit_entry_t s_written[16];
static size_t s_n;
static int s_fail;

static int s_write(void *ctx, const tsr_audit_entry_t *e)
{
    (void)ctx;
    if (s_fail)
        return s_fail;
    assert_true(s_n < 16);
    s_written[s_n++] = *e;
    return 0;
}

#define T0 1764547200 /* 2025-12-01T00:00:00Z */

static void test_first_ones_single_then_one_aggregate(void **state)
{
    (void)state;
    tsr_refusals_t *r;
    s_n = 0;
    s_fail = 0;
    assert_int_equal(tsr_refusals_new(&r, 2, 60), 0);
    assert_true(tsr_refusals_note(r, "ag-1", "agent", "query -> denied", T0));
    assert_true(tsr_refusals_note(r, "ag-1", "agent", "query -> denied", T0 + 1));
    for (int i = 0; i < 37; i++)
        assert_false(tsr_refusals_note(r, "ag-1", "agent", "query -> denied", T0 + 5 + i));
    assert_int_equal(tsr_refusals_aggregated(r), 37);
    /* the window is not over: nothing written */
    assert_int_equal(tsr_refusals_flush(r, T0 + 59, false, s_write, NULL), 0);
    assert_int_equal(s_n, 0);
    assert_int_equal(tsr_refusals_flush(r, T0 + 60, false, s_write, NULL), 0);
    assert_int_equal(s_n, 1);
    assert_int_equal(s_written[0].time, T0 + 60);
    assert_string_equal(s_written[0].id, "ag-1");
    assert_string_equal(s_written[0].role, "agent");
    assert_string_equal(s_written[0].request, "37 more refused \"query -> denied\" from "
                                              "2025-12-01T00:00:05Z to 2025-12-01T00:00:41Z");
    assert_int_equal(s_written[0].result_size, 0);
    assert_int_equal(tsr_refusals_entries(r), 1);
    /* a new window: single again */
    assert_true(tsr_refusals_note(r, "ag-1", "agent", "query -> denied", T0 + 61));
    assert_int_equal(tsr_refusals_flush(r, T0 + 200, false, s_write, NULL), 0);
    assert_int_equal(s_n, 1); /* nothing was aggregated in it */
    tsr_refusals_destroy(&r);
    assert_null(r);
}

static void test_each_peer_and_kind_apart(void **state)
{
    (void)state;
    tsr_refusals_t *r;
    s_n = 0;
    s_fail = 0;
    assert_int_equal(tsr_refusals_new(&r, 1, 60), 0);
    assert_true(tsr_refusals_note(r, "an-1", "analyst", "trends -> rate limited", T0));
    assert_false(tsr_refusals_note(r, "an-1", "analyst", "trends -> rate limited", T0 + 1));
    assert_true(tsr_refusals_note(r, "an-1", "analyst", "lookup -> denied", T0 + 2));
    assert_true(tsr_refusals_note(r, "an-2", "analyst", "trends -> rate limited", T0 + 3));
    assert_false(tsr_refusals_note(r, "an-2", "analyst", "trends -> rate limited", T0 + 4));
    assert_false(tsr_refusals_note(r, "an-2", "analyst", "trends -> rate limited", T0 + 5));
    /* a clean stop writes every open aggregate, due or not */
    assert_int_equal(tsr_refusals_flush(r, T0 + 10, true, s_write, NULL), 0);
    assert_int_equal(s_n, 2);
    assert_string_equal(s_written[0].id, "an-1");
    assert_string_equal(s_written[0].request, "1 more refused \"trends -> rate limited\" from "
                                              "2025-12-01T00:00:01Z to 2025-12-01T00:00:01Z");
    assert_string_equal(s_written[1].id, "an-2");
    assert_string_equal(s_written[1].request, "2 more refused \"trends -> rate limited\" from "
                                              "2025-12-01T00:00:04Z to 2025-12-01T00:00:05Z");
    assert_int_equal(tsr_refusals_aggregated(r), 3);
    tsr_refusals_destroy(&r);
}

static void test_failed_write_is_kept(void **state)
{
    (void)state;
    tsr_refusals_t *r;
    s_n = 0;
    assert_int_equal(tsr_refusals_new(&r, 0, 60), 0); /* none one by one */
    assert_false(tsr_refusals_note(r, "ag-1", "agent", "query -> denied", T0));
    s_fail = -8;
    assert_int_equal(tsr_refusals_flush(r, T0 + 60, false, s_write, NULL), -8);
    assert_int_equal(tsr_refusals_entries(r), 0);
    /* more come meanwhile: counted into the same aggregate */
    assert_false(tsr_refusals_note(r, "ag-1", "agent", "query -> denied", T0 + 70));
    s_fail = 0;
    assert_int_equal(tsr_refusals_flush(r, T0 + 80, false, s_write, NULL), 0);
    assert_int_equal(s_n, 1);
    assert_string_equal(s_written[0].request, "2 more refused \"query -> denied\" from "
                                              "2025-12-01T00:00:00Z to 2025-12-01T00:01:10Z");
    assert_int_equal(tsr_refusals_entries(r), 1);
    tsr_refusals_destroy(&r);
}

static void test_bounded_entries_under_a_flood(void **state)
{
    (void)state;
    tsr_refusals_t *r;
    s_n = 0;
    s_fail = 0;
    /* 10 a second for ten minutes: 6,000 refusals, flushed every second */
    assert_int_equal(tsr_refusals_new(&r, 10, 60), 0);
    size_t single = 0;
    for (int64_t t = T0; t < T0 + 600; t++) {
        assert_int_equal(tsr_refusals_flush(r, t, false, s_write, NULL), 0);
        for (int i = 0; i < 10; i++)
            single += tsr_refusals_note(r, "ag-1", "agent", "query -> denied", t);
        if (s_n == 16)
            s_n = 0; /* only the count matters here */
    }
    assert_int_equal(tsr_refusals_flush(r, T0 + 600, true, s_write, NULL), 0);
    /* ten windows of a minute: ten single entries and one aggregate each */
    assert_int_equal(single, 100);
    assert_int_equal(tsr_refusals_entries(r), 10);
    assert_int_equal(tsr_refusals_aggregated(r), 5900);
    tsr_refusals_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_ones_single_then_one_aggregate),
        cmocka_unit_test(test_each_peer_and_kind_apart),
        cmocka_unit_test(test_failed_write_is_kept),
        cmocka_unit_test(test_bounded_entries_under_a_flood),
    };
    return cmocka_run_group_tests_name("refusals", tests, NULL, NULL);
}
