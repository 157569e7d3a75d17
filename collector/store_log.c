/* store_log.c - the ingest log: each submitted item's outcome, and the
 * entries that change the store appended in the Ack's commit
 * (docs/STORAGE.md, "the ingest log"); trims. The outcomes are decided in
 * store_decide.c against pend (store_pend.c); the link probe is in
 * store_probe.c. */
#include "bytes.h"
#include "store_int.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdio.h>
#include <sys/file.h>
#include <string.h>

/* --- the ingest log ------------------------------------------------------------
 * An Ack waits for one commit, and on a slow disk a commit costs what it
 * writes: every B-tree page it dirtied. Applying a record dirties pages all
 * over the store (its record, area/day and token index entries, clusters,
 * some 36 count series), so acknowledging after all of that made ingest
 * pay the whole cost once per group of batches.
 *
 * Instead tsr_store_submit() decides each item's outcome and appends what
 * changes the store to the `ingest_log` database (keys are a big-endian
 * sequence, written with MDB_APPEND, so the log dirties only its last
 * pages), with the outcome counters, in one transaction: the Ack's commit.
 * tsr_store_drain() later applies log entries in order, in transactions of
 * thousands, and deletes them in the same transaction. Both are durable and
 * atomic, so after a crash the log holds exactly what is acknowledged and not
 * yet applied, and draining it applies each entry once.
 *
 * Every database but the log and the outcome counters reflects the applied
 * part of the log. Outcomes depend on the entries still waiting too (v2 of a
 * record logged, not applied, makes a second v2 a duplicate), so the store
 * keeps `pend` (store_pend.c): for each record id with a waiting entry, what
 * the store will hold for it once the log is applied. It is rebuilt from the
 * log at open and after any transaction that did not commit.
 * docs/STORAGE.md has the trade-offs. */

static const char *const s_log_db_names[] = {"ingest_log", "counters", "meta"};

