/* store.h - the collector's LMDB store: records, their indexes, tombstones
 * and counters (layout in docs/STORAGE.md).
 *
 * tsr_store_submit() takes many agents' batches in ONE write transaction
 * (group commit) that appends them to the ingest log, and fills each item's
 * outcome only for a committed transaction: the caller acknowledges after it
 * returns 0, never before. tsr_store_drain() applies the log to the records
 * and everything derived from them later, in larger transactions.
 *
 * Three environments: the log (DATA_DIR/log) is written by submits and
 * trims, the main one (DATA_DIR/db) by drains, evaluations, the day
 * boundary and purges, the audit one (DATA_DIR/audit) by audit entries and
 * the audit purge. Threads: one thread (the loop) may submit, trim and
 * read while one other (the apply thread, applier.h) drains and writes
 * the rest; never two threads for one of these roles, and the apply
 * thread's calls run in one thread at a time (the applier's pause). The
 * audit calls may run in any thread, beside the others (LMDB serialises
 * their commits). tsr_store_logged, tsr_store_applied and
 * tsr_store_last_logged may be called from any thread.
 */
#ifndef TESSERA_STORE_H
#define TESSERA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/auth.h"
#include "tessera/ckm.h"
#include "tessera/kv.h"
#include "tessera/record.h"
#include "tessera/wire.h"
#include "linkage.h"
#include "spikes.h"

struct tsr_error;

typedef struct tsr_store tsr_store_t;

/* Outcome of one submitted item; numbers match nothing on the wire. */
typedef enum {
    TSR_OUTCOME_NONE = 0,
    TSR_OUTCOME_ACCEPTED,   /* a new record stored */
    TSR_OUTCOME_DUPLICATE,  /* same (or older) version already stored, or already retracted */
    TSR_OUTCOME_REPLACED,   /* a higher version replaced the stored one */
    TSR_OUTCOME_RETRACTED,  /* a retraction applied (or recorded as a tombstone) */
    TSR_OUTCOME_REJECTED,   /* see reason and detail */
} tsr_outcome_t;

/* Rejection reasons; equal to the wire enum RejectReason. */
enum {
    TSR_REJECT_INVALID_FIELD = 1,
    TSR_REJECT_AREA_NOT_BOUND = 2,
    TSR_REJECT_BAD_TOKEN = 3,
    TSR_REJECT_STALE_VERSION = 4,
    TSR_REJECT_UNKNOWN_RECORD = 5,
    TSR_REJECT_NOT_PERMITTED = 6,
    TSR_REJECT_WRONG_NETWORK_KEY = 7,
    TSR_REJECT_PAST_RETENTION = 8, /* reported before the retention period */
};

/* One incident or retraction from an authenticated agent. */
typedef struct tsr_store_item {
    /* in */
    const tsr_incident_t *incident;   /* NULL for a retraction */
    uint8_t record_id[TSR_RECORD_ID_LEN]; /* retraction: the record */
    uint32_t version;                 /* retraction: retracts versions <= this */
    /* retraction from a relay: the agency it names (an incident's is
     * incident->agency_id); "" otherwise */
    char agency_id[TSR_AGENCY_ID_MAX];
    /* the relay's forward mode its batch said (TSR_FORWARD_*; 0 from an
     * agent): a relay's records are counted by mode ("relay:ID:records",
     * "relay:ID:linkage"), and a linkage-only record with a profile refused */
    int forward;
    int pre_reason;                   /* rejected already by the decoder (0 = valid) */
    char pre_detail[128];
    /* out */
    tsr_outcome_t outcome;
    int reason;
    char detail[128];
} tsr_store_item_t;

/* All items of one batch from one agent or relay. A relay's items are
 * stored under "RELAY/AGENCY" (the relay's id, then the agency id each
 * names), only for the relay's bound areas; an agent's under its own id,
 * and an agent that names an agency is refused (NOT_PERMITTED). */
