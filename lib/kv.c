/* kv.c - LMDB environment, error translation, growing write transactions
 * and the calls inside them: the only file that calls LMDB (kv.h). */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "tessera/kv.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIB ((size_t)1 << 20)

struct tsr_kv {
    MDB_env *env;
    size_t map_size, map_step, map_max;
    /* Held shared by every transaction of this process, exclusive while the
     * map grows: mdb_env_set_mapsize needs no transaction of the
     * environment open in the process, and the collector's two threads
     * (the loop and the apply thread) both read and write it. Writer-
     * preferring, so readers cannot starve a growth. */
    pthread_rwlock_t grow;
};

/* A thread already holding kv's shared lock does not take it again: with a
 * growth waiting, a second shared take would wait for the growth, which
 * waits for the first (a read inside a write of the same environment).
 * Per thread, the environments it holds and how deeply. */
#define S_HELD_MAX 8
typedef struct {
    const tsr_kv_t *kv;
    unsigned depth;
} s_held_t;
static __thread s_held_t s_held[S_HELD_MAX];

static void s_shared_take(tsr_kv_t *kv)
{
    int free_at = -1;
    for (int i = 0; i < S_HELD_MAX; i++) {
        if (s_held[i].kv == kv) {
            s_held[i].depth++;
            return;
        }
        if (!s_held[i].kv && free_at < 0)
            free_at = i;
    }
    pthread_rwlock_rdlock(&kv->grow);
    assert(free_at >= 0); /* more environments than S_HELD_MAX open at once in one thread */
    if (free_at >= 0)
        s_held[free_at] = (s_held_t){kv, 1};
}

static void s_shared_drop(tsr_kv_t *kv)
{
    for (int i = 0; i < S_HELD_MAX; i++)
        if (s_held[i].kv == kv) {
            if (--s_held[i].depth == 0) {
                s_held[i].kv = NULL;
                pthread_rwlock_unlock(&kv->grow);
            }
            return;
        }
}

/* Whether this thread holds kv's shared lock (a growth must then wait for
 * the outer transaction to end). */
static bool s_shared_held(const tsr_kv_t *kv)
{
    for (int i = 0; i < S_HELD_MAX; i++)
        if (s_held[i].kv == kv)
            return true;
    return false;
}

int tsr_kv_err(int rc)
{
    switch (rc) {
    case 0: return TSR_OK;
    case MDB_NOTFOUND: return TSR_ENOTFOUND;
    case MDB_KEYEXIST: return TSR_EEXIST;
    case MDB_MAP_FULL: return TSR_EMAPFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_PANIC: return TSR_ECORRUPT;
    case MDB_MAP_RESIZED:
    case EAGAIN:
    case EBUSY: return TSR_EAGAIN;
    case ENOSPC:
    case EDQUOT: return TSR_ENOSPC;
    case ENOMEM: return TSR_ENOMEM;
    case EACCES:
    case EPERM:
    case EROFS: return TSR_EPERM;
    /* LMDB's limits and misuse: a bug or a setting, not the disk */
    case MDB_DBS_FULL:
    case MDB_READERS_FULL:
    case MDB_TLS_FULL:
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL:
    case MDB_INCOMPATIBLE:
    case MDB_BAD_RSLOT:
    case MDB_BAD_TXN:
    case MDB_BAD_VALSIZE:
    case MDB_BAD_DBI: return TSR_ESTORE;
    default: return TSR_EIO; /* an errno value LMDB passed on (EIO, EINVAL...) */
    }
}

/* tsr_kv_err, and LMDB's own words in the log where the code keeps less
 * than they say. op names the LMDB call. */
static int s_err(int rc, const char *op)
{
    int code = tsr_kv_err(rc);
    if (code == TSR_ESTORE || code == TSR_EIO || code == TSR_ECORRUPT)
        tsr_error("kv", "%s: %s", op, mdb_strerror(rc));
    return code;
}

