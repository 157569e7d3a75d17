/* store_upstream.c - federation (issue 19, docs/FEDERATION.md): the queue of
 * applied record changes a regional collector forwards to the collector
 * upstream.
 *
 * Every change the store applies (a record accepted or replaced, a
 * retraction, a retention purge) is appended to the `upstream` database in
 * the transaction that applies it, in the ingest log's entry format, under
 * a big-endian sequence. The sender (collector/upstream.c) reads entries
 * oldest first and deletes them only once the collector upstream has
 * acknowledged them (and, once, a copy of every record held: the
 * backfill, below). After a crash the queue holds exactly the changes
 * applied and not yet acknowledged; a change sent but not yet deleted is
 * sent again, and upstream it is a duplicate (same record id and version),
 * so nothing is lost or counted twice. */
#include "bytes.h"
#include "store_int.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sequence after the queue's last entry, inside txn. */
static int s_next_seq(tsr_store_t *s, MDB_txn *txn, uint64_t *next)
{
    *next = 1;
    MDB_cursor *c;
    MDB_val k, v;
    int rc = tsr_kv_cursor_open(txn, s->dbi[S_UPSTREAM], &c);
    if (rc != 0)
        return rc;
    rc = tsr_kv_cursor_get(c, &k, &v, MDB_LAST);
    tsr_kv_cursor_close(c);
    if (rc == 0 && k.mv_size == 8) {
        *next = tsr_bytes_from_be64(k.mv_data) + 1;
        return 0;
    }
    if (rc == 0)
        return tsr_store_damaged(TSR_ECORRUPT, "upstream", k.mv_data, k.mv_size);
    if (rc != TSR_ENOTFOUND)
        return rc;
    /* empty: on from the last sequence acknowledged, so a batch id is
     * never used twice (a late Ack must not match a new batch) */
    MDB_val mk = {sizeof S_META_UPSTREAM - 1, (void *)S_META_UPSTREAM};
    rc = tsr_kv_get(txn, s->dbi[S_META], &mk, &v);
    *next = 1;
    if (rc == 0 && v.mv_size == 8)
        *next = tsr_bytes_from_be64(v.mv_data) + 1;
    return rc == 0 || rc == TSR_ENOTFOUND ? 0 : rc;
}

int tsr_store_upstream_queue(tsr_store_t *s, MDB_txn *txn, const MDB_val *entry)
{
    if (!s->upstream)
        return 0;
    uint64_t seq = 0;
    int rc = s_next_seq(s, txn, &seq);
    if (rc != 0)
        return rc;
    uint8_t key[8];
    tsr_bytes_be64(key, seq);
    MDB_val k = {sizeof key, key}, v = *entry;
    return tsr_kv_put(txn, s->dbi[S_UPSTREAM], &k, &v, MDB_APPEND);
}

int tsr_store_upstream_retraction(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid,
                                  uint32_t version, const char *agency)
{
    if (!s->upstream)
        return 0;
    uint8_t val[1 + TSR_RECORD_ID_LEN + 4 + TSR_CLIENT_ID_MAX];
    val[0] = S_LOG_RETRACTION;
    memcpy(val + 1, rid, TSR_RECORD_ID_LEN);
    size_t n = tsr_store_va_put(val + 1 + TSR_RECORD_ID_LEN, sizeof val - 1 - TSR_RECORD_ID_LEN,
                                version, agency);
    if (n == 0)
        return TSR_ERANGE; /* an agency id longer than TSR_CLIENT_ID_MAX: a bug */
    MDB_val v = {1 + TSR_RECORD_ID_LEN + n, val};
    return tsr_store_upstream_queue(s, txn, &v);
}

/* --- backfill ---------------------------------------------------------------- */

