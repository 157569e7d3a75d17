/* store.c - the store's records, keys, counters and open (layout in
 * docs/STORAGE.md). The ingest log and submits are in store_log.c (the
 * waiting entries' view in store_pend.c, outcomes in store_decide.c, the
 * link probe in store_probe.c), the log's application in store_apply.c,
 * the audit log in store_audit.c and retention in store_retention.c, the
 * reads for queries in store_read.c; store_int.h is what they share. */
#define _GNU_SOURCE /* tdestroy */
#include "bytes.h"
#include "store_int.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const tsr_store_db_names[S_NDBS] = {
    "records",  "by_area_day", "by_token",   "tombstones", "counters",
    "agencies", "audit",       "ingest_log", "meta",       "upstream",
};
/* meta: the secret the records' cell keys are made with (ckm.h). It lives
 * in the store, so a backup, restore or rebuild keeps every key. */
#define S_META_CKM_SECRET "cell_key_secret"

/* Logs a failed write transaction: what was lost or kept, the code's name
 * and, where an operator can act, what to do. (What LMDB said itself, where
 * the code keeps less, kv has logged already.) */
void tsr_store_log_err(const char *module, const char *what, int rc)
{
    const char *todo = "";
    switch (rc) {
    case TSR_EFULL:
        todo = ": the map is at [storage] map_max_mib; raise it and restart the collector";
        break;
    case TSR_ENOSPC:
        todo = ": free space on the disk of the data directory";
        break;
    case TSR_ECORRUPT:
        todo = ": the store is damaged; see docs/STORAGE.md, Errors";
        break;
    default:
        break;
    }
    tsr_error(module, "%s: %s%s", what, tsr_strerror(rc), todo);
}

/* Logs a stored value that cannot be read, naming its database and key
 * (the callers above hear TSR_ECORRUPT only). Returns rc. */
int tsr_store_damaged(int rc, const char *db, const void *key, size_t n)
{
    if (rc == TSR_ECORRUPT) {
        char hex[2 * 32 + 1];
        tsr_hex_encode(hex, key, n < 32 ? n : 32);
        tsr_error("store", "%s entry %s cannot be read: %s", db, hex, tsr_strerror(rc));
    }
    return rc;
}

/* --- record encoding (format 1) ---------------------------------------------
 * Little-endian, fixed order; the first byte is the format so a later
 * layout can be read beside this one. */

size_t tsr_store_pack(uint8_t *buf, size_t cap, const tsr_incident_t *inc, const char *agency,
                      int64_t received_at)
{
    tsr_bytes_t b = {buf, 0, cap, false};
    size_t alen = strlen(agency);
    tsr_bytes_put_u8(&b, S_RECORD_FORMAT);
    tsr_bytes_put_u8(&b, (unsigned)alen);
    tsr_bytes_put(&b, agency, alen);
    tsr_bytes_put_u64(&b, (uint64_t)received_at);
    tsr_bytes_put_u32(&b, inc->version);
    tsr_bytes_put_u8(&b, (unsigned)inc->agency_type);
    char area[TSR_AREA_KEY_LEN] = {0};
    memcpy(area, inc->area_code, strnlen(inc->area_code, TSR_AREA_KEY_LEN));
    tsr_bytes_put(&b, area, TSR_AREA_KEY_LEN);
    tsr_bytes_put_u32(&b, (uint32_t)inc->reported_day);
    tsr_bytes_put_u32(&b, (uint32_t)inc->first_contact_day);
    tsr_bytes_put_u8(&b, (unsigned)inc->date_precision);
    tsr_bytes_put_u8(&b, (unsigned)inc->age_band);
    tsr_bytes_put_u8(&b, (unsigned)inc->gender);
    tsr_bytes_put_u32(&b, inc->contact_platforms);
    tsr_bytes_put_u32(&b, inc->moved_to_platforms);
    tsr_bytes_put_u32(&b, inc->demands);
    tsr_bytes_put_u8(&b, (unsigned)inc->amount_demanded_band);
    tsr_bytes_put_u8(&b, (unsigned)inc->amount_paid_band);
    tsr_bytes_put_u8(&b, (unsigned)inc->paid);
    tsr_bytes_put_u32(&b, inc->payment_methods);
    tsr_bytes_put_u32(&b, inc->tactics);
    tsr_bytes_put_u32(&b, inc->risks);
    tsr_bytes_put_u32(&b, inc->actions);
    tsr_bytes_put_u8(&b, (unsigned)inc->n_tokens);
    for (size_t i = 0; i < inc->n_tokens; i++) {
        size_t kl = strlen(inc->tokens[i].kind);
        tsr_bytes_put_u8(&b, (unsigned)kl);
        tsr_bytes_put(&b, inc->tokens[i].kind, kl);
        tsr_bytes_put_u32(&b, inc->tokens[i].key_id);
        tsr_bytes_put(&b, inc->tokens[i].token, TSR_TOKEN_LEN);
    }
    return b.bad ? 0 : b.n;
}

