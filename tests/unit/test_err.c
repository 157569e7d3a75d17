/* test_err.c - error names and "FILE:LINE: FIELD: reason" formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tessera/err.h"

static void test_strerror_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(tsr_strerror(TSR_OK), "success");
    assert_string_equal(tsr_strerror(TSR_EINVAL), "invalid input");
    assert_string_equal(tsr_strerror(TSR_EFULL), "storage full");
    /* what kv.c turns LMDB's and the system's codes into (test_kv.c) */
    assert_string_equal(tsr_strerror(TSR_EMAPFULL), "storage map full");
    assert_string_equal(tsr_strerror(TSR_ECORRUPT), "stored data damaged");
    assert_string_equal(tsr_strerror(TSR_ENOSPC), "no space left on device");
    assert_string_equal(tsr_strerror(TSR_ESTORE), "storage error");
    for (int c = TSR_ENOSPC; c <= TSR_OK; c++)
        assert_string_not_equal(tsr_strerror(c), "unknown error");
    assert_string_equal(tsr_strerror(-999), "unknown error");
}

static void test_format_file_line_field(void **state)
{
    (void)state;
    tsr_error_t e;
    char buf[512];
    tsr_error_clear(&e);
    tsr_error_at(&e, "in.jsonl", 3);
    assert_int_equal(tsr_error_set(&e, "age", "must be 0..120, got %d", 200), TSR_EINVAL);
    assert_string_equal(tsr_error_format(&e, buf, sizeof buf),
                        "in.jsonl:3: age: must be 0..120, got 200");
}

static void test_format_without_parts(void **state)
{
    (void)state;
    tsr_error_t e;
    char buf[512];
    tsr_error_clear(&e);
    tsr_error_set(&e, NULL, "empty file");
    assert_string_equal(tsr_error_format(&e, buf, sizeof buf), "empty file");
    tsr_error_at(&e, "a.csv", 0);
    assert_string_equal(tsr_error_format(&e, buf, sizeof buf), "a.csv: empty file");
    tsr_error_at(&e, NULL, 7);
    tsr_error_set(&e, "value", "bad");
    assert_string_equal(tsr_error_format(&e, buf, sizeof buf), "line 7: value: bad");
}

static void test_format_truncates_safely(void **state)
{
    (void)state;
    tsr_error_t e;
    char buf[8];
    tsr_error_clear(&e);
    tsr_error_set(&e, "field", "a long reason");
    assert_string_equal(tsr_error_format(&e, buf, sizeof buf), "field: ");
    assert_int_equal(tsr_error_set(NULL, "x", "y"), TSR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_format_file_line_field),
        cmocka_unit_test(test_format_without_parts),
        cmocka_unit_test(test_format_truncates_safely),
    };
    return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
