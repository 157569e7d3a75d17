/* test_sdc.c - disclosure control: on thousands of generated small tables,
 * brute force over every integer filling of the suppressed cells that agrees
 * with what is released and with all row, column and grand totals (an
 * analyst may have them from other queries): no
 * suppressed cell may have only one possible value, no value 1..k-1 may be
 * shown, and protective cells must really be k or more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/err.h"
#include "tessera/sdc.h"

#define K 5
#define VMAX 60 /* above any line total the generator makes (4 x 14) */

static size_t R, C, NS;
static const uint64_t *V;
static const int *M;
static size_t S[16];
static long cur[16], lo[16], hi[16];
static long rowt[8], colt[8], grand;
static long feasible;

static long rrem[8], crem[8]; /* what the totals leave for the cells not yet filled */
static bool rsmall[8], csmall[8]; /* a total from 1 to k-1: known only to be below k */

/* Tries every value of suppressed cell d that the totals still allow. */
static void s_dfs(size_t d)
{
    if (d == NS) {
        /* a row total is a margin when the row has several cells; likewise
         * a column (a one-dimensional table has only its grand total, which
         * its single row or column gives) */
        for (size_t i = 0; C > 1 && i < R; i++)
            if (rsmall[i] ? rrem[i] < 0 : rrem[i] != 0)
                return;
        for (size_t j = 0; R > 1 && j < C; j++)
            if (csmall[j] ? crem[j] < 0 : crem[j] != 0)
                return;
        feasible++;
        for (size_t t = 0; t < NS; t++) {
            lo[t] = cur[t] < lo[t] ? cur[t] : lo[t];
            hi[t] = cur[t] > hi[t] ? cur[t] : hi[t];
        }
        return;
    }
    size_t i = S[d] / C, j = S[d] % C;
    bool small = M[S[d]] == TSR_SDC_SMALL; /* "<k": 0..k-1 (a zero may hide too) */
    long top = small ? K - 1 : VMAX;
    if (C > 1 && rrem[i] < top)
        top = rrem[i];
    if (R > 1 && crem[j] < top)
        top = crem[j];
    for (long v = small ? 0 : K; v <= top; v++) {
        cur[d] = v;
        rrem[i] -= v;
        crem[j] -= v;
        s_dfs(d + 1);
        rrem[i] += v;
        crem[j] += v;
    }
}

static void test_no_suppressed_cell_is_derivable(void **state)
{
    (void)state;
    srand(20261126);
    long tables = 0, suppressed_tables = 0, withheld = 0;
    for (int iter = 0; iter < 1500; iter++) {
        R = 1 + (size_t)(rand() % 3);
        C = 1 + (size_t)(rand() % 4);
        if (R * C < 2)
            continue;
        uint64_t v[16];
        int m[16];
        for (size_t x = 0; x < R * C; x++)
            v[x] = rand() % 3 == 0 ? (uint64_t)(rand() % K) : (uint64_t)(rand() % 15);
        int rc = tsr_sdc_protect(v, R, C, K, m);
        if (rc == TSR_ERANGE) {
            withheld++;
            continue;
        }
        assert_int_equal(rc, 0);
        tables++;
        NS = 0;
        memset(rowt, 0, sizeof rowt);
        memset(colt, 0, sizeof colt);
        grand = 0;
        for (size_t x = 0; x < R * C; x++) {
            rowt[x / C] += (long)v[x];
            colt[x % C] += (long)v[x];
            grand += (long)v[x];
            if (m[x] == TSR_SDC_SHOWN)
                assert_true(v[x] == 0 || v[x] >= K); /* nothing small is shown */
            if (m[x] == TSR_SDC_PROTECTIVE)
                assert_true(v[x] >= K);
            if (m[x] == TSR_SDC_SMALL)
                assert_true(v[x] < K);
            if (m[x] != TSR_SDC_SHOWN)
                S[NS++] = x;
        }
        if (NS == 0)
            continue;
        suppressed_tables++;
        /* no line whose total is known may hide a small sum */
        for (size_t i = 0; C > 1 && i < R; i++) {
            long hs = 0;
            for (size_t j = 0; j < C; j++)
                hs += m[i * C + j] != TSR_SDC_SHOWN ? (long)v[i * C + j] : 0;
            if (!(rowt[i] > 0 && rowt[i] < K))
                assert_true(hs == 0 || hs >= K);
        }
        for (size_t j = 0; R > 1 && j < C; j++) {
            long hs = 0;
            for (size_t i = 0; i < R; i++)
                hs += m[i * C + j] != TSR_SDC_SHOWN ? (long)v[i * C + j] : 0;
            if (!(colt[j] > 0 && colt[j] < K))
                assert_true(hs == 0 || hs >= K);
        }
        assert_true(NS <= 12);
        V = v;
        M = m;
        /* the grand total is the sum of the row totals: rows and columns
         * together imply it */
        /* a small total is known only as "<k": room up to k-1 */
        for (size_t i = 0; i < R; i++) {
            rsmall[i] = rowt[i] > 0 && rowt[i] < K;
            rrem[i] = rsmall[i] ? K - 1 : rowt[i];
        }
        for (size_t j = 0; j < C; j++) {
            csmall[j] = colt[j] > 0 && colt[j] < K;
            crem[j] = csmall[j] ? K - 1 : colt[j];
        }
        for (size_t x = 0; x < R * C; x++)
            if (m[x] == TSR_SDC_SHOWN) {
                rrem[x / C] -= (long)v[x];
                crem[x % C] -= (long)v[x];
            }
        for (size_t t = 0; t < NS; t++) {
            lo[t] = VMAX + 1;
            hi[t] = -1;
        }
        feasible = 0;
        s_dfs(0);
        assert_true(feasible >= 1); /* the truth itself */
        for (size_t t = 0; t < NS; t++)
            if (lo[t] == hi[t])
                fail_msg("table %zux%zu: suppressed cell %zu (value %lu) is derivable", R, C, S[t],
                         (unsigned long)v[S[t]]);
        size_t pinned;
        assert_int_equal(tsr_sdc_audit(v, R, C, K, m, &pinned), 0);
    }
    print_message("%ld tables released (%ld with suppression), %ld withheld\n", tables,
                  suppressed_tables, withheld);
    assert_true(suppressed_tables > 500); /* the generator does exercise suppression */
    assert_true(withheld < tables);       /* withholding is the exception */
}