/* A collector given an [upstream] after it already held records would
 * forward only the changes it applies from then on, and the tier above
 * would never link the history: a campaign's first victims missed. So an
 * open with an upstream whose store has no finished backfill queues every
 * record held, as the accept entries the apply would have queued (op,
 * record id, the packed record as stored), before the apply thread starts:
 * every later change follows in the queue, so upstream ends at the newest
 * version. That includes stores that forwarded before this existed (some
 * joined late); what they resend is a duplicate upstream (same id and
 * version), nothing more. Tombstones are not sent (upstream never had those
 * records, or has their retraction). Records no network key accepts today
 * (a retired key's history) are skipped and counted: upstream would refuse
 * them and hold the queue, and they cannot link anyway. So are damaged ones
 * (logged). Chunks of S_BACKFILL_CHUNK records a transaction, the position
 * (the last record id passed, and `applied` then) in meta: a kill -9
 * resumes after the last chunk committed, unless changes were applied
 * meanwhile without an upstream, which starts it over. */
#define S_BACKFILL_CHUNK 4096
#define S_BACKFILL_POS (TSR_RECORD_ID_LEN + 8)

typedef struct {
    tsr_store_t *s;
    int32_t today;
    tsr_netkeys_t accepted; /* the network keys accepted today */
    tsr_incident_t *inc;    /* scratch */
    bool done;
    size_t queued, skipped_key, damaged;
} s_backfill_t;

static int s_backfill_mark(tsr_store_t *s, MDB_txn *txn, const void *val, size_t n)
{
    MDB_val k = {sizeof S_META_BACKFILL - 1, (void *)S_META_BACKFILL}, v = {n, (void *)val};
    return tsr_kv_put(txn, s->dbi[S_META], &k, &v, 0);
}

/* Where to start: 0 and *resume false from the first record, *resume true
 * after from; 1 when the backfill is done; or a TSR_E* code. */
