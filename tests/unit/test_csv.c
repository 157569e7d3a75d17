/* test_csv.c - the libcsv wrapper: fields, quoting, line numbers, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tessera/csv.h"
#include "tessera/err.h"

typedef struct {
    char rows[8][4][32];
    size_t nfields[8];
    long lines[8];
    int n;
    int stop_at; /* return an error on this row (1-based), 0 never */
} s_rows_t;

static int s_collect(void *ctx, char **f, size_t n, long line)
{
    s_rows_t *r = ctx;
    if (r->n >= 8)
        return TSR_ERANGE;
    for (size_t i = 0; i < n && i < 4; i++)
        snprintf(r->rows[r->n][i], 32, "%s", f[i]);
    r->nfields[r->n] = n;
    r->lines[r->n] = line;
    r->n++;
    return r->n == r->stop_at ? TSR_EPERM : 0;
}

static void test_rows_and_lines(void **state)
{
    (void)state;
    const char *in = "a,b,c\n\n1, two ,\"x,y\"\n\"multi\nline\",\"q\"\"q\",z\nlast,row,end";
    s_rows_t r = {0};
    tsr_error_t e;
    tsr_error_clear(&e);
    assert_int_equal(tsr_csv_parse(in, strlen(in), s_collect, &r, &e), 0);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.lines[0], 1);
    assert_int_equal(r.lines[1], 3); /* line 2 is blank */
    assert_string_equal(r.rows[1][1], "two");
    assert_string_equal(r.rows[1][2], "x,y");
    assert_int_equal(r.lines[2], 4);
    assert_string_equal(r.rows[2][0], "multi\nline");
    assert_string_equal(r.rows[2][1], "q\"q");
    assert_int_equal(r.lines[3], 6);
    assert_int_equal(r.nfields[3], 3);
    assert_string_equal(r.rows[3][2], "end");
}

static void test_crlf(void **state)
{
    (void)state;
    const char *in = "a,b\r\nc,d\r\n";
    s_rows_t r = {0};
    assert_int_equal(tsr_csv_parse(in, strlen(in), s_collect, &r, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.rows[1][1], "d");
    assert_int_equal(r.lines[1], 2);
}

static void test_unterminated_quote_is_error(void **state)
{
    (void)state;
    const char *in = "a,b\n\"open,c\n";
    s_rows_t r = {0};
    tsr_error_t e;
    tsr_error_clear(&e);
    assert_int_equal(tsr_csv_parse(in, strlen(in), s_collect, &r, &e), TSR_EINVAL);
    assert_non_null(strstr(e.reason, "CSV syntax"));
}

static void test_stray_quote_is_error(void **state)
{
    (void)state;
    const char *in = "a,b\n\"x\"y,c\n";
    s_rows_t r = {0};
    tsr_error_t e;
    tsr_error_clear(&e);
    assert_int_equal(tsr_csv_parse(in, strlen(in), s_collect, &r, &e), TSR_EINVAL);
    assert_int_equal(e.line, 2);
}

static void test_callback_error_stops(void **state)
{
    (void)state;
    const char *in = "1\n2\n3\n";
    s_rows_t r = {.stop_at = 2};
    assert_int_equal(tsr_csv_parse(in, strlen(in), s_collect, &r, NULL), TSR_EPERM);
    assert_int_equal(r.n, 2);
}

/* Fed a line at a time, the same rows on the same lines as the whole
 * buffer; a syntax error names its line, and the parser then takes nothing
 * more; an unterminated quoted field is found at the end. */
static void test_fed_by_line(void **state)
{
    (void)state;
    const char *lines[] = {
        "a,b,c\n", "\n", "1, two ,\"x,y\"\n", "\"multi\n", "line\",\"q\"\"q\",z\n", "last,row,end"};
    s_rows_t r = {0};
    tsr_error_t e;
    tsr_error_clear(&e);
    tsr_csv_t *p;
    assert_int_equal(tsr_csv_new(&p, s_collect, &r), 0);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        assert_int_equal(tsr_csv_feed(p, lines[i], strlen(lines[i]), &e), 0);
        assert_int_equal(r.n, i < 2 ? 1 : i < 4 ? 2 : 3); /* each row as its line ends */
    }
    assert_int_equal(tsr_csv_finish(p, &e), 0);
    tsr_csv_destroy(&p);
    assert_null(p);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.lines[1], 3);
    assert_int_equal(r.lines[2], 4);
    assert_string_equal(r.rows[2][0], "multi\nline");
    assert_int_equal(r.lines[3], 6);
    assert_string_equal(r.rows[3][2], "end");

    s_rows_t r2 = {0};
    assert_int_equal(tsr_csv_new(&p, s_collect, &r2), 0);
    assert_int_equal(tsr_csv_feed(p, "a,b\n", 4, &e), 0);
    assert_int_equal(tsr_csv_feed(p, "x\"y,z\n", 6, &e), TSR_EINVAL);
    assert_int_equal(e.line, 2);
    assert_non_null(strstr(e.reason, "CSV syntax"));
    assert_int_equal(tsr_csv_feed(p, "c,d\n", 4, &e), TSR_EINVAL);
    assert_int_equal(tsr_csv_finish(p, &e), TSR_EINVAL);
    assert_int_equal(r2.n, 1);
    tsr_csv_destroy(&p);

    s_rows_t r3 = {0};
    assert_int_equal(tsr_csv_new(&p, s_collect, &r3), 0);
    assert_int_equal(tsr_csv_feed(p, "a,b\n", 4, &e), 0);
    assert_int_equal(tsr_csv_feed(p, "\"open,z\n", 8, &e), 0);
    tsr_error_clear(&e);
    assert_int_equal(tsr_csv_finish(p, &e), TSR_EINVAL);
    assert_int_equal(e.line, 2);
    assert_int_equal(r3.n, 1);
    tsr_csv_destroy(&p);
    tsr_csv_destroy(&p); /* NULL: nothing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_and_lines),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_unterminated_quote_is_error),
        cmocka_unit_test(test_stray_quote_is_error),
        cmocka_unit_test(test_callback_error_stops),
        cmocka_unit_test(test_fed_by_line),
    };
    return cmocka_run_group_tests_name("csv", tests, NULL, NULL);
}
