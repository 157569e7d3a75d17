/* test_curve.c - CURVE key files: modes, round trip, refusal to overwrite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/curve.h"
#include "tessera/err.h"


static int s_setup(void **state)
{
    (void)state;
    return tsr_test_dir_make("curve");
}

static int s_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 0777;
}

static void test_keygen_and_load(void **state)
{
    (void)state;
    char stem[128], key[160], pub[160], p1[41], s1[41], p2[41], s2[41], p3[41];
    tsr_error_t err;
    tsr_error_clear(&err);
    snprintf(stem, sizeof stem, "%s/agent", s_dir);
    snprintf(key, sizeof key, "%s.key", stem);
    snprintf(pub, sizeof pub, "%s.pub", stem);
    assert_int_equal(tsr_curve_keygen(stem, false, p1, s1, &err), 0);
    assert_int_equal(s_mode(key), 0600);
    assert_int_equal(s_mode(pub), 0644);
    assert_true(tsr_curve_key_valid(p1));
    assert_int_equal(tsr_curve_load_secret(key, s2, p2, &err), 0);
    assert_string_equal(s2, s1);
    assert_string_equal(p2, p1); /* derived public equals the one written */
    assert_int_equal(tsr_curve_load_public(pub, p3, &err), 0);
    assert_string_equal(p3, p1);

    /* refuses to overwrite; --force replaces with a new pair */
    assert_int_equal(tsr_curve_keygen(stem, false, NULL, NULL, &err), TSR_EEXIST);
    assert_string_equal(err.file, key);
    assert_int_equal(tsr_curve_keygen(stem, true, p2, NULL, &err), 0);
    assert_string_not_equal(p2, p1);
    assert_int_equal(tsr_curve_load_public(pub, p3, &err), 0);
    assert_string_equal(p3, p2);
}

static void test_refusals(void **state)
{
    (void)state;
    char stem[128], key[160], sec[41], pub[41];
    tsr_error_t err;
    tsr_error_clear(&err);
    snprintf(stem, sizeof stem, "%s/loose", s_dir);
    snprintf(key, sizeof key, "%s.key", stem);
    assert_int_equal(tsr_curve_keygen(stem, false, NULL, NULL, &err), 0);
    assert_int_equal(chmod(key, 0644), 0);
    assert_int_equal(tsr_curve_load_secret(key, sec, pub, &err), TSR_EPERM);
    char want[512];
    snprintf(want, sizeof want,
             "secret key: readable or writable by group or others (mode 0644); "
             "run: chmod 600 %s",
             key);
    assert_string_equal(err.reason, want);
    assert_string_equal(err.file, key);

    char bad[160];
    snprintf(bad, sizeof bad, "%s/bad.pub", s_dir);
    FILE *fp = fopen(bad, "w");
    fputs("# comment\nnot-a-key\n", fp);
    fclose(fp);
    assert_int_equal(tsr_curve_load_public(bad, pub, &err), TSR_EINVAL);
    assert_string_equal(err.file, bad);
    assert_int_equal(err.line, 2);
    assert_int_equal(tsr_curve_load_public("/nonexistent.pub", pub, &err), TSR_EIO);
    assert_false(tsr_curve_key_valid("short"));
    assert_false(tsr_curve_key_valid(NULL));
}

/* --force replaces a symlink at NAME.key / NAME.pub, never the file it
 * points to (issue 15). */
static void test_force_symlink(void **state)
{
    (void)state;
    char stem[128], key[160], pub[160], target[160], sec[41], p1[41], p2[41];
    tsr_error_t err;
    tsr_error_clear(&err);
    snprintf(stem, sizeof stem, "%s/linked", s_dir);
    snprintf(key, sizeof key, "%s.key", stem);
    snprintf(pub, sizeof pub, "%s.pub", stem);
    snprintf(target, sizeof target, "%s/precious", s_dir);
    FILE *fp = fopen(target, "w");
    fputs("precious\n", fp);
    fclose(fp);
    assert_int_equal(symlink(target, key), 0);
    assert_int_equal(symlink(target, pub), 0);
    /* without --force, even a symlink counts as existing */
    assert_int_equal(tsr_curve_keygen(stem, false, NULL, NULL, &err), TSR_EEXIST);
    assert_int_equal(tsr_curve_keygen(stem, true, p1, NULL, &err), 0);
    char buf[64] = "";
    fp = fopen(target, "r");
    assert_non_null(fgets(buf, sizeof buf, fp));
    fclose(fp);
    assert_string_equal(buf, "precious\n");
    struct stat st;
    assert_int_equal(lstat(key, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(lstat(pub, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(tsr_curve_load_secret(key, sec, p2, &err), 0);
    assert_string_equal(p2, p1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_and_load),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_force_symlink),
    };
    return cmocka_run_group_tests_name("curve", tests, s_setup, tsr_test_dir_remove);
}
