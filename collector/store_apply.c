/* store_apply.c - the ingest log applied: records, indexes, tombstones,
 * clusters and count series, each entry with everything derived from it
 * and deleted from the log in the same transaction; and the evaluation of
 * a closed day, which counts every acknowledged record. */
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

typedef struct {
    tsr_store_t *s;
    size_t max;
    int64_t now;
    size_t n; /* entries applied */
} s_drain_t;

/* Milliseconds on the monotonic clock. */
static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    uint8_t *val = malloc(S_LOG_VALUE_MAX);
    MDB_cursor *c = NULL;
    int rc = inc && val ? tsr_kv_cursor_open(txn, s->dbi[S_LOG], &c) : TSR_ENOMEM;
    MDB_val k, v;
    /* the first entry each time: each is deleted once applied */
    while (rc == 0 && d->n < d->max && (d->n == 0 || s_now_ms() < until)) {
        tsr_store_fate_t f;
        MDB_val packed;
        int op;
        if ((rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST)) != 0) {
            if (rc == TSR_ENOTFOUND)
                rc = 0; /* the log is empty; a not-found below is an error */
            break;
        }
        if (v.mv_size > S_LOG_VALUE_MAX) {
            rc = tsr_store_damaged(TSR_ECORRUPT, "ingest_log", k.mv_data, k.mv_size);
            break;
        }
        /* a copy: values read are valid only until the next write */
        memcpy(val, v.mv_data, v.mv_size);
        v.mv_data = val;
        if ((rc = tsr_store_log_parse(&v, &op, &f, &packed)) == 0 && op == S_LOG_INCIDENT)
            rc = tsr_store_unpack(&packed, &inc[0], NULL, NULL, f.rid);
        if (rc != 0) {
            tsr_store_damaged(rc, "ingest_log", k.mv_data, k.mv_size);
            break;
        }
        rc = op == S_LOG_INCIDENT ? s_put_incident(s, txn, &inc[0], f.agency, &packed, &inc[1])
                                  : s_put_retraction(s, txn, &f, &inc[1]);
        /* the one place a change is applied: forwarded in its transaction */
        if (rc == 0)
            rc = tsr_store_upstream_queue(s, txn, &v);
        if (rc == 0)
            rc = tsr_kv_cursor_del(c);
        d->n++;
    }
    tsr_kv_cursor_close(c);
    free(inc);
    free(val);
    if (rc == 0)
        rc = tsr_link_finish(s->link, txn, d->now);
    if (rc == 0)
        rc = tsr_spikes_finish(s->spikes, txn, (int32_t)(d->now / 86400));
    return rc == 0 ? tsr_store_count_flush(s, txn) : rc;
}

int tsr_store_drain(tsr_store_t *s, size_t max, int64_t now, size_t *applied)
{
    s_drain_t d = {s, max ? max : SIZE_MAX, now, 0};
    int rc;
    *applied = 0;
    if (!s->pend_valid) {
        /* a submit that did not commit (or whose commit failed uncertainly)
         * may have left log_n wrong: count the log again */
        if ((rc = tsr_store_pend_reload(s)) != 0)
            return rc;
    }
    if (s->log_n == 0)
        return 0;
    rc = tsr_store_write(s, s_drain_txn, &d);
    /* near the map's maximum a smaller transaction may still fit */
    while (rc == TSR_EFULL && (d.max = (d.max < s->log_n ? d.max : s->log_n) / 2) > 0)
        rc = tsr_store_write(s, s_drain_txn, &d);
    if (rc != 0) {
        tsr_store_log_err("store", "ingest log not applied (kept for the next try)", rc);
        return rc;
    }
    tsr_spikes_committed(s->spikes);
    *applied = d.n;
    s->log_n = d.n < s->log_n ? s->log_n - d.n : 0;
    /* pend stays exact for ids whose entries are all applied (the store now
     * holds what it says), so it is kept, and only rebuilt (without them)
     * when they are most of it */
    if (s->log_n == 0)
        tsr_store_pend_clear(s);
    else if (s->pend_n > 2 * s->log_n + 4096)
        s->pend_valid = false;
    return 0;
}

/* Drains the whole log, in transactions of TSR_STORE_DRAIN_MAX entries
 * (one call at least: it counts a log again after a failed submit). */
int tsr_store_drain_all(tsr_store_t *s, int64_t now)
{
    size_t applied;
    int rc;
    do
        rc = tsr_store_drain(s, TSR_STORE_DRAIN_MAX, now, &applied);
    while (rc == 0 && s->log_n > 0);
    return rc;
}

int tsr_store_apply(tsr_store_t *s, tsr_store_batch_t *batches, size_t n, int64_t now)
{
    int rc = tsr_store_submit(s, batches, n, now);
    return rc == 0 ? tsr_store_drain_all(s, now) : rc;
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
    int rc = tsr_store_drain_all(s, now); /* the day's counts include every acknowledged record */
    if (rc != 0)
        return rc;
    rc = tsr_store_write(s, s_tick_txn, &t);
    if (rc != 0)
        tsr_store_log_err("spikes", "evaluation of the closed day failed", rc);
    return rc;
}
