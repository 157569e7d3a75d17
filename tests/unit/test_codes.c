/* test_codes.c - code lists and areas as embedded from schemas/codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tessera/codes.h"
#include "tessera/err.h"

static void test_lists_by_name_and_value(void **state)
{
    (void)state;
    assert_int_equal(tsr_codes_value(TSR_CODES_PLATFORM, "instagram"), 1);
    assert_int_equal(tsr_codes_value(TSR_CODES_PLATFORM, "other"), 16);
    assert_int_equal(tsr_codes_max(TSR_CODES_PLATFORM), 16);
    assert_string_equal(tsr_codes_name(TSR_CODES_PLATFORM, 5), "x");
    assert_string_equal(tsr_codes_label(TSR_CODES_PLATFORM, 5), "X (Twitter)");
    assert_int_equal(tsr_codes_value(TSR_CODES_PLATFORM, "Instagram"), TSR_ENOTFOUND);
    assert_null(tsr_codes_name(TSR_CODES_PLATFORM, 0));
    assert_null(tsr_codes_name(TSR_CODES_PLATFORM, 17));
    assert_int_equal(tsr_codes_value(TSR_CODES_AGE_BAND, "13_15"), 3);
    assert_int_equal(tsr_codes_max(TSR_CODES_AGENCY_TYPE), 7);
    assert_int_equal(tsr_codes_max(TSR_CODES_SERVICE), 5);
    assert_int_equal(tsr_codes_max(TSR_CODES_DEMAND), 6);
    assert_int_equal(tsr_codes_max(TSR_CODES_AMOUNT_BAND), 9);
    assert_int_equal(tsr_codes_max(TSR_CODES_PAID), 3);
    assert_int_equal(tsr_codes_max(TSR_CODES_PAYMENT_METHOD), 7);
    assert_int_equal(tsr_codes_max(TSR_CODES_TACTIC), 10);
    assert_int_equal(tsr_codes_max(TSR_CODES_RISK), 6);
    assert_int_equal(tsr_codes_max(TSR_CODES_ACTION), 9);
    assert_int_equal(tsr_codes_max(TSR_CODES_GENDER), 4);
    assert_int_equal(tsr_codes_max(TSR_CODES__COUNT), 0);
}

static void test_every_list_fits_a_bitmask(void **state)
{
    (void)state;
    for (int l = 0; l < TSR_CODES__COUNT; l++) {
        int max = tsr_codes_max((tsr_codes_list_t)l);
        assert_in_range(max, 2, TSR_CODES_MAX_VALUE);
        for (int v = 1; v <= max; v++)
            assert_int_equal(tsr_codes_value((tsr_codes_list_t)l,
                                             tsr_codes_name((tsr_codes_list_t)l, v)),
                             v);
    }
}

static void test_expected_lists_names(void **state)
{
    (void)state;
    char buf[256];
    assert_string_equal(tsr_codes_expected(TSR_CODES_PAID, buf, sizeof buf), "yes, no, unknown");
}

static void test_areas(void **state)
{
    (void)state;
    /* 153 English upper-tier, 22 Welsh, 32 Scottish, 11 NI */
    assert_int_equal(tsr_area_count(), 218);
    const tsr_area_t *a = tsr_area_find("E08000035");
    assert_non_null(a);
    assert_string_equal(a->name, "Leeds");
    assert_string_equal(a->region_code, "E12000003");
    assert_string_equal(a->region_name, "Yorkshire and The Humber");
    a = tsr_area_find("E06000010");
    assert_string_equal(a->name, "Kingston upon Hull, City of"); /* quoted comma */
    assert_null(tsr_area_find("E99999999"));
    assert_true(tsr_region_exists("E12000003"));
    assert_false(tsr_region_exists("E08000035"));
    assert_string_equal(tsr_area_at(0)->code, "E06000001");
    assert_null(tsr_area_at(218));
}

static void test_retired_area_names_successor(void **state)
{
    (void)state;
    tsr_error_t e;
    tsr_error_clear(&e);
    assert_int_equal(tsr_area_check("E08000035", "area_code", &e), 0);
    assert_int_equal(tsr_area_check("E10000023", "area_code", &e), TSR_EINVAL);
    assert_string_equal(e.field, "area_code");
    assert_string_equal(e.reason,
                        "area code E10000023 was retired by a reorganisation; use E06000065");
    assert_string_equal(tsr_area_successors("E10000006"), "E06000063, E06000064");
    assert_int_equal(tsr_area_check("XYZ", "area", &e), TSR_EINVAL);
    assert_non_null(strstr(e.reason, "'XYZ' is not a current"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists_by_name_and_value),
        cmocka_unit_test(test_every_list_fits_a_bitmask),
        cmocka_unit_test(test_expected_lists_names),
        cmocka_unit_test(test_areas),
        cmocka_unit_test(test_retired_area_names_successor),
    };
    return cmocka_run_group_tests_name("codes", tests, NULL, NULL);
}
