/* store_version.c - the store's format version (docs/STORAGE.md, "Format
 * versions"): recorded in meta, checked at every open, older formats
 * migrated in the open's first write transaction; and the summary of a
 * store that a backup's manifest carries.
 *
 * Formats:
 *   1  what collectors before 0.2 wrote; it records no version.
 *   2  the version in meta; alerts counted by kind in link_meta
 *      ("alerts:linkage", ...), in the transaction that raises each.
 *      From 1: the alert log is counted once.
 *   3  the audit log in an environment of its own (DATA_DIR/audit,
 *      store_audit.c). From 2: not in this transaction. It leaves an
 *      older store at 2; tsr_store_audit_open then moves main's audit
 *      entries and records 3 in the transaction that empties main's, so
 *      a move that fails (a full disk) leaves a store a format 2
 *      collector still opens, and one that crashes is done again. The
 *      number keeps a collector of format 2, which would write a second
 *      audit log in main beside the moved one, from opening the store.
 */
#include "bytes.h"
#include "store_int.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    tsr_store_t *s;
    uint32_t found; /* the format the store had (1 when none was recorded) */
    bool fresh;     /* a new, empty store */
    uint32_t to;    /* the format this transaction leaves */
} s_format_t;

int tsr_store_format_put(tsr_store_t *s, MDB_txn *txn, uint32_t format)
{
    uint8_t v4[4] = {format & 0xff, (format >> 8) & 0xff, (format >> 16) & 0xff,
                     (uint8_t)(format >> 24)};
    MDB_val k = {sizeof S_META_FORMAT - 1, (void *)S_META_FORMAT}, v = {4, v4};
    int rc = tsr_kv_put(txn, s->dbi[S_META], &k, &v, 0);
    if (rc == 0)
        s->format = format;
    return rc;
}

/* True when none of the databases a store of any format fills holds
 * anything: a store just made. */
static int s_is_empty(tsr_store_t *s, MDB_txn *txn, bool *empty)
{
    static const int dbs[] = {S_RECORDS, S_TOMBSTONES, S_LOG, S_AUDIT, S_META, S_COUNTERS};
    *empty = true;
    for (size_t i = 0; *empty && i < sizeof dbs / sizeof *dbs; i++) {
        size_t n = 0;
        int rc = tsr_kv_entries(txn, s->dbi[dbs[i]], &n);
        if (rc != 0)
            return rc;
        *empty = n == 0;
    }
    return 0;
}

