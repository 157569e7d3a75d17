/* store_audit.c - the audit log: every query, refused ones too, appended
 * before its answer leaves; read back by admins and to rebuild the day's
 * query budgets at start-up. It has an environment of its own
 * (docs/STORAGE.md, "The audit environment"): an audit commit there
 * writes a page or two and flushes them, and waits for no apply step; in
 * main it cost half as much again as a commit in a small environment
 * (main's free list and deeper trees, once a large store has applied
 * bursts) and queued behind the step under way. */
#include "bytes.h"
#include "store_int.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- audit log ---------------------------------------------------------------
 * Key: u64 sequence (big-endian). Value: i64 time, id, role, request (each a
 * length byte and bytes), u64 result size. Only appended. */

typedef struct {
    tsr_store_t *s;
    const tsr_audit_entry_t *const *e;
    size_t n;
} s_audit_put_t;

/* Appends entries e[0..n) after the last one, in this order. */
static int s_audit_txn(MDB_txn *txn, void *arg)
{
    s_audit_put_t *a = arg;
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, a->s->audit_dbi, &c);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    uint64_t seq = 1;
    if ((rc = tsr_kv_cursor_get(c, &k, &v, MDB_LAST)) == 0)
        seq = k.mv_size == 8 ? tsr_bytes_from_be64(k.mv_data) + 1 : 0;
    tsr_kv_cursor_close(c);
    if (rc != 0 && rc != TSR_ENOTFOUND)
        return rc;
    if (seq == 0)
        return TSR_ECORRUPT; /* the last key is not a sequence: appending would hide it */
    rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n; i++, seq++) {
        const tsr_audit_entry_t *e = a->e[i];
        uint8_t kb[8], buf[8 + 3 * 256 + 8];
        tsr_bytes_be64(kb, seq);
        tsr_bytes_t b = {buf, 0, sizeof buf, false};
        tsr_bytes_put_u64(&b, (uint64_t)e->time);
        tsr_bytes_put_str(&b, e->id);
        tsr_bytes_put_str(&b, e->role);
        char req[256];
        snprintf(req, sizeof req, "%.255s", e->request);
        tsr_bytes_put_str(&b, req);
        tsr_bytes_put_u64(&b, e->result_size);
        k = (MDB_val){8, kb};
        v = (MDB_val){b.n, buf};
        rc = b.bad ? TSR_ERANGE : tsr_kv_put(txn, a->s->audit_dbi, &k, &v, MDB_APPEND);
    }
    return rc;
}

int tsr_store_audit_many(tsr_store_t *s, const tsr_audit_entry_t *const *e, size_t n)
{
    s_audit_put_t a = {s, e, n};
    int rc = n ? tsr_kv_write(s->audit_kv, s_audit_txn, &a) : 0;
    if (rc != 0)
        tsr_store_log_err("audit", n == 1 ? "audit entry not stored" : "audit entries not stored",
                          rc);
    return rc;
}

int tsr_store_audit(tsr_store_t *s, const tsr_audit_entry_t *e)
{
    return tsr_store_audit_many(s, &e, 1);
}

/* Where the reader of a damaged audit log is sent. */
#define S_AUDIT_DAMAGED "the audit log is damaged: docs/STORAGE.md, Errors"

/* Decodes one audit entry. A damaged one is TSR_ECORRUPT, with err naming
 * it (its sequence, or its key when that is not one) and what is wrong. */