int tsr_store_unpack(const MDB_val *v, tsr_incident_t *inc, char *agency, int64_t *received_at,
                     const uint8_t rid[TSR_RECORD_ID_LEN])
{
    tsr_bytes_t b = {v->mv_data, 0, v->mv_size, false};
    memset(inc, 0, sizeof *inc);
    if (tsr_bytes_get_u8(&b) != S_RECORD_FORMAT)
        return TSR_ECORRUPT;
    unsigned alen = tsr_bytes_get_u8(&b);
    char a[256];
    tsr_bytes_get(&b, a, alen);
    a[alen < TSR_CLIENT_ID_MAX ? alen : TSR_CLIENT_ID_MAX - 1] = '\0';
    if (agency)
        memcpy(agency, a, strlen(a) + 1); /* alen < TSR_CLIENT_ID_MAX */
    int64_t rt = (int64_t)tsr_bytes_get_u64(&b);
    if (received_at)
        *received_at = rt;
    memcpy(inc->record_id, rid, TSR_RECORD_ID_LEN);
    inc->version = tsr_bytes_get_u32(&b);
    inc->agency_type = (int)tsr_bytes_get_u8(&b);
    tsr_bytes_get(&b, inc->area_code, TSR_AREA_KEY_LEN);
    inc->reported_day = (int32_t)tsr_bytes_get_u32(&b);
    inc->first_contact_day = (int32_t)tsr_bytes_get_u32(&b);
    inc->date_precision = (int)tsr_bytes_get_u8(&b);
    inc->age_band = (int)tsr_bytes_get_u8(&b);
    inc->gender = (int)tsr_bytes_get_u8(&b);
    inc->contact_platforms = tsr_bytes_get_u32(&b);
    inc->moved_to_platforms = tsr_bytes_get_u32(&b);
    inc->demands = tsr_bytes_get_u32(&b);
    inc->amount_demanded_band = (int)tsr_bytes_get_u8(&b);
    inc->amount_paid_band = (int)tsr_bytes_get_u8(&b);
    inc->paid = (int)tsr_bytes_get_u8(&b);
    inc->payment_methods = tsr_bytes_get_u32(&b);
    inc->tactics = tsr_bytes_get_u32(&b);
    inc->risks = tsr_bytes_get_u32(&b);
    inc->actions = tsr_bytes_get_u32(&b);
    inc->n_tokens = tsr_bytes_get_u8(&b);
    if (inc->n_tokens > TSR_MAX_TOKENS)
        return TSR_ECORRUPT;
    for (size_t i = 0; i < inc->n_tokens; i++) {
        unsigned kl = tsr_bytes_get_u8(&b);
        if (kl >= TSR_KIND_MAX)
            return TSR_ECORRUPT;
        tsr_bytes_get(&b, inc->tokens[i].kind, kl);
        inc->tokens[i].kind[kl] = '\0';
        inc->tokens[i].key_id = tsr_bytes_get_u32(&b);
        tsr_bytes_get(&b, inc->tokens[i].token, TSR_TOKEN_LEN);
    }
    return b.bad ? TSR_ECORRUPT : TSR_OK;
}

/* --- keys ----------------------------------------------------------------- */

static void s_area_day_key(uint8_t key[TSR_AREA_KEY_LEN + 4 + TSR_RECORD_ID_LEN],
                           const tsr_incident_t *inc)
{
    memset(key, 0, TSR_AREA_KEY_LEN);
    memcpy(key, inc->area_code, strnlen(inc->area_code, TSR_AREA_KEY_LEN));
    tsr_bytes_day(key + TSR_AREA_KEY_LEN, inc->reported_day);
    memcpy(key + TSR_AREA_KEY_LEN + 4, inc->record_id, TSR_RECORD_ID_LEN);
}

