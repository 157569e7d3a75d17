/* kv.h - LMDB behind a small API: open an environment, run transactions
 * that grow the map when it is full, and read and write through calls that
 * speak TSR_E* only.
 *
 * Both the collector (records, indexes, alerts) and the agent (outbox) keep
 * their state in LMDB through this module. They use LMDB's types
 * (MDB_txn, MDB_dbi, MDB_val, MDB_cursor) and flags (MDB_APPEND,
 * MDB_SET_RANGE...) as they are, but call LMDB only through the functions
 * below.
 *
 * Errors: this module is the boundary, as in Knot DNS and libgit2. Every
 * function here returns 0 or a negative TSR_E* code, never an MDB_* code or
 * an errno value, so nothing above it needs LMDB's numbers or tells codes
 * apart by their range. tsr_kv_err() is the one translation:
 *
 *   MDB_NOTFOUND                      TSR_ENOTFOUND  (a key, or a cursor's end)
 *   MDB_KEYEXIST                      TSR_EEXIST     (MDB_NOOVERWRITE)
 *   MDB_MAP_FULL                      TSR_EMAPFULL   (tsr_kv_write grows the map)
 *   MDB_CORRUPTED, MDB_PAGE_NOTFOUND,
 *   MDB_INVALID, MDB_VERSION_MISMATCH,
 *   MDB_PANIC                         TSR_ECORRUPT
 *   MDB_MAP_RESIZED, EAGAIN, EBUSY    TSR_EAGAIN
 *   ENOSPC, EDQUOT                    TSR_ENOSPC
 *   ENOMEM                            TSR_ENOMEM
 *   EACCES, EPERM, EROFS              TSR_EPERM
 *   other MDB_* codes                 TSR_ESTORE     (LMDB's limits and misuse)
 *   other errno values                TSR_EIO
 *
 * Where a code keeps less than LMDB said (TSR_ESTORE, TSR_EIO,
 * TSR_ECORRUPT), the call that met it logs LMDB's words once, as
 * "kv: mdb_put: MDB_TXN_FULL: Transaction has too many dirty pages".
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

/* The TSR_E* code for an MDB_* code or an errno value (0 stays 0); the
 * table above. Pure: logs nothing. */
int tsr_kv_err(int mdb_rc);

/* Opens (creating) the environment. Returns 0, or a TSR_E* code with err
 * naming the directory and LMDB's reason. The caller owns *out. */
int tsr_kv_open(tsr_kv_t **out, const tsr_kv_opts_t *opts, struct tsr_error *err);

/* Closes the environment (no transaction may be open); NULLs *kv_p. */
void tsr_kv_close(tsr_kv_t **kv_p);

/* The LMDB environment, for tests and inspection tools that read or damage
 * a store on purpose. The code of the collector and the agent does not use
 * it: what it calls on an environment is here. */
MDB_env *tsr_kv_env(tsr_kv_t *kv);

/* Opens (creating unless read-only) the named databases names[0..n) into
 * out[0..n), with extra flags (MDB_DUPSORT, MDB_INTEGERKEY...), in one
 * transaction. Call at start-up, before other transactions. A database
 * missing from a read-only environment is TSR_ENOTFOUND, with err's field
 * naming it. */
int tsr_kv_dbis(tsr_kv_t *kv, const char *const *names, size_t n, unsigned flags, MDB_dbi *out,
                struct tsr_error *err);

/* --- transactions --- */

/* The body of a write transaction. It may run more than once (after the
 * map grew), each time on a fresh transaction, so it must reset any result
 * it accumulates outside the transaction at its start. Returns 0 to
 * commit, or a negative TSR_E* code to abort (TSR_EMAPFULL, as the calls
 * below return it, makes tsr_kv_write grow the map and run it again). */
typedef int (*tsr_kv_write_fn)(MDB_txn *txn, void *arg);

