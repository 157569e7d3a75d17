/* store_apply.c - the ingest log applied: records, indexes, tombstones,
 * clusters and count series, each entry with everything derived from it
 * recorded as applied (`applied`) in the same transaction; and the
 * evaluation of a closed day. */
#include "bytes.h"
#include "store_int.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- drain: the log into records, indexes, clusters and series ---------------- */

/* Stores an incident (new, or replacing the stored version) with everything
 * derived from it. old is scratch space. */
static int s_put_incident(tsr_store_t *s, MDB_txn *txn, const tsr_incident_t *inc,
                          const char *agency, MDB_val *packed, tsr_incident_t *old)
{
    char old_agency[TSR_CLIENT_ID_MAX];
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)inc->record_id};
    int rc = tsr_store_record_read(s, txn, inc->record_id, old, old_agency);
    bool had = rc == 0;
    if (had) {
        rc = tsr_store_index(s, txn, old, false);
    } else if (rc == TSR_ENOTFOUND) {
        rc = tsr_kv_del(txn, s->dbi[S_TOMBSTONES], &k);
        if (rc == 0 || rc == TSR_ENOTFOUND)
            rc = tsr_store_count(s, txn, "records", 1);
    }
    if (rc == 0)
        rc = tsr_kv_put(txn, s->dbi[S_RECORDS], &k, packed, 0);
    if (rc == 0)
        rc = tsr_store_index(s, txn, inc, true);
    if (rc == 0)
        rc = had ? tsr_link_update(s->link, txn, old, inc, agency)
                 : tsr_link_add(s->link, txn, inc, agency);
    if (rc == 0 && had)
        rc = tsr_spikes_count(s->spikes, old, -1);
    if (rc == 0)
        rc = tsr_spikes_count(s->spikes, inc, 1);
    return rc;
}

/* Removes a record with everything derived from it, leaving a tombstone. */
static int s_put_retraction(tsr_store_t *s, MDB_txn *txn, const tsr_store_fate_t *f,
                            tsr_incident_t *old)
{
    char old_agency[TSR_CLIENT_ID_MAX];
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)f->rid};
    int rc = tsr_store_record_read(s, txn, f->rid, old, old_agency);
    if (rc == 0) {
        rc = tsr_store_index(s, txn, old, false);
        if (rc == 0)
            rc = tsr_kv_del(txn, s->dbi[S_RECORDS], &k);
        if (rc == 0)
            rc = tsr_link_remove(s->link, txn, old, f->agency);
        if (rc == 0)
            rc = tsr_spikes_count(s->spikes, old, -1);
        if (rc == 0)
            rc = tsr_store_count(s, txn, "records", -1);
    } else if (rc == TSR_ENOTFOUND) {
        rc = 0; /* retracted before it was stored: the tombstone alone */
    }
    return rc == 0 ? tsr_store_tombstone_put(s, txn, f->rid, f->version, f->agency) : rc;
}

/* Applies one log entry (k, v) to main: THE place where a record change
 * is applied, with everything derived from it (records, indexes,
 * tombstones, clusters, series), in the caller's transaction. inc has room
 * for two incidents (scratch). */
static int s_apply_entry(tsr_store_t *s, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
                         tsr_incident_t *inc)
{
    tsr_store_fate_t f;
    MDB_val packed;
    int op;
    int rc = v->mv_size > S_LOG_VALUE_MAX ? TSR_ECORRUPT : tsr_store_log_parse(v, &op, &f, &packed);
    if (rc == 0 && op == S_LOG_INCIDENT)
        rc = tsr_store_unpack(&packed, &inc[0], NULL, NULL, f.rid);
    if (rc != 0)
        return tsr_store_damaged(rc, "ingest_log", k->mv_data, k->mv_size);
    rc = op == S_LOG_INCIDENT ? s_put_incident(s, txn, &inc[0], f.agency, &packed, &inc[1])
                              : s_put_retraction(s, txn, &f, &inc[1]);
    /* forwarded upstream (federation) in the transaction that applies it */
    return rc == 0 ? tsr_store_upstream_queue(s, txn, v) : rc;
}

typedef struct {
    tsr_store_t *s;
    size_t max;
    int64_t now;
    size_t n;        /* entries applied */
    uint64_t last;   /* the sequence of the last one */
    int64_t body_us; /* monotonic: the body returned (debug: the commit's share) */
} s_drain_t;

static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Milliseconds on the monotonic clock. */
static int64_t s_now_ms(void)
{
    return s_now_us() / 1000;
}

static int s_applied_put(tsr_store_t *s, MDB_txn *txn, uint64_t applied)
{
    uint8_t b[8];
    tsr_bytes_t w = {b, 0, sizeof b, false};
    tsr_bytes_put_u64(&w, applied);
    MDB_val k = {sizeof S_META_APPLIED - 1, (void *)S_META_APPLIED}, v = {sizeof b, b};
    return tsr_kv_put(txn, s->dbi[S_META], &k, &v, 0);
}