int tsr_kv_open(tsr_kv_t **out, const tsr_kv_opts_t *o, tsr_error_t *err)
{
    *out = NULL;
    if (!o->read_only && mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        tsr_error_at(err, o->dir, 0);
        tsr_error_set(err, "", "cannot create directory: %s", strerror(e));
        return TSR_EIO;
    }
    tsr_kv_t *kv = calloc(1, sizeof *kv);
    if (!kv)
        return TSR_ENOMEM;
    kv->map_size = o->map_size ? o->map_size : 64 * MIB;
    kv->map_step = o->map_step ? o->map_step : 64 * MIB;
    kv->map_max = o->map_max ? o->map_max : 64 * 1024 * MIB;
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&kv->grow, &attr);
    pthread_rwlockattr_destroy(&attr);
    int rc = mdb_env_create(&kv->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(kv->env, o->max_dbs ? o->max_dbs : 32);
    if (rc == 0 && o->max_readers)
        rc = mdb_env_set_maxreaders(kv->env, o->max_readers);
    if (rc == 0)
        rc = mdb_env_set_mapsize(kv->env, kv->map_size);
    /* MDB_NOTLS: read transactions are not tied to a thread's slot, so a
     * query thread pool may use them. Files 0600: nobody else reads them. */
    if (rc == 0)
        rc = mdb_env_open(kv->env, o->dir, MDB_NOTLS | (o->read_only ? MDB_RDONLY : 0), 0600);
    if (rc != 0) {
        tsr_error_at(err, o->dir, 0);
        tsr_error_set(err, "", "cannot open LMDB environment: %s", mdb_strerror(rc));
        mdb_env_close(kv->env);
        pthread_rwlock_destroy(&kv->grow);
        free(kv);
        return tsr_kv_err(rc);
    }
    mdb_env_set_userctx(kv->env, kv); /* tsr_kv_read_end finds the lock from the txn */
    /* An existing environment may be larger than asked: keep its size. */
    MDB_envinfo info;
    if (mdb_env_info(kv->env, &info) == 0 && info.me_mapsize > kv->map_size)
        kv->map_size = info.me_mapsize;
    *out = kv;
    return TSR_OK;
}

void tsr_kv_close(tsr_kv_t **kv_p)
{
    if (!kv_p || !*kv_p)
        return;
    mdb_env_close((*kv_p)->env);
    pthread_rwlock_destroy(&(*kv_p)->grow);
    free(*kv_p);
    *kv_p = NULL;
}

MDB_env *tsr_kv_env(tsr_kv_t *kv) { return kv->env; }

int tsr_kv_dbis(tsr_kv_t *kv, const char *const *names, size_t n, unsigned flags, MDB_dbi *out,
                tsr_error_t *err)
{
    unsigned envflags = 0;
    mdb_env_get_flags(kv->env, &envflags);
    bool ro = envflags & MDB_RDONLY;
    MDB_txn *txn;
    const char *failed = ""; /* the database that failed; "" for the transaction */
    int rc = mdb_txn_begin(kv->env, NULL, ro ? MDB_RDONLY : 0, &txn);
    if (rc == 0) {
        for (size_t i = 0; rc == 0 && i < n; i++)
            if ((rc = mdb_dbi_open(txn, names[i], flags | (ro ? 0 : MDB_CREATE), &out[i])) != 0)
                failed = names[i];
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc != 0) {
        tsr_error_set(err, failed, "cannot open database: %s", mdb_strerror(rc));
        return tsr_kv_err(rc);
    }
    return TSR_OK;
}

static int s_grow_locked(tsr_kv_t *kv, size_t seen);

/* Grows the map by one step, holding the growth lock exclusive (no
 * transaction of this environment open in the process); TSR_EFULL at the
 * maximum. seen: the map size the failed transaction ran with (another
 * thread may have grown it since: then nothing more is done). */
static int s_grow(tsr_kv_t *kv, size_t seen)
{
    if (s_shared_held(kv))
        return TSR_EMAPFULL; /* inside an outer transaction: it grows when that one ends */
    pthread_rwlock_wrlock(&kv->grow);
    int rc = s_grow_locked(kv, seen);
    pthread_rwlock_unlock(&kv->grow);
    return rc;
}

static int s_grow_locked(tsr_kv_t *kv, size_t seen)
{
    if (kv->map_size > seen)
        return TSR_OK;
    if (kv->map_size >= kv->map_max)
        return TSR_EFULL;
    size_t next = kv->map_size + kv->map_step;
    if (next > kv->map_max)
        next = kv->map_max;
    int rc = mdb_env_set_mapsize(kv->env, next);
    if (rc != 0) {
        tsr_error("kv", "cannot grow the map to %zu MiB: %s", next / MIB, mdb_strerror(rc));
        return TSR_EFULL;
    }
    tsr_info("kv", "map grown from %zu to %zu MiB", kv->map_size / MIB, next / MIB);
    kv->map_size = next;
    return TSR_OK;
}

/* A write transaction; adopts the map size when another process grew it. */
static int s_write_begin(tsr_kv_t *kv, MDB_txn **txn)
{
    int rc = mdb_txn_begin(kv->env, NULL, 0, txn);
    if (rc == MDB_MAP_RESIZED) {
        MDB_envinfo info;
        mdb_env_set_mapsize(kv->env, 0);
        if (mdb_env_info(kv->env, &info) == 0 && info.me_mapsize > kv->map_size)
            kv->map_size = info.me_mapsize;
        rc = mdb_txn_begin(kv->env, NULL, 0, txn);
    }
    return rc == 0 ? 0 : s_err(rc, "mdb_txn_begin");
}