static int s_audit_decode(tsr_audit_entry_t *e, const MDB_val *k, const MDB_val *v,
                          tsr_error_t *err)
{
    memset(e, 0, sizeof *e);
    if (k->mv_size != 8) {
        char hex[2 * 16 + 1] = "";
        for (size_t i = 0; i < k->mv_size && i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", ((const uint8_t *)k->mv_data)[i]);
        tsr_error_set(err, "audit", "an entry with key %s%s (%zu bytes, not 8) cannot be read (%s)",
                      hex, k->mv_size > 16 ? "..." : "", k->mv_size, S_AUDIT_DAMAGED);
        return TSR_ECORRUPT;
    }
    tsr_bytes_t b = {v->mv_data, 0, v->mv_size, false};
    e->time = (int64_t)tsr_bytes_get_u64(&b);
    tsr_bytes_get_str(&b, e->id, sizeof e->id);
    tsr_bytes_get_str(&b, e->role, sizeof e->role);
    tsr_bytes_get_str(&b, e->request, sizeof e->request);
    e->result_size = tsr_bytes_get_u64(&b);
    unsigned long long seq = (unsigned long long)tsr_bytes_from_be64(k->mv_data);
    if (b.bad)
        tsr_error_set(err, "audit",
                      "entry %llu cannot be read: its %zu bytes end inside its "
                      "fields (%s)",
                      seq, v->mv_size, S_AUDIT_DAMAGED);
    else if (b.n != v->mv_size)
        tsr_error_set(err, "audit",
                      "entry %llu cannot be read: %zu byte%s after its last "
                      "field (%s)",
                      seq, v->mv_size - b.n, v->mv_size - b.n == 1 ? "" : "s", S_AUDIT_DAMAGED);
    else
        return 0;
    memset(e, 0, sizeof *e);
    return TSR_ECORRUPT;
}

/* err for a cursor that could not step on from entry `after` (0: the start). */
static int s_audit_read_error(tsr_error_t *err, int rc, uint64_t after)
{
    tsr_error_set(err, "audit", "the entry after %llu cannot be read: %s",
                  (unsigned long long)after, tsr_strerror(rc));
    return rc;
}

/* A read of the audit log: tsr_store_audit_list's or _each's arguments. */
typedef struct {
    tsr_store_t *s;
    int64_t since_time;
    const char *id;
    uint32_t max;
    tsr_response_t *resp;
    tsr_error_t *err;
    int (*fn)(void *ctx, const tsr_audit_entry_t *e);
    void *ctx;
    bool started; /* the read transaction began */
} s_audit_read_t;

static int s_audit_list_body(MDB_txn *txn, void *arg)
{
    s_audit_read_t *a = arg;
    tsr_response_t *resp = a->resp;
    MDB_cursor *c;
    a->started = true;
    int rc = tsr_kv_cursor_open(txn, a->s->audit_dbi, &c);
    if (rc != 0)
        return s_audit_read_error(a->err, rc, 0);
    size_t cap = 0;
    int out = 0;
    uint64_t last = 0; /* the last entry read */
    MDB_val k, v;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && resp->n_audit < a->max;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        tsr_audit_entry_t e;
        /* an entry that cannot be read may be one the reader asks for:
         * the whole answer fails, naming it, rather than leave it out */
        if ((out = s_audit_decode(&e, &k, &v, a->err)) != 0)
            break;
        last = tsr_bytes_from_be64(k.mv_data);
        if (e.time < a->since_time || (a->id && *a->id && strcmp(a->id, e.id) != 0))
            continue;
        if (tsr_grow((void **)&resp->audit, &cap, resp->n_audit, sizeof *resp->audit) != 0) {
            out = TSR_ENOMEM;
            tsr_error_set(a->err, "audit", "out of memory after %zu entries", resp->n_audit);
            break;
        }
        resp->audit[resp->n_audit++] = e;
    }
    if (out == 0 && rc != 0 && rc != TSR_ENOTFOUND)
        out = s_audit_read_error(a->err, rc, last);
    tsr_kv_cursor_close(c);
    return out;
}

int tsr_store_audit_list(tsr_store_t *s, int64_t since_time, const char *id, uint32_t max,
                         tsr_response_t *resp, tsr_error_t *err)
{
    s_audit_read_t a = {
        .s = s, .since_time = since_time, .id = id, .max = max, .resp = resp, .err = err};
    int out = tsr_kv_read(s->audit_kv, s_audit_list_body, &a);
    if (out != 0 && !a.started)
        s_audit_read_error(err, out, 0);
    if (out != 0) { /* nothing rather than a part that looks whole */
        free(resp->audit);
        resp->audit = NULL;
        resp->n_audit = 0;
    }
    return out;
}

static int s_audit_each_body(MDB_txn *txn, void *arg)
{
    s_audit_read_t *a = arg;
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, a->s->audit_dbi, &c);
    if (rc != 0)
        return rc;
    int out = 0;
    MDB_val k, v;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_LAST); rc == 0 && out == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_PREV)) {
        tsr_audit_entry_t e;
        tsr_error_t err;
        tsr_error_clear(&err);
        if (s_audit_decode(&e, &k, &v, &err) != 0) {
            /* its time is unknown, so is whether it is in the walk: said,
             * and the walk goes on (audit_list fails on it instead) */
            tsr_error("audit", "%s; left out of this walk", err.reason);
            continue;
        }
        if (e.time < a->since_time)
            break;
        out = a->fn(a->ctx, &e);
    }
    tsr_kv_cursor_close(c);
    return out != 0 ? out : rc == TSR_ENOTFOUND || rc == 0 ? 0 : rc;
}

int tsr_store_audit_each(tsr_store_t *s, int64_t since_time,
                         int (*fn)(void *ctx, const tsr_audit_entry_t *e), void *ctx)
{
    s_audit_read_t a = {.s = s, .since_time = since_time, .fn = fn, .ctx = ctx};
    return tsr_kv_read(s->audit_kv, s_audit_each_body, &a);
}