/* Applies the log entries after s->applied, oldest first, within d's
 * bounds, from a read transaction of the log environment (closed before
 * returning); sets `applied` in txn. */
static int s_drain_entries(s_drain_t *d, MDB_txn *txn, tsr_incident_t *inc, int64_t until)
{
    tsr_store_t *s = d->s;
    MDB_txn *log = NULL;
    MDB_cursor *c = NULL;
    uint8_t from[8];
    tsr_bytes_be64(from, s->applied + 1);
    MDB_val k = {sizeof from, from}, v;
    int rc = tsr_kv_read_begin(s->log_kv, &log);
    if (rc == 0)
        rc = tsr_kv_cursor_open(log, s->log_dbi, &c);
    for (rc = rc ? rc : tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE);
         rc == 0 && d->n < d->max && (d->n == 0 || s_now_ms() < until);
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t seq = k.mv_size == 8 ? tsr_bytes_from_be64(k.mv_data) : 0;
        if (seq != s->applied + d->n + 1) { /* a gap, or a key that is not a sequence */
            rc = tsr_store_damaged(TSR_ECORRUPT, "ingest_log", k.mv_data, k.mv_size);
            break;
        }
        if ((rc = s_apply_entry(s, txn, &k, &v, inc)) != 0)
            break;
        d->n++;
        d->last = seq;
    }
    tsr_kv_cursor_close(c);
    tsr_kv_read_end(log);
    if (rc == TSR_ENOTFOUND)
        rc = 0; /* the end of the log */
    return rc == 0 && d->n > 0 ? s_applied_put(s, txn, d->last) : rc;
}

static int s_drain_txn(MDB_txn *txn, void *arg)
{
    s_drain_t *d = arg;
    tsr_store_t *s = d->s;
    s->ntally = 0;
    d->n = 0;
    /* the time bound counts from this run of the body (a re-run after the
     * map grew starts again) */
    int64_t until = s->drain_ms > 0 ? s_now_ms() + s->drain_ms : INT64_MAX;
    tsr_incident_t *inc = malloc(2 * sizeof *inc);
    int rc = inc ? s_drain_entries(d, txn, inc, until) : TSR_ENOMEM;
    free(inc);
    if (rc == 0)
        rc = tsr_link_finish(s->link, txn, d->now);
    if (rc == 0)
        rc = tsr_spikes_finish(s->spikes, txn, (int32_t)(d->now / 86400));
    rc = rc == 0 ? tsr_store_count_flush(s, txn) : rc;
    d->body_us = s_now_us();
    return rc;
}

int tsr_store_drain(tsr_store_t *s, size_t max, int64_t now, size_t *applied)
{
    s_drain_t d = {s, max ? max : SIZE_MAX, now, 0, 0, 0};
    *applied = 0;
    size_t waiting = tsr_store_logged(s);
    if (waiting == 0)
        return 0;
    int64_t t0 = s_now_us();
    int rc = tsr_store_write(s, s_drain_txn, &d);
    tsr_debug("store", "drain of %zu entries: %lld us, its commit %lld us", d.n,
              (long long)(s_now_us() - t0), (long long)(s_now_us() - d.body_us));
    /* near the map's maximum a smaller transaction may still fit */
    while (rc == TSR_EFULL && (d.max = (d.max < waiting ? d.max : waiting) / 2) > 0)
        rc = tsr_store_write(s, s_drain_txn, &d);
    if (rc == 0 && d.n == 0) {
        /* entries acknowledged after `applied` are not in the log */
        tsr_error("store", "ingest log: entry %llu is missing (%zu acknowledged entries wait "
                  "after it); see docs/STORAGE.md, Errors", (unsigned long long)s->applied + 1,
                  waiting);
        rc = TSR_ECORRUPT;
    }
    if (rc != 0) {
        tsr_store_log_err("store", "ingest log not applied (kept for the next try)", rc);
        return rc;
    }
    tsr_spikes_committed(s->spikes);
    *applied = d.n;
    if (d.n > 0) {
        s->applied = d.last;
        atomic_store(&s->applied_pub, d.last); /* after the commit returned: trim may follow */
    }
    return 0;
}

/* Drains the whole log, in transactions of TSR_STORE_DRAIN_MAX entries. */
int tsr_store_drain_all(tsr_store_t *s, int64_t now)
{
    size_t applied;
    int rc;
    do
        rc = tsr_store_drain(s, TSR_STORE_DRAIN_MAX, now, &applied);
    while (rc == 0 && applied > 0 && tsr_store_logged(s) > 0);
    return rc;
}

int tsr_store_apply(tsr_store_t *s, tsr_store_batch_t *batches, size_t n, int64_t now)
{
    int rc = tsr_store_submit(s, batches, n, now);
    return rc == 0 ? tsr_store_drain_all(s, now) : rc;
}