static void s_token_key(uint8_t key[TSR_TOKEN_LEN + TSR_RECORD_ID_LEN], const tsr_token_t *t,
                        const uint8_t rid[TSR_RECORD_ID_LEN])
{
    memcpy(key, t->token, TSR_TOKEN_LEN);
    memcpy(key + TSR_TOKEN_LEN, rid, TSR_RECORD_ID_LEN);
}

/* --- open ----------------------------------------------------------------- */

/* How linkage reads a stored record inside the running transaction. */
int tsr_store_record_read(void *ctx, MDB_txn *txn, const uint8_t *rid, tsr_incident_t *inc,
                          char *agency)
{
    tsr_store_t *s = ctx;
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid}, v;
    int rc = tsr_kv_get(txn, s->dbi[S_RECORDS], &k, &v);
    return rc != 0 ? rc
                   : tsr_store_damaged(tsr_store_unpack(&v, inc, agency, NULL, rid), "records", rid,
                                       TSR_RECORD_ID_LEN);
}

/* Reads the cell-key secret, or makes and stores one on the first open. */
static int s_secret_txn(MDB_txn *txn, void *arg)
{
    uint8_t *secret = ((void **)arg)[0];
    tsr_store_t *s = ((void **)arg)[1];
    const uint8_t *given = ((void **)arg)[2];
    MDB_val k = {sizeof S_META_CKM_SECRET - 1, (void *)S_META_CKM_SECRET}, v;
    int rc = tsr_kv_get(txn, s->dbi[S_META], &k, &v);
    if (rc == 0 && v.mv_size == TSR_CKM_SECRET_LEN) {
        if (given && memcmp(given, v.mv_data, TSR_CKM_SECRET_LEN) != 0)
            return TSR_EEXIST;
        memcpy(secret, v.mv_data, TSR_CKM_SECRET_LEN);
        return 0;
    }
    if (rc == 0)
        return TSR_ECORRUPT;
    if (rc != TSR_ENOTFOUND)
        return rc;
    if (given)
        memcpy(secret, given, TSR_CKM_SECRET_LEN);
    else if ((rc = tsr_ckm_secret_new(secret)) != 0)
        return rc;
    v = (MDB_val){TSR_CKM_SECRET_LEN, secret};
    return tsr_kv_put(txn, s->dbi[S_META], &k, &v, 0);
}

/* Reads the pinned network key id, if any. */
typedef struct {
    tsr_store_t *s;
    MDB_dbi meta;
} s_pin_read_t;

