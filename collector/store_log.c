/* store_log.c - the ingest log: each submitted item's outcome, and the
 * entries that change the store appended in the Ack's commit
 * (docs/STORAGE.md, "the ingest log"). */
#define _GNU_SOURCE /* tdestroy */
#include "bytes.h"
#include "store_int.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <search.h>
#include <stdio.h>
#include <sys/file.h>
#include <stdlib.h>
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
 * keeps `pend`: for each record id with a waiting entry, what the store will
 * hold for it once the log is applied. It is rebuilt from the log at open and
 * after any transaction that did not commit. docs/STORAGE.md has the
 * trade-offs. */

/* pend is a balanced tree (glibc's tsearch is a red-black tree), not a
 * hash table: record ids are chosen by agents, and a table whose hash they
 * could aim at would let one agent make every lookup slow. */
static int s_pend_cmp(const void *a, const void *b)
{
    return memcmp(((const tsr_store_fate_t *)a)->rid, ((const tsr_store_fate_t *)b)->rid,
                  TSR_RECORD_ID_LEN);
}

/* What pend says of rid, or NULL. */
static tsr_store_fate_t *s_pend_find(tsr_store_t *s, const uint8_t *rid)
{
    tsr_store_fate_t key;
    memcpy(key.rid, rid, TSR_RECORD_ID_LEN);
    void *node = tfind(&key, &s->pend, s_pend_cmp);
    return node ? *(tsr_store_fate_t **)node : NULL;
}

void tsr_store_pend_clear(tsr_store_t *s)
{
    tdestroy(s->pend, free);
    s->pend = NULL;
    s->pend_n = 0;
}

/* Sets what rid will be once the log is applied. */
static int s_pend_note(tsr_store_t *s, const tsr_store_fate_t *f)
{
    tsr_store_fate_t *have = s_pend_find(s, f->rid);
    if (have) {
        *have = *f;
        return 0;
    }
    tsr_store_fate_t *n = malloc(sizeof *n);
    if (!n)
        return TSR_ENOMEM;
    *n = *f;
    void *node = tsearch(n, &s->pend, s_pend_cmp);
    if (!node || *(tsr_store_fate_t **)node != n) {
        free(n);
        return TSR_ENOMEM;
    }
    s->pend_n++;
    return 0;
}

/* A packed record's version and agency (tsr_store_pack's header). */
static int s_peek(const uint8_t *p, size_t n, uint32_t *version, char *agency)
{
    tsr_bytes_t b = {(uint8_t *)p, 0, n, false};
    if (tsr_bytes_get_u8(&b) != S_RECORD_FORMAT)
        return TSR_ECORRUPT;
    unsigned alen = tsr_bytes_get_u8(&b);
    if (alen >= TSR_CLIENT_ID_MAX)
        return TSR_ECORRUPT;
    tsr_bytes_get(&b, agency, alen);
    agency[alen] = '\0';
    (void)tsr_bytes_get_u64(&b);
    *version = tsr_bytes_get_u32(&b);
    return b.bad ? TSR_ECORRUPT : 0;
}

/* A log entry's record id and what it makes of it. For an incident,
 * *packed is the record as it goes into `records`. */
int tsr_store_log_parse(const MDB_val *v, int *op, tsr_store_fate_t *f, MDB_val *packed)
{
    const uint8_t *p = v->mv_data;
    memset(f, 0, sizeof *f);
    if (v->mv_size < 1 + TSR_RECORD_ID_LEN + 4)
        return TSR_ECORRUPT;
    *op = p[0];
    memcpy(f->rid, p + 1, TSR_RECORD_ID_LEN);
    const uint8_t *rest = p + 1 + TSR_RECORD_ID_LEN;
    size_t n = v->mv_size - 1 - TSR_RECORD_ID_LEN;
    if (*op == S_LOG_INCIDENT) {
        f->kind = S_FATE_STORED;
        *packed = (MDB_val){n, (void *)rest};
        return s_peek(rest, n, &f->version, f->agency);
    }
    if (*op != S_LOG_RETRACTION)
        return TSR_ECORRUPT;
    f->kind = S_FATE_TOMBSTONE;
    return tsr_store_va_get(rest, n, &f->version, f->agency);
}