static int s_backfill_start(tsr_store_t *s, MDB_txn *txn, uint8_t *from, bool *resume)
{
    MDB_val mk = {sizeof S_META_BACKFILL - 1, (void *)S_META_BACKFILL}, mv;
    *resume = false;
    int rc = tsr_kv_get(txn, s->dbi[S_META], &mk, &mv);
    if (rc == TSR_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (mv.mv_size == 1 && *(const uint8_t *)mv.mv_data == 1)
        return 1;
    if (mv.mv_size != S_BACKFILL_POS)
        return tsr_store_damaged(TSR_ECORRUPT, "meta", mk.mv_data, mk.mv_size);
    memcpy(from, mv.mv_data, TSR_RECORD_ID_LEN);
    /* applied since without an upstream: ids already passed may have changed */
    *resume = tsr_bytes_from_be64((const uint8_t *)mv.mv_data + TSR_RECORD_ID_LEN) == s->applied;
    return 0;
}

/* Whether the tokens of inc are under network keys this store accepts
 * today (true when it has none configured or pinned: nothing to compare). */
static bool s_backfill_keys_ok(const s_backfill_t *b, const tsr_incident_t *inc)
{
    if (b->accepted.n == 0)
        return true;
    for (size_t i = 0; i < inc->n_tokens; i++)
        if (!tsr_netkeys_accepts(&b->accepted, inc->tokens[i].key_id, b->today))
            return false;
    return true;
}

/* Queues the record (k, v) unless it is damaged or under a retired key. */
static int s_backfill_one(s_backfill_t *b, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
                          uint8_t *entry)
{
    tsr_store_t *s = b->s;
    if (k->mv_size != TSR_RECORD_ID_LEN || 1 + k->mv_size + v->mv_size > S_LOG_VALUE_MAX ||
        tsr_store_unpack(v, b->inc, NULL, NULL, k->mv_data) != 0) {
        tsr_store_damaged(TSR_ECORRUPT, "records", k->mv_data, k->mv_size); /* logs it */
        b->damaged++;
        return 0;
    }
    if (!s_backfill_keys_ok(b, b->inc)) {
        b->skipped_key++;
        return 0;
    }
    entry[0] = S_LOG_INCIDENT;
    memcpy(entry + 1, k->mv_data, TSR_RECORD_ID_LEN);
    memcpy(entry + 1 + TSR_RECORD_ID_LEN, v->mv_data, v->mv_size);
    MDB_val e = {1 + TSR_RECORD_ID_LEN + v->mv_size, entry};
    int rc = tsr_store_upstream_queue(s, txn, &e);
    b->queued += rc == 0;
    return rc;
}

/* One chunk. Idempotent: tsr_kv_write runs it again after growing the map. */
static int s_backfill_txn(MDB_txn *txn, void *arg)
{
    s_backfill_t *b = arg;
    tsr_store_t *s = b->s;
    uint8_t pos[S_BACKFILL_POS] = {0};
    bool resume;
    b->done = false;
    b->queued = b->skipped_key = b->damaged = 0;
    int rc = s_backfill_start(s, txn, pos, &resume);
    if (rc == 1) {
        b->done = true;
        return 0;
    }
    MDB_cursor *c;
    if (rc != 0 || (rc = tsr_kv_cursor_open(txn, s->dbi[S_RECORDS], &c)) != 0)
        return rc;
    MDB_val k = {TSR_RECORD_ID_LEN, pos}, v;
    rc = tsr_kv_cursor_get(c, &k, &v, resume ? MDB_SET_RANGE : MDB_FIRST);
    if (rc == 0 && resume && k.mv_size == TSR_RECORD_ID_LEN && !memcmp(k.mv_data, pos, TSR_RECORD_ID_LEN))
        rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT); /* queued by the last chunk */
    uint8_t *entry = malloc(S_LOG_VALUE_MAX);
    if (!entry)
        rc = TSR_ENOMEM;
    for (size_t n = 0; rc == 0 && n < S_BACKFILL_CHUNK; n++) {
        if ((rc = s_backfill_one(b, txn, &k, &v, entry)) != 0)
            break;
        if (k.mv_size == TSR_RECORD_ID_LEN)
            memcpy(pos, k.mv_data, TSR_RECORD_ID_LEN);
        rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT);
    }
    free(entry);
    tsr_kv_cursor_close(c);
    if (rc == TSR_ENOTFOUND) { /* every record passed */
        b->done = true;
        return s_backfill_mark(s, txn, "\1", 1);
    }
    tsr_bytes_be64(pos + TSR_RECORD_ID_LEN, s->applied);
    return rc != 0 ? rc : s_backfill_mark(s, txn, pos, sizeof pos);
}

int tsr_store_upstream_backfill(tsr_store_t *s, int64_t now)
{
    s_backfill_t b = {.s = s, .today = (int32_t)(now / 86400), .inc = malloc(sizeof *b.inc)};
    size_t queued = 0, skipped = 0, damaged = 0;
    int rc = b.inc ? 0 : TSR_ENOMEM;
    tsr_store_network_keys(s, b.today, &b.accepted, NULL);
    while (rc == 0 && (rc = tsr_kv_write(s->kv, s_backfill_txn, &b)) == 0) {
        queued += b.queued;
        skipped += b.skipped_key;
        damaged += b.damaged;
        if (b.done)
            break;
        tsr_info("store", "upstream backfill: %zu records queued so far", queued);
    }
    free(b.inc);
    if (rc != 0) {
        tsr_error("store", "upstream backfill stopped after %zu records: %s; they go upstream, and "
                  "it resumes at the next start (if the store is full, raise [storage] "
                  "map_max_mib first)", queued, tsr_strerror(rc));
        return rc;
    }
    if (queued > 0 || skipped > 0 || damaged > 0)
        tsr_info("store", "upstream backfill: queued %zu records held before the [upstream] was "
                 "set (this start); they are sent before any later change. Not sent: %zu under "
                 "a network key not accepted today, %zu damaged", queued, skipped, damaged);
    return 0;
}