static int s_pin_read_body(MDB_txn *txn, void *arg)
{
    tsr_store_t *s = ((s_pin_read_t *)arg)->s;
    MDB_val k = {sizeof S_META_NETKEY - 1, (void *)S_META_NETKEY}, v;
    int rc = tsr_kv_get(txn, ((s_pin_read_t *)arg)->meta, &k, &v);
    if (rc == 0 && v.mv_size >= 12 && v.mv_size - 12 < TSR_CLIENT_ID_MAX) {
        tsr_bytes_t b = {v.mv_data, 0, v.mv_size, false};
        s->pin.key_id = tsr_bytes_get_u32(&b);
        int64_t at = (int64_t)tsr_bytes_get_u64(&b);
        char agency[TSR_CLIENT_ID_MAX], day[11];
        snprintf(agency, sizeof agency, "%.*s", (int)(v.mv_size - 12), (char *)v.mv_data + 12);
        s->pinned = true;
        if (s->configured && !tsr_netkeys_accepts(&s->keys, s->pin.key_id, INT32_MIN))
            tsr_warn("store", "this store pinned network key id %u on %s (from a record of %s); "
                     "the configured key_ids replace it", s->pin.key_id,
                     tsr_day_format(day, (int32_t)(at / 86400)), agency);
        else if (!s->configured)
            tsr_info("store", "network key id %u, pinned on %s (from a record of %s): records "
                     "under any other are refused", s->pin.key_id,
                     tsr_day_format(day, (int32_t)(at / 86400)), agency);
    } else if (rc == 0) {
        rc = TSR_ECORRUPT;
    }
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

/* The pin is written by submits, in the log environment; a store from
 * before it has it in main's meta. */
static int s_pin_read(tsr_store_t *s)
{
    s_pin_read_t log = {s, s->log_meta}, main = {s, s->dbi[S_META]};
    int rc = tsr_kv_read(s->log_kv, s_pin_read_body, &log);
    return rc == 0 && !s->pinned ? tsr_kv_read(s->kv, s_pin_read_body, &main) : rc;
}

static int s_keyer_open(tsr_store_t *s, const uint8_t *given)
{
    uint8_t secret[TSR_CKM_SECRET_LEN];
    void *arg[3] = {secret, s, (void *)given};
    int rc = tsr_kv_write(s->kv, s_secret_txn, arg);
    if (rc == 0)
        rc = tsr_ckm_keyer_new(&s->keyer, secret);
    if (rc == 0) /* a keyer holds a MAC context: one per thread */
        rc = tsr_ckm_keyer_new(&s->read_keyer, secret);
    OPENSSL_cleanse(secret, sizeof secret);
    return rc;
}

int tsr_store_open(tsr_store_t **out, const tsr_store_opts_t *opts, tsr_error_t *err)
{
    *out = NULL;
    tsr_store_t *s = calloc(1, sizeof *s);
    if (!s)
        return TSR_ENOMEM;
    s->backup_fd = -1;
    int rc = tsr_kv_open(&s->kv, &opts->kv, err);
    if (rc == 0)
        rc = tsr_kv_dbis(s->kv, tsr_store_db_names, S_NDBS, 0, s->dbi, err);
    if (rc == 0)
        rc = tsr_link_open(&s->link, s->kv, s->dbi[S_BY_TOKEN], tsr_store_record_read, s, err);
    if (rc == 0)
        rc = tsr_spikes_open(&s->spikes, s->kv, s->link, opts->spikes_set ? &opts->spikes : NULL,
                             err);
    if (rc != 0) {
        tsr_link_close(&s->link);
        tsr_kv_close(&s->kv);
        free(s);
        return rc;
    }
    /* before anything else is written: a newer format is left untouched */
    if ((rc = tsr_store_format_open(s, opts->kv.dir, err)) != 0) {
        tsr_store_close(&s);
        return rc;
    }
    char lock[4200];
    if (snprintf(lock, sizeof lock, "%s/" TSR_STORE_BACKUP_LOCK, opts->kv.dir) < (int)sizeof lock)
        s->backup_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (s->backup_fd < 0)
        tsr_warn("store", "%s cannot be opened (%s): a hot backup made now may miss entries",
                 lock, strerror(errno));
    s->retention_months = opts->retention_months;
    s->drain_ms = opts->drain_ms;
    s->upstream = opts->upstream;
    s->keys = opts->network_keys;
    s->configured = opts->network_keys.n > 0;
    if ((rc = s_keyer_open(s, opts->ckm_secret)) != 0) {
        tsr_error_at(err, opts->kv.dir, 0);
        tsr_error_set(err, "meta", "the cell-key secret cannot be read or made: %s",
                      tsr_strerror(rc));
        tsr_store_close(&s);
        return rc;
    }
    if ((rc = tsr_store_applied_read(s, (int64_t)time(NULL))) != 0) {
        tsr_error_at(err, opts->kv.dir, 0);
        tsr_error_set(err, "ingest_log", "the applied part of the log cannot be read, or a "
                      "store's own log applied: %s", tsr_strerror(rc));
        tsr_store_close(&s);
        return rc;
    }
    if ((rc = tsr_store_audit_open(s, &opts->kv, &opts->audit_kv, err)) != 0) {
        tsr_store_close(&s);
        return rc;
    }
    /* what a crash left in the ingest log is applied by the next drain */
    if ((rc = tsr_store_log_open(s, &opts->kv, &opts->log_kv, err)) != 0) {
        tsr_store_close(&s);
        return rc;
    }
    if ((rc = s_pin_read(s)) != 0) {
        tsr_error_at(err, opts->kv.dir, 0);
        tsr_error_set(err, "meta", "the pinned network key id cannot be read: %s",
                      tsr_strerror(rc));
        tsr_store_close(&s);
        return rc;
    }
    /* a backfill that cannot finish (the store full, say) says so and is
     * resumed at the next start: the region's own work goes on */
    if (s->upstream)
        tsr_store_upstream_backfill(s, (int64_t)time(NULL));
    if (tsr_store_logged(s) > 0)
        tsr_info("store", "%zu acknowledged entries wait in the ingest log; applying them",
                 tsr_store_logged(s));
    *out = s;
    return TSR_OK;
}

void tsr_store_close(tsr_store_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    tsr_spikes_close(&(*s_p)->spikes);
    tsr_link_close(&(*s_p)->link);
    tsr_ckm_keyer_destroy(&(*s_p)->keyer);
    tsr_ckm_keyer_destroy(&(*s_p)->read_keyer);
    tsr_kv_close(&(*s_p)->kv);
    tsr_kv_close(&(*s_p)->log_kv);
    tsr_kv_close(&(*s_p)->audit_kv);
    if ((*s_p)->backup_fd >= 0)
        close((*s_p)->backup_fd);
    tdestroy((*s_p)->pend, free);
    free(*s_p);
    *s_p = NULL;
}

tsr_kv_opts_t tsr_store_env_opts(const tsr_kv_opts_t *main, const tsr_kv_opts_t *side,
                                 const char *name, char *buf, size_t cap)
{
    tsr_kv_opts_t o = *side;
    if (!o.dir) {
        snprintf(buf, cap, "%s/%s", main->dir, name);
        o.dir = buf;
    }
    if (!o.map_size && !o.map_step && !o.map_max) {
        o.map_size = main->map_size;
        o.map_step = main->map_step;
        o.map_max = main->map_max;
    }
    o.read_only = main->read_only;
    return o;
}

tsr_kv_t *tsr_store_kv(tsr_store_t *s)
{
    return s->kv;
}

tsr_kv_t *tsr_store_log_kv(tsr_store_t *s)
{
    return s->log_kv;
}

tsr_kv_t *tsr_store_audit_kv(tsr_store_t *s)
{
    return s->audit_kv;
}

/* --- counters -------------------------------------------------------------- */

int tsr_store_count_add(MDB_txn *txn, MDB_dbi dbi, const char *name, int64_t delta)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    uint64_t cur = 0;
    int rc = tsr_kv_get(txn, dbi, &k, &v);
    if (rc == 0 && v.mv_size == sizeof cur)
        memcpy(&cur, v.mv_data, sizeof cur);
    else if (rc != 0 && rc != TSR_ENOTFOUND)
        return rc;
    cur = (uint64_t)((int64_t)cur + delta);
    v = (MDB_val){sizeof cur, &cur};
    return tsr_kv_put(txn, dbi, &k, &v, 0);
}