typedef struct tsr_store_batch {
    const tsr_client_t *client;       /* authenticated peer (id, role, areas) */
    tsr_store_item_t *items;
    size_t n_items;
} tsr_store_batch_t;

typedef struct tsr_store_opts {
    tsr_kv_opts_t kv;
    /* The log environment; dir NULL: kv.dir + "/log"; map sizes all 0:
     * kv's. read_only follows kv's. */
    tsr_kv_opts_t log_kv;
    /* The audit environment; dir NULL: kv.dir + "/audit"; map sizes all 0:
     * kv's. read_only follows kv's. */
    tsr_kv_opts_t audit_kv;
    bool spikes_set;          /* use .spikes; else the defaults */
    int retention_months;     /* refuse and purge records reported longer ago; 0 = keep all */
    /* A drain stops taking log entries once it has run this long and
     * commits what it applied (at least one entry): the bound, in time, of
     * what an Ack waiting behind a drain waits for. 0 = no bound in time. */
    int drain_ms;
    tsr_spikes_opts_t spikes;
    /* The network key ids whose tokens are accepted (netkeys.h). With none
     * (n = 0) the first key id a record brings to tsr_store_submit is
     * pinned in the store, loudly, and is the only one accepted from then
     * on: a record under another key would link nothing, silently. */
    tsr_netkeys_t network_keys;
    /* The cell-key secret a new store is made with (NULL: random). A store
     * that holds another refuses to open with it. Tests use this to build
     * two stores that must end byte for byte the same. */
    const uint8_t *ckm_secret;
    /* Federation (docs/FEDERATION.md): every record change a drain or a
     * purge applies is also queued for the collector upstream, in the same
     * transaction (tsr_store_upstream_*). Off: nothing is queued. */
    bool upstream;
} tsr_store_opts_t;

/* The store's format (docs/STORAGE.md, "Format versions"): recorded in
 * meta; a store without one is format 1. tsr_store_open migrates an older
 * store in one transaction and refuses a newer one (TSR_ERANGE, err
 * naming both versions). */
#define TSR_STORE_FORMAT 3

/* What a backup's manifest says of a store. */
typedef struct tsr_store_summary {
    uint32_t format;     /* 1 when the store records none */
    uint64_t records;    /* stored records (the counter "records") */
    size_t logged;       /* acknowledged entries waiting in the ingest log */
    uint64_t last_alert; /* last alert sequence handed out */
} tsr_store_summary_t;

/* Reads the summary of the store in envdir, opened read-only beside a
 * collector that may be writing it. err names the directory and why. */
int tsr_store_summary(const char *envdir, tsr_store_summary_t *out, struct tsr_error *err);

/* Numbers the store's next alert after `after` at least (the alert
 * sequence only ever rises): a restored store whose old collector went on
 * alerting after the backup must not hand those numbers out again. Opens
 * envdir itself (no collector may have it open). *last = the last
 * sequence now. */
int tsr_store_alerts_after(const char *envdir, uint64_t after, uint64_t *last,
                           struct tsr_error *err);

/* Alerts raised, by kind: counts[TSR_ALERT_LINKAGE...] (linkage.h). */
int tsr_store_alert_counts(tsr_store_t *s, uint64_t counts[TSR_ALERT_KINDS + 1]);

/* In the main environment's directory: the lock a hot backup holds while
 * it copies main, then the log (collector/backup.c); trims wait for it. */
#define TSR_STORE_BACKUP_LOCK "backup.lock"

/* Opens (creating) the store. Returns 0 or a TSR_E* code with err filled. */
int tsr_store_open(tsr_store_t **out, const tsr_store_opts_t *opts, struct tsr_error *err);
void tsr_store_close(tsr_store_t **s_p);

/* Most entries the ingest log may hold: tsr_store_submit answers TSR_EFULL
 * beyond it, so a log that cannot drain (map at its maximum) stops ingest
 * instead of growing without bound. */
#define TSR_STORE_LOG_MAX 100000
/* Most log entries one tsr_store_drain transaction applies by default. */
#define TSR_STORE_DRAIN_MAX 20000

