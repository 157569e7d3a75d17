/* store_int.h - what the store's files share and nothing else includes:
 * the databases, the store's state, the ingest log's entry types, and the
 * helpers more than one of them calls (store.c: records, keys, counters,
 * open; store_read.c: reads for queries; store_log.c: the ingest log and
 * submits; store_pend.c: its waiting entries' view; store_decide.c:
 * outcomes; store_probe.c: the link probe; store_apply.c: applying the
 * log; store_audit.c; store_retention.c). Layout in docs/STORAGE.md. */
#ifndef TESSERA_STORE_INT_H
#define TESSERA_STORE_INT_H

#include <stdatomic.h>

#include "linkage.h"
#include "spikes.h"
#include "store.h"
#include "tessera/kv.h"
#include "tessera/token.h"
#include "trends.h"

enum {
    S_RECORDS,
    S_BY_AREA_DAY,
    S_BY_TOKEN,
    S_TOMBSTONES,
    S_COUNTERS,
    S_AGENCIES,
    S_AUDIT,
    S_LOG,
    S_META,
    S_UPSTREAM, /* federation: applied changes to forward (store_upstream.c) */
    S_NDBS
};

/* meta: the network key id pinned when no key_ids are configured: u32 key
 * id, u64 unix seconds (both LE), then the id of the agency whose record
 * brought it. */
#define S_META_NETKEY "network_key_id"
/* meta: u64 (LE), the highest log sequence whose effects are in the main
 * environment; written in the same transaction as those effects. */
#define S_META_APPLIED "applied"

/* meta: the last upstream queue sequence acknowledged (u64 BE). */
#define S_META_UPSTREAM "upstream_acked"
/* meta: the backfill of the upstream queue (store_upstream.c): while it
 * runs, the last record id passed and `applied` then (u64 BE); one byte 1
 * once it is done. */
#define S_META_BACKFILL "upstream_backfill"

#define S_RECORD_FORMAT 1

/* meta: the store's format, u32 LE (TSR_STORE_FORMAT; store_version.c). */
#define S_META_FORMAT "format_version"

/* The names of the databases S_RECORDS..S_META. */
extern const char *const tsr_store_db_names[S_NDBS];

#define S_TALLY_MAX 64

/* Threads (docs/STORAGE.md, "Two environments, one writer each"): the
 * loop thread submits (writes the log environment, reads main), trims and
 * reads for queries; the apply thread applies (writes main, reads the
 * log). What each field belongs to is said beside it; the apply thread's
 * fields are also used by the loop thread while it holds the applier
 * paused (applier.h), never at the same time. */
struct tsr_store {
    tsr_kv_t *kv;       /* main: records, indexes, clusters, series */
    tsr_kv_t *log_kv;   /* log: ingest_log */
    tsr_kv_t *audit_kv; /* audit: the audit log (store_audit.c) */
    /* ENVDIR/backup.lock (TSR_STORE_BACKUP_LOCK): a backup holds it
     * exclusive while it copies; a trim holds it shared, or skips (store_log.c),
     * so no applied entry leaves the log between the backup's copy of main
     * and its copy of the log. -1: not opened (trims go on unguarded). */
    int backup_fd;
    MDB_dbi dbi[S_NDBS];
    MDB_dbi log_dbi; /* ingest_log in log_kv (dbi[S_LOG] is main's, from before: upgrade) */
    /* In log_kv, written by submits: the outcome counters (batches,
     * accepted, duplicates, replaced, retracted, rejected:*, agency:*),
     * which main's `counters` adds to (tsr_store_counter), and the pinned
     * network key id. */
    MDB_dbi log_counters, log_meta;
    /* In audit_kv: the audit log and its own counters (audit_purged,
     * written with the purge). dbi[S_AUDIT] is main's, from before
     * (format 2), emptied into audit_kv at open. */
    MDB_dbi audit_dbi, audit_counters;
    tsr_link_t *link;     /* apply thread */
    tsr_spikes_t *spikes; /* apply thread */
    tsr_ckm_keyer_t *keyer;      /* records' cell keys: apply thread */
    tsr_ckm_keyer_t *read_keyer; /* the same keys, for the loop thread's reads */
    int retention_months;
    uint32_t format; /* recorded in meta (store_version.c); 3 once the audit log moved */
    int drain_ms; /* tsr_store_opts_t.drain_ms */
    bool upstream; /* tsr_store_opts_t.upstream */
    /* Network keys (tsr_store_opts_t.network_keys): configured, else pinned. */
    tsr_netkeys_t keys;
    bool configured, pinned;
    tsr_netkey_id_t pin;
    bool pin_pending; /* the running transaction pins pin_new */
    uint32_t pin_new;
    char pin_agency[TSR_CLIENT_ID_MAX];
    /* Counter changes of the running main transaction (apply thread),
     * written once at its end: a get and a put per counter per record would
     * cost more than the record. */
    struct {
        char name[TSR_CLIENT_ID_MAX + 16];
        int64_t delta;
    } tally[S_TALLY_MAX];
    int ntally;
    /* The ingest log (store_log.c; pend: store_pend.c), loop thread. */
    uint64_t log_next;  /* sequence of the next entry */
    uint64_t log_first; /* no entry below this is left in the log (trim) */
    void *pend;         /* tsearch(3) tree of tsr_store_fate_t by record id */
    size_t pend_n;
    bool pend_valid; /* false: rebuild from the log before use */
    /* The apply (store_apply.c): applied is the apply thread's own copy;
     * applied_pub is what it publishes after each commit returned, for
     * the loop thread (trim below it, answer queries waiting for it). */
    uint64_t applied;
    _Atomic uint64_t applied_pub;
    _Atomic uint64_t logged_pub; /* the last committed log sequence, from the loop thread */
    /* The link probe (store_probe.c): submits leaving at most probe_max
     * entries waiting check whether one may link; link_pub is the last
     * entry of the last submit that found one (loop thread writes). */
    size_t probe_max;
    _Atomic uint64_t link_pub;
};