/* Rebuilds pend from the log entries after the published `applied` (txn:
 * the log environment). Any main snapshot read later has applied at least
 * that (it only grows), so every id with an entry the snapshot lacks is in
 * pend (docs/STORAGE.md, "Outcomes before the apply, across threads"). */
static int s_pend_rebuild(tsr_store_t *s, MDB_txn *txn)
{
    MDB_cursor *c;
    MDB_val k, v, packed;
    uint8_t from[8];
    tsr_store_pend_clear(s);
    tsr_bytes_be64(from, atomic_load(&s->applied_pub) + 1);
    int rc = tsr_kv_cursor_open(txn, s->log_dbi, &c);
    if (rc != 0)
        return rc;
    int bad = 0; /* a damaged entry, or pend out of memory */
    k = (MDB_val){sizeof from, from};
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        tsr_store_fate_t f;
        int op;
        if ((bad = tsr_store_damaged(k.mv_size != 8 ? TSR_ECORRUPT
                                                    : tsr_store_log_parse(&v, &op, &f, &packed),
                                     "ingest_log", k.mv_data, k.mv_size)) != 0)
            break;
        f.seq = tsr_bytes_from_be64(k.mv_data);
        if ((bad = s_pend_note(s, &f)) != 0)
            break;
    }
    tsr_kv_cursor_close(c);
    rc = bad ? bad : rc == TSR_ENOTFOUND ? 0 : rc;
    s->pend_valid = rc == 0;
    return rc;
}

/* s_pend_rebuild in a read transaction of its own (outside a write). */
static int s_pend_reload_body(MDB_txn *txn, void *arg)
{
    return s_pend_rebuild(arg, txn);
}

int tsr_store_pend_reload(tsr_store_t *s)
{
    return tsr_kv_read(s->log_kv, s_pend_reload_body, s);
}

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
    tsr_kv_opts_t o = *log;
    char dir[4096];
    if (!o.dir) {
        snprintf(dir, sizeof dir, "%s/log", main->dir);
        o.dir = dir;
    }
    if (!o.map_size && !o.map_step && !o.map_max) {
        o.map_size = main->map_size;
        o.map_step = main->map_step;
        o.map_max = main->map_max;
    }
    o.read_only = main->read_only;
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

/* What the store holds for rid, counting the log's waiting entries. */
static int s_fate(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid, tsr_store_fate_t *f)
{
    const tsr_store_fate_t *p = s->pend_n > 0 ? s_pend_find(s, rid) : NULL;
    if (p) {
        *f = *p;
        return 0;
    }
    memset(f, 0, sizeof *f);
    memcpy(f->rid, rid, TSR_RECORD_ID_LEN);
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid}, v;
    int rc = tsr_kv_get(txn, s->dbi[S_RECORDS], &k, &v);
    if (rc == 0) {
        f->kind = S_FATE_STORED;
        return tsr_store_damaged(s_peek(v.mv_data, v.mv_size, &f->version, f->agency), "records",
                                 rid, TSR_RECORD_ID_LEN);
    }
    if (rc == TSR_ENOTFOUND &&
        (rc = tsr_store_tombstone_get(s, txn, rid, &f->version, f->agency)) == 0)
        f->kind = S_FATE_TOMBSTONE;
    return rc == TSR_ENOTFOUND ? 0 : rc;
}
/* --- apply ----------------------------------------------------------------- */

static const char *const s_reason_names[] = {
    "",
    "invalid_field",
    "area_not_bound",
    "bad_token",
    "stale_version",
    "unknown_record",
    "not_permitted", "wrong_network_key", "past_retention",
};

static void s_reject(tsr_store_item_t *it, int reason, const char *detail)
{
    it->outcome = TSR_OUTCOME_REJECTED;
    it->reason = reason;
    snprintf(it->detail, sizeof it->detail, "%s", detail);
}

/* --- submit: outcomes and the log --------------------------------------------- */

