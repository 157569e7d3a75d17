/* kv.h - LMDB behind a small API: open an environment, translate its errors,
 * and run write transactions that grow the map when it is full.
 *
 * Both the collector (records, indexes, alerts) and the agent (outbox) keep
 * their state in LMDB through this module. Callers use the MDB_* API
 * directly for reads and puts inside a transaction; this module owns what is
 * easy to get wrong: map growth, error text, directory modes.
 */
#ifndef TESSERA_KV_H
#define TESSERA_KV_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>

struct tsr_error;

typedef struct tsr_kv_opts {
    const char *dir;        /* environment directory; created 0700 if missing */
    size_t map_size;        /* initial map size in bytes (0: 64 MiB) */
    size_t map_step;        /* growth step when full (0: 64 MiB) */
    size_t map_max;         /* never grow past this (0: 64 GiB) */
    unsigned max_dbs;       /* named databases (0: 32) */
    unsigned max_readers;   /* reader slots (0: LMDB's default, 126) */
    bool read_only;         /* MDB_RDONLY: for tools and tests that inspect */
} tsr_kv_opts_t;

typedef struct tsr_kv tsr_kv_t;

/* Opens (creating) the environment. Returns 0, or TSR_EIO/TSR_ESTORE with
 * err naming the directory and LMDB's reason. The caller owns *out. */
int tsr_kv_open(tsr_kv_t **out, const tsr_kv_opts_t *opts, struct tsr_error *err);

/* Closes the environment (no transaction may be open); NULLs *kv_p. */
void tsr_kv_close(tsr_kv_t **kv_p);

MDB_env *tsr_kv_env(tsr_kv_t *kv);

/* Opens (creating unless read-only) the named databases names[0..n) into
 * out[0..n), with extra flags (MDB_DUPSORT, MDB_INTEGERKEY...), in one
 * transaction. Call at start-up, before other transactions. */
int tsr_kv_dbis(tsr_kv_t *kv, const char *const *names, size_t n, unsigned flags, MDB_dbi *out,
                struct tsr_error *err);

/* The body of a write transaction. It may run more than once (after the
 * map grew), each time on a fresh transaction, so it must reset any result
 * it accumulates outside the transaction at its start. Returns 0 to commit,
 * an MDB_* code or a negative TSR_E* code to abort. */
typedef int (*tsr_kv_write_fn)(MDB_txn *txn, void *arg);

/* Runs fn in a write transaction and commits. On MDB_MAP_FULL (from fn or
 * the commit) aborts, grows the map by one step and runs fn again; when the
 * map is at its maximum returns TSR_EFULL with nothing written. Other LMDB
 * errors return TSR_ESTORE (the LMDB code is in *mdb_rc if not NULL);
 * negative codes from fn are returned as they are. Only one thread of the
 * process may write, and no read transaction may be open in this process
 * while the map grows (the caller's threading rule). */
int tsr_kv_write(tsr_kv_t *kv, tsr_kv_write_fn fn, void *arg, int *mdb_rc);

/* Current map size and bytes used (last page * page size). */
int tsr_kv_usage(tsr_kv_t *kv, size_t *map_size, size_t *used);

/* TSR_E* code for an MDB_* return code (0 stays 0). */
int tsr_kv_code(int mdb_rc);

#endif