/* Audit entries deleted per transaction by tsr_store_audit_purge. */
#define S_AUDIT_PURGE_CHUNK 10000

typedef struct {
    tsr_store_t *s;
    int64_t before;
    size_t n;         /* deleted by this transaction */
    bool more;        /* stopped at the chunk's end: more may be old */
    uint64_t damaged; /* sequence of an entry that cannot be read (0: none) */
} s_audit_purge_t;

static int s_audit_purge_txn(MDB_txn *txn, void *arg)
{
    s_audit_purge_t *p = arg;
    tsr_store_t *s = p->s;
    MDB_cursor *c;
    p->n = 0;
    p->more = false;
    p->damaged = 0;
    int rc = tsr_kv_cursor_open(txn, s->audit_dbi, &c);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    /* oldest first, up to the first entry still kept: entries are appended
     * in time order (a clock set back keeps more, never less) */
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        tsr_audit_entry_t e;
        if (s_audit_decode(&e, &k, &v, NULL) != 0) {
            /* its time is unknown: keep it and stop, the caller says which */
            p->damaged = k.mv_size == 8 ? tsr_bytes_from_be64(k.mv_data) : UINT64_MAX;
            break;
        }
        if (e.time >= p->before)
            break;
        if (p->n == S_AUDIT_PURGE_CHUNK) {
            p->more = true;
            break;
        }
        if ((rc = tsr_kv_cursor_del(c)) != 0)
            break;
        p->n++;
    }
    tsr_kv_cursor_close(c);
    if (rc != 0 && rc != TSR_ENOTFOUND)
        return rc;
    return p->n ? tsr_store_count_add(txn, s->audit_counters, "audit_purged", (int64_t)p->n) : 0;
}

int tsr_store_audit_purge(tsr_store_t *s, int64_t before_time, uint64_t *purged)
{
    s_audit_purge_t p = {.s = s, .before = before_time};
    int rc;
    *purged = 0;
    do {
        rc = tsr_kv_write(s->audit_kv, s_audit_purge_txn, &p);
        if (rc == 0)
            *purged += p.n;
    } while (rc == 0 && p.more);
    if (rc != 0) {
        tsr_store_log_err("retention", "audit purge stopped", rc);
        return rc;
    }
    if (*purged > 0) {
        char d[11];
        tsr_info("retention", "purged %llu audit entr%s from before %s event=purge kind=audit n=%llu",
                 (unsigned long long)*purged, *purged == 1 ? "y" : "ies",
                 tsr_day_format(d, (int32_t)(before_time / 86400)), (unsigned long long)*purged);
    }
    if (p.damaged) {
        tsr_error("retention", "audit entry %llu cannot be read: the audit purge stopped before "
                  "it (the audit log is damaged: docs/STORAGE.md, Errors)",
                  (unsigned long long)p.damaged);
        return TSR_ECORRUPT;
    }
    return 0;
}

/* --- the audit environment and the move from main -------------------------- */

/* Entries moved from main's audit database per transaction of the audit
 * environment: a year of a busy region's queries stays far below LMDB's
 * dirty-page limit per transaction. */
#define S_AUDIT_MOVE_CHUNK 10000

typedef struct {
    tsr_store_t *s;
    /* The chunk starts after from (from_n 0: at the first key) and ends at
     * last; a body run again (the map grew) starts from from again. LMDB
     * keys are 511 bytes at most. */
    uint8_t from[512], last[512];
    size_t from_n, last_n;
    bool more;         /* the chunk ended with entries left */
    MDB_txn *audit;
} s_audit_move_t;

/* Copies up to S_AUDIT_MOVE_CHUNK of main's entries after a->from into the
 * audit transaction a->audit (a read of main), every key as it is: a
 * damaged one moves too, and is named where it is read, as before. A put,
 * not an append: after a crash between the copy and main's emptying, the
 * next open copies the same entries over themselves. */
