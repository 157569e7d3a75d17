/* kv.c - LMDB environment, error translation and growing write txns. */
#include "tessera/kv.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIB ((size_t)1 << 20)

struct tsr_kv {
    MDB_env *env;
    size_t map_size, map_step, map_max;
};

int tsr_kv_code(int rc)
{
    switch (rc) {
    case 0: return TSR_OK;
    case MDB_NOTFOUND: return TSR_ENOTFOUND;
    case MDB_MAP_FULL: return TSR_EFULL;
    case ENOMEM: return TSR_ENOMEM;
    case EACCES: return TSR_EPERM;
    default: return rc < 0 ? TSR_ESTORE : TSR_EIO;
    }
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
        free(kv);
        return tsr_kv_code(rc);
    }
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
        return tsr_kv_code(rc);
    }
    return TSR_OK;
}

/* Grows the map by one step; TSR_EFULL at the maximum. */
static int s_grow(tsr_kv_t *kv)
{
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

/* TSR_E* codes are small negatives; LMDB's own are below -30000. */
static bool s_is_tsr_code(int rc) { return rc < 0 && rc > -1000; }

int tsr_kv_write(tsr_kv_t *kv, tsr_kv_write_fn fn, void *arg, int *mdb_rc)
{
    if (mdb_rc)
        *mdb_rc = 0;
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
        if (rc == MDB_MAP_RESIZED) {
            /* Another process grew the map: adopt its size. */
            mdb_env_set_mapsize(kv->env, 0);
            rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
        }
        if (rc != 0) {
            if (mdb_rc)
                *mdb_rc = rc;
            return rc == MDB_MAP_FULL ? TSR_EFULL : TSR_ESTORE;
        }
        rc = fn(txn, arg);
        if (s_is_tsr_code(rc)) {
            mdb_txn_abort(txn);
            return rc;
        }
        if (rc == 0)
            rc = mdb_txn_commit(txn); /* frees txn either way */
        else
            mdb_txn_abort(txn);
        if (rc == 0)
            return TSR_OK;
        if (rc != MDB_MAP_FULL) {
            if (mdb_rc)
                *mdb_rc = rc;
            return tsr_kv_code(rc) == TSR_EFULL ? TSR_EFULL : TSR_ESTORE;
        }
        if (s_grow(kv) != 0) {
            if (mdb_rc)
                *mdb_rc = rc;
            return TSR_EFULL;
        }
    }
}

int tsr_kv_usage(tsr_kv_t *kv, size_t *map_size, size_t *used)
{
    MDB_envinfo info;
    MDB_stat st;
    int rc = mdb_env_info(kv->env, &info);
    if (rc == 0)
        rc = mdb_env_stat(kv->env, &st);
    if (rc != 0)
        return tsr_kv_code(rc);
    *map_size = info.me_mapsize;
    *used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
    return TSR_OK;
}