void tsr_store_network_keys(const tsr_store_t *s, int32_t day, tsr_netkeys_t *out, bool *pinned)
{
    if (pinned)
        *pinned = !s->configured && s->pinned;
    if (s->configured) {
        tsr_netkeys_current(&s->keys, day, out);
    } else {
        memset(out, 0, sizeof *out);
        if (s->pinned)
            out->ids[out->n++] = s->pin;
    }
}

/* Whether every token of inc is under an accepted network key on day; if
 * not, why in d. Without configured keys, the first token a record brings
 * pins its key id (written by s_submit_txn, in force after the commit). */
static bool s_keys_ok(tsr_store_t *s, const tsr_client_t *c, const tsr_incident_t *inc,
                      int32_t day, char *d, size_t cap)
{
    if (inc->n_tokens == 0)
        return true;
    tsr_netkeys_t acc;
    tsr_store_network_keys(s, day, &acc, NULL);
    if (!s->configured && !s->pinned && inc->tokens[0].key_id == 0) {
        /* 0 is a token without a key id (protobuf's default): never pinned */
        snprintf(d, cap, "token under network key id 0, which no network key has; this "
                         "collector pins none yet (set [network] key_ids)");
        return false;
    }
    if (!s->configured && !s->pinned) {
        if (!s->pin_pending) {
            s->pin_pending = true;
            s->pin_new = inc->tokens[0].key_id;
            snprintf(s->pin_agency, sizeof s->pin_agency, "%s", c->id);
        }
        acc.ids[0] = (tsr_netkey_id_t){s->pin_new, 0};
        acc.n = 1;
    }
    for (size_t i = 0; i < inc->n_tokens; i++) {
        uint32_t id = inc->tokens[i].key_id;
        if (tsr_netkeys_accepts(&acc, id, day))
            continue;
        char ids[64], until[11] = "";
        tsr_netkeys_format_ids(&acc, ids, sizeof ids);
        for (size_t j = 0; j < s->keys.n && s->configured; j++)
            if (s->keys.ids[j].key_id == id)
                tsr_day_format(until, s->keys.ids[j].until_day);
        /* at most 4 ids: "... only 1857500892, 1974342276" fits the detail's 128 bytes */
        int n = until[0] ? snprintf(d, cap, "token under network key id %u, accepted until %s; "
                                            "this collector accepts %s", id, until, ids)
                         : snprintf(d, cap, "token under network key id %u; this collector "
                                            "accepts only %s", id, ids);
        if (n < 0)
            snprintf(d, cap, "token under network key id %u", id);
        return false;
    }
    return true;
}

/* The agency id an item is stored under, into agency (TSR_CLIENT_ID_MAX):
 * an agent's own id, or for a relay "RELAY/AGENCY" from the agency the
 * item names (issue 19). A payload's agency id is trusted only from a
 * relay, and only as far as the relay's id prefixes it: an agent that names
 * one, or another role, is refused. Returns false with the item rejected. */
static bool s_item_agency(const tsr_client_t *c, tsr_store_item_t *it, char *agency)
{
    const char *named = it->incident ? it->incident->agency_id : it->agency_id;
    char d[sizeof it->detail];
    if (c->role == TSR_ROLE_AGENT && named[0]) {
        s_reject(it, TSR_REJECT_NOT_PERMITTED,
                 "agency_id: only a relay may name a record's agency, and this key is listed "
                 "as an agent");
        return false;
    }
    if (c->role == TSR_ROLE_AGENT) {
        snprintf(agency, TSR_CLIENT_ID_MAX, "%s", c->id);
        return true;
    }
    if (c->role != TSR_ROLE_RELAY) {
        s_reject(it, TSR_REJECT_NOT_PERMITTED, "only agents and relays may submit");
        return false;
    }
    if (!named[0]) {
        s_reject(it, TSR_REJECT_INVALID_FIELD, "agency_id: a relay must name each record's agency");
        return false;
    }
    size_t n = strlen(c->id), m = strlen(named);
    if (n + 1 + m >= TSR_CLIENT_ID_MAX) {
        snprintf(d, sizeof d, "agency_id: %zu characters with the relay's id and '/' (%d at "
                 "most)", n + 1 + m, TSR_CLIENT_ID_MAX - 1);
        s_reject(it, TSR_REJECT_INVALID_FIELD, d);
        return false;
    }
    memcpy(agency, c->id, n);
    agency[n] = '/';
    memcpy(agency + n + 1, named, m + 1);
    return true;
}

