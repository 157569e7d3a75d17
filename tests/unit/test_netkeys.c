/* test_netkeys.c - accepted network key ids: the config text, each refusal
 * with its reason, end dates, and the text form back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tessera/err.h"
#include "tessera/netkeys.h"
#include "tessera/record.h"

static void test_parse(void **state)
{
    (void)state;
    tsr_netkeys_t k;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_netkeys_parse(&k, "1857500892", &err), 0);
    assert_int_equal(k.n, 1);
    assert_int_equal(k.ids[0].key_id, 1857500892u);
    assert_int_equal(k.ids[0].until_day, 0);
    assert_int_equal(tsr_netkeys_parse(&k, " 1857500892 until 2027-03-01 ,1974342276 ", &err), 0);
    assert_int_equal(k.n, 2);
    int32_t day;
    assert_int_equal(tsr_day_parse("2027-03-01", &day), 0);
    assert_int_equal(k.ids[0].until_day, day);
    assert_int_equal(k.ids[1].key_id, 1974342276u);
    assert_int_equal(tsr_netkeys_parse(&k, "0, 4294967295", &err), 0);
    assert_int_equal(k.ids[1].key_id, 4294967295u);
    char out[128];
    assert_int_equal(tsr_netkeys_parse(&k, "1857500892 until 2027-03-01, 1974342276", &err), 0);
    assert_string_equal(tsr_netkeys_format(&k, out, sizeof out),
                        "1857500892 until 2027-03-01, 1974342276");
    assert_string_equal(tsr_netkeys_format_ids(&k, out, sizeof out), "1857500892, 1974342276");
    k.n = 0;
    assert_string_equal(tsr_netkeys_format(&k, out, sizeof out), "none");
}

static void s_refused(const char *text, const char *why)
{
    tsr_netkeys_t k;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_netkeys_parse(&k, text, &err), TSR_EINVAL);
    assert_string_equal(err.reason, why);
    assert_int_equal(k.n, 0);
}

static void test_refusals(void **state)
{
    (void)state;
    s_refused("", "no key id given (leave key_ids out to pin the first key id a record brings)");
    s_refused("12ab", "'12ab' is not a network key id (a whole number from 0 to 4294967295, as "
                      "'tessera-agent keygen' prints it)");
    s_refused("-5", "'-5' is not a network key id (a whole number from 0 to 4294967295, as "
                    "'tessera-agent keygen' prints it)");
    s_refused("4294967296", "'4294967296' is not a network key id (a whole number from 0 to "
                            "4294967295, as 'tessera-agent keygen' prints it)");
    s_refused("1857500892 til 2027-03-01", "'1857500892 til': expected ID or ID until YYYY-MM-DD");
    s_refused("1857500892 until", "'1857500892 until': expected ID or ID until YYYY-MM-DD");
    s_refused("1857500892 until 2027-02-30", "'2027-02-30' is not a date (YYYY-MM-DD)");
    s_refused("1 until 2027-01-01 x", "'1 ...': expected ID or ID until YYYY-MM-DD");
    s_refused("1857500892, 1857500892", "1857500892 is listed twice");
    s_refused("1857500892,", "an empty entry (two commas, or a comma at the end)");
    s_refused("1, 2, 3, 4, 5", "more than 4 key ids");
}

static void test_accepts(void **state)
{
    (void)state;
    tsr_netkeys_t k, cur;
    assert_int_equal(tsr_netkeys_parse(&k, "5 until 2027-03-01, 9", NULL), 0);
    int32_t end;
    assert_int_equal(tsr_day_parse("2027-03-01", &end), 0);
    assert_true(tsr_netkeys_accepts(&k, 5, end));
    assert_false(tsr_netkeys_accepts(&k, 5, end + 1));
    assert_true(tsr_netkeys_accepts(&k, 9, end + 1000));
    assert_false(tsr_netkeys_accepts(&k, 7, end));
    tsr_netkeys_current(&k, end, &cur);
    assert_int_equal(cur.n, 2);
    tsr_netkeys_current(&k, end + 1, &cur);
    assert_int_equal(cur.n, 1);
    assert_int_equal(cur.ids[0].key_id, 9);
    tsr_netkeys_current(&k, end + 1, &k); /* in place */
    assert_int_equal(k.n, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
