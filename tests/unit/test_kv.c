/* test_kv.c - LMDB environment: growth on a full map, the maximum, and the
 * error boundary: every call answers in TSR_E* codes (a full map, a missing
 * key, a full disk, damage), never in LMDB's or errno's numbers. */
#define _GNU_SOURCE /* unshare, for the full disk */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tessera/err.h"
#include "tessera/kv.h"
#include "tessera/log.h"
#include "tsr_test_disk.h"

typedef struct {
    MDB_dbi dbi;
    int first, count; /* keys first..first+count-1, 1 KiB values */
    int runs;
    int last_rc; /* what the last failed put said */
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
        int rc = tsr_kv_put(txn, f->dbi, &k, &v, 0);
        if (rc != 0)
            return f->last_rc = rc;
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
    assert_int_equal(tsr_kv_write(kv, s_fill, &f), 0);
    assert_true(f.runs >= 2);
    assert_int_equal(f.last_rc, TSR_EMAPFULL); /* what made it grow */
    assert_int_equal(s_count(kv, f.dbi), 400);
    size_t map, used;
    assert_int_equal(tsr_kv_usage(kv, &map, &used), 0);
    assert_true(map > 256 * 1024);
    assert_true(used > 400 * 1024);
    /* 2000 more KiB can never fit 1 MiB: TSR_EFULL, nothing written. */
    s_fill_t g = {.dbi = f.dbi, .first = 1000, .count = 2000};
    assert_int_equal(tsr_kv_write(kv, s_fill, &g), TSR_EFULL);
    assert_int_equal(g.last_rc, TSR_EMAPFULL);
    assert_int_equal(s_count(kv, f.dbi), 400);
    /* Still usable afterwards. */
    s_fill_t h = {.dbi = f.dbi, .first = 500, .count = 10};
    assert_int_equal(tsr_kv_write(kv, s_fill, &h), 0);
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

/* An environment in a new directory dir (a "/tmp/tsr-kv-XXXXXX" buffer). */
static tsr_kv_t *s_kv_new(char *dir)
{
    assert_non_null(mkdtemp(dir));
    tsr_kv_opts_t o = {.dir = dir};
    tsr_kv_t *kv;
    assert_int_equal(tsr_kv_open(&kv, &o, NULL), 0);
    return kv;
}

/* Closes kv and removes its directory. */
static void s_kv_done(tsr_kv_t **kv, const char *dir)
{
    tsr_kv_close(kv);
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
    tsr_kv_t *kv = s_kv_new(dir);
    assert_int_equal(tsr_kv_write(kv, s_fail, NULL), TSR_EINVAL);
    s_kv_done(&kv, dir);
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
}

/* Every code LMDB or the system can give maps to its TSR_E* code, named by
 * tsr_strerror; nothing comes out as itself. */
static void test_translation(void **state)
{
    (void)state;
    assert_int_equal(tsr_kv_err(0), TSR_OK);
    assert_int_equal(tsr_kv_err(MDB_NOTFOUND), TSR_ENOTFOUND);
    assert_int_equal(tsr_kv_err(MDB_KEYEXIST), TSR_EEXIST);
    assert_int_equal(tsr_kv_err(MDB_MAP_FULL), TSR_EMAPFULL);
    assert_string_equal(tsr_strerror(tsr_kv_err(MDB_MAP_FULL)), "storage map full");
    const int damaged[] = {MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID, MDB_VERSION_MISMATCH,
                           MDB_PANIC};
    for (size_t i = 0; i < sizeof damaged / sizeof *damaged; i++)
        assert_int_equal(tsr_kv_err(damaged[i]), TSR_ECORRUPT);
    assert_string_equal(tsr_strerror(TSR_ECORRUPT), "stored data damaged");
    assert_int_equal(tsr_kv_err(MDB_MAP_RESIZED), TSR_EAGAIN);
    assert_int_equal(tsr_kv_err(EAGAIN), TSR_EAGAIN);
    assert_int_equal(tsr_kv_err(EBUSY), TSR_EAGAIN);
    assert_int_equal(tsr_kv_err(ENOSPC), TSR_ENOSPC);
    assert_int_equal(tsr_kv_err(EDQUOT), TSR_ENOSPC);
    assert_string_equal(tsr_strerror(TSR_ENOSPC), "no space left on device");
    assert_int_equal(tsr_kv_err(ENOMEM), TSR_ENOMEM);
    assert_int_equal(tsr_kv_err(EACCES), TSR_EPERM);
    assert_int_equal(tsr_kv_err(EPERM), TSR_EPERM);
    assert_int_equal(tsr_kv_err(EROFS), TSR_EPERM);
    const int limits[] = {MDB_DBS_FULL, MDB_READERS_FULL, MDB_TLS_FULL, MDB_TXN_FULL,
                          MDB_CURSOR_FULL, MDB_PAGE_FULL, MDB_INCOMPATIBLE, MDB_BAD_RSLOT,
                          MDB_BAD_TXN, MDB_BAD_VALSIZE, MDB_BAD_DBI};
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++)
        assert_int_equal(tsr_kv_err(limits[i]), TSR_ESTORE);
    assert_int_equal(tsr_kv_err(EIO), TSR_EIO);
    assert_int_equal(tsr_kv_err(EINVAL), TSR_EIO);
    for (int rc = MDB_KEYEXIST; rc <= MDB_LAST_ERRCODE; rc++) {
        int code = tsr_kv_err(rc);
        assert_true(code < 0);
        assert_string_not_equal(tsr_strerror(code), "unknown error");
    }
    for (int e = 1; e < 134; e++) {
        int code = tsr_kv_err(e);
        assert_true(code < 0);
        assert_string_not_equal(tsr_strerror(code), "unknown error");
    }
}