/* --- upgrade: main's own ingest_log, from before the log environment ------- */

typedef struct {
    tsr_store_t *s;
    int64_t now;
    size_t n;      /* applied by this transaction */
    uint64_t last; /* the last sequence seen (applied now, or before) */
    bool more;
} s_upgrade_t;

/* Applies up to TSR_STORE_DRAIN_MAX entries of main's ingest_log and
 * deletes them, in one transaction, as the drain did before. */
static int s_upgrade_txn(MDB_txn *txn, void *arg)
{
    s_upgrade_t *u = arg;
    tsr_store_t *s = u->s;
    s->ntally = 0;
    u->n = 0;
    u->more = false;
    tsr_incident_t *inc = malloc(2 * sizeof *inc);
    uint8_t *val = malloc(S_LOG_VALUE_MAX);
    MDB_cursor *c = NULL;
    int rc = inc && val ? tsr_kv_cursor_open(txn, s->dbi[S_LOG], &c) : TSR_ENOMEM;
    MDB_val k, v;
    while (rc == 0 && (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
        if (u->n == TSR_STORE_DRAIN_MAX) {
            u->more = true;
            break;
        }
        if (k.mv_size != 8 || v.mv_size > S_LOG_VALUE_MAX) {
            rc = tsr_store_damaged(TSR_ECORRUPT, "ingest_log", k.mv_data, k.mv_size);
            break;
        }
        uint64_t seq = tsr_bytes_from_be64(k.mv_data);
        memcpy(val, v.mv_data, v.mv_size); /* valid only until the next write */
        v.mv_data = val;
        if ((rc = s_apply_entry(s, txn, &k, &v, inc)) == 0)
            rc = tsr_kv_cursor_del(c);
        u->n++;
        u->last = seq > u->last ? seq : u->last;
    }
    tsr_kv_cursor_close(c);
    free(inc);
    free(val);
    rc = rc == TSR_ENOTFOUND ? 0 : rc;
    if (rc == 0 && u->last > s->applied)
        rc = s_applied_put(s, txn, u->last);
    if (rc == 0)
        rc = tsr_link_finish(s->link, txn, u->now);
    if (rc == 0)
        rc = tsr_spikes_finish(s->spikes, txn, (int32_t)(u->now / 86400));
    return rc == 0 ? tsr_store_count_flush(s, txn) : rc;
}

static int s_applied_read_body(MDB_txn *txn, void *arg)
{
    tsr_store_t *s = arg;
    MDB_val k = {sizeof S_META_APPLIED - 1, (void *)S_META_APPLIED}, v;
    size_t old = 0;
    int rc = tsr_kv_get(txn, s->dbi[S_META], &k, &v);
    if (rc == 0 && v.mv_size == 8) {
        tsr_bytes_t b = {v.mv_data, 0, 8, false};
        s->applied = tsr_bytes_get_u64(&b);
    } else if (rc == 0) {
        rc = tsr_store_damaged(TSR_ECORRUPT, "meta", k.mv_data, k.mv_size);
    }
    if (rc == 0 || rc == TSR_ENOTFOUND)
        rc = tsr_kv_entries(txn, s->dbi[S_LOG], &old);
    return rc == 0 && old > 0 ? TSR_EAGAIN : rc == TSR_ENOTFOUND ? 0 : rc;
}

int tsr_store_applied_read(tsr_store_t *s, int64_t now)
{
    int rc = tsr_kv_read(s->kv, s_applied_read_body, s);
    s_upgrade_t u = {s, now, 0, s->applied, true};
    if (rc == TSR_EAGAIN) /* entries in main's ingest_log: a store from before the log env */
        tsr_info("store", "applying the ingest log of a store from before its log environment "
                 "(docs/STORAGE.md, Upgrade)");
    while (rc == TSR_EAGAIN && u.more) {
        if ((rc = tsr_store_write(s, s_upgrade_txn, &u)) == 0) {
            s->applied = u.last;
            tsr_spikes_committed(s->spikes);
            rc = u.more ? TSR_EAGAIN : 0;
        }
    }
    atomic_store(&s->applied_pub, s->applied);
    return rc;
}

/* --- day boundary ------------------------------------------------------------- */

typedef struct {
    tsr_store_t *s;
    int32_t day;
    int64_t now;
} s_tick_t;

static int s_tick_txn(MDB_txn *txn, void *arg)
{
    s_tick_t *t = arg;
    return tsr_spikes_evaluate_day(t->s->spikes, txn, t->day, t->now);
}

int tsr_store_day_closed(tsr_store_t *s, int32_t day, int64_t now)
{
    s_tick_t t = {s, day, now};
    int rc = tsr_store_write(s, s_tick_txn, &t);
    if (rc != 0)
        tsr_store_log_err("spikes", "evaluation of the closed day failed", rc);
    return rc;
}
