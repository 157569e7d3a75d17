/* linkage.h - clusters of records that share offender tokens, kept in LMDB
 * inside the store's write transaction, and the linkage alerts they raise
 * (DESIGN section 7; layout in docs/STORAGE.md, rules in docs/DETECTION.md).
 *
 * The graph: a record is linked to the tokens it carries, a token to the
 * records that carry it. Its connected components are clusters. A record
 * that shares no token with another is not stored as a cluster (most are
 * like that; the token index already says it is alone). Every other record
 * and each of its tokens maps to its cluster's id, and the cluster keeps its
 * members and a summary (records, areas and agencies with counts, what has
 * been alerted already). Invariant: a token carried by two records is
 * mapped; a record with a mapped token has all its tokens mapped.
 *
 *  - A new record joins the cluster of its tokens; when its tokens sit in
 *    several clusters they merge into the largest (members of the smaller
 *    ones are relabelled: each record moves O(log n) times at most).
 *  - A removed record (retraction, or an update that drops a token) may cut
 *    its cluster in two: a search from one of its remaining tokens that does
 *    not reach the others proves the split, and every piece gets its own
 *    cluster (the largest keeps the id).
 *  - At the end of the transaction each cluster touched is compared with what
 *    was last alerted: an alert when it first spans two areas or two
 *    agencies, and again for a new area, victims reaching 3, 5, 10, 20, 50,
 *    100, or two alerted clusters joining. Alerts are appended to a
 *    sequenced log in the same transaction.
 *
 * Single writer: the functions taking a write transaction are called from the
 * store's apply only. Read functions take any transaction.
 */
#ifndef TESSERA_LINKAGE_H
#define TESSERA_LINKAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/kv.h"
#include "tessera/record.h"
#include "tessera/wire.h"

struct tsr_error;

typedef struct tsr_link tsr_link_t;

/* Reads the stored record rid (inside txn) into inc and its agency id
 * (TSR_CLIENT_ID_MAX). Returns 0, TSR_ENOTFOUND or another TSR_E* code
 * (TSR_ECORRUPT: the stored record cannot be read). */
typedef int (*tsr_link_get_fn)(void *ctx, MDB_txn *txn, const uint8_t *rid, tsr_incident_t *inc,
                               char *agency);

/* One committed alert, encoded as a whole Envelope (what the PUB socket
 * sends). */
typedef struct tsr_link_published {
    uint64_t seq;
    int kind; /* TSR_ALERT_*: the stream sends only some kinds */
    uint8_t *buf;
    size_t len;
} tsr_link_published_t;

/* Opens the linkage databases. by_token is the store's token index (token +
 * record id -> kind), read to walk the graph. */
int tsr_link_open(tsr_link_t **out, tsr_kv_t *kv, MDB_dbi by_token, tsr_link_get_fn get,
                  void *get_ctx, struct tsr_error *err);
void tsr_link_close(tsr_link_t **l_p);

/* Turns linkage on or off (on by default; the benchmark measures its cost). */
void tsr_link_enable(tsr_link_t *l, bool on);
bool tsr_link_enabled(const tsr_link_t *l);

/* Whether a record other than inc carries one of inc's tokens in txn
 * (any transaction of the main environment: 1 yes, 0 no, or a TSR_E* code).
 * Linkage read-only, any thread: the submit asks it of the records it logs,
 * so that a step that may raise a linkage alert runs at once. */
int tsr_link_shares_token(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *inc);

/* Start of a write transaction's body (it may run again after the map grew). */
void tsr_link_begin(tsr_link_t *l);

/* A record was stored (its record and token-index entries are in txn). */
int tsr_link_add(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *inc, const char *agency);

/* A record was removed (record and token-index entries already deleted);
 * old is what was stored. */
int tsr_link_remove(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *old, const char *agency);

/* A record was replaced: old out, new in; the index entries are the new ones. */
int tsr_link_update(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *old,
                    const tsr_incident_t *inc, const char *agency);

/* End of the body: raises the alerts of every cluster touched and appends
 * them to the log. now = unix seconds. */
int tsr_link_finish(tsr_link_t *l, MDB_txn *txn, int64_t now);

/* Appends an alert of any kind to the log in txn: sets a->seq, and queues it
 * for publishing after the commit. */
int tsr_link_append(tsr_link_t *l, MDB_txn *txn, tsr_alert_t *a);

/* After a transaction that appended alerts committed: they are published. */
void tsr_link_committed(tsr_link_t *l);

/* The alerts committed since the last call, oldest first, valid until the
 * next call or the next alert appended (the list may move). A transaction
 * that did not commit adds none. */
const tsr_link_published_t *tsr_link_published(tsr_link_t *l, size_t *n);

/* Retention: removes the record ids ids[0..n) (sorted) from every alert in
 * the log; the alerts themselves stay. *changed = alerts rewritten. */
int tsr_link_scrub(tsr_link_t *l, MDB_txn *txn, const uint8_t (*ids)[TSR_RECORD_ID_LEN], size_t n,
                   size_t *changed);

/* --- reads ---------------------------------------------------------------- */

/* Which alerts a reader may have; NULL = all. */
typedef bool (*tsr_alert_filter_fn)(void *ctx, const tsr_alert_t *a);

/* Alerts with seq > since that want() accepts (at most max), and the
 * highest seq in the log, into resp (alerts, n_alerts, last_seq). */
/* The alert kinds TSR_ALERT_LINKAGE..TSR_ALERT_CROSS_AREA (wire.h). */
#define TSR_ALERT_KINDS 3

/* "linkage", "spike" or "cross_area": the kind= of log lines and metrics. */
const char *tsr_link_kind_name(int kind);

/* How many alerts of each kind the log has raised, counts[kind] (counts[0]
 * = 0), counted in the transaction that appends each (store format 2). */
int tsr_link_alert_counts(tsr_link_t *l, MDB_txn *txn, uint64_t counts[TSR_ALERT_KINDS + 1]);

/* The last alert sequence handed out (0: none yet); the next alert gets
 * the one after it, whatever was purged. */
int tsr_link_last_seq(tsr_link_t *l, MDB_txn *txn, uint64_t *seq);

/* Sets link_meta's sequence `name` ("alert", "cluster") to v: the next
 * number it gives is v + 1. */
int tsr_link_seq_set(tsr_link_t *l, MDB_txn *txn, const char *name, uint64_t v);

/* Sets those counts from the alerts in the log (the migration from store
 * format 1, which did not count them). */
int tsr_link_alert_recount(tsr_link_t *l, MDB_txn *txn);

int tsr_link_alerts(tsr_link_t *l, MDB_txn *txn, uint64_t since, uint32_t max,
                    tsr_alert_filter_fn want, void *want_ctx, tsr_response_t *resp);

/* Cluster of a record into *cid (0 when it has none: it shares no token,
 * or is unknown). Returns 0 or a TSR_E* code (the map cannot be read). */
int tsr_link_record_cluster(tsr_link_t *l, MDB_txn *txn, const uint8_t *rid, uint64_t *cid);

/* The cluster's records, in record id order: resp->records (TSR_ENOTFOUND
 * when there is no such cluster). */
int tsr_link_cluster(tsr_link_t *l, MDB_txn *txn, uint64_t cid, tsr_response_t *resp);

/* What is known of the first of tokens that is known: resp->known,
 * cluster_id (0 for a token of one record that shares nothing),
 * cluster_records, areas, agencies, record_ids, first/last day. */
int tsr_link_lookup(tsr_link_t *l, MDB_txn *txn, const tsr_token_t *tokens, size_t n,
                    tsr_response_t *resp);

#endif
