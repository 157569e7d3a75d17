/* test_budget.c - the per-analyst daily query budget (collector/budget.c):
 * distinct queries count, repeats are free, each analyst and each UTC day
 * has its own count, and the count is rebuilt from audit entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "budget.h"

#define DAY 20000 /* a UTC day number */

static void s_ask(tsr_budget_t *b, const char *id, int32_t day, const char *q,
                  tsr_budget_verdict_t want)
{
    tsr_budget_verdict_t v = tsr_budget_check(b, id, day, q);
    if (v != want)
        fail_msg("%s on day %d asking '%s': verdict %d, want %d", id, day, q, v, want);
    if (v == TSR_BUDGET_NEW)
        assert_int_equal(tsr_budget_note(b, id, day, q), 0);
}

static void test_distinct_queries_count_repeats_are_free(void **state)
{
    (void)state;
    tsr_budget_t *b;
    assert_int_equal(tsr_budget_new(&b, 3), 0);
    assert_int_equal(tsr_budget_limit(b), 3);
    s_ask(b, "an-1", DAY, "trends by area -..-", TSR_BUDGET_NEW);
    s_ask(b, "an-1", DAY, "trends by area -..-", TSR_BUDGET_FREE);
    s_ask(b, "an-1", DAY, "trends by gender -..-", TSR_BUDGET_NEW);
    s_ask(b, "an-1", DAY, "trends by age_band -..-", TSR_BUDGET_NEW);
    assert_int_equal(tsr_budget_used(b, "an-1", DAY), 3);
    s_ask(b, "an-1", DAY, "trends by week -..-", TSR_BUDGET_SPENT);
    s_ask(b, "an-1", DAY, "trends by gender -..-", TSR_BUDGET_FREE);
    assert_int_equal(tsr_budget_used(b, "an-1", DAY), 3);
    /* another analyst has a budget of their own */
    s_ask(b, "an-2", DAY, "trends by week -..-", TSR_BUDGET_NEW);
    assert_int_equal(tsr_budget_used(b, "an-2", DAY), 1);
    /* the next UTC day starts afresh */
    s_ask(b, "an-1", DAY + 1, "trends by week -..-", TSR_BUDGET_NEW);
    assert_int_equal(tsr_budget_used(b, "an-1", DAY + 1), 1);
    assert_int_equal(tsr_budget_used(b, "an-1", DAY), 0);
    tsr_budget_destroy(&b);
    assert_null(b);
    tsr_budget_destroy(&b);
}

static void test_only_analysts_trends(void **state)
{
    (void)state;
    assert_true(tsr_budget_applies(TSR_ROLE_ANALYST, TSR_QUERY_TRENDS));
    assert_false(tsr_budget_applies(TSR_ROLE_ANALYST, TSR_QUERY_ALERTS));
    assert_false(tsr_budget_applies(TSR_ROLE_LIAISON, TSR_QUERY_TRENDS));
    assert_false(tsr_budget_applies(TSR_ROLE_ADMIN, TSR_QUERY_STATS));
}

static void s_replay(tsr_budget_t *b, const char *id, const char *role, int64_t time,
                     const char *request)
{
    tsr_audit_entry_t e = {.time = time};
    snprintf(e.id, sizeof e.id, "%s", id);
    snprintf(e.role, sizeof e.role, "%s", role);
    snprintf(e.request, sizeof e.request, "%s", request);
    assert_int_equal(tsr_budget_replay(b, &e), 0);
}

static void test_rebuilt_from_the_audit_log(void **state)
{
    (void)state;
    tsr_budget_t *b;
    assert_int_equal(tsr_budget_new(&b, 4), 0);
    int64_t t = (int64_t)DAY * 86400 + 3600;
    s_replay(b, "an-1", "analyst", t, "trends by area -..- -> ok");
    s_replay(b, "an-1", "analyst", t + 1, "trends by area -..- -> ok"); /* a repeat */
    /* a refusal that released something ("fewer than k match") counts */
    s_replay(b, "an-1", "analyst", t + 2, "trends by area 2026-01-05..- -> bad request");
    /* budget and role refusals, errors, other queries and roles do not */
    s_replay(b, "an-1", "analyst", t + 3, "trends by gender -..- -> denied");
    s_replay(b, "an-1", "analyst", t + 4, "trends by week -..- -> error");
    s_replay(b, "an-1", "analyst", t + 5, "alerts since=0 max=1000 kind=0 -> ok");
    s_replay(b, "li-1", "liaison", t + 6, "trends by area -..- -> denied");
    s_replay(b, "an-1", "analyst", t + 7, "trends by x=a -> b -..- -> ok"); /* the last arrow */
    /* refused by the rate limit before anything was read: not counted;
     * nor is an aggregate of refusals (refusals.h) */
    s_replay(b, "an-1", "analyst", t + 8, "trends by age_band -..- -> rate limited");
    s_replay(b, "an-1", "analyst", t + 9,
             "5 more refused \"trends -> rate limited\" from 2024-10-04T01:00:00Z to "
             "2024-10-04T01:00:09Z");
    assert_int_equal(tsr_budget_used(b, "an-1", DAY), 3);
    assert_int_equal(tsr_budget_used(b, "li-1", DAY), 0);
    /* what was replayed is a repeat when asked live */
    s_ask(b, "an-1", DAY, "trends by area -..-", TSR_BUDGET_FREE);
    s_ask(b, "an-1", DAY, "trends by x=a -> b -..-", TSR_BUDGET_FREE);
    s_ask(b, "an-1", DAY, "trends by gender -..-", TSR_BUDGET_NEW);
    s_ask(b, "an-1", DAY, "trends by week -..-", TSR_BUDGET_SPENT);
    tsr_budget_destroy(&b);
}

static void test_many_queries_stay_sorted(void **state)
{
    (void)state;
    tsr_budget_t *b;
    char q[64];
    assert_int_equal(tsr_budget_new(&b, 1000), 0);
    for (int i = 0; i < 1000; i++) {
        snprintf(q, sizeof q, "trends by area %d..-", i);
        s_ask(b, "an-1", DAY, q, TSR_BUDGET_NEW);
    }
    for (int i = 999; i >= 0; i--) {
        snprintf(q, sizeof q, "trends by area %d..-", i);
        s_ask(b, "an-1", DAY, q, TSR_BUDGET_FREE);
    }
    s_ask(b, "an-1", DAY, "trends by gender -..-", TSR_BUDGET_SPENT);
    assert_int_equal(tsr_budget_used(b, "an-1", DAY), 1000);
    tsr_budget_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distinct_queries_count_repeats_are_free),
        cmocka_unit_test(test_only_analysts_trends),
        cmocka_unit_test(test_rebuilt_from_the_audit_log),
        cmocka_unit_test(test_many_queries_stay_sorted),
    };
    return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}