/* Whether inc holds nothing but what forward = linkage sends. */
static bool s_profile_free(const tsr_incident_t *inc)
{
    tsr_incident_t bare = *inc;
    tsr_store_linkage_only(&bare);
    return !memcmp(&bare, inc, sizeof bare);
}

/* The outcome of an item against what the store holds for its record;
 * agency is what the item is stored under (s_item_agency). */
static void s_decide(tsr_store_t *s, const tsr_client_t *c, const char *agency, int forward,
                     tsr_store_item_t *it, const tsr_store_fate_t *f, int32_t cutoff,
                     int32_t today)
{
    const tsr_incident_t *inc = it->incident;
    uint32_t version = inc ? inc->version : it->version;
    char d[sizeof it->detail];
    if (inc && inc->reported_day < cutoff) {
        snprintf(d, sizeof d, "reported_day: before the retention period (%d months)",
                 s->retention_months);
        s_reject(it, TSR_REJECT_PAST_RETENTION, d);
    } else if (inc && !tsr_client_area_allowed(c, inc->area_code)) {
        snprintf(d, sizeof d, "area %s is not bound to %s", inc->area_code, c->id);
        s_reject(it, TSR_REJECT_AREA_NOT_BOUND, d);
    } else if (f->kind != S_FATE_NONE && strcmp(f->agency, agency) != 0) {
        s_reject(it, TSR_REJECT_NOT_PERMITTED, "record id belongs to another agency");
    } else if (inc && forward == TSR_FORWARD_LINKAGE && !s_profile_free(inc)) {
        s_reject(it, TSR_REJECT_INVALID_FIELD, "a linkage-only relay's record carries a case "
                 "profile (forward = linkage sends tokens, area, day and ids only)");
    } else if (inc && !s_keys_ok(s, c, inc, today, d, sizeof d)) {
        s_reject(it, TSR_REJECT_WRONG_NETWORK_KEY, d);
    } else if (inc) {
        /* a tombstone's version was withdrawn: only a higher one comes back */
        it->outcome = f->kind != S_FATE_NONE && version <= f->version ? TSR_OUTCOME_DUPLICATE
                      : f->kind == S_FATE_STORED                      ? TSR_OUTCOME_REPLACED
                                                                      : TSR_OUTCOME_ACCEPTED;
    } else if (f->kind == S_FATE_STORED && f->version > version) {
        s_reject(it, TSR_REJECT_STALE_VERSION, "a newer version is stored; retract that version");
    } else if (f->kind == S_FATE_TOMBSTONE && f->version >= version) {
        it->outcome = TSR_OUTCOME_DUPLICATE;
    } else {
        /* a retraction of a record never seen (the incident may still be in
         * flight) keeps a tombstone, so it cannot arrive later and stay */
        it->outcome = TSR_OUTCOME_RETRACTED;
    }
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
    return rc == 0 ? s_pend_note(s, &f) : rc;
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
    bool may_link;    /* s_link_probe */
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

int tsr_store_trim(tsr_store_t *s, size_t max)
{
    if (s->log_first > atomic_load(&s->applied_pub))
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

/* Adds delta to an outcome counter of the log environment (in the submit's
 * transaction: counted exactly when the Ack's commit is). */
static int s_count_log(tsr_store_t *s, MDB_txn *txn, const char *name, int64_t delta)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    uint64_t cur = 0;
    int rc = tsr_kv_get(txn, s->log_counters, &k, &v);
    if (rc == 0 && v.mv_size == sizeof cur)
        memcpy(&cur, v.mv_data, sizeof cur);
    else if (rc != 0 && rc != TSR_ENOTFOUND)
        return rc;
    cur = (uint64_t)((int64_t)cur + delta);
    v = (MDB_val){sizeof cur, &cur};
    return tsr_kv_put(txn, s->log_counters, &k, &v, 0);
}

static const char *s_outcome_counter(tsr_outcome_t o)
{
    switch (o) {
    case TSR_OUTCOME_ACCEPTED:
        return "accepted";
    case TSR_OUTCOME_DUPLICATE:
        return "duplicates";
    case TSR_OUTCOME_REPLACED:
        return "replaced";
    case TSR_OUTCOME_RETRACTED:
        return "retracted";
    default:
        return NULL;
    }
}

/* Counts a batch's outcomes, by kind and by agency (an agency whose items
 * were all refused still shows, with 0 accepted). */
static int s_count_outcomes(tsr_store_t *s, MDB_txn *txn, const tsr_store_batch_t *b)
{
    enum { N_REASONS = sizeof s_reason_names / sizeof *s_reason_names };
    int64_t kinds[TSR_OUTCOME_REJECTED] = {0}, reasons[N_REASONS] = {0};
    for (size_t i = 0; i < b->n_items; i++) {
        const tsr_store_item_t *it = &b->items[i];
        if (it->outcome == TSR_OUTCOME_REJECTED)
            reasons[it->reason >= 1 && it->reason < N_REASONS ? it->reason : 1]++;
        else if (it->outcome > TSR_OUTCOME_NONE && it->outcome < TSR_OUTCOME_REJECTED)
            kinds[it->outcome]++;
    }
    char name[TSR_CLIENT_ID_MAX + 16];
    int rc = 0;
    for (int o = TSR_OUTCOME_ACCEPTED; rc == 0 && o < TSR_OUTCOME_REJECTED; o++) {
        const char *cn = s_outcome_counter((tsr_outcome_t)o);
        if (kinds[o] && cn)
            rc = s_count_log(s, txn, cn, kinds[o]);
    }
    for (int r = 1; rc == 0 && r < N_REASONS; r++)
        if (reasons[r]) {
            snprintf(name, sizeof name, "rejected:%s", s_reason_names[r]);
            rc = s_count_log(s, txn, name, reasons[r]);
        }
    if (rc == 0) {
        snprintf(name, sizeof name, "agency:%s", b->client->id);
        rc = s_count_log(s, txn, name, kinds[TSR_OUTCOME_ACCEPTED]);
    }
    if (rc == 0)
        rc = s_count_log(s, txn, "batches", 1);
    int64_t stored = kinds[TSR_OUTCOME_ACCEPTED] + kinds[TSR_OUTCOME_REPLACED];
    if (rc == 0 && b->client->role == TSR_ROLE_RELAY && stored > 0) {
        /* which region forwards what (issue 19): its records by mode */
        snprintf(name, sizeof name, "relay:%s:%s", b->client->id,
                 b->items[0].forward == TSR_FORWARD_LINKAGE ? "linkage" : "records");
        rc = s_count_log(s, txn, name, stored);
    }
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
            it->outcome = TSR_OUTCOME_NONE;
            it->reason = 0;
            it->detail[0] = '\0';
            tsr_store_fate_t f;
            char agency[TSR_CLIENT_ID_MAX];
            if (it->pre_reason) {
                s_reject(it, it->pre_reason, it->pre_detail);
            } else if (!s_item_agency(batch->client, it, agency)) {
                /* rejected: refused role, or an agency id not to be trusted */
            } else if ((rc = s_fate(s, main, it->incident ? it->incident->record_id : it->record_id,
                                    &f)) == 0) {
                s_decide(s, batch->client, agency, it->forward, it, &f, cutoff,
                         (int32_t)(a->now / 86400));
                if (it->outcome == TSR_OUTCOME_ACCEPTED || it->outcome == TSR_OUTCOME_REPLACED ||
                    it->outcome == TSR_OUTCOME_RETRACTED)
                    rc = s_log_put(s, txn, a->next++, agency, it, a->now);
            }
        }
        if (rc == 0)
            rc = s_count_outcomes(s, txn, batch);
    }
    return rc;
}