/* The log's first and last sequences (0 when it is empty). */
static int s_log_ends_body(MDB_txn *txn, void *arg)
{
    tsr_store_t *s = arg;
    MDB_cursor *c;
    MDB_val k, v;
    int rc = tsr_kv_cursor_open(txn, s->log_dbi, &c);
    if (rc == 0 && (rc = tsr_kv_cursor_get(c, &k, &v, MDB_LAST)) == 0) {
        uint64_t last = k.mv_size == 8 ? tsr_bytes_from_be64(k.mv_data) : 0;
        if ((rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
            s->log_first = k.mv_size == 8 ? tsr_bytes_from_be64(k.mv_data) : 0;
            if (last + 1 > s->log_next)
                s->log_next = last + 1;
        }
        if (last == 0 || s->log_first == 0)
            rc = tsr_store_damaged(TSR_ECORRUPT, "ingest_log", k.mv_data, k.mv_size);
    }
    tsr_kv_cursor_close(c);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

int tsr_store_log_open(tsr_store_t *s, const tsr_kv_opts_t *main, const tsr_kv_opts_t *log,
                       tsr_error_t *err)
{
    char dir[4096];
    tsr_kv_opts_t o = tsr_store_env_opts(main, log, "log", dir, sizeof dir);
    MDB_dbi dbi[3];
    int rc = tsr_kv_open(&s->log_kv, &o, err);
    if (rc == 0 && (rc = tsr_kv_dbis(s->log_kv, s_log_db_names, 3, 0, dbi, err)) == 0) {
        s->log_dbi = dbi[0];
        s->log_counters = dbi[1];
        s->log_meta = dbi[2];
    }
    /* sequences go on after the last one used, in the log or applied, so
     * none is reused even when the log is empty */
    s->applied = atomic_load(&s->applied_pub);
    s->log_next = s->applied + 1;
    s->log_first = s->log_next;
    if (rc == 0 && (rc = tsr_kv_read(s->log_kv, s_log_ends_body, s)) == 0 &&
        s->log_first > s->applied + 1 && s->log_first != s->log_next) {
        tsr_error_at(err, o.dir, 0);
        tsr_error_set(err, "ingest_log",
                      "the log starts at entry %llu, but the store has applied only up to %llu: "
                      "entries are missing (a store restored from an older backup than its log?). "
                      "Restore db and log from the same backup (docs/STORAGE.md, Upgrade)",
                      (unsigned long long)s->log_first, (unsigned long long)s->applied);
        return TSR_ECORRUPT;
    }
    if (rc == 0 && (rc = tsr_store_pend_reload(s)) != 0) {
        tsr_error_at(err, o.dir, 0);
        tsr_error_set(err, "ingest_log", "cannot be read: %s", tsr_strerror(rc));
    }
    atomic_store(&s->logged_pub, s->log_next - 1);
    return rc;
}

/* Appends what an accepted, replacing or retracting item changes to the log
 * and notes it in pend. */
static int s_log_put(tsr_store_t *s, MDB_txn *txn, uint64_t seq, const char *agency,
                     const tsr_store_item_t *it, int64_t now)
{
    uint8_t key[8], val[S_LOG_VALUE_MAX];
    tsr_store_fate_t f = {.kind = it->incident ? S_FATE_STORED : S_FATE_TOMBSTONE};
    const uint8_t *rid = it->incident ? it->incident->record_id : it->record_id;
    size_t n = 1 + TSR_RECORD_ID_LEN;
    val[0] = it->incident ? S_LOG_INCIDENT : S_LOG_RETRACTION;
    memcpy(val + 1, rid, TSR_RECORD_ID_LEN);
    if (it->incident) {
        size_t pn = tsr_store_pack(val + n, sizeof val - n, it->incident, agency, now);
        if (pn == 0)
            return TSR_ERANGE; /* larger than S_PACK_MAX allows: a bug */
        n += pn;
        f.version = it->incident->version;
    } else {
        n += tsr_store_va_put(val + n, sizeof val - n, it->version, agency);
        f.version = it->version;
    }
    memcpy(f.rid, rid, TSR_RECORD_ID_LEN);
    snprintf(f.agency, sizeof f.agency, "%s", agency);
    f.seq = seq;
    tsr_bytes_be64(key, seq);
    MDB_val k = {sizeof key, key}, v = {n, val};
    int rc = tsr_kv_put(txn, s->log_dbi, &k, &v, MDB_APPEND);
    return rc == 0 ? tsr_store_pend_note(s, &f) : rc;
}

typedef struct {
    tsr_store_t *s;
    tsr_store_batch_t *batches;
    size_t n;
    int64_t now;
    uint64_t next;    /* log_next after the commit */
    uint64_t trimmed; /* log_first after the commit */
    bool may_trim;    /* s_trim_hold: no backup is copying */
    uint64_t first;   /* the sequence of this submit's first entry */
    uint64_t from;    /* the first entry main's snapshot may lack */
    bool may_link;    /* tsr_store_probe */
} s_submit_t;

/* Most applied entries one submit deletes from the log (trim): the
 * submit's commit stays small. */
#define S_TRIM_PER_SUBMIT 1000

/* Deletes up to max log entries at or below the published `applied`,
 * oldest first: their effects are durable in main (docs/STORAGE.md, crash
 * argument, 1). *first = the log's first sequence afterwards. */
static int s_trim(tsr_store_t *s, MDB_txn *txn, size_t max, uint64_t *first)
{
    uint64_t applied = atomic_load(&s->applied_pub);
    *first = s->log_first;
    if (s->log_first > applied)
        return 0;
    MDB_cursor *c;
    MDB_val k, v;
    int rc = tsr_kv_cursor_open(txn, s->log_dbi, &c);
    for (size_t n = 0; rc == 0 && n < max; n++) {
        if ((rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST)) != 0)
            break;
        uint64_t seq = k.mv_size == 8 ? tsr_bytes_from_be64(k.mv_data) : UINT64_MAX;
        if (seq > applied)
            break;
        rc = tsr_kv_cursor_del(c);
    }
    if (rc == 0 || rc == TSR_ENOTFOUND) {
        *first = applied + 1;
        rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST);
        if (rc == 0 && k.mv_size == 8)
            *first = tsr_bytes_from_be64(k.mv_data);
        rc = rc == TSR_ENOTFOUND ? 0 : rc;
    }
    tsr_kv_cursor_close(c);
    return rc;
}