/* Decides every item's outcome and appends what changes the store to the
 * ingest log, all batches in one transaction, growing the map if needed. On
 * 0 every item has its outcome and the transaction is durable: acknowledge.
 * The records, indexes, clusters and series follow at tsr_store_drain().
 * TSR_EFULL: the map is at its maximum, or the log is at TSR_STORE_LOG_MAX,
 * and nothing was written (answer RETRY_LATER). Other negative codes:
 * nothing was written. now = unix seconds. */
int tsr_store_submit(tsr_store_t *s, tsr_store_batch_t *batches, size_t n, int64_t now);

/* Entries of the ingest log not yet applied (any thread). */
size_t tsr_store_logged(const tsr_store_t *s);

/* The sequence of the last entry committed to the log, and of the last one
 * whose effects are committed in main (any thread). A query that arrives
 * when the first is S sees every acknowledged record once the second is S. */
uint64_t tsr_store_last_logged(const tsr_store_t *s);
uint64_t tsr_store_applied(const tsr_store_t *s);

/* The link probe: after a submit that leaves at most max entries waiting
 * (0, the default: never), whether one of its records shares a token with
 * another record, stored or waiting; tsr_store_link_waiting says so (any
 * thread) until the log is applied past that submit. The apply thread then
 * steps at once: the record may raise a linkage alert. Set before the
 * first submit. */
void tsr_store_link_probe(tsr_store_t *s, size_t max);
bool tsr_store_link_waiting(const tsr_store_t *s);

/* Deletes up to max (0: all) applied entries from the log, in a
 * transaction of the log environment (submits also delete up to 1,000 in
 * theirs). Loop thread. */
int tsr_store_trim(tsr_store_t *s, size_t max);
/* Whether the log holds applied entries a trim would delete (loop thread). */
bool tsr_store_trim_due(const tsr_store_t *s);

/* Applies up to max (0 = all) waiting log entries, oldest first, in one
 * transaction of main that also records how far the log is applied
 * (`applied`), taking no more once it has run tsr_store_opts_t.drain_ms;
 * *applied = how many. The log's entries stay until a trim. Publish
 * tsr_store_published() after it returns 0. On error nothing was applied
 * and the log is kept for the next try. Apply thread. */
int tsr_store_drain(tsr_store_t *s, size_t max, int64_t now, size_t *applied);

/* Applies the whole log, step after step (each bounded as a drain is);
 * publish tsr_store_published() after it returns (0 or not: the steps
 * before a failure committed). Apply thread, or with it paused. */
int tsr_store_drain_all(tsr_store_t *s, int64_t now);

/* tsr_store_submit, then tsr_store_drain until the log is empty: on 0 the
 * store reflects every item. A drain error is returned as it is; the items
 * are then in the log, durable, and have their outcomes. */
int tsr_store_apply(tsr_store_t *s, tsr_store_batch_t *batches, size_t n, int64_t now);

/* The network keys accepted on day into *out: the configured ones not past
 * their end, or the pinned one, or none (nothing pinned yet). *pinned (may
 * be NULL) says whether *out is the pin. */
void tsr_store_network_keys(const tsr_store_t *s, int32_t day, tsr_netkeys_t *out, bool *pinned);

/* Counter by name ("records", "batches", "rejected:area_not_bound" ...);
 * 0 if never counted. */
uint64_t tsr_store_counter(tsr_store_t *s, const char *name);

/* Calls fn for every counter in name order. */
int tsr_store_counters(tsr_store_t *s, void (*fn)(void *ctx, const char *name, uint64_t v),
                       void *ctx);

/* Reads a stored record: fills inc, agency_id (TSR_CLIENT_ID_MAX) and
 * received_at. TSR_ENOTFOUND if absent. */
int tsr_store_get(tsr_store_t *s, const uint8_t record_id[TSR_RECORD_ID_LEN], tsr_incident_t *inc,
                  char *agency_id, int64_t *received_at);

/* --- linkage (linkage.h) --- */