/* Adds delta to a counter in this transaction's tally (written by
 * tsr_store_count_flush before the commit); straight to the txn when the tally is full. */
int tsr_store_count(tsr_store_t *s, MDB_txn *txn, const char *name, int64_t delta)
{
    for (int i = 0; i < s->ntally; i++)
        if (!strcmp(s->tally[i].name, name)) {
            s->tally[i].delta += delta;
            return 0;
        }
    if (s->ntally == S_TALLY_MAX || strlen(name) >= sizeof s->tally[0].name)
        return tsr_store_count_add(txn, s->dbi[S_COUNTERS], name, delta);
    memcpy(s->tally[s->ntally].name, name, strlen(name) + 1);
    s->tally[s->ntally++].delta = delta;
    return 0;
}

int tsr_store_count_flush(tsr_store_t *s, MDB_txn *txn)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < s->ntally; i++)
        rc = tsr_store_count_add(txn, s->dbi[S_COUNTERS], s->tally[i].name, s->tally[i].delta);
    s->ntally = 0;
    return rc;
}

/* Counters live in three environments: main's (records, purged...), the
 * log's outcome counters, written with the Acks, and the audit
 * environment's audit_purged, written with its purges. A name in more than
 * one (outcomes counted in main before the log environment, audit_purged
 * before the audit environment) is their sum. */
typedef struct {
    tsr_store_t *s;
    const char *name;
    uint64_t cur;
    MDB_dbi dbi;
    tsr_counter_t *all; /* every counter, for tsr_store_counters */
    size_t n, cap;
} s_counter_read_t;