int tsr_kv_write(tsr_kv_t *kv, tsr_kv_write_fn fn, void *arg)
{
    for (;;) {
        MDB_txn *txn;
        s_shared_take(kv);
        size_t seen = kv->map_size;
        int rc = s_write_begin(kv, &txn);
        if (rc == 0) {
            rc = fn(txn, arg);
            assert(rc <= 0); /* a body returns TSR_E* codes only */
            if (rc == 0)
                rc = s_err(mdb_txn_commit(txn), "mdb_txn_commit"); /* frees txn either way */
            else
                mdb_txn_abort(txn);
        }
        s_shared_drop(kv);
        if (rc != TSR_EMAPFULL)
            return rc;
        if ((rc = s_grow(kv, seen)) != 0)
            return rc;
    }
}

int tsr_kv_read_begin(tsr_kv_t *kv, MDB_txn **txn)
{
    s_shared_take(kv);
    int rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, txn);
    if (rc == 0)
        return 0;
    s_shared_drop(kv);
    *txn = NULL;
    return s_err(rc, "mdb_txn_begin");
}

void tsr_kv_read_end(MDB_txn *txn)
{
    if (!txn)
        return;
    tsr_kv_t *kv = mdb_env_get_userctx(mdb_txn_env(txn));
    mdb_txn_abort(txn);
    if (kv)
        s_shared_drop(kv);
}

int tsr_kv_read(tsr_kv_t *kv, tsr_kv_read_fn fn, void *arg)
{
    MDB_txn *txn;
    int rc = tsr_kv_read_begin(kv, &txn);
    if (rc != 0)
        return rc;
    rc = fn(txn, arg);
    assert(rc <= 0); /* a body returns TSR_E* codes only */
    tsr_kv_read_end(txn);
    return rc;
}

int tsr_kv_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val)
{
    int rc = mdb_get(txn, dbi, key, val);
    return rc == 0 ? 0 : s_err(rc, "mdb_get");
}

int tsr_kv_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val, unsigned flags)
{
    int rc = mdb_put(txn, dbi, key, val, flags);
    return rc == 0 ? 0 : s_err(rc, "mdb_put");
}

int tsr_kv_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key)
{
    int rc = mdb_del(txn, dbi, key, NULL);
    return rc == 0 ? 0 : s_err(rc, "mdb_del");
}

int tsr_kv_empty(MDB_txn *txn, MDB_dbi dbi)
{
    int rc = mdb_drop(txn, dbi, 0);
    return rc == 0 ? 0 : s_err(rc, "mdb_drop");
}

int tsr_kv_entries(MDB_txn *txn, MDB_dbi dbi, size_t *entries)
{
    MDB_stat st;
    int rc = mdb_stat(txn, dbi, &st);
    *entries = rc == 0 ? st.ms_entries : 0;
    return rc == 0 ? 0 : s_err(rc, "mdb_stat");
}

int tsr_kv_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **c)
{
    int rc = mdb_cursor_open(txn, dbi, c);
    if (rc == 0)
        return 0;
    *c = NULL;
    return s_err(rc, "mdb_cursor_open");
}

int tsr_kv_cursor_get(MDB_cursor *c, MDB_val *key, MDB_val *val, MDB_cursor_op op)
{
    int rc = mdb_cursor_get(c, key, val, op);
    return rc == 0 ? 0 : s_err(rc, "mdb_cursor_get");
}

int tsr_kv_cursor_put(MDB_cursor *c, MDB_val *key, MDB_val *val, unsigned flags)
{
    int rc = mdb_cursor_put(c, key, val, flags);
    return rc == 0 ? 0 : s_err(rc, "mdb_cursor_put");
}

int tsr_kv_cursor_del(MDB_cursor *c)
{
    int rc = mdb_cursor_del(c, 0);
    return rc == 0 ? 0 : s_err(rc, "mdb_cursor_del");
}

void tsr_kv_cursor_close(MDB_cursor *c)
{
    if (c)
        mdb_cursor_close(c);
}

int tsr_kv_copy(tsr_kv_t *kv, const char *to_dir)
{
    int rc = mdb_env_copy2(kv->env, to_dir, MDB_CP_COMPACT);
    /* another process grew the map past ours: adopt its size, once or twice */
    for (int i = 0; rc == MDB_MAP_RESIZED && i < 3; i++) {
        mdb_env_set_mapsize(kv->env, 0);
        rc = mdb_env_copy2(kv->env, to_dir, MDB_CP_COMPACT);
    }
    return rc == 0 ? 0 : s_err(rc, "mdb_env_copy2");
}

int tsr_kv_usage(tsr_kv_t *kv, size_t *map_size, size_t *used)
{
    MDB_envinfo info;
    MDB_stat st;
    /* both read the meta pages in the map: a growth in another thread
     * (mdb_env_set_mapsize remaps it) must not run meanwhile */
    s_shared_take(kv);
    int rc = mdb_env_info(kv->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(kv->env, &st);
    s_shared_drop(kv);
    if (rc != 0)
        return s_err(rc, "mdb_env_info");
    *map_size = info.me_mapsize;
    *used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
    return TSR_OK;
}