static void test_examples(void **state)
{
    (void)state;
    /* two small cells whose sum pins both (4 + 4 of a known 14): a third goes */
    uint64_t a[] = {6, 4, 4};
    int m[3];
    assert_int_equal(tsr_sdc_protect(a, 3, 1, K, m), 0);
    assert_int_equal(m[0], TSR_SDC_PROTECTIVE);
    assert_int_equal(m[1], TSR_SDC_SMALL);
    assert_int_equal(m[2], TSR_SDC_SMALL);
    /* nothing small: nothing suppressed; zeros shown */
    uint64_t b[] = {0, 7, 12, 5};
    int mb[4];
    assert_int_equal(tsr_sdc_protect(b, 2, 2, K, mb), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(mb[i], TSR_SDC_SHOWN);
    /* a small cell whose column is otherwise zero: the column total is
     * small too, known only as <k; its row gets another hidden cell */
    uint64_t col[] = {0, 9, 0, 7, 2, 8};
    int mc[6];
    assert_int_equal(tsr_sdc_protect(col, 3, 2, K, mc), 0);
    assert_int_equal(mc[4], TSR_SDC_SMALL);
    assert_int_equal(mc[5], TSR_SDC_PROTECTIVE);
    /* hidden cells whose sum is small: 3 + 0 out of a known 53 would say
     * "3 cases here"; a third cell goes */
    uint64_t grp[] = {3, 0, 50, 9};
    int mg[4];
    assert_int_equal(tsr_sdc_protect(grp, 4, 1, K, mg), 0);
    assert_int_equal(mg[0], TSR_SDC_SMALL);
    assert_int_not_equal(mg[3], TSR_SDC_SHOWN);
    /* a single cell under k, nothing else: shown as <k (its total is small
     * too, so nothing pins it) */
    uint64_t one[] = {3};
    int mo[1];
    assert_int_equal(tsr_sdc_protect(one, 1, 1, K, mo), 0);
    assert_int_equal(mo[0], TSR_SDC_SMALL);
    /* likewise beside a zero: the total, 3, is itself known only as <k */
    uint64_t lone[] = {3, 0};
    int ml[2];
    assert_int_equal(tsr_sdc_protect(lone, 1, 2, K, ml), 0);
    assert_int_equal(ml[0], TSR_SDC_SMALL);
    assert_int_equal(tsr_sdc_protect(b, 2, 2, 2, mb), TSR_EINVAL); /* k below 3 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_no_suppressed_cell_is_derivable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