/* --- the ingest log's entries (store_log.c) --- */

/* An entry is a record change, nothing else: the outcome counters and a
 * pinned network key id are written to the log environment's own
 * `counters` and `meta` in the submit's transaction (docs/STORAGE.md,
 * "Submit"). 3 and 4 were reserved for them in the first design and never
 * written; a parser meeting them reports the entry damaged. */
enum { S_LOG_INCIDENT = 1, S_LOG_RETRACTION = 2 };
enum { S_FATE_NONE = 0, S_FATE_STORED, S_FATE_TOMBSTONE };

/* What the store holds (or will, once the log is applied) for a record id. */
typedef struct tsr_store_fate {
    uint8_t rid[TSR_RECORD_ID_LEN];
    uint8_t kind; /* S_FATE_* */
    uint32_t version;
    uint64_t seq; /* the log entry that made it so */
    char agency[TSR_CLIENT_ID_MAX];
} tsr_store_fate_t;

/* Largest packed record (tsr_store_pack): fixed fields (67 bytes; 128
 * allowed) and the agency id, then per token its kind, key id and token. */
#define S_PACK_MAX                                                                                 \
    (128 + TSR_CLIENT_ID_MAX + TSR_MAX_TOKENS * (1 + TSR_KIND_MAX + 4 + TSR_TOKEN_LEN))
/* Largest log value: op, record id, a packed record. */
#define S_LOG_VALUE_MAX (1 + TSR_RECORD_ID_LEN + S_PACK_MAX)

/* --- shared helpers --- */

/* Logs a failed write transaction: what was lost or kept, the code's name
 * and, where an operator can act, what to do. */
void tsr_store_log_err(const char *module, const char *what, int rc);

/* Logs a stored value that cannot be read, naming its database and key
 * (callers hear TSR_ECORRUPT only). Returns rc. */
int tsr_store_damaged(int rc, const char *db, const void *key, size_t n);

/* A record in format 1 (the `records` value). Returns the length written,
 * 0 when cap is too small. */
size_t tsr_store_pack(uint8_t *buf, size_t cap, const tsr_incident_t *inc, const char *agency,
                      int64_t received_at);

/* Reads a format-1 record; agency (TSR_CLIENT_ID_MAX bytes) and
 * received_at may be NULL. TSR_ECORRUPT when it does not parse. */
int tsr_store_unpack(const MDB_val *v, tsr_incident_t *inc, char *agency, int64_t *received_at,
                     const uint8_t rid[TSR_RECORD_ID_LEN]);

/* The stored record rid inside txn (TSR_ENOTFOUND when absent); agency has
 * TSR_CLIENT_ID_MAX bytes. Also how linkage reads a record. */
int tsr_store_record_read(void *store, MDB_txn *txn, const uint8_t *rid, tsr_incident_t *inc,
                          char *agency);

/* Puts (put) or deletes a record's area/day and token index entries. */
int tsr_store_index(tsr_store_t *s, MDB_txn *txn, const tsr_incident_t *inc, bool put);

/* A version and an agency id: u32 (LE) + the id; a tombstone's value and
 * what a retraction's log entry carries. put returns the length (0: no
 * room); get reads it (agency: TSR_CLIENT_ID_MAX bytes). */
size_t tsr_store_va_put(uint8_t *buf, size_t cap, uint32_t version, const char *agency);
int tsr_store_va_get(const uint8_t *p, size_t n, uint32_t *version, char *agency);

int tsr_store_tombstone_get(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid, uint32_t *version,
                            char *agency);
int tsr_store_tombstone_put(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid, uint32_t version,
                            const char *agency);

/* Adds delta to a counter in this transaction's tally, written by
 * tsr_store_count_flush before the commit (a body resets s->ntally first). */
int tsr_store_count(tsr_store_t *s, MDB_txn *txn, const char *name, int64_t delta);
int tsr_store_count_flush(tsr_store_t *s, MDB_txn *txn);
/* Adds delta to the u64 counter `name` in dbi (either environment's
 * counters) now, in txn. */