typedef struct {
    MDB_dbi dbi[2]; /* meta, records */
    size_t records;
    bool was_done;
} s_resend_t;

static int s_resend_txn(MDB_txn *txn, void *arg)
{
    s_resend_t *r = arg;
    MDB_val k = {sizeof S_META_BACKFILL - 1, (void *)S_META_BACKFILL}, v;
    int rc = tsr_kv_get(txn, r->dbi[0], &k, &v);
    r->was_done = rc == 0 && v.mv_size == 1;
    if (rc == 0)
        rc = tsr_kv_del(txn, r->dbi[0], &k);
    if (rc == 0 || rc == TSR_ENOTFOUND)
        rc = tsr_kv_entries(txn, r->dbi[1], &r->records);
    return rc;
}

int tsr_store_upstream_resend(const char *envdir, size_t *records, tsr_error_t *err)
{
    static const char *const names[] = {"meta", "records"};
    tsr_kv_opts_t o = {.dir = envdir};
    tsr_kv_t *kv = NULL;
    s_resend_t r = {0};
    int rc = tsr_kv_open(&kv, &o, err);
    if (rc == 0)
        rc = tsr_kv_dbis(kv, names, 2, 0, r.dbi, err);
    if (rc == 0 && (rc = tsr_kv_write(kv, s_resend_txn, &r)) != 0) {
        tsr_error_at(err, envdir, 0);
        tsr_error_set(err, "meta", "the backfill mark cannot be cleared: %s", tsr_strerror(rc));
    }
    tsr_kv_close(&kv);
    *records = r.records;
    return rc;
}

/* forward = linkage: the record keeps its tokens, area, days' precision,
 * reported day, id, version and agency type (the wire requires one); the
 * case's profile becomes "unknown" and empty lists. */
void tsr_store_linkage_only(tsr_incident_t *inc)
{
    inc->first_contact_day = 0;
    inc->age_band = tsr_codes_value(TSR_CODES_AGE_BAND, "unknown");
    inc->gender = tsr_codes_value(TSR_CODES_GENDER, "unknown");
    inc->amount_demanded_band = tsr_codes_value(TSR_CODES_AMOUNT_BAND, "unknown");
    inc->amount_paid_band = inc->amount_demanded_band;
    inc->paid = tsr_codes_value(TSR_CODES_PAID, "unknown");
    inc->contact_platforms = inc->moved_to_platforms = inc->demands = 0;
    inc->payment_methods = inc->tactics = inc->risks = inc->actions = 0;
}

typedef struct {
    tsr_store_t *s;
    size_t max;
    bool linkage_only;
    tsr_batch_t *b;
    uint64_t last;
} s_peek_t;

/* Whether rid is already in the batch being built. */
static bool s_in_batch(const tsr_batch_t *b, const uint8_t *rid)
{
    for (size_t i = 0; i < b->n_incidents; i++)
        if (!memcmp(b->incidents[i].record_id, rid, TSR_RECORD_ID_LEN))
            return true;
    for (size_t i = 0; i < b->n_retractions; i++)
        if (!memcmp(b->retractions[i].record_id, rid, TSR_RECORD_ID_LEN))
            return true;
    return false;
}