typedef struct {
    MDB_dbi dbi;
    int put_again; /* the second MDB_NOOVERWRITE put's code */
} s_twice_t;

/* Puts "a" and then "a" again with MDB_NOOVERWRITE: the second says
 * TSR_EEXIST, and the body returns it, so nothing commits. */
static int s_twice(MDB_txn *txn, void *arg)
{
    s_twice_t *t = arg;
    MDB_val k = {1, "a"}, v = {1, "1"};
    int rc = tsr_kv_put(txn, t->dbi, &k, &v, MDB_NOOVERWRITE);
    if (rc == 0)
        rc = t->put_again = tsr_kv_put(txn, t->dbi, &k, &v, MDB_NOOVERWRITE);
    return rc;
}

static int s_put_b(MDB_txn *txn, void *arg)
{
    MDB_val k = {1, "b"}, v = {2, "bb"};
    return tsr_kv_put(txn, *(MDB_dbi *)arg, &k, &v, 0);
}

static int s_empty(MDB_txn *txn, void *arg)
{
    return tsr_kv_empty(txn, *(MDB_dbi *)arg);
}

/* The calls inside transactions speak TSR_E* too. */
static void test_calls_translate(void **state)
{
    (void)state;
    char dir[] = "/tmp/tsr-kv-XXXXXX";
    tsr_kv_t *kv = s_kv_new(dir);
    s_twice_t t = {0};
    assert_int_equal(tsr_kv_dbis(kv, (const char *[]){"t"}, 1, 0, &t.dbi, NULL), 0);
    assert_int_equal(tsr_kv_write(kv, s_twice, &t), TSR_EEXIST);
    assert_int_equal(t.put_again, TSR_EEXIST);

    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k = {1, "a"}, v;
    size_t n = 99;
    assert_int_equal(tsr_kv_read_begin(kv, &txn), 0);
    assert_int_equal(tsr_kv_get(txn, t.dbi, &k, &v), TSR_ENOTFOUND); /* aborted: not there */
    assert_int_equal(tsr_kv_entries(txn, t.dbi, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tsr_kv_cursor_open(txn, t.dbi, &c), 0);
    assert_int_equal(tsr_kv_cursor_get(c, &k, &v, MDB_FIRST), TSR_ENOTFOUND);
    tsr_kv_cursor_close(c);
    tsr_kv_read_end(txn);

    assert_int_equal(tsr_kv_write(kv, s_put_b, &t.dbi), 0);
    assert_int_equal(tsr_kv_read_begin(kv, &txn), 0);
    k = (MDB_val){1, "b"};
    assert_int_equal(tsr_kv_get(txn, t.dbi, &k, &v), 0);
    assert_int_equal(v.mv_size, 2);
    assert_memory_equal(v.mv_data, "bb", 2);
    assert_int_equal(tsr_kv_cursor_open(txn, t.dbi, &c), 0);
    assert_int_equal(tsr_kv_cursor_get(c, &k, &v, MDB_LAST), 0);
    assert_int_equal(tsr_kv_cursor_get(c, &k, &v, MDB_NEXT), TSR_ENOTFOUND);
    tsr_kv_cursor_close(c);
    /* a write in a read-only transaction: LMDB's EACCES, as TSR_EPERM */
    assert_int_equal(tsr_kv_put(txn, t.dbi, &k, &v, 0), TSR_EPERM);
    assert_int_equal(tsr_kv_del(txn, t.dbi, &k), TSR_EPERM);
    assert_int_equal(tsr_kv_empty(txn, t.dbi), TSR_EPERM);
    tsr_kv_read_end(txn);
    /* emptied: no entry left, and the database is still there to write */
    assert_int_equal(tsr_kv_write(kv, s_empty, &t.dbi), 0);
    assert_int_equal(tsr_kv_read_begin(kv, &txn), 0);
    assert_int_equal(tsr_kv_entries(txn, t.dbi, &n), 0);
    assert_int_equal(n, 0);
    tsr_kv_read_end(txn);
    assert_int_equal(tsr_kv_write(kv, s_put_b, &t.dbi), 0);
    assert_int_equal(tsr_kv_read_begin(kv, &txn), 0);
    assert_int_equal(tsr_kv_entries(txn, t.dbi, &n), 0);
    assert_int_equal(n, 1);
    tsr_kv_read_end(txn);
    s_kv_done(&kv, dir);
}

/* What the full-disk child returns. */
enum { S_DISK_OK = 0, S_DISK_OPEN, S_DISK_NEVER_FULL, S_DISK_LOST, S_DISK_CODE /* + -code */ };

static int s_disk_child(const char *dir)
{
    char envdir[96];
    snprintf(envdir, sizeof envdir, "%s/db", dir);
    /* the map is larger than the disk: the disk fills first */
    tsr_kv_opts_t o = {.dir = envdir, .map_size = 4 << 20};
    tsr_kv_t *kv;
    s_fill_t f = {0};
    if (tsr_kv_open(&kv, &o, NULL) != 0 ||
        tsr_kv_dbis(kv, (const char *[]){"t"}, 1, 0, &f.dbi, NULL) != 0)
        return S_DISK_OPEN;
    int rc = 0, committed = 0;
    for (int i = 0; rc == 0 && i < 100; i++) {
        f.first = i * 20;
        f.count = 20;
        if ((rc = tsr_kv_write(kv, s_fill, &f)) == 0)
            committed += 20;
    }
    if (rc == 0)
        return S_DISK_NEVER_FULL;
    if (rc != TSR_ENOSPC)
        return S_DISK_CODE - rc;
    /* the transaction that did not fit left nothing; the others stay */
    MDB_txn *txn;
    size_t n = 0;
    if (tsr_kv_read_begin(kv, &txn) != 0 || tsr_kv_entries(txn, f.dbi, &n) != 0 ||
        (int)n != committed)
        return S_DISK_LOST;
    tsr_kv_read_end(txn);
    tsr_kv_close(&kv);
    return S_DISK_OK;
}

typedef struct {
    MDB_dbi dbi;
    char got[8];
} s_read_t;

static int s_read_b(MDB_txn *txn, void *arg)
{
    s_read_t *r = arg;
    MDB_val k = {1, "b"}, v;
    int rc = tsr_kv_get(txn, r->dbi, &k, &v);
    if (rc == 0)
        snprintf(r->got, sizeof r->got, "%.*s", (int)v.mv_size, (char *)v.mv_data);
    return rc;
}

static int s_read_fails(MDB_txn *txn, void *arg)
{
    (void)txn;
    (void)arg;
    return TSR_ECORRUPT;
}

static int s_reader_line(const char *msg, void *ctx)
{
    strncat(ctx, msg, 255 - strlen(ctx));
    return 0;
}

/* Whether LMDB's reader table shows no read transaction open. */
static bool s_no_readers(tsr_kv_t *kv)
{
    char out[256] = "";
    mdb_reader_list(tsr_kv_env(kv), s_reader_line, out);
    return strstr(out, "(no active readers)") != NULL;
}

/* tsr_kv_read runs its body in a read transaction, returns the body's code
 * and always ends the transaction (LMDB's reader table is empty after). */
static void test_read(void **state)
{
    (void)state;
    char dir[] = "/tmp/tsr-kv-XXXXXX";
    tsr_kv_t *kv = s_kv_new(dir);
    s_read_t r = {0};
    assert_int_equal(tsr_kv_dbis(kv, (const char *[]){"t"}, 1, 0, &r.dbi, NULL), 0);
    assert_int_equal(tsr_kv_read(kv, s_read_b, &r), TSR_ENOTFOUND);
    assert_int_equal(tsr_kv_write(kv, s_put_b, &r.dbi), 0);
    assert_int_equal(tsr_kv_read(kv, s_read_b, &r), 0);
    assert_string_equal(r.got, "bb");
    assert_true(s_no_readers(kv));
    assert_int_equal(tsr_kv_read(kv, s_read_fails, NULL), TSR_ECORRUPT);
    assert_true(s_no_readers(kv));
    MDB_txn *txn;
    assert_int_equal(tsr_kv_read_begin(kv, &txn), 0);
    assert_false(s_no_readers(kv)); /* the check can see an open one */
    tsr_kv_read_end(txn);
    s_kv_done(&kv, dir);
}

/* A full disk is TSR_ENOSPC at the commit ("no space left on device"),
 * not storage in general: the operator learns to free space. */
static void test_disk_full(void **state)
{
    (void)state;
    char dir[] = "/tmp/tsr-kv-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int rc = tsr_test_on_small_disk(dir, "256k", s_disk_child);
    rmdir(dir);
    if (rc == TSR_TEST_DISK_SKIP)
        skip(); /* no user namespaces here */
    assert_int_equal(rc, S_DISK_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_then_refuses_at_max),
        cmocka_unit_test(test_body_error_aborts),
        cmocka_unit_test(test_open_error_names_dir),
        cmocka_unit_test(test_translation),
        cmocka_unit_test(test_calls_translate),
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_disk_full),
    };
    return cmocka_run_group_tests_name("kv", tests, NULL, NULL);
}
