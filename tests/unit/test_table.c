/* test_table.c - rows as a table, CSV and JSON (cli/table.c): a table
 * sized to its content (issue 16: long agency ids broke `tessera cluster`),
 * CSV quoted where it must be, JSON typed by column. Output goes to a
 * memory stream and is compared whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

static const cli_col_t s_cols[] = {
    {"record", CLI_COL_TEXT, false},
    {"agency", CLI_COL_TEXT, false},
    {"n", CLI_COL_INT, true},
    {"linked by", CLI_COL_LIST, false},
    {"known", CLI_COL_BOOL, false},
};

/* The table of two rows, one with a long agency id, printed in f. */
static char *s_print(cli_format_t f)
{
    cli_table_t *t;
    assert_int_equal(cli_table_new(&t, s_cols, 5), 0);
    assert_int_equal(cli_table_add(t, (const char *[]){"r1", "leeds-01", "3", "phone,email", "yes"}),
                     0);
    assert_int_equal(cli_table_add(t, (const char *[]){"r2", "north-yorkshire-childrens-services-07",
                                                       "12", "", "no"}),
                     0);
    assert_int_equal(cli_table_rows(t), 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    assert_int_equal(cli_table_print(t, f, fp), 0);
    fclose(fp);
    cli_table_destroy(&t);
    assert_null(t);
    return buf;
}

static void test_table_sized_to_content(void **state)
{
    (void)state;
    char *out = s_print(CLI_FORMAT_TABLE);
    assert_string_equal(out,
                        "record  agency                                  n  linked by    known\n"
                        "r1      leeds-01                                3  phone,email  yes\n"
                        "r2      north-yorkshire-childrens-services-07  12  -            no\n");
    free(out);
}

static void test_csv(void **state)
{
    (void)state;
    char *out = s_print(CLI_FORMAT_CSV);
    assert_string_equal(out, "record,agency,n,linked by,known\n"
                             "r1,leeds-01,3,\"phone,email\",yes\n"
                             "r2,north-yorkshire-childrens-services-07,12,,no\n");
    free(out);
}

static void test_csv_quoting(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    const char *fields[] = {"plain", "a,b", "say \"hi\"", "two\nlines", " padded", "cr\r", ""};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        cli_csv_field(fp, fields[i], false);
        fputc('|', fp);
    }
    cli_csv_field(fp, "always", true);
    fclose(fp);
    assert_string_equal(buf, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\" padded\"|\"cr\r\"||"
                             "\"always\"");
    free(buf);
}

static void test_json_typed(void **state)
{
    (void)state;
    char *out = s_print(CLI_FORMAT_JSON);
    json_error_t err;
    json_t *v = json_loads(out, 0, &err);
    assert_non_null(v);
    char *compact = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(compact,
                        "[{\"record\":\"r1\",\"agency\":\"leeds-01\",\"n\":3,\"linked by\":"
                        "[\"phone\",\"email\"],\"known\":true},{\"record\":\"r2\",\"agency\":"
                        "\"north-yorkshire-childrens-services-07\",\"n\":12,\"linked by\":[],"
                        "\"known\":false}]");
    free(compact);
    json_decref(v);
    free(out);
}

static void test_json_empty_text_is_null_and_bad_int_refused(void **state)
{
    (void)state;
    static const cli_col_t cols[] = {{"a", CLI_COL_TEXT, false}, {"n", CLI_COL_INT, false}};
    cli_table_t *t;
    assert_int_equal(cli_table_new(&t, cols, 2), 0);
    assert_int_equal(cli_table_add(t, (const char *[]){"", ""}), 0);
    json_t *j = cli_table_json(t);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "[{\"a\":null,\"n\":null}]");
    free(s);
    json_decref(j);
    assert_int_equal(cli_table_add(t, (const char *[]){"x", "3x"}), 0);
    assert_null(cli_table_json(t));
    cli_table_destroy(&t);
}

static void test_format_names(void **state)
{
    (void)state;
    cli_format_t f;
    assert_int_equal(cli_format_parse("table", &f), 0);
    assert_int_equal(f, CLI_FORMAT_TABLE);
    assert_int_equal(cli_format_parse("csv", &f), 0);
    assert_int_equal(f, CLI_FORMAT_CSV);
    assert_int_equal(cli_format_parse("json", &f), 0);
    assert_int_equal(f, CLI_FORMAT_JSON);
    assert_int_equal(cli_format_parse("text", &f), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_sized_to_content),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_json_typed),
        cmocka_unit_test(test_json_empty_text_is_null_and_bad_int_refused),
        cmocka_unit_test(test_format_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