/* One token of a waiting log entry (s_link_probe). */
typedef struct {
    uint8_t token[TSR_TOKEN_LEN];
    uint8_t rid[TSR_RECORD_ID_LEN];
    bool mine; /* an entry of this submit */
} s_probe_tok_t;

static int s_probe_cmp(const void *a, const void *b)
{
    return memcmp(a, b, TSR_TOKEN_LEN + TSR_RECORD_ID_LEN);
}

/* Whether tokens t[0..n), sorted, hold one token of an entry of this
 * submit and of another record. */
static bool s_probe_shared(const s_probe_tok_t *t, size_t n)
{
    for (size_t i = 0, j; i < n; i = j) {
        bool mine = false, other = false;
        for (j = i; j < n && !memcmp(t[j].token, t[i].token, TSR_TOKEN_LEN); j++) {
            mine |= t[j].mine;
            other |= memcmp(t[j].rid, t[i].rid, TSR_RECORD_ID_LEN) != 0;
        }
        if (mine && other)
            return true;
    }
    return false;
}

/* The link probe (docs/STORAGE.md, "Linkage alerts at once"): whether a
 * record this submit logged shares a token with another record, applied
 * (main's snapshot) or waiting in the log (txn). Only while at most
 * s->probe_max entries wait, so large batches pay nothing for it. An
 * optimisation only: a wrong "no" (an entry it cannot read, memory) leaves
 * the step to the usual apply_* rules; a wrong "yes" runs a step early. */