/* Runs fn in a write transaction and commits. When fn or the commit meets
 * a full map, aborts, grows the map by one step and runs fn again; when the
 * map is at its maximum returns TSR_EFULL with nothing written. Other
 * errors (fn's own codes included) abort and are returned as they are:
 * TSR_ENOSPC when the disk is full, TSR_ECORRUPT, TSR_EIO, TSR_ESTORE...
 * Threads: every transaction begun here (tsr_kv_write, tsr_kv_read,
 * tsr_kv_read_begin) holds the environment's growth lock shared, and a
 * growth takes it exclusive, so the map grows with no transaction of the
 * environment open in the process, whichever thread hit the full map. LMDB
 * lets one write transaction run at a time; a second thread's waits. A
 * transaction nested in another of the same environment in one thread
 * does not grow the map itself: it returns TSR_EMAPFULL, which the outer
 * body returns, and the outer tsr_kv_write grows it. A body that opens a
 * transaction of another environment ends it before returning. */
int tsr_kv_write(tsr_kv_t *kv, tsr_kv_write_fn fn, void *arg);

/* The body of a read transaction: returns 0 or a negative TSR_E* code,
 * which tsr_kv_read returns. What it read is valid only inside it. */
typedef int (*tsr_kv_read_fn)(MDB_txn *txn, void *arg);

/* Runs fn in a read-only transaction and ends it, whatever fn returns.
 * Returns the code of the transaction's start, or fn's. The way to read:
 * one place begins and ends every read, so none is left open (a read open
 * in this process stops the map from growing). */
int tsr_kv_read(tsr_kv_t *kv, tsr_kv_read_fn fn, void *arg);

/* Begins a read-only transaction into *txn (NULL on error); end it with
 * tsr_kv_read_end(). For tests and tools; the daemons use tsr_kv_read. */
int tsr_kv_read_begin(tsr_kv_t *kv, MDB_txn **txn);

/* Ends a read-only transaction (NULL is allowed). */
void tsr_kv_read_end(MDB_txn *txn);

/* --- reads and writes inside a transaction ---
 * Each is LMDB's call of the same name (mdb_get, mdb_put...) with its
 * code translated. A value read is valid until the next write in the
 * transaction or its end. */

/* TSR_ENOTFOUND when key is absent. */
int tsr_kv_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val);

/* flags: 0, MDB_APPEND, MDB_NOOVERWRITE (TSR_EEXIST when key is there). */
int tsr_kv_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *val, unsigned flags);

/* TSR_ENOTFOUND when key is absent. */
int tsr_kv_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key);

/* Empties dbi (mdb_drop with del 0): its pages go to the free list, so
 * the transaction stays small however many entries it held. */
int tsr_kv_empty(MDB_txn *txn, MDB_dbi dbi);
/* The number of entries of dbi. */
int tsr_kv_entries(MDB_txn *txn, MDB_dbi dbi, size_t *entries);

/* A cursor on dbi, closed by tsr_kv_cursor_close() before its transaction ends. */
int tsr_kv_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **c);

/* TSR_ENOTFOUND at the end (MDB_NEXT), past the last key (MDB_SET_RANGE)
 * or in an empty database (MDB_FIRST, MDB_LAST). */
int tsr_kv_cursor_get(MDB_cursor *c, MDB_val *key, MDB_val *val, MDB_cursor_op op);

/* flags: 0 or MDB_CURRENT (replaces the entry under the cursor). */
int tsr_kv_cursor_put(MDB_cursor *c, MDB_val *key, MDB_val *val, unsigned flags);

/* Deletes the entry under the cursor. */
int tsr_kv_cursor_del(MDB_cursor *c);

/* NULL is allowed. */
void tsr_kv_cursor_close(MDB_cursor *c);

/* A consistent, compacted copy of the environment into the directory
 * to_dir (which must exist and hold no data.mdb): LMDB's mdb_env_copy2
 * with MDB_CP_COMPACT, in one read transaction, so the copy is the store as
 * one commit left it while writers go on. Works on an environment opened
 * read-only beside the process that writes it; when that process has grown
 * the map since, the mapping is adopted and the copy tried again. */
int tsr_kv_copy(tsr_kv_t *kv, const char *to_dir);

/* Current map size and bytes used (last page * page size). Holds the
 * growth lock shared, like a transaction: safe beside a growth in another
 * thread. */
int tsr_kv_usage(tsr_kv_t *kv, size_t *map_size, size_t *used);

#endif