/* Alerts committed since the last call (by drains, evaluations, the day
 * boundary, purges), oldest first, to publish; valid until the next call. */
const tsr_link_published_t *tsr_store_published(tsr_store_t *s, size_t *n);

/* Linkage on (default) or off: the ingest benchmark measures its cost. */
void tsr_store_set_linkage(tsr_store_t *s, bool on);

/* Alerts after seq `since` that want() accepts (NULL: all), at most max,
 * into resp->alerts (and resp->last_seq). */
int tsr_store_alerts(tsr_store_t *s, uint64_t since, uint32_t max, tsr_alert_filter_fn want,
                     void *want_ctx, tsr_response_t *resp);

/* A cluster's records into resp->records; TSR_ENOTFOUND if there is none. */
int tsr_store_cluster(tsr_store_t *s, uint64_t cid, tsr_response_t *resp);

/* What is known of the first known token (resp->known ...). */
int tsr_store_lookup(tsr_store_t *s, const tsr_token_t *tokens, size_t n, tsr_response_t *resp);

/* The cluster a stored record is in; 0 when none (no tokens, or unknown)
 * or when the map cannot be read (for tests). */
uint64_t tsr_store_record_cluster(tsr_store_t *s, const uint8_t rid[TSR_RECORD_ID_LEN]);

/* Spike detection on the periods that committed transactions changed, in a
 * transaction of its own (ingest never waits for it); publish
 * tsr_store_published() after it returns 0. */
bool tsr_store_pending(const tsr_store_t *s);
int tsr_store_evaluate(tsr_store_t *s, int64_t now);

/* The cross-region spike rule on or off (tsr_spikes_cross_region): the
 * collector decides at start and again on SIGHUP (docs/DETECTION.md). */
void tsr_store_cross_region(tsr_store_t *s, bool on);

/* The day boundary: evaluates the series of `day`, just closed (and of its
 * week when it is a Sunday), in one write transaction; publish
 * tsr_store_published() after it returns 0. It counts what is applied: the
 * caller has the log applied up to what was acknowledged at the boundary
 * first (the collector asks its apply thread, then pauses it). */
int tsr_store_day_closed(tsr_store_t *s, int32_t day, int64_t now);

/* Retention: the first day a record may be reported on, `months` before the
 * day of `now` (same day of the month, or the month's last). */
int32_t tsr_store_retention_cutoff(int months, int64_t now);

/* Purges every record reported before `before_day` with its index entries,
 * cluster membership and count in "records", in transactions of a few
 * thousand records, then removes their ids from the alert log (the alerts
 * stay). Count series keep their per-period counts: they hold no record, and
 * Farrington needs three years of them. *purged = records purged. Publish
 * tsr_store_published() afterwards (a purge can alert nothing new, but the
 * cluster bookkeeping runs as in ingest). */
int tsr_store_purge(tsr_store_t *s, int32_t before_day, int64_t now, uint64_t *purged);

/* A trend table for `who`, every count released through table (trends.h;
 * NULL only in benchmarks); no count in 1..k-1. */
int tsr_store_trends(tsr_store_t *s, const tsr_query_t *q, const tsr_client_t *who, unsigned k,
                     const tsr_ckm_table_t *table, tsr_response_t *resp, char *why, size_t cap);

/* The released count of the records of areas[0..n_areas) reported from
 * day `from` to `to` that pass the filters: the same value a trend table's
 * cell of those records shows (a spike alert's count, for analysts). */
int tsr_store_released(tsr_store_t *s, const char *const *areas, size_t n_areas, int32_t from,
                       int32_t to, const tsr_filter_t *filters, size_t n_filters, unsigned k,
                       const tsr_ckm_table_t *table, uint64_t *released);

/* --- audit log --- */

/* Appends one entry in its own write transaction (durable on return 0). */
int tsr_store_audit(tsr_store_t *s, const tsr_audit_entry_t *e);

/* Appends entries e[0..n), in this order, in ONE write transaction (group
 * commit: concurrent queries share one fsync); durable on return 0, and on
 * an error none is written. */