int tsr_store_count_add(MDB_txn *txn, MDB_dbi dbi, const char *name, int64_t delta);

/* A write transaction that may raise alerts or change series (drain, day
 * boundary, purge, evaluation): each run of fn starts with the linkage and
 * series state reset, and its alerts are published once it committed. */
int tsr_store_write(tsr_store_t *s, tsr_kv_write_fn fn, void *arg);

/* The ingest log's waiting entries (store_pend.c): the in-memory view of
 * them rebuilt from the log in a read transaction of its own, or in txn
 * (the log environment's); emptied; one entry noted in it; one entry
 * parsed (for an incident, *packed is the record as it goes into
 * `records`). */
int tsr_store_pend_reload(tsr_store_t *s);
int tsr_store_pend_rebuild(tsr_store_t *s, MDB_txn *txn);
void tsr_store_pend_clear(tsr_store_t *s);
int tsr_store_pend_note(tsr_store_t *s, const tsr_store_fate_t *f);
int tsr_store_log_parse(const MDB_val *v, int *op, tsr_store_fate_t *f, MDB_val *packed);

/* What the store holds for rid (store_pend.c), counting the log's waiting
 * entries; txn reads main. */
int tsr_store_fate_get(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid, tsr_store_fate_t *f);

/* Submit's outcomes (store_decide.c). tsr_store_decide sets an item's
 * outcome, reason and detail against what the store holds for its record
 * (main: a read transaction on main), with agency (TSR_CLIENT_ID_MAX) what
 * an item that changes the store is stored under; items reported before
 * cutoff are past retention, and network keys are checked on today. A
 * TSR_E* code when the store cannot be read. tsr_store_count_outcomes adds
 * a decided batch to the log environment's outcome counters in txn. */
int tsr_store_decide(tsr_store_t *s, MDB_txn *main, const tsr_client_t *c, tsr_store_item_t *it,
                     int32_t cutoff, int32_t today, char *agency);
int tsr_store_count_outcomes(tsr_store_t *s, MDB_txn *txn, const tsr_store_batch_t *b);

/* The link probe (store_probe.c): whether a record of the entries a submit
 * logged, first..next (exclusive), shares a token with another record,
 * applied (main) or waiting in the log after from (txn). */
bool tsr_store_probe(tsr_store_t *s, MDB_txn *txn, MDB_txn *main, uint64_t first, uint64_t next,
                     uint64_t from);

/* Records format in meta in txn (main's), and in s->format. */
int tsr_store_format_put(tsr_store_t *s, MDB_txn *txn, uint32_t format);

/* The options of the environment beside main called name (the log, the
 * audit log): side's, with dir NULL made main's dir + "/" + name (in
 * buf), map sizes all 0 made main's, and main's read_only. */
tsr_kv_opts_t tsr_store_env_opts(const tsr_kv_opts_t *main, const tsr_kv_opts_t *side,
                                 const char *name, char *buf, size_t cap);

/* At open (store_audit.c): the audit environment (opts->dir NULL:
 * main->dir + "/audit"), and the entries main's own audit database still
 * holds (format 2) moved into it. */
int tsr_store_audit_open(tsr_store_t *s, const tsr_kv_opts_t *main, const tsr_kv_opts_t *audit,
                         struct tsr_error *err);

/* At open (store_log.c): the log environment, its next sequence and the
 * pending view; after tsr_store_applied_read. */
int tsr_store_log_open(tsr_store_t *s, const tsr_kv_opts_t *main, const tsr_kv_opts_t *log,
                       struct tsr_error *err);

/* At open (store_apply.c): reads `applied`, then applies what a store from
 * before the log environment left in main's own ingest_log (upgrade). */
int tsr_store_applied_read(tsr_store_t *s, int64_t now);


/* Checks the store's format at open (store_version.c): records it in a new
 * store, migrates an older one, refuses a newer one (err says so). */
int tsr_store_format_open(tsr_store_t *s, const char *dir, struct tsr_error *err);

/* Federation (store_upstream.c): queues one applied change for the
 * collector upstream inside txn, the transaction that applies it, when the
 * store has an upstream (else a no-op). entry is in the ingest log's
 * format: an incident as it is stored, or a retraction with its version
 * and agency (tsr_store_upstream_retraction builds one). */
int tsr_store_upstream_queue(tsr_store_t *s, MDB_txn *txn, const MDB_val *entry);
/* With an upstream: queues every record the store holds, once in its life
 * (a collector given an [upstream] after it held records), resuming where
 * a crash left it (store_upstream.c says what is left out and why). At
 * open, before the apply thread starts; now in unix seconds. */
int tsr_store_upstream_backfill(tsr_store_t *s, int64_t now);
/* A purged record as a retraction of its version, queued the same way. */
int tsr_store_upstream_retraction(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid,
                                  uint32_t version, const char *agency);

/* Applies the whole log (store_apply.c), in transactions of
 * TSR_STORE_DRAIN_MAX entries; one call at least (it counts the log again
 * after a failed submit). */
int tsr_store_drain_all(tsr_store_t *s, int64_t now);

#endif