static int s_audit_move_read(MDB_txn *txn, void *arg)
{
    s_audit_move_t *a = arg;
    MDB_cursor *c;
    MDB_val k = {a->from_n, a->from}, v;
    size_t n = 0;
    a->more = false;
    a->last_n = a->from_n;
    memcpy(a->last, a->from, a->from_n);
    int rc = tsr_kv_cursor_open(txn, a->s->dbi[S_AUDIT], &c);
    if (rc == 0)
        rc = tsr_kv_cursor_get(c, &k, &v, a->from_n ? MDB_SET_RANGE : MDB_FIRST);
    if (rc == 0 && a->from_n && k.mv_size == a->from_n && !memcmp(k.mv_data, a->from, a->from_n))
        rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT); /* copied by the chunk before */
    for (; rc == 0; rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (n == S_AUDIT_MOVE_CHUNK) {
            a->more = true;
            break;
        }
        if ((rc = tsr_kv_put(a->audit, a->s->audit_dbi, &k, &v, 0)) != 0)
            break;
        n++;
        a->last_n = k.mv_size <= sizeof a->last ? k.mv_size : sizeof a->last;
        memcpy(a->last, k.mv_data, a->last_n);
    }
    tsr_kv_cursor_close(c);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

static int s_audit_move_txn(MDB_txn *txn, void *arg)
{
    s_audit_move_t *a = arg;
    a->audit = txn;
    return tsr_kv_read(a->s->kv, s_audit_move_read, a);
}

/* Empties main's audit database and records format 3, together. */
static int s_audit_empty_main(MDB_txn *txn, void *arg)
{
    tsr_store_t *s = arg;
    int rc = tsr_kv_empty(txn, s->dbi[S_AUDIT]);
    return rc == 0 && s->format < 3 ? tsr_store_format_put(s, txn, 3) : rc;
}

/* How many entries a database holds (main's audit, or the audit
 * environment's), read in a transaction of its environment. */
typedef struct {
    MDB_dbi dbi;
    size_t n;
} s_entries_t;

static int s_entries_body(MDB_txn *txn, void *arg)
{
    s_entries_t *e = arg;
    return tsr_kv_entries(txn, e->dbi, &e->n);
}

/* Moves the entries of main's audit database (a store of format 2 kept its
 * audit log there) into the audit environment, then empties main's and
 * records format 3 in one transaction: a crash in between leaves both
 * copies, and the next open copies again. */
static int s_audit_move(tsr_store_t *s, const char *dir, tsr_error_t *err)
{
    s_audit_move_t a = {.s = s};
    s_entries_t main_n = {s->dbi[S_AUDIT], 0}, held = {s->audit_dbi, 0};
    int rc = tsr_kv_read(s->kv, s_entries_body, &main_n);
    size_t n = main_n.n;
    if (rc == 0 && n > 0)
        rc = tsr_kv_read(s->audit_kv, s_entries_body, &held);
    if (rc == 0 && held.n > 0)
        /* a repeat after a crash, or main restored by hand beside a newer
         * audit log: entries purged since come back (the same sequences
         * with the same content) */
        tsr_warn("store", "main's audit database holds %zu entries and %s already %zu: copying "
                 "main's over them (a move interrupted before, or a db/ from an older backup "
                 "beside this audit log)", n, dir, held.n);
    size_t chunks = 0;
    while (rc == 0 && n > 0) {
        rc = tsr_kv_write(s->audit_kv, s_audit_move_txn, &a);
        a.from_n = a.last_n;
        memcpy(a.from, a.last, a.last_n);
        chunks++;
        if (!a.more)
            break;
    }
    uint32_t from = s->format;
    if (rc == 0 && (n > 0 || s->format < 3))
        rc = tsr_kv_write(s->kv, s_audit_empty_main, s);
    if (rc != 0) {
        tsr_error_at(err, dir, 0);
        tsr_error_set(err, "audit", "the audit log cannot be moved out of the main store: %s",
                      tsr_strerror(rc));
        return rc;
    }
    if (n > 0)
        tsr_info("store", "audit log moved to its own environment %s (%zu entr%s, %zu "
                 "transaction%s) event=audit_moved", dir, n, n == 1 ? "y" : "ies", chunks,
                 chunks == 1 ? "" : "s");
    if (from < 3)
        tsr_info("store", "store format %u migrated to 3 event=store_migrated from=%u to=3", from,
                 from);
    return 0;
}

int tsr_store_audit_open(tsr_store_t *s, const tsr_kv_opts_t *main, const tsr_kv_opts_t *audit,
                         tsr_error_t *err)
{
    static const char *const names[] = {"audit", "counters"};
    char dir[4096];
    tsr_kv_opts_t o = tsr_store_env_opts(main, audit, "audit", dir, sizeof dir);
    MDB_dbi dbi[2];
    int rc = tsr_kv_open(&s->audit_kv, &o, err);
    if (rc == 0 && (rc = tsr_kv_dbis(s->audit_kv, names, 2, 0, dbi, err)) == 0) {
        s->audit_dbi = dbi[0];
        s->audit_counters = dbi[1];
    }
    if (rc == 0)
        rc = s_audit_move(s, o.dir, err);
    return rc;
}
