/* test_config.c - INI keys: defaults, values, and each refusal with its line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tessera/config.h"
#include "tessera/err.h"

static char *s_endpoint, *s_id;
static long s_batch;
static bool s_week;

static const tsr_config_key_t s_keys[] = {
    {"ingest", "endpoint", TSR_CONFIG_STRING, &s_endpoint, "tcp://127.0.0.1:7701", 0, 0, false, ""},
    {"ingest", "max_batches", TSR_CONFIG_INT, &s_batch, "64", 1, 1000, false, ""},
    {"agency", "id", TSR_CONFIG_STRING, &s_id, NULL, 0, 0, true, ""},
    {"agency", "week_coarsening", TSR_CONFIG_BOOL, &s_week, "false", 0, 0, false, ""},
    {NULL, NULL, 0, NULL, NULL, 0, 0, false, NULL},
};

static char s_path[64];

static int s_load(const char *text, tsr_error_t *err)
{
    snprintf(s_path, sizeof s_path, "/tmp/tsr-config-%d.conf", (int)getpid());
    FILE *fp = fopen(s_path, "w");
    fputs(text, fp);
    fclose(fp);
    tsr_error_clear(err);
    int rc = tsr_config_load(s_keys, s_path, err);
    unlink(s_path);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(tsr_config_defaults(s_keys, NULL), 0);
    assert_string_equal(s_endpoint, "tcp://127.0.0.1:7701");
    assert_int_equal(s_batch, 64);
    assert_false(s_week);
    assert_null(s_id);
    tsr_config_free(s_keys);
    assert_null(s_endpoint);
}

static void test_values(void **state)
{
    (void)state;
    tsr_error_t err;
    assert_int_equal(s_load("; comment\n[agency]\nid = leeds-01\nweek_coarsening = yes\n"
                            "[ingest]\nmax_batches=128\n", &err), 0);
    assert_string_equal(s_id, "leeds-01");
    assert_true(s_week);
    assert_int_equal(s_batch, 128);
    assert_string_equal(s_endpoint, "tcp://127.0.0.1:7701");
    tsr_config_free(s_keys);
}

static void test_refusals(void **state)
{
    (void)state;
    tsr_error_t err;
    char msg[512], want[512];
    assert_int_equal(s_load("[agency]\nid = a\n[ingest]\nmax_batchs = 3\n", &err), TSR_EINVAL);
    snprintf(want, sizeof want, "%s:4: ingest.max_batchs: unknown key", s_path);
    assert_string_equal(tsr_error_format(&err, msg, sizeof msg), want);
    tsr_config_free(s_keys);

    assert_int_equal(s_load("[agency]\nid = a\n\n[ingest]\nmax_batches = 0\n", &err), TSR_EINVAL);
    snprintf(want, sizeof want,
             "%s:5: ingest.max_batches: '0' is not a whole number from 1 to 1000", s_path);
    assert_string_equal(tsr_error_format(&err, msg, sizeof msg), want);
    tsr_config_free(s_keys);

    assert_int_equal(s_load("[agency]\nid = a\nweek_coarsening = maybe\n", &err), TSR_EINVAL);
    assert_int_equal(err.line, 3);
    assert_string_equal(err.field, "agency.week_coarsening");
    tsr_config_free(s_keys);

    assert_int_equal(s_load("[ingest]\nmax_batches = 12x\n", &err), TSR_EINVAL);
    assert_int_equal(err.line, 2);
    tsr_config_free(s_keys);

    assert_int_equal(s_load("[ingest]\nmax_batches = 2\n", &err), TSR_EINVAL);
    assert_string_equal(err.field, "agency.id");
    assert_string_equal(err.reason, "is required");
    tsr_config_free(s_keys);

    assert_int_equal(s_load("[agency]\nid = a\nthis is not ini\n", &err), TSR_EINVAL);
    assert_int_equal(err.line, 3);
    tsr_config_free(s_keys);

    assert_int_equal(tsr_config_load(s_keys, "/nonexistent.conf", &err), TSR_EIO);
    assert_string_equal(err.file, "/nonexistent.conf");
    tsr_config_free(s_keys);
}

/* tsr_config_load_lines notes the line each key was set on, 0 for defaults. */
static void test_lines(void **state)
{
    (void)state;
    tsr_error_t err;
    long lines[5];
    snprintf(s_path, sizeof s_path, "/tmp/tsr-config-%d.conf", (int)getpid());
    FILE *fp = fopen(s_path, "w");
    fputs("# comment\n[agency]\nid = a\n\n[ingest]\nmax_batches = 3\n", fp);
    fclose(fp);
    tsr_error_clear(&err);
    memset(lines, 0x55, sizeof lines);
    assert_int_equal(tsr_config_load_lines(s_keys, s_path, lines, &err), 0);
    unlink(s_path);
    assert_int_equal(lines[0], 0); /* ingest.endpoint: default */
    assert_int_equal(lines[1], 6); /* ingest.max_batches */
    assert_int_equal(lines[2], 3); /* agency.id */
    assert_int_equal(lines[3], 0);
    tsr_config_free(s_keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_lines),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