static int s_format_read(tsr_store_t *s, MDB_txn *txn, uint32_t *format, bool *recorded)
{
    MDB_val k = {sizeof S_META_FORMAT - 1, (void *)S_META_FORMAT}, v;
    int rc = tsr_kv_get(txn, s->dbi[S_META], &k, &v);
    *recorded = rc == 0;
    *format = 1;
    if (rc == 0 && v.mv_size != 4)
        return TSR_ECORRUPT;
    if (rc == 0)
        *format = (uint32_t)((const uint8_t *)v.mv_data)[0] |
                  (uint32_t)((const uint8_t *)v.mv_data)[1] << 8 |
                  (uint32_t)((const uint8_t *)v.mv_data)[2] << 16 |
                  (uint32_t)((const uint8_t *)v.mv_data)[3] << 24;
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

static int s_format_txn(MDB_txn *txn, void *arg)
{
    s_format_t *f = arg;
    tsr_store_t *s = f->s;
    bool recorded;
    int rc = s_format_read(s, txn, &f->found, &recorded);
    if (rc == 0 && !recorded)
        rc = s_is_empty(s, txn, &f->fresh);
    if (rc != 0)
        return rc;
    if (f->fresh)
        f->found = TSR_STORE_FORMAT;
    if (f->found > TSR_STORE_FORMAT)
        return TSR_ERANGE; /* nothing written */
    /* up to 2 here; 3 once the audit log is moved (tsr_store_audit_open) */
    f->to = f->found >= 3 ? f->found : 2;
    s->format = f->found;
    if (recorded && f->found == f->to)
        return 0;
    /* one step per format, oldest first */
    if (f->found < 2)
        rc = tsr_link_alert_recount(s->link, txn);
    return rc == 0 ? tsr_store_format_put(s, txn, f->to) : rc;
}

int tsr_store_format_open(tsr_store_t *s, const char *dir, tsr_error_t *err)
{
    s_format_t f = {.s = s};
    int rc = tsr_kv_write(s->kv, s_format_txn, &f);
    tsr_error_at(err, dir, 0);
    if (rc == TSR_ERANGE) {
        tsr_error_set(err, "format_version",
                      "this store is in format %u, newer than this collector reads (formats 1 "
                      "to %d): it was written by a later tessera-collector. Install that "
                      "version again, or restore a backup made before the upgrade; nothing "
                      "was changed",
                      f.found, TSR_STORE_FORMAT);
        return rc;
    }
    if (rc != 0) {
        tsr_error_set(err, "format_version", "the store's format cannot be read or recorded: %s",
                      tsr_strerror(rc));
        return rc;
    }
    if (!f.fresh && f.found < f.to)
        tsr_info("store", "store format %u migrated to %u event=store_migrated from=%u to=%u",
                 f.found, f.to, f.found, f.to);
    return 0;
}

/* --- a store opened by a tool ------------------------------------------------ */

/* The environment, its databases and the linkage databases of the store in
 * envdir, without what a collector's open does (no format check, no
 * secret, no ingest log read): for the summary and the restore, beside or
 * instead of a collector. Close the link and the kv. */
static int s_bare_open(tsr_store_t *s, const char *envdir, bool read_only, tsr_error_t *err)
{
    tsr_kv_opts_t o = {.dir = envdir, .read_only = read_only};
    int rc = tsr_kv_open(&s->kv, &o, err);
    if (rc == 0)
        /* the databases up to the upstream queue: a tool needs none after
         * it, and a store that never forwarded (or predates federation,
         * like the format 1 fixture) has no upstream database */
        rc = tsr_kv_dbis(s->kv, tsr_store_db_names, S_UPSTREAM, 0, s->dbi, err);
    if (rc == 0)
        rc = tsr_link_open(&s->link, s->kv, s->dbi[S_BY_TOKEN], tsr_store_record_read, s, err);
    return rc;
}

/* --- summary ----------------------------------------------------------------- */

typedef struct {
    tsr_store_t *s;
    tsr_store_summary_t *out;
    uint64_t applied; /* main's `applied` (0 before the log environment) */
} s_summary_t;

static int s_summary_txn(MDB_txn *txn, void *arg)
{
    s_summary_t *a = arg;
    bool recorded;
    int rc = s_format_read(a->s, txn, &a->out->format, &recorded);
    MDB_val k = {7, "records"}, v;
    if (rc == 0 && (rc = tsr_kv_get(txn, a->s->dbi[S_COUNTERS], &k, &v)) == 0 &&
        v.mv_size == sizeof a->out->records)
        memcpy(&a->out->records, v.mv_data, sizeof a->out->records);
    if (rc == TSR_ENOTFOUND)
        rc = 0;
    if (rc == 0)
        rc = tsr_kv_entries(txn, a->s->dbi[S_LOG], &a->out->logged);
    MDB_val ak = {sizeof S_META_APPLIED - 1, (void *)S_META_APPLIED};
    if (rc == 0 && (rc = tsr_kv_get(txn, a->s->dbi[S_META], &ak, &v)) == 0 && v.mv_size == 8) {
        tsr_bytes_t b = {v.mv_data, 0, 8, false};
        a->applied = tsr_bytes_get_u64(&b);
    }
    if (rc == TSR_ENOTFOUND)
        rc = 0; /* a store from before the log environment */
    if (rc == 0)
        rc = tsr_link_last_seq(a->s->link, txn, &a->out->last_alert);
    return rc;
}

typedef struct {
    MDB_dbi dbi;
    uint64_t after;
    size_t n;
} s_waiting_t;

/* Counts the log entries after a->after (not yet applied to main). */
static int s_waiting_txn(MDB_txn *txn, void *arg)
{
    s_waiting_t *a = arg;
    MDB_cursor *c = NULL;
    uint8_t from[8];
    tsr_bytes_be64(from, a->after + 1);
    MDB_val k = {sizeof from, from}, v;
    int rc = tsr_kv_cursor_open(txn, a->dbi, &c);
    for (rc = rc ? rc : tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT))
        a->n++;
    tsr_kv_cursor_close(c);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

/* The entries of the log environment beside envdir (ENVDIR/../log) that
 * main has not applied (sequence > applied): acknowledged, and applied at
 * the next start. 0 when there is no log environment. */
static int s_log_waiting(const char *envdir, uint64_t applied, size_t *n, tsr_error_t *err)
{
    char dir[4200];
    if (snprintf(dir, sizeof dir, "%s/../log", envdir) >= (int)sizeof dir || access(dir, F_OK) != 0)
        return 0;
    tsr_kv_opts_t o = {.dir = dir, .read_only = true};
    tsr_kv_t *kv = NULL;
    static const char *const names[] = {"ingest_log"};
    s_waiting_t w = {0, applied, 0};
    int rc = tsr_kv_open(&kv, &o, err);
    if (rc == 0)
        rc = tsr_kv_dbis(kv, names, 1, 0, &w.dbi, err);
    if (rc == 0)
        rc = tsr_kv_read(kv, s_waiting_txn, &w);
    tsr_kv_close(&kv);
    *n += w.n;
    return rc;
}

int tsr_store_summary(const char *envdir, tsr_store_summary_t *out, tsr_error_t *err)
{
    memset(out, 0, sizeof *out);
    tsr_store_t s = {0};
    int rc = s_bare_open(&s, envdir, true, err);
    if (rc == 0) {
        s_summary_t a = {&s, out, 0};
        if ((rc = tsr_kv_read(s.kv, s_summary_txn, &a)) != 0) {
            tsr_error_at(err, envdir, 0);
            tsr_error_set(err, "", "the store cannot be read: %s", tsr_strerror(rc));
        } else {
            rc = s_log_waiting(envdir, a.applied, &out->logged, err);
        }
    } else if (rc == TSR_ENOTFOUND) {
        tsr_error_at(err, envdir, 0); /* err's field names the database */
    }
    tsr_link_close(&s.link);
    tsr_kv_close(&s.kv);
    return rc;
}

typedef struct {
    tsr_link_t *link;
    uint64_t after, last;
} s_after_t;

static int s_after_txn(MDB_txn *txn, void *arg)
{
    s_after_t *a = arg;
    int rc = tsr_link_last_seq(a->link, txn, &a->last);
    if (rc == 0 && a->last < a->after)
        rc = tsr_link_seq_set(a->link, txn, "alert", a->last = a->after);
    return rc;
}

int tsr_store_alerts_after(const char *envdir, uint64_t after, uint64_t *last, tsr_error_t *err)
{
    tsr_store_t s = {0};
    int rc = s_bare_open(&s, envdir, false, err);
    s_after_t a = {s.link, after, 0};
    if (rc == 0 && (rc = tsr_kv_write(s.kv, s_after_txn, &a)) != 0) {
        tsr_error_at(err, envdir, 0);
        tsr_error_set(err, "", "the alert sequence cannot be set: %s", tsr_strerror(rc));
    }
    *last = a.last;
    tsr_link_close(&s.link);
    tsr_kv_close(&s.kv);
    return rc;
}

/* --- alerts by kind ------------------------------------------------------------ */

typedef struct {
    tsr_store_t *s;
    uint64_t *counts;
} s_counts_t;

static int s_counts_txn(MDB_txn *txn, void *arg)
{
    s_counts_t *a = arg;
    return tsr_link_alert_counts(a->s->link, txn, a->counts);
}

int tsr_store_alert_counts(tsr_store_t *s, uint64_t counts[TSR_ALERT_KINDS + 1])
{
    s_counts_t a = {s, counts};
    return tsr_kv_read(s->kv, s_counts_txn, &a);
}