int tsr_store_audit_many(tsr_store_t *s, const tsr_audit_entry_t *const *e, size_t n);

/* Entries at or after since_time, of caller id (NULL or "" = all), oldest
 * first, at most max, into resp->audit. Fails closed: an entry that cannot
 * be read (it may be one asked for) fails the whole list with
 * TSR_ECORRUPT, and a read error with its code; err then names the entry
 * (its sequence) and why, and resp->audit is left empty. */
int tsr_store_audit_list(tsr_store_t *s, int64_t since_time, const char *id, uint32_t max,
                         tsr_response_t *resp, struct tsr_error *err);

/* Calls fn(ctx, entry) for each entry at or after since_time, newest first,
 * stopping at the first older one (entries are appended in time order; a
 * clock set back can hide entries written before it from this walk) or
 * when fn returns non-zero, which is then returned. The entry is valid
 * during the call only. An entry that cannot be read is logged, naming it,
 * and passed over (its time is unknown; at start-up it costs the daily
 * budget one uncounted query at most, where failing would stop ingest).
 * Returns 0, fn's code or a TSR_E code (a read error). */
int tsr_store_audit_each(tsr_store_t *s, int64_t since_time,
                         int (*fn)(void *ctx, const tsr_audit_entry_t *e), void *ctx);

/* Retention for the audit log: deletes the entries written before
 * before_time (unix seconds), oldest first, in transactions of up to 10,000
 * entries, stopping at the first entry kept (entries are appended in time
 * order); the counter "audit_purged" counts them in the same transactions.
 * *purged = entries deleted. An entry that cannot be read is kept, logged
 * with its sequence, and stops the purge there: TSR_ESTORE (what was
 * deleted before it stays deleted). Other codes: the transaction that
 * failed deleted nothing. */
int tsr_store_audit_purge(tsr_store_t *s, int64_t before_time, uint64_t *purged);

/* --- the upstream queue (federation, store_upstream.c) --- */

/* Up to max queued changes, oldest first, as a SubmitBatch to send
 * upstream (b->batch_id = the first entry's sequence; no record twice, so
 * the collector upstream cannot reorder two changes of one record). Each
 * incident's and retraction's agency_id is the agency id stored here. With
 * linkage_only, incidents keep only what linkage needs (tokens, area, day,
 * record id, version, and the agency type the wire requires); their
 * profile is sent as "unknown" and empty lists. *last = the sequence of the
 * last entry taken (0: none waiting). Free b with tsr_msg_clear() on a
 * message holding it, or free its arrays. */
int tsr_store_upstream_peek(tsr_store_t *s, size_t max, bool linkage_only, tsr_batch_t *b,
                            uint64_t *last);

/* forward = linkage: inc keeps only what linkage needs (as
 * tsr_store_upstream_peek sends it); what the collector upstream compares a
 * linkage-only relay's records with. */
void tsr_store_linkage_only(tsr_incident_t *inc);

/* Deletes every queued entry up to sequence last (acknowledged upstream),
 * in one transaction; *removed = how many. */
int tsr_store_upstream_done(tsr_store_t *s, uint64_t last, size_t *removed);

/* Entries waiting in the upstream queue. */
int tsr_store_upstream_waiting(tsr_store_t *s, size_t *n);

/* Clears the upstream backfill's mark in the main environment at envdir (a
 * store's DATA_DIR/db, the collector running or not), so that its next
 * start with an [upstream] sends every record held again
 * (`tessera-collector upstream-resend`); *records: how many it holds now.
 * 0, or a TSR_E* code with err naming the directory. */
int tsr_store_upstream_resend(const char *envdir, size_t *records, struct tsr_error *err);


/* The kv environments, main, log and audit (for usage figures and
 * read-only inspection). */
tsr_kv_t *tsr_store_kv(tsr_store_t *s);
tsr_kv_t *tsr_store_log_kv(tsr_store_t *s);
tsr_kv_t *tsr_store_audit_kv(tsr_store_t *s);

#endif
