/* test_ckm.c - the cell-key method: the perturbation table's promises
 * (unbiased, within D, never 1..js, variance V where stated, zeros stay
 * zero), the same over the key's whole range, the refusals of unsafe
 * parameters, and record keys against a vector computed independently
 * (Python's hmac). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "tessera/ckm.h"
#include "tessera/err.h"

static void s_check_table(unsigned d, double v, unsigned js)
{
    tsr_ckm_table_t t;
    char why[256];
    assert_int_equal(tsr_ckm_table_build(&t, d, v, js, why, sizeof why), 0);
    assert_int_equal(t.n_rows, js + d + 2);
    assert_int_equal(t.rows[0].n, 1);
    assert_int_equal(t.rows[0].j[0], 0);
    size_t met = 0;
    for (size_t i = 1; i < t.n_rows; i++) {
        const tsr_ckm_row_t *r = &t.rows[i];
        double sum = 0, mean = 0;
        for (size_t m = 0; m < r->n; m++) {
            assert_true(r->j[m] == 0 || r->j[m] > js);
            assert_true(r->j[m] + d >= i && r->j[m] <= i + d);
            assert_true(r->p[m] >= 0);
            if (m > 0)
                assert_true(r->cum[m] >= r->cum[m - 1]);
            sum += r->p[m];
            mean += r->p[m] * (double)r->j[m];
        }
        assert_true(fabs(sum - 1) < 1e-12);
        assert_true(fabs(mean - (double)i) < 1e-9);
        assert_int_equal(r->cum[r->n - 1], (uint64_t)1 << 32);
        if (r->variance_met) {
            assert_true(fabs(r->variance - v) < 1e-9);
            met++;
        } else {
            assert_true(r->variance <= v + 1e-9 || i <= js + 1);
        }
    }
    /* the last row has the whole support, so it has variance V and is
     * symmetric: counts past it are shifted copies */
    const tsr_ckm_row_t *last = &t.rows[t.n_rows - 1];
    assert_true(last->variance_met);
    assert_int_equal(last->n, 2 * d + 1);
    for (size_t m = 0; m < last->n; m++)
        assert_true(fabs(last->p[m] - last->p[last->n - 1 - m]) < 1e-9);
    assert_true(met >= 2);
}

static void test_table_promises(void **state)
{
    (void)state;
    s_check_table(5, 5, 4); /* the defaults */
    s_check_table(5, 2, 4);
    s_check_table(5, 10, 4);
    s_check_table(4, 6, 4);
    s_check_table(8, 12, 4);
    s_check_table(3, 2, 2);
}

/* Over 2^20 keys spread evenly on the key's range, each count's released
 * values average to the count (to the key grid's resolution), stay within
 * D, never fall in 1..js; a zero is released as zero. */
static void test_perturb_over_keys(void **state)
{
    (void)state;
    tsr_ckm_table_t t;
    assert_int_equal(tsr_ckm_table_build(&t, 5, 5, 4, NULL, 0), 0);
    const uint32_t n = 1u << 20;
    for (uint64_t count = 0; count <= 40; count++) {
        double sum = 0, sq = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t key = i << 12 | 0x800;
            uint64_t out = tsr_ckm_perturb(&t, count, key);
            assert_false(out >= 1 && out <= 4);
            assert_true(out + 5 >= count && out <= count + 5);
            assert_int_equal(out, tsr_ckm_perturb(&t, count, key)); /* the same, always */
            sum += (double)out;
            sq += ((double)out - (double)count) * ((double)out - (double)count);
        }
        assert_true(fabs(sum / n - (double)count) < 1e-4);
        if (count >= 11) /* past the last row: variance V */
            assert_true(fabs(sq / n - 5) < 1e-3);
        if (count == 0)
            assert_true(sum == 0);
    }
}

static void test_unsafe_refused(void **state)
{
    (void)state;
    tsr_ckm_table_t t;
    char why[256];
    assert_int_equal(tsr_ckm_table_build(&t, 5, 5, 0, why, sizeof why), TSR_EINVAL);
    assert_int_equal(tsr_ckm_table_build(&t, 3, 2, 4, why, sizeof why), TSR_EINVAL);
    assert_non_null(strstr(why, "maximum deviation must be from js (4"));
    assert_int_equal(tsr_ckm_table_build(&t, 5, 10.01, 4, why, sizeof why), TSR_EINVAL);
    assert_non_null(strstr(why, "at most 10"));
    assert_int_equal(tsr_ckm_table_build(&t, 5, 0, 4, why, sizeof why), TSR_EINVAL);
    assert_int_equal(tsr_ckm_table_build(&t, TSR_CKM_MAX_D + 1, 5, 4, why, sizeof why),
                     TSR_EINVAL);
}

static void test_record_key_vector(void **state)
{
    (void)state;
    uint8_t secret[TSR_CKM_SECRET_LEN], id[16];
    for (int i = 0; i < TSR_CKM_SECRET_LEN; i++)
        secret[i] = (uint8_t)i;
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(0xa0 + i);
    tsr_ckm_keyer_t *k = NULL;
    assert_int_equal(tsr_ckm_keyer_new(&k, secret), 0);
    uint32_t key = 0, again = 1;
    /* python3: hmac.new(bytes(range(32)), b"tessera cell key v1\0" +
     * bytes(range(0xa0, 0xb0)), "sha256").digest()[:4], big-endian */
    assert_int_equal(tsr_ckm_record_key(k, id, sizeof id, &key), 0);
    assert_int_equal(key, 402863493u);
    assert_int_equal(tsr_ckm_record_key(k, id, sizeof id, &again), 0);
    assert_int_equal(again, key);
    id[0] ^= 1;
    assert_int_equal(tsr_ckm_record_key(k, id, sizeof id, &again), 0);
    assert_int_not_equal(again, key);
    tsr_ckm_keyer_destroy(&k);
    assert_null(k);
    uint8_t a[TSR_CKM_SECRET_LEN], b[TSR_CKM_SECRET_LEN];
    assert_int_equal(tsr_ckm_secret_new(a), 0);
    assert_int_equal(tsr_ckm_secret_new(b), 0);
    assert_memory_not_equal(a, b, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_promises),
        cmocka_unit_test(test_perturb_over_keys),
        cmocka_unit_test(test_unsafe_refused),
        cmocka_unit_test(test_record_key_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
