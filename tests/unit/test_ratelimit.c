/* test_ratelimit.c - token buckets per peer key (collector/ratelimit.c):
 * a burst, then one query per refill interval; refusals take nothing; each
 * key has its own bucket; the wait told is exact. Time is given, not read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "ratelimit.h"

static void test_burst_then_the_rate(void **state)
{
    (void)state;
    tsr_ratelimit_t *r;
    /* 60 a minute (one a second), bursts of 3 */
    assert_int_equal(tsr_ratelimit_new(&r, 60, 3), 0);
    int64_t t = 1000000;
    assert_int_equal(tsr_ratelimit_take(r, "K1", t), 0);
    assert_int_equal(tsr_ratelimit_take(r, "K1", t), 0);
    assert_int_equal(tsr_ratelimit_take(r, "K1", t), 0);
    assert_int_equal(tsr_ratelimit_take(r, "K1", t), 1000); /* empty: a second to wait */
    assert_int_equal(tsr_ratelimit_take(r, "K1", t + 400), 600);
    /* refusals take nothing: the token is there at t + 1000 all the same */
    assert_int_equal(tsr_ratelimit_take(r, "K1", t + 999), 1);
    assert_int_equal(tsr_ratelimit_take(r, "K1", t + 1000), 0);
    assert_int_equal(tsr_ratelimit_take(r, "K1", t + 1000), 1000);
    /* a long pause refills the bucket to its size, no more */
    t += 3600000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(tsr_ratelimit_take(r, "K1", t), 0);
    assert_int_equal(tsr_ratelimit_take(r, "K1", t), 1000);
    tsr_ratelimit_destroy(&r);
    assert_null(r);
}

static void test_each_key_its_own_bucket(void **state)
{
    (void)state;
    tsr_ratelimit_t *r;
    assert_int_equal(tsr_ratelimit_new(&r, 1, 1), 0); /* one a minute */
    assert_int_equal(tsr_ratelimit_take(r, "flooder", 0), 0);
    assert_int_equal(tsr_ratelimit_take(r, "flooder", 0), 60000);
    assert_int_equal(tsr_ratelimit_take(r, "flooder", 59999), 1);
    assert_int_equal(tsr_ratelimit_take(r, "analyst", 59999), 0);
    assert_int_equal(tsr_ratelimit_take(r, "flooder", 60000), 0);
    assert_int_equal(tsr_ratelimit_size(r), 2);
    tsr_ratelimit_destroy(&r);
}

static void test_clock_back_and_rates(void **state)
{
    (void)state;
    tsr_ratelimit_t *r;
    /* 7 a minute: a token every 8571.4 ms, told as 8572 */
    assert_int_equal(tsr_ratelimit_new(&r, 7, 1), 0);
    assert_int_equal(tsr_ratelimit_take(r, "K", 10000), 0);
    assert_int_equal(tsr_ratelimit_take(r, "K", 10000), 8572);
    /* a clock that goes back refills nothing and breaks nothing */
    assert_int_equal(tsr_ratelimit_take(r, "K", 5000), 8572);
    assert_int_equal(tsr_ratelimit_take(r, "K", 18572), 0);
    tsr_ratelimit_destroy(&r);
    /* a high rate: 1,000,000 a minute, bursts of 2 */
    assert_int_equal(tsr_ratelimit_new(&r, 1000000, 2), 0);
    assert_int_equal(tsr_ratelimit_take(r, "K", 0), 0);
    assert_int_equal(tsr_ratelimit_take(r, "K", 0), 0);
    assert_int_equal(tsr_ratelimit_take(r, "K", 0), 1);
    assert_int_equal(tsr_ratelimit_take(r, "K", 1), 0);
    tsr_ratelimit_destroy(&r);
}

static void test_full_buckets_are_dropped(void **state)
{
    (void)state;
    tsr_ratelimit_t *r;
    char key[16];
    assert_int_equal(tsr_ratelimit_new(&r, 60, 1), 0);
    for (int i = 0; i < 16; i++) { /* fills the first allocation */
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(tsr_ratelimit_take(r, key, 0), 0);
    }
    assert_int_equal(tsr_ratelimit_size(r), 16);
    /* a second later all have refilled: the next new key prunes them */
    assert_int_equal(tsr_ratelimit_take(r, "new", 1000), 0);
    assert_int_equal(tsr_ratelimit_size(r), 1);
    /* and a pruned key starts full, as it would have been */
    assert_int_equal(tsr_ratelimit_take(r, "k3", 1000), 0);
    assert_int_equal(tsr_ratelimit_take(r, "k3", 1000), 1000);
    tsr_ratelimit_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_the_rate),
        cmocka_unit_test(test_each_key_its_own_bucket),
        cmocka_unit_test(test_clock_back_and_rates),
        cmocka_unit_test(test_full_buckets_are_dropped),
    };
    return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
