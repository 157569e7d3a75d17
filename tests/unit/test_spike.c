/* test_spike.c - EARS C1-C3 and Farrington flexible against R's
 * surveillance 1.20 on the series in tests/fixtures/spikes (made by
 * tests/fixtures/make_spikes.R): upper bounds and expectations to 1e-6
 * relative, alarms exactly (NA included), period by period. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/csv.h"
#include "tessera/err.h"
#include "tessera/record.h"
#include "tessera/spike.h"

#define FIX TSR_TEST_SOURCE_DIR "/tests/fixtures/spikes/"

/* One row of R's answer. */
typedef struct {
    char period[16];
    double observed, expected, upper;
    int alarm;
} r_row_t;

typedef struct {
    r_row_t *rows;
    size_t n, cap;
} r_rows_t;

static double s_num(const char *s) { return strcmp(s, "NA") == 0 ? NAN : strtod(s, NULL); }

static int s_row(void *ctx, char **f, size_t nf, long line)
{
    r_rows_t *r = ctx;
    if (line == 1)
        return 0;
    assert_int_equal(nf, 5);
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->rows = realloc(r->rows, r->cap * sizeof *r->rows);
        assert_non_null(r->rows);
    }
    r_row_t *x = &r->rows[r->n++];
    snprintf(x->period, sizeof x->period, "%s", f[0]);
    x->observed = s_num(f[1]);
    x->expected = s_num(f[2]);
    x->upper = s_num(f[3]);
    x->alarm = strcmp(f[4], "NA") == 0 ? TSR_ALARM_NA : atoi(f[4]);
    return 0;
}

static r_rows_t s_read_r(const char *name, const char *method)
{
    char path[512];
    snprintf(path, sizeof path, FIX "%s.%s.csv", name, method);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    r_rows_t r = {0};
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_csv_parse(buf, len, s_row, &r, &err), 0);
    return r;
}

/* a equals b to 1e-6 relative (both NA counts as equal). */
static bool s_close(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b))
        return a == b;
    return fabs(a - b) <= 1e-6 * fmax(1e-12, fabs(b)) || fabs(a - b) < 1e-12;
}

static unsigned s_alarms;

/* Runs method on the series `name` and compares with R, period by period. */
static void s_compare(const char *name, const char *method)
{
    char path[512];
    snprintf(path, sizeof path, FIX "%s.series.csv", name);
    tsr_series_t s;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_series_load(&s, path, 0, &err), 0);
    tsr_spike_point_t *out = calloc(s.n, sizeof *out);
    assert_non_null(out);
    if (!strcmp(method, "farrington")) {
        tsr_farrington_opts_t o;
        tsr_farrington_defaults(&o);
        assert_int_equal(tsr_farrington(s.count, s.n, &o, out), 0);
    } else {
        tsr_ears_opts_t o;
        tsr_ears_defaults(&o, method[1] == '1' ? TSR_EARS_C1 : method[1] == '2' ? TSR_EARS_C2
                                                                                 : TSR_EARS_C3);
        assert_int_equal(tsr_ears(s.count, s.n, &o, out), 0);
    }
    r_rows_t r = s_read_r(name, method);
    size_t first = 0;
    while (first < s.n && !out[first].evaluated)
        first++;
    assert_int_equal(s.n - first, r.n); /* the same periods have results */
    for (size_t i = 0; i < r.n; i++) {
        const tsr_spike_point_t *p = &out[first + i];
        char day[11];
        tsr_day_format(day, s.day[first + i]);
        if (strcmp(day, r.rows[i].period) || !s_close(p->upperbound, r.rows[i].upper) ||
            !s_close(p->expected, r.rows[i].expected) || p->alarm != r.rows[i].alarm)
            fail_msg("%s %s %s: ours expected %.17g upper %.17g alarm %d; R %.17g %.17g %d", name,
                     method, r.rows[i].period, p->expected, p->upperbound, p->alarm,
                     r.rows[i].expected, r.rows[i].upper, r.rows[i].alarm);
        s_alarms += p->alarm == TSR_ALARM_YES;
    }
    free(r.rows);
    free(out);
    tsr_series_free(&s);
}

static const char *const s_daily[] = {"sparse", "zeros", "trend", "seasonal",
                                      "outbreak", "short", "constant"};
static const char *const s_weekly[] = {"w_sparse", "w_zeros", "w_trend", "w_seasonal",
                                       "w_outbreak", "w_short", "w_overdispersed"};

static void test_ears_c1(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_daily / sizeof *s_daily; i++)
        s_compare(s_daily[i], "c1");
}

static void test_ears_c2(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_daily / sizeof *s_daily; i++)
        s_compare(s_daily[i], "c2");
}

static void test_ears_c3(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_daily / sizeof *s_daily; i++)
        s_compare(s_daily[i], "c3");
}

static void test_farrington(void **state)
{
    (void)state;
    s_alarms = 0;
    for (size_t i = 0; i < sizeof s_weekly / sizeof *s_weekly; i++)
        s_compare(s_weekly[i], "farrington");
    assert_true(s_alarms > 10); /* the fixtures do exercise alarms */
}

static void test_series_errors(void **state)
{
    (void)state;
    char path[] = "/tmp/tsr-series-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    fputs("period,count\n2026-01-05,3\n2026-01-12,4\n2026-01-26,1\n", fp);
    fclose(fp);
    tsr_series_t s;
    tsr_error_t err;
    char msg[512];
    tsr_error_clear(&err);
    assert_int_equal(tsr_series_load(&s, path, 0, &err), TSR_EINVAL);
    tsr_error_format(&err, msg, sizeof msg);
    assert_non_null(strstr(msg, ":4: period: 2026-01-26 does not follow 2026-01-12 by 7 days"));
    fp = fopen(path, "w");
    fputs("period,count\n2026-01-05,3\n2026-01-06,-1\n", fp);
    fclose(fp);
    tsr_error_clear(&err);
    assert_int_equal(tsr_series_load(&s, path, 0, &err), TSR_EINVAL);
    tsr_error_format(&err, msg, sizeof msg);
    assert_non_null(strstr(msg, ":3: count: '-1' is not a whole number of cases"));
    remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ears_c1),     cmocka_unit_test(test_ears_c2),
        cmocka_unit_test(test_ears_c3),     cmocka_unit_test(test_farrington),
        cmocka_unit_test(test_series_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