static int s_counter_read(MDB_txn *txn, void *arg)
{
    s_counter_read_t *a = arg;
    MDB_val k = {strlen(a->name), (void *)a->name}, v;
    uint64_t cur = 0;
    if (tsr_kv_get(txn, a->dbi, &k, &v) == 0 && v.mv_size == sizeof cur)
        memcpy(&cur, v.mv_data, sizeof cur);
    a->cur += cur;
    return 0;
}

/* Runs fn over the counters database of each environment in turn with
 * a->dbi set to it; stops at the first error. */
static int s_counters_each(tsr_store_t *s, tsr_kv_read_fn fn, s_counter_read_t *a)
{
    const struct {
        tsr_kv_t *kv;
        MDB_dbi dbi;
    } envs[] = {{s->kv, s->dbi[S_COUNTERS]},
                {s->log_kv, s->log_counters},
                {s->audit_kv, s->audit_counters}};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof envs / sizeof *envs; i++) {
        a->dbi = envs[i].dbi;
        rc = tsr_kv_read(envs[i].kv, fn, a);
    }
    return rc;
}

uint64_t tsr_store_counter(tsr_store_t *s, const char *name)
{
    s_counter_read_t a = {.s = s, .name = name};
    return s_counters_each(s, s_counter_read, &a) == 0 ? a.cur : 0;
}

/* Adds one environment's counters to a->all, summing a name seen before. */
static int s_counters_read(MDB_txn *txn, void *arg)
{
    s_counter_read_t *a = arg;
    MDB_cursor *c = NULL;
    int rc = tsr_kv_cursor_open(txn, a->dbi, &c);
    MDB_val k, v;
    for (rc = rc ? rc : tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        char name[sizeof a->all->name];
        uint64_t cur = 0;
        snprintf(name, sizeof name, "%.*s", (int)k.mv_size, (char *)k.mv_data);
        if (v.mv_size == sizeof cur)
            memcpy(&cur, v.mv_data, sizeof cur);
        size_t i = 0;
        while (i < a->n && strcmp(a->all[i].name, name) != 0)
            i++;
        if (i == a->n) {
            if (tsr_grow((void **)&a->all, &a->cap, a->n, sizeof *a->all) != 0) {
                rc = TSR_ENOMEM;
                break;
            }
            memset(&a->all[a->n], 0, sizeof a->all[0]);
            memcpy(a->all[a->n++].name, name, sizeof name);
        }
        a->all[i].value += cur;
    }
    tsr_kv_cursor_close(c);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

static int s_counter_cmp(const void *x, const void *y)
{
    return strcmp(((const tsr_counter_t *)x)->name, ((const tsr_counter_t *)y)->name);
}

int tsr_store_counters(tsr_store_t *s, void (*fn)(void *, const char *, uint64_t), void *ctx)
{
    s_counter_read_t a = {.s = s};
    int rc = s_counters_each(s, s_counters_read, &a);
    if (rc == 0 && a.n > 0)
        qsort(a.all, a.n, sizeof *a.all, s_counter_cmp);
    for (size_t i = 0; rc == 0 && i < a.n; i++)
        fn(ctx, a.all[i].name, a.all[i].value);
    free(a.all);
    return rc;
}

/* Puts or deletes a record's index entries. */
int tsr_store_index(tsr_store_t *s, MDB_txn *txn, const tsr_incident_t *inc, bool put)
{
    uint8_t ak[TSR_AREA_KEY_LEN + 4 + TSR_RECORD_ID_LEN], prof[TSR_PROFILE_LEN];
    uint32_t key = 0;
    if (put && tsr_ckm_record_key(s->keyer, inc->record_id, TSR_RECORD_ID_LEN, &key) != 0)
        return TSR_ECRYPTO;
    s_area_day_key(ak, inc);
    /* the index value is the record's profile: trends read it, not records */
    MDB_val k = {sizeof ak, ak}, v = {tsr_profile_pack(prof, inc, key), prof};
    int rc = put ? tsr_kv_put(txn, s->dbi[S_BY_AREA_DAY], &k, &v, 0)
                 : tsr_kv_del(txn, s->dbi[S_BY_AREA_DAY], &k);
    for (size_t i = 0; (rc == 0 || rc == TSR_ENOTFOUND) && i < inc->n_tokens; i++) {
        uint8_t tk[TSR_TOKEN_LEN + TSR_RECORD_ID_LEN];
        s_token_key(tk, &inc->tokens[i], inc->record_id);
        MDB_val kk = {sizeof tk, tk},
                kv = {strlen(inc->tokens[i].kind), (void *)inc->tokens[i].kind};
        rc = put ? tsr_kv_put(txn, s->dbi[S_BY_TOKEN], &kk, &kv, 0)
                 : tsr_kv_del(txn, s->dbi[S_BY_TOKEN], &kk);
    }
    return rc == TSR_ENOTFOUND ? 0 : rc; /* an index entry already gone */
}

/* A version and an agency id: u32 (LE) + the id. The value of a tombstone,
 * and what a retraction's ingest log entry carries after the record id.
 * Returns the length written (0: no room). */
size_t tsr_store_va_put(uint8_t *buf, size_t cap, uint32_t version, const char *agency)
{
    tsr_bytes_t b = {buf, 0, cap, false};
    tsr_bytes_put_u32(&b, version);
    tsr_bytes_put(&b, agency, strlen(agency));
    return b.bad ? 0 : b.n;
}

/* Reads what tsr_store_va_put wrote; agency has TSR_CLIENT_ID_MAX bytes. */
int tsr_store_va_get(const uint8_t *p, size_t n, uint32_t *version, char *agency)
{
    if (n < 4 || n - 4 >= TSR_CLIENT_ID_MAX)
        return TSR_ECORRUPT;
    tsr_bytes_t b = {(uint8_t *)p, 0, n, false};
    *version = tsr_bytes_get_u32(&b);
    memcpy(agency, p + 4, n - 4);
    agency[n - 4] = '\0';
    return 0;
}

int tsr_store_tombstone_get(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid, uint32_t *version,
                            char *agency)
{
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid}, v;
    int rc = tsr_kv_get(txn, s->dbi[S_TOMBSTONES], &k, &v);
    return rc != 0 ? rc
                   : tsr_store_damaged(tsr_store_va_get(v.mv_data, v.mv_size, version, agency),
                                       "tombstones", rid, TSR_RECORD_ID_LEN);
}