/* Whether a trim may run now: not while a hot backup holds backup.lock
 * (it copies main, then the log; entries trimmed between the two would be
 * in neither copy). Held shared until s_trim_release, after the commit. */
static bool s_trim_hold(tsr_store_t *s)
{
    return s->backup_fd < 0 || flock(s->backup_fd, LOCK_SH | LOCK_NB) == 0;
}

static void s_trim_release(tsr_store_t *s, bool held)
{
    if (held && s->backup_fd >= 0)
        flock(s->backup_fd, LOCK_UN);
}

typedef struct {
    tsr_store_t *s;
    size_t max;
    uint64_t first;
} s_trim_t;

static int s_trim_txn(MDB_txn *txn, void *arg)
{
    s_trim_t *t = arg;
    return s_trim(t->s, txn, t->max, &t->first);
}

bool tsr_store_trim_due(const tsr_store_t *s)
{
    return s->log_first <= atomic_load(&((tsr_store_t *)s)->applied_pub);
}

int tsr_store_trim(tsr_store_t *s, size_t max)
{
    if (!tsr_store_trim_due(s))
        return 0;
    bool held = s_trim_hold(s);
    if (!held)
        return 0; /* a backup is copying: the next trim deletes them */
    s_trim_t t = {s, max ? max : SIZE_MAX, 0};
    int rc = tsr_kv_write(s->log_kv, s_trim_txn, &t);
    s_trim_release(s, held);
    if (rc == 0)
        s->log_first = t.first;
    else
        tsr_store_log_err("store", "applied entries not deleted from the ingest log (kept for "
                          "the next try)", rc);
    return rc;
}

/* Decides every item of every batch (main: a read transaction on the
 * main environment) and logs what changes the store. */
static int s_submit_items(s_submit_t *a, MDB_txn *txn, MDB_txn *main)
{
    tsr_store_t *s = a->s;
    int rc = 0;
    /* records reported before this day are refused (none without retention) */
    int32_t cutoff = s->retention_months > 0
                         ? tsr_store_retention_cutoff(s->retention_months, a->now)
                         : INT32_MIN;
    for (size_t b = 0; rc == 0 && b < a->n; b++) {
        tsr_store_batch_t *batch = &a->batches[b];
        for (size_t i = 0; rc == 0 && i < batch->n_items; i++) {
            tsr_store_item_t *it = &batch->items[i];
            char agency[TSR_CLIENT_ID_MAX];
            rc = tsr_store_decide(s, main, batch->client, it, cutoff, (int32_t)(a->now / 86400),
                                  agency);
            if (rc == 0 &&
                (it->outcome == TSR_OUTCOME_ACCEPTED || it->outcome == TSR_OUTCOME_REPLACED ||
                 it->outcome == TSR_OUTCOME_RETRACTED))
                rc = s_log_put(s, txn, a->next++, agency, it, a->now);
        }
        if (rc == 0)
            rc = tsr_store_count_outcomes(s, txn, batch);
    }
    return rc;
}

/* The body of a submit: a write transaction on the log environment only
 * (never waits for an apply step). */