static bool s_link_probe(tsr_store_t *s, const s_submit_t *a, MDB_txn *txn, MDB_txn *main)
{
    if (a->next == a->first || a->next - a->from > s->probe_max || !tsr_link_enabled(s->link))
        return false;
    s_probe_tok_t *t = NULL;
    size_t n = 0, cap = 0;
    tsr_incident_t *inc = malloc(sizeof *inc);
    MDB_cursor *c = NULL;
    uint8_t from[8];
    tsr_bytes_be64(from, a->from);
    MDB_val k = {sizeof from, from}, v, packed;
    int rc = inc ? tsr_kv_cursor_open(txn, s->log_dbi, &c) : TSR_ENOMEM, shared = 0;
    for (rc = rc ? rc : tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && !shared;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        tsr_store_fate_t f;
        int op;
        bool mine = k.mv_size == 8 && tsr_bytes_from_be64(k.mv_data) >= a->first;
        if (tsr_store_log_parse(&v, &op, &f, &packed) != 0 || op != S_LOG_INCIDENT ||
            tsr_store_unpack(&packed, inc, NULL, NULL, f.rid) != 0)
            continue; /* a damaged entry is the drain's to report */
        if (mine)
            shared = tsr_link_shares_token(s->link, main, inc);
        for (size_t i = 0; shared == 0 && i < inc->n_tokens; i++) {
            if (tsr_grow((void **)&t, &cap, n, sizeof *t) != 0) {
                shared = TSR_ENOMEM;
                break;
            }
            memcpy(t[n].token, inc->tokens[i].token, TSR_TOKEN_LEN);
            memcpy(t[n].rid, f.rid, TSR_RECORD_ID_LEN);
            t[n++].mine = mine;
        }
    }
    tsr_kv_cursor_close(c);
    if (shared == 0 && n > 1) {
        qsort(t, n, sizeof *t, s_probe_cmp);
        shared = s_probe_shared(t, n);
    }
    free(t);
    free(inc);
    return shared == 1;
}

/* The body of a submit: a write transaction on the log environment only
 * (never waits for an apply step). */
static int s_submit_txn(MDB_txn *txn, void *arg)
{
    s_submit_t *a = arg;
    tsr_store_t *s = a->s;
    /* this body may be a re-run after the map grew: pend may hold what the
     * aborted run noted, so it is rebuilt from the committed log */
    int rc = s->pend_valid ? 0 : s_pend_rebuild(s, txn);
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
        a->may_link = s_link_probe(s, a, txn, main);
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

void tsr_store_link_probe(tsr_store_t *s, size_t max)
{
    s->probe_max = max;
}

bool tsr_store_link_waiting(const tsr_store_t *s)
{
    return atomic_load(&((tsr_store_t *)s)->link_pub) >
           atomic_load(&((tsr_store_t *)s)->applied_pub);
}

uint64_t tsr_store_applied(const tsr_store_t *s)
{
    return atomic_load(&((tsr_store_t *)s)->applied_pub);
}
