/* test_kv.c - LMDB environment: growth on MDB_MAP_FULL, the maximum, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/err.h"
#include "tessera/kv.h"

typedef struct {
    MDB_dbi dbi;
    int first, count; /* keys first..first+count-1, 1 KiB values */
    int runs;
} s_fill_t;

static int s_fill(MDB_txn *txn, void *arg)
{
    s_fill_t *f = arg;
    f->runs++;
    char val[1024];
    memset(val, 'v', sizeof val);
    for (int i = f->first; i < f->first + f->count; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%08d", i);
        MDB_val k = {strlen(key), key}, v = {sizeof val, val};
        int rc = mdb_put(txn, f->dbi, &k, &v, 0);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int s_count(tsr_kv_t *kv, MDB_dbi dbi)
{
    MDB_txn *txn;
    MDB_stat st;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(kv), NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    return (int)st.ms_entries;
}

static void test_grows_then_refuses_at_max(void **state)
{
    (void)state;
    char dir[] = "/tmp/tsr-kv-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char envdir[64];
    snprintf(envdir, sizeof envdir, "%s/db", dir);
    tsr_kv_opts_t o = {.dir = envdir, .map_size = 256 * 1024, .map_step = 256 * 1024,
                       .map_max = 1024 * 1024};
    tsr_kv_t *kv;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_kv_open(&kv, &o, &err), 0);
    struct stat st;
    assert_int_equal(stat(envdir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    s_fill_t f = {.first = 0, .count = 400};
    assert_int_equal(tsr_kv_dbis(kv, (const char *[]){"t"}, 1, 0, &f.dbi, &err), 0);
    /* 400 KiB does not fit 256 KiB: it must grow and run the body again. */
    assert_int_equal(tsr_kv_write(kv, s_fill, &f, NULL), 0);
    assert_true(f.runs >= 2);
    assert_int_equal(s_count(kv, f.dbi), 400);
    size_t map, used;
    assert_int_equal(tsr_kv_usage(kv, &map, &used), 0);
    assert_true(map > 256 * 1024);
    assert_true(used > 400 * 1024);
    /* 2000 more KiB can never fit 1 MiB: TSR_EFULL, nothing written. */
    s_fill_t g = {.dbi = f.dbi, .first = 1000, .count = 2000};
    int mdb_rc = 0;
    assert_int_equal(tsr_kv_write(kv, s_fill, &g, &mdb_rc), TSR_EFULL);
    assert_int_equal(mdb_rc, MDB_MAP_FULL);
    assert_int_equal(s_count(kv, f.dbi), 400);
    /* Still usable afterwards. */
    s_fill_t h = {.dbi = f.dbi, .first = 500, .count = 10};
    assert_int_equal(tsr_kv_write(kv, s_fill, &h, NULL), 0);
    assert_int_equal(s_count(kv, f.dbi), 410);
    tsr_kv_close(&kv);
    assert_null(kv);

    /* Read-only reopen sees the data. */
    o.read_only = true;
    assert_int_equal(tsr_kv_open(&kv, &o, &err), 0);
    MDB_dbi dbi;
    assert_int_equal(tsr_kv_dbis(kv, (const char *[]){"t"}, 1, 0, &dbi, &err), 0);
    assert_int_equal(s_count(kv, dbi), 410);
    assert_int_equal(tsr_kv_dbis(kv, (const char *[]){"missing"}, 1, 0, &dbi, &err), TSR_ENOTFOUND);
    assert_string_equal(err.field, "missing");
    /* several in one transaction: the error names the one missing */
    MDB_dbi two[2];
    assert_int_equal(tsr_kv_dbis(kv, (const char *[]){"t", "gone"}, 2, 0, two, &err),
                     TSR_ENOTFOUND);
    assert_string_equal(err.field, "gone");
    tsr_kv_close(&kv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static int s_fail(MDB_txn *txn, void *arg)
{
    (void)txn;
    (void)arg;
    return TSR_EINVAL;
}

static void test_body_error_aborts(void **state)
{
    (void)state;
    char dir[] = "/tmp/tsr-kv-XXXXXX";
    assert_non_null(mkdtemp(dir));
    tsr_kv_opts_t o = {.dir = dir};
    tsr_kv_t *kv;
    assert_int_equal(tsr_kv_open(&kv, &o, NULL), 0);
    assert_int_equal(tsr_kv_write(kv, s_fail, NULL, NULL), TSR_EINVAL);
    tsr_kv_close(&kv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_open_error_names_dir(void **state)
{
    (void)state;
    tsr_kv_opts_t o = {.dir = "/proc/nonexistent/tsr"};
    tsr_kv_t *kv = (tsr_kv_t *)1;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_not_equal(tsr_kv_open(&kv, &o, &err), 0);
    assert_null(kv);
    assert_string_equal(err.file, "/proc/nonexistent/tsr");
    assert_int_equal(tsr_kv_code(MDB_NOTFOUND), TSR_ENOTFOUND);
    assert_int_equal(tsr_kv_code(MDB_MAP_FULL), TSR_EFULL);
    assert_int_equal(tsr_kv_code(MDB_CORRUPTED), TSR_ESTORE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_then_refuses_at_max),
        cmocka_unit_test(test_body_error_aborts),
        cmocka_unit_test(test_open_error_names_dir),
    };
    return cmocka_run_group_tests_name("kv", tests, NULL, NULL);
}