static int s_submit_txn(MDB_txn *txn, void *arg)
{
    s_submit_t *a = arg;
    tsr_store_t *s = a->s;
    /* this body may be a re-run after the map grew: pend may hold what the
     * aborted run noted, so it is rebuilt from the committed log */
    int rc = s->pend_valid ? 0 : tsr_store_pend_rebuild(s, txn);
    s->pend_valid = false; /* until this transaction commits */
    s->pin_pending = false; /* a re-run pins afresh */
    a->next = a->first = s->log_next;
    a->may_link = false;
    if (rc == 0 && a->may_trim)
        rc = s_trim(s, txn, S_TRIM_PER_SUBMIT, &a->trimmed);
    MDB_txn *main = NULL;
    /* before the snapshot: it holds at least the entries up to this */
    a->from = atomic_load(&s->applied_pub) + 1;
    if (rc == 0)
        rc = tsr_kv_read_begin(s->kv, &main);
    if (rc == 0)
        rc = s_submit_items(a, txn, main);
    if (rc == 0)
        a->may_link = tsr_store_probe(s, txn, main, a->first, a->next, a->from);
    tsr_kv_read_end(main);
    if (rc == 0 && s->pin_pending) {
        uint8_t v[12 + TSR_CLIENT_ID_MAX];
        tsr_bytes_t b = {v, 0, sizeof v, false};
        tsr_bytes_put_u32(&b, s->pin_new);
        tsr_bytes_put_u64(&b, (uint64_t)a->now);
        tsr_bytes_put(&b, s->pin_agency, strlen(s->pin_agency));
        MDB_val k = {sizeof S_META_NETKEY - 1, (void *)S_META_NETKEY}, val = {b.n, v};
        rc = tsr_kv_put(txn, s->log_meta, &k, &val, 0);
    }
    return rc;
}

int tsr_store_submit(tsr_store_t *s, tsr_store_batch_t *batches, size_t n, int64_t now)
{
    size_t waiting = tsr_store_logged(s);
    if (waiting >= TSR_STORE_LOG_MAX) {
        tsr_warn("store", "%zu entries wait in the ingest log: batches wait until it is applied",
                 waiting);
        return TSR_EFULL;
    }
    /* ids whose entries are all applied say what main says anyway: dropped
     * when all are, rebuilt without them when they are most of pend */
    if (waiting == 0)
        tsr_store_pend_clear(s);
    else if (s->pend_n > 2 * waiting + 4096)
        s->pend_valid = false;
    s_submit_t a = {s, batches, n, now, 0, s->log_first, s_trim_hold(s), 0, 0, false};
    int rc = tsr_kv_write(s->log_kv, s_submit_txn, &a);
    s_trim_release(s, a.may_trim);
    if (rc != 0) {
        s->pin_pending = false; /* nothing was pinned */
        tsr_store_log_err("store", "batch group not stored", rc);
        return rc;
    }
    s->log_next = a.next;
    s->log_first = a.trimmed;
    s->pend_valid = true;
    if (a.may_link)
        atomic_store(&s->link_pub, s->log_next - 1);
    atomic_store(&s->logged_pub, s->log_next - 1);
    if (s->pin_pending) {
        s->pin_pending = false;
        s->pinned = true;
        s->pin = (tsr_netkey_id_t){s->pin_new, 0};
        tsr_warn("store", "network key id %u pinned: no [network] key_ids are configured, and "
                 "the first record with tokens (from %s) was under it. Records under any other "
                 "key id are refused from now on (WRONG_NETWORK_KEY). If %u is not your "
                 "network's key, set [network] key_ids to the right one and restart.",
                 s->pin_new, s->pin_agency, s->pin_new);
    }
    return 0;
}

size_t tsr_store_logged(const tsr_store_t *s)
{
    uint64_t logged = atomic_load(&((tsr_store_t *)s)->logged_pub);
    uint64_t applied = atomic_load(&((tsr_store_t *)s)->applied_pub);
    return logged > applied ? (size_t)(logged - applied) : 0;
}

uint64_t tsr_store_last_logged(const tsr_store_t *s)
{
    return atomic_load(&((tsr_store_t *)s)->logged_pub);
}

uint64_t tsr_store_applied(const tsr_store_t *s)
{
    return atomic_load(&((tsr_store_t *)s)->applied_pub);
}