static int s_peek_txn(MDB_txn *txn, void *arg)
{
    s_peek_t *p = arg;
    tsr_batch_t *b = p->b;
    MDB_cursor *c;
    MDB_val k, v, packed;
    int rc = tsr_kv_cursor_open(txn, p->s->dbi[S_UPSTREAM], &c);
    if (rc != 0)
        return rc;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST);
         rc == 0 && b->n_incidents + b->n_retractions < p->max;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        tsr_store_fate_t f;
        int op;
        if (k.mv_size != 8 || tsr_store_log_parse(&v, &op, &f, &packed) != 0) {
            rc = tsr_store_damaged(TSR_ECORRUPT, "upstream", k.mv_data, k.mv_size);
            break;
        }
        if (s_in_batch(b, f.rid))
            break; /* a second change of one record goes in the next batch */
        if (op == S_LOG_INCIDENT) {
            tsr_incident_t *inc = &b->incidents[b->n_incidents];
            char agency[TSR_CLIENT_ID_MAX];
            rc = tsr_store_damaged(tsr_store_unpack(&packed, inc, agency, NULL, f.rid), "upstream",
                                   k.mv_data, k.mv_size);
            if (rc != 0)
                break;
            snprintf(inc->agency_id, sizeof inc->agency_id, "%s", agency);
            if (p->linkage_only)
                tsr_store_linkage_only(inc);
            b->n_incidents++;
        } else {
            tsr_retraction_t *r = &b->retractions[b->n_retractions++];
            memcpy(r->record_id, f.rid, TSR_RECORD_ID_LEN);
            r->version = f.version;
            snprintf(r->agency_id, sizeof r->agency_id, "%s", f.agency);
        }
        p->last = tsr_bytes_from_be64(k.mv_data);
        if (b->batch_id == 0)
            b->batch_id = p->last;
    }
    tsr_kv_cursor_close(c);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

int tsr_store_upstream_peek(tsr_store_t *s, size_t max, bool linkage_only, tsr_batch_t *b,
                            uint64_t *last)
{
    memset(b, 0, sizeof *b);
    *last = 0;
    b->incidents = calloc(max + 1, sizeof *b->incidents);
    b->retractions = calloc(max + 1, sizeof *b->retractions);
    if (!b->incidents || !b->retractions)
        return TSR_ENOMEM;
    b->forward = linkage_only ? TSR_FORWARD_LINKAGE : TSR_FORWARD_RECORDS;
    s_peek_t p = {s, max, linkage_only, b, 0};
    int rc = tsr_kv_read(s->kv, s_peek_txn, &p);
    if (rc != 0) {
        b->n_incidents = b->n_retractions = 0;
        return rc;
    }
    *last = p.last;
    return 0;
}

typedef struct {
    tsr_store_t *s;
    uint64_t last;
    size_t removed;
} s_done_t;

static int s_done_txn(MDB_txn *txn, void *arg)
{
    s_done_t *d = arg;
    MDB_cursor *c;
    MDB_val k, v;
    d->removed = 0;
    int rc = tsr_kv_cursor_open(txn, d->s->dbi[S_UPSTREAM], &c);
    if (rc != 0)
        return rc;
    while ((rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST)) == 0 && k.mv_size == 8 &&
           tsr_bytes_from_be64(k.mv_data) <= d->last) {
        if ((rc = tsr_kv_cursor_del(c)) != 0)
            break;
        d->removed++;
    }
    tsr_kv_cursor_close(c);
    if (rc != TSR_ENOTFOUND && rc != 0)
        return rc;
    /* the last sequence acknowledged, where an emptied queue goes on */
    uint8_t seq[8];
    tsr_bytes_be64(seq, d->last);
    MDB_val mk = {sizeof S_META_UPSTREAM - 1, (void *)S_META_UPSTREAM}, mv = {8, seq};
    return tsr_kv_put(txn, d->s->dbi[S_META], &mk, &mv, 0);
}

int tsr_store_upstream_done(tsr_store_t *s, uint64_t last, size_t *removed)
{
    s_done_t d = {s, last, 0};
    int rc = tsr_kv_write(s->kv, s_done_txn, &d);
    *removed = rc == 0 ? d.removed : 0;
    return rc;
}

static int s_waiting_txn(MDB_txn *txn, void *arg)
{
    void **a = arg;
    tsr_store_t *s = a[0];
    return tsr_kv_entries(txn, s->dbi[S_UPSTREAM], a[1]);
}

int tsr_store_upstream_waiting(tsr_store_t *s, size_t *n)
{
    void *a[2] = {s, n};
    *n = 0;
    return tsr_kv_read(s->kv, s_waiting_txn, a);
}