int tsr_store_tombstone_put(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid, uint32_t version,
                            const char *agency)
{
    uint8_t buf[4 + TSR_CLIENT_ID_MAX];
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid};
    MDB_val v = {tsr_store_va_put(buf, sizeof buf, version, agency), buf};
    return tsr_kv_put(txn, s->dbi[S_TOMBSTONES], &k, &v, 0);
}

/* A write transaction that may raise alerts or change series (drain, day
 * boundary, purge, evaluation): each run of its body starts with the
 * linkage and series state reset, and its alerts are published once it
 * committed. */
typedef struct {
    tsr_store_t *s;
    tsr_kv_write_fn fn;
    void *arg;
} s_write_t;

static int s_write_body(MDB_txn *txn, void *arg)
{
    s_write_t *w = arg;
    tsr_link_begin(w->s->link);
    tsr_spikes_begin(w->s->spikes);
    return w->fn(txn, w->arg);
}

int tsr_store_write(tsr_store_t *s, tsr_kv_write_fn fn, void *arg)
{
    s_write_t w = {s, fn, arg};
    int rc = tsr_kv_write(s->kv, s_write_body, &w);
    if (rc == 0)
        tsr_link_committed(s->link);
    return rc;
}

/* --- spike evaluation -------------------------------------------------------- */

typedef struct {
    tsr_store_t *s;
    int64_t now;
} s_eval_t;

static int s_eval_txn(MDB_txn *txn, void *arg)
{
    s_eval_t *e = arg;
    return tsr_spikes_evaluate_pending(e->s->spikes, txn, (int32_t)(e->now / 86400), e->now);
}

bool tsr_store_pending(const tsr_store_t *s)
{
    return tsr_spikes_pending(s->spikes);
}

void tsr_store_cross_region(tsr_store_t *s, bool on) { tsr_spikes_cross_region(s->spikes, on); }

int tsr_store_evaluate(tsr_store_t *s, int64_t now)
{
    if (!tsr_spikes_pending(s->spikes))
        return 0;
    s_eval_t e = {s, now};
    int rc = tsr_store_write(s, s_eval_txn, &e);
    if (rc == 0)
        tsr_spikes_evaluated(s->spikes);
    else
        tsr_store_log_err("spikes", "evaluation failed (kept for the next try)", rc);
    return rc;
}
