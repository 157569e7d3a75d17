/* store.c - records, indexes, tombstones and counters in LMDB (layout in
 * docs/STORAGE.md). One write transaction logs a group of batches (a batch
 * is either all in the ingest log after a crash or not at all); later ones
 * apply the log, each entry with everything derived from it. */
#define _GNU_SOURCE /* tdestroy */
#include "store.h"
#include "bytes.h"
#include "linkage.h"
#include "spikes.h"
#include "trends.h"
#include "tessera/err.h"
#include "tessera/log.h"
#include "tessera/token.h"

#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

enum {
    S_RECORDS, S_BY_AREA_DAY, S_BY_TOKEN, S_TOMBSTONES, S_COUNTERS, S_AGENCIES, S_AUDIT, S_LOG,
    S_META, S_NDBS
};
static const char *const s_db_names[S_NDBS] = {
    "records", "by_area_day", "by_token", "tombstones", "counters", "agencies", "audit",
    "ingest_log", "meta",
};
/* meta: the secret the records' cell keys are made with (ckm.h). It lives
 * in the store, so a backup, restore or rebuild keeps every key. */
#define S_META_CKM_SECRET "cell_key_secret"
/* meta: the network key id pinned when no key_ids are configured: u32 key
 * id, u64 unix seconds (both LE), then the id of the agency whose record
 * brought it. */
#define S_META_NETKEY "network_key_id"

#define S_RECORD_FORMAT 1
#define S_AREA_KEY 9

#define S_TALLY_MAX 64

struct tsr_store {
    tsr_kv_t *kv;
    MDB_dbi dbi[S_NDBS];
    tsr_link_t *link;
    tsr_spikes_t *spikes;
    tsr_ckm_keyer_t *keyer; /* records' cell keys */
    int retention_months;
    /* Network keys (tsr_store_opts_t.network_keys): configured, else pinned. */
    tsr_netkeys_t keys;
    bool configured, pinned;
    tsr_netkey_id_t pin;
    bool pin_pending;                /* the running transaction pins pin_new */
    uint32_t pin_new;
    char pin_agency[TSR_CLIENT_ID_MAX];
    /* Counter changes of the running transaction, written once at its end:
     * a get and a put per counter per record would cost more than the record. */
    struct {
        char name[TSR_CLIENT_ID_MAX + 16];
        int64_t delta;
    } tally[S_TALLY_MAX];
    int ntally;
    /* The ingest log (see "the ingest log" below). */
    size_t log_n;            /* entries waiting */
    uint64_t log_next;       /* sequence of the next entry */
    void *pend;              /* tsearch(3) tree of struct s_fate by record id */
    size_t pend_n;
    bool pend_valid;         /* false: rebuild from the log before use */
};

static int s_pend_reload(tsr_store_t *s);

/* Logs a failed write transaction: what was lost or kept, the code's name
 * and, where an operator can act, what to do. (What LMDB said itself, where
 * the code keeps less, kv has logged already.) */
static void s_log_err(const char *module, const char *what, int rc)
{
    const char *todo = "";
    switch (rc) {
    case TSR_EFULL:
        todo = ": the map is at [storage] map_max_mib; raise it and restart the collector";
        break;
    case TSR_ENOSPC: todo = ": free space on the disk of the data directory"; break;
    case TSR_ECORRUPT: todo = ": the store is damaged; see docs/STORAGE.md, Errors"; break;
    default: break;
    }
    tsr_error(module, "%s: %s%s", what, tsr_strerror(rc), todo);
}

/* Logs a stored value that cannot be read, naming its database and key
 * (the callers above hear TSR_ECORRUPT only). Returns rc. */
static int s_damaged(int rc, const char *db, const void *key, size_t n)
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

static size_t s_pack(uint8_t *buf, size_t cap, const tsr_incident_t *inc, const char *agency,
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
    char area[S_AREA_KEY] = {0};
    memcpy(area, inc->area_code, strnlen(inc->area_code, S_AREA_KEY));
    tsr_bytes_put(&b, area, S_AREA_KEY);
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

static int s_unpack(const MDB_val *v, tsr_incident_t *inc, char *agency, int64_t *received_at,
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
    tsr_bytes_get(&b, inc->area_code, S_AREA_KEY);
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

static void s_area_day_key(uint8_t key[S_AREA_KEY + 4 + TSR_RECORD_ID_LEN],
                           const tsr_incident_t *inc)
{
    memset(key, 0, S_AREA_KEY);
    memcpy(key, inc->area_code, strnlen(inc->area_code, S_AREA_KEY));
    tsr_bytes_day(key + S_AREA_KEY, inc->reported_day);
    memcpy(key + S_AREA_KEY + 4, inc->record_id, TSR_RECORD_ID_LEN);
}

static void s_token_key(uint8_t key[TSR_TOKEN_LEN + TSR_RECORD_ID_LEN], const tsr_token_t *t,
                        const uint8_t rid[TSR_RECORD_ID_LEN])
{
    memcpy(key, t->token, TSR_TOKEN_LEN);
    memcpy(key + TSR_TOKEN_LEN, rid, TSR_RECORD_ID_LEN);
}

/* --- open ----------------------------------------------------------------- */

/* How linkage reads a stored record inside the running transaction. */
static int s_link_get(void *ctx, MDB_txn *txn, const uint8_t *rid, tsr_incident_t *inc,
                      char *agency)
{
    tsr_store_t *s = ctx;
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid}, v;
    int rc = tsr_kv_get(txn, s->dbi[S_RECORDS], &k, &v);
    return rc != 0 ? rc
                   : s_damaged(s_unpack(&v, inc, agency, NULL, rid), "records", rid,
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
static int s_pin_read(tsr_store_t *s)
{
    MDB_txn *txn;
    int rc = tsr_kv_read_begin(s->kv, &txn);
    if (rc != 0)
        return rc;
    MDB_val k = {sizeof S_META_NETKEY - 1, (void *)S_META_NETKEY}, v;
    rc = tsr_kv_get(txn, s->dbi[S_META], &k, &v);
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
    tsr_kv_read_end(txn);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

static int s_keyer_open(tsr_store_t *s, const uint8_t *given)
{
    uint8_t secret[TSR_CKM_SECRET_LEN];
    void *arg[3] = {secret, s, (void *)given};
    int rc = tsr_kv_write(s->kv, s_secret_txn, arg);
    if (rc == 0)
        rc = tsr_ckm_keyer_new(&s->keyer, secret);
    OPENSSL_cleanse(secret, sizeof secret);
    return rc;
}

int tsr_store_open(tsr_store_t **out, const tsr_store_opts_t *opts, tsr_error_t *err)
{
    *out = NULL;
    tsr_store_t *s = calloc(1, sizeof *s);
    if (!s)
        return TSR_ENOMEM;
    int rc = tsr_kv_open(&s->kv, &opts->kv, err);
    if (rc == 0)
        rc = tsr_kv_dbis(s->kv, s_db_names, S_NDBS, 0, s->dbi, err);
    if (rc == 0)
        rc = tsr_link_open(&s->link, s->kv, s->dbi[S_BY_TOKEN], s_link_get, s, err);
    if (rc == 0)
        rc = tsr_spikes_open(&s->spikes, s->kv, s->link, opts->spikes_set ? &opts->spikes : NULL,
                             err);
    if (rc != 0) {
        tsr_link_close(&s->link);
        tsr_kv_close(&s->kv);
        free(s);
        return rc;
    }
    s->retention_months = opts->retention_months;
    s->keys = opts->network_keys;
    s->configured = opts->network_keys.n > 0;
    if ((rc = s_keyer_open(s, opts->ckm_secret)) != 0) {
        tsr_error_at(err, opts->kv.dir, 0);
        tsr_error_set(err, "meta", "the cell-key secret cannot be read or made: %s",
                      tsr_strerror(rc));
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
    /* what a crash left in the ingest log is applied by the next drain */
    if ((rc = s_pend_reload(s)) != 0) {
        tsr_error_at(err, opts->kv.dir, 0);
        tsr_error_set(err, "ingest_log", "cannot be read: %s", tsr_strerror(rc));
        tsr_store_close(&s);
        return rc;
    }
    if (s->log_n > 0)
        tsr_info("store", "%zu acknowledged entries wait in the ingest log; applying them",
                 s->log_n);
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
    tsr_kv_close(&(*s_p)->kv);
    tdestroy((*s_p)->pend, free);
    free(*s_p);
    *s_p = NULL;
}

tsr_kv_t *tsr_store_kv(tsr_store_t *s) { return s->kv; }

/* --- counters -------------------------------------------------------------- */

/* Adds delta to a stored counter now. */
static int s_count_put(tsr_store_t *s, MDB_txn *txn, const char *name, int64_t delta)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    uint64_t cur = 0;
    int rc = tsr_kv_get(txn, s->dbi[S_COUNTERS], &k, &v);
    if (rc == 0 && v.mv_size == sizeof cur)
        memcpy(&cur, v.mv_data, sizeof cur);
    else if (rc != 0 && rc != TSR_ENOTFOUND)
        return rc;
    cur = (uint64_t)((int64_t)cur + delta);
    v.mv_size = sizeof cur;
    v.mv_data = &cur;
    return tsr_kv_put(txn, s->dbi[S_COUNTERS], &k, &v, 0);
}

/* Adds delta to a counter in this transaction's tally (written by
 * s_count_flush before the commit); straight to the txn when the tally is full. */
static int s_count(tsr_store_t *s, MDB_txn *txn, const char *name, int64_t delta)
{
    for (int i = 0; i < s->ntally; i++)
        if (!strcmp(s->tally[i].name, name)) {
            s->tally[i].delta += delta;
            return 0;
        }
    if (s->ntally == S_TALLY_MAX || strlen(name) >= sizeof s->tally[0].name)
        return s_count_put(s, txn, name, delta);
    memcpy(s->tally[s->ntally].name, name, strlen(name) + 1);
    s->tally[s->ntally++].delta = delta;
    return 0;
}

static int s_count_flush(tsr_store_t *s, MDB_txn *txn)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < s->ntally; i++)
        rc = s_count_put(s, txn, s->tally[i].name, s->tally[i].delta);
    s->ntally = 0;
    return rc;
}

uint64_t tsr_store_counter(tsr_store_t *s, const char *name)
{
    MDB_txn *txn;
    uint64_t cur = 0;
    if (tsr_kv_read_begin(s->kv, &txn) != 0)
        return 0;
    MDB_val k = {strlen(name), (void *)name}, v;
    if (tsr_kv_get(txn, s->dbi[S_COUNTERS], &k, &v) == 0 && v.mv_size == sizeof cur)
        memcpy(&cur, v.mv_data, sizeof cur);
    tsr_kv_read_end(txn);
    return cur;
}

int tsr_store_counters(tsr_store_t *s, void (*fn)(void *, const char *, uint64_t), void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *c = NULL;
    int rc = tsr_kv_read_begin(s->kv, &txn);
    if (rc != 0)
        return rc;
    rc = tsr_kv_cursor_open(txn, s->dbi[S_COUNTERS], &c);
    MDB_val k, v;
    for (rc = rc ? rc : tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        char name[128];
        uint64_t cur = 0;
        snprintf(name, sizeof name, "%.*s", (int)k.mv_size, (char *)k.mv_data);
        if (v.mv_size == sizeof cur)
            memcpy(&cur, v.mv_data, sizeof cur);
        fn(ctx, name, cur);
    }
    tsr_kv_cursor_close(c);
    tsr_kv_read_end(txn);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

/* --- apply ----------------------------------------------------------------- */

static const char *const s_reason_names[] = {
    "", "invalid_field", "area_not_bound", "bad_token", "stale_version", "unknown_record",
    "not_permitted", "wrong_network_key",
};

static void s_reject(tsr_store_item_t *it, int reason, const char *detail)
{
    it->outcome = TSR_OUTCOME_REJECTED;
    it->reason = reason;
    snprintf(it->detail, sizeof it->detail, "%s", detail);
}

/* Puts or deletes a record's index entries. */
static int s_index(tsr_store_t *s, MDB_txn *txn, const tsr_incident_t *inc, bool put)
{
    uint8_t ak[S_AREA_KEY + 4 + TSR_RECORD_ID_LEN], prof[TSR_PROFILE_LEN];
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
        MDB_val kk = {sizeof tk, tk}, kv = {strlen(inc->tokens[i].kind), (void *)inc->tokens[i].kind};
        rc = put ? tsr_kv_put(txn, s->dbi[S_BY_TOKEN], &kk, &kv, 0)
                 : tsr_kv_del(txn, s->dbi[S_BY_TOKEN], &kk);
    }
    return rc == TSR_ENOTFOUND ? 0 : rc; /* an index entry already gone */
}

/* A version and an agency id: u32 (LE) + the id. The value of a tombstone,
 * and what a retraction's ingest log entry carries after the record id.
 * Returns the length written (0: no room). */
static size_t s_version_agency_put(uint8_t *buf, size_t cap, uint32_t version,
                                   const char *agency)
{
    tsr_bytes_t b = {buf, 0, cap, false};
    tsr_bytes_put_u32(&b, version);
    tsr_bytes_put(&b, agency, strlen(agency));
    return b.bad ? 0 : b.n;
}

/* Reads what s_version_agency_put wrote; agency has TSR_CLIENT_ID_MAX bytes. */
static int s_version_agency_get(const uint8_t *p, size_t n, uint32_t *version, char *agency)
{
    if (n < 4 || n - 4 >= TSR_CLIENT_ID_MAX)
        return TSR_ECORRUPT;
    tsr_bytes_t b = {(uint8_t *)p, 0, n, false};
    *version = tsr_bytes_get_u32(&b);
    memcpy(agency, p + 4, n - 4);
    agency[n - 4] = '\0';
    return 0;
}

static int s_tombstone_get(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid, uint32_t *version,
                           char *agency)
{
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid}, v;
    int rc = tsr_kv_get(txn, s->dbi[S_TOMBSTONES], &k, &v);
    return rc != 0 ? rc
                   : s_damaged(s_version_agency_get(v.mv_data, v.mv_size, version, agency),
                               "tombstones", rid, TSR_RECORD_ID_LEN);
}

static int s_tombstone_put(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid, uint32_t version,
                           const char *agency)
{
    uint8_t buf[4 + TSR_CLIENT_ID_MAX];
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid};
    MDB_val v = {s_version_agency_put(buf, sizeof buf, version, agency), buf};
    return tsr_kv_put(txn, s->dbi[S_TOMBSTONES], &k, &v, 0);
}

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

enum { S_LOG_INCIDENT = 1, S_LOG_RETRACTION = 2 };
enum { S_FATE_NONE = 0, S_FATE_STORED, S_FATE_TOMBSTONE };

/* What the store holds (or will, once the log is applied) for a record id. */
typedef struct s_fate {
    uint8_t rid[TSR_RECORD_ID_LEN];
    uint8_t kind;          /* S_FATE_* */
    uint32_t version;
    char agency[TSR_CLIENT_ID_MAX];
} s_fate_t;

/* Largest packed record (s_pack): fixed fields (67 bytes; 128 allowed) and
 * the agency id, then per token its kind, key id and token. */
#define S_PACK_MAX (128 + TSR_CLIENT_ID_MAX + TSR_MAX_TOKENS * (1 + TSR_KIND_MAX + 4 + TSR_TOKEN_LEN))
/* Largest log value: op, record id, a packed record. */
#define S_LOG_VALUE_MAX (1 + TSR_RECORD_ID_LEN + S_PACK_MAX)

/* pend is a balanced tree (glibc's tsearch is a red-black tree), not a
 * hash table: record ids are chosen by agents, and a table whose hash they
 * could aim at would let one agent make every lookup slow. */
static int s_pend_cmp(const void *a, const void *b)
{
    return memcmp(((const s_fate_t *)a)->rid, ((const s_fate_t *)b)->rid, TSR_RECORD_ID_LEN);
}

/* What pend says of rid, or NULL. */
static s_fate_t *s_pend_find(tsr_store_t *s, const uint8_t *rid)
{
    s_fate_t key;
    memcpy(key.rid, rid, TSR_RECORD_ID_LEN);
    void *node = tfind(&key, &s->pend, s_pend_cmp);
    return node ? *(s_fate_t **)node : NULL;
}

static void s_pend_clear(tsr_store_t *s)
{
    tdestroy(s->pend, free);
    s->pend = NULL;
    s->pend_n = 0;
}

/* Sets what rid will be once the log is applied. */
static int s_pend_note(tsr_store_t *s, const s_fate_t *f)
{
    s_fate_t *have = s_pend_find(s, f->rid);
    if (have) {
        *have = *f;
        return 0;
    }
    s_fate_t *n = malloc(sizeof *n);
    if (!n)
        return TSR_ENOMEM;
    *n = *f;
    void *node = tsearch(n, &s->pend, s_pend_cmp);
    if (!node || *(s_fate_t **)node != n) {
        free(n);
        return TSR_ENOMEM;
    }
    s->pend_n++;
    return 0;
}

/* A packed record's version and agency (s_pack's header). */
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
static int s_log_parse(const MDB_val *v, int *op, s_fate_t *f, MDB_val *packed)
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
    return s_version_agency_get(rest, n, &f->version, f->agency);
}

/* Rebuilds pend, log_n and log_next from the log as txn sees it. */
static int s_pend_rebuild(tsr_store_t *s, MDB_txn *txn)
{
    MDB_cursor *c;
    MDB_val k, v, packed;
    s_pend_clear(s);
    s->log_n = 0;
    s->log_next = 1;
    int rc = tsr_kv_cursor_open(txn, s->dbi[S_LOG], &c);
    if (rc != 0)
        return rc;
    int bad = 0; /* a damaged entry, or pend out of memory */
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        s_fate_t f;
        int op;
        if ((bad = s_damaged(k.mv_size != 8 ? TSR_ECORRUPT : s_log_parse(&v, &op, &f, &packed),
                             "ingest_log", k.mv_data, k.mv_size)) != 0 ||
            (bad = s_pend_note(s, &f)) != 0)
            break;
        s->log_n++;
        s->log_next = tsr_bytes_from_be64(k.mv_data) + 1;
    }
    tsr_kv_cursor_close(c);
    rc = bad ? bad : rc == TSR_ENOTFOUND ? 0 : rc;
    s->pend_valid = rc == 0;
    return rc;
}

/* s_pend_rebuild in a read transaction of its own (outside a write). */
static int s_pend_reload(tsr_store_t *s)
{
    MDB_txn *txn;
    int rc = tsr_kv_read_begin(s->kv, &txn);
    if (rc == 0) {
        rc = s_pend_rebuild(s, txn);
        tsr_kv_read_end(txn);
    }
    return rc;
}

/* What the store holds for rid, counting the log's waiting entries. */
static int s_fate(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid, s_fate_t *f)
{
    const s_fate_t *p = s->pend_n > 0 ? s_pend_find(s, rid) : NULL;
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
        return s_damaged(s_peek(v.mv_data, v.mv_size, &f->version, f->agency), "records", rid,
                         TSR_RECORD_ID_LEN);
    }
    if (rc == TSR_ENOTFOUND && (rc = s_tombstone_get(s, txn, rid, &f->version, f->agency)) == 0)
        f->kind = S_FATE_TOMBSTONE;
    return rc == TSR_ENOTFOUND ? 0 : rc;
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

static int s_write(tsr_store_t *s, tsr_kv_write_fn fn, void *arg)
{
    s_write_t w = {s, fn, arg};
    int rc = tsr_kv_write(s->kv, s_write_body, &w);
    if (rc == 0)
        tsr_link_committed(s->link);
    return rc;
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

/* The outcome of an item against what the store holds for its record. */
static void s_decide(tsr_store_t *s, const tsr_client_t *c, tsr_store_item_t *it,
                     const s_fate_t *f, int32_t cutoff, int32_t today)
{
    const tsr_incident_t *inc = it->incident;
    uint32_t version = inc ? inc->version : it->version;
    char d[sizeof it->detail];
    if (inc && inc->reported_day < cutoff) {
        snprintf(d, sizeof d, "reported_day: before the retention period (%d months)",
                 s->retention_months);
        s_reject(it, TSR_REJECT_INVALID_FIELD, d);
    } else if (inc && !tsr_client_area_allowed(c, inc->area_code)) {
        snprintf(d, sizeof d, "area %s is not bound to %s", inc->area_code, c->id);
        s_reject(it, TSR_REJECT_AREA_NOT_BOUND, d);
    } else if (f->kind != S_FATE_NONE && strcmp(f->agency, c->id) != 0) {
        s_reject(it, TSR_REJECT_NOT_PERMITTED, "record id belongs to another agency");
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
static int s_log_put(tsr_store_t *s, MDB_txn *txn, uint64_t seq, const tsr_client_t *c,
                     const tsr_store_item_t *it, int64_t now)
{
    uint8_t key[8], val[S_LOG_VALUE_MAX];
    s_fate_t f = {.kind = it->incident ? S_FATE_STORED : S_FATE_TOMBSTONE};
    const uint8_t *rid = it->incident ? it->incident->record_id : it->record_id;
    size_t n = 1 + TSR_RECORD_ID_LEN;
    val[0] = it->incident ? S_LOG_INCIDENT : S_LOG_RETRACTION;
    memcpy(val + 1, rid, TSR_RECORD_ID_LEN);
    if (it->incident) {
        size_t pn = s_pack(val + n, sizeof val - n, it->incident, c->id, now);
        if (pn == 0)
            return TSR_ERANGE; /* larger than S_PACK_MAX allows: a bug */
        n += pn;
        f.version = it->incident->version;
    } else {
        n += s_version_agency_put(val + n, sizeof val - n, it->version, c->id);
        f.version = it->version;
    }
    memcpy(f.rid, rid, TSR_RECORD_ID_LEN);
    snprintf(f.agency, sizeof f.agency, "%s", c->id);
    tsr_bytes_be64(key, seq);
    MDB_val k = {sizeof key, key}, v = {n, val};
    int rc = tsr_kv_put(txn, s->dbi[S_LOG], &k, &v, MDB_APPEND);
    return rc == 0 ? s_pend_note(s, &f) : rc;
}

typedef struct {
    tsr_store_t *s;
    tsr_store_batch_t *batches;
    size_t n;
    int64_t now;
    uint64_t next; /* log_next after the commit */
} s_submit_t;

static const char *s_outcome_counter(tsr_outcome_t o)
{
    switch (o) {
    case TSR_OUTCOME_ACCEPTED: return "accepted";
    case TSR_OUTCOME_DUPLICATE: return "duplicates";
    case TSR_OUTCOME_REPLACED: return "replaced";
    case TSR_OUTCOME_RETRACTED: return "retracted";
    default: return NULL;
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
            rc = s_count(s, txn, cn, kinds[o]);
    }
    for (int r = 1; rc == 0 && r < N_REASONS; r++)
        if (reasons[r]) {
            snprintf(name, sizeof name, "rejected:%s", s_reason_names[r]);
            rc = s_count(s, txn, name, reasons[r]);
        }
    if (rc == 0) {
        snprintf(name, sizeof name, "agency:%s", b->client->id);
        rc = s_count(s, txn, name, kinds[TSR_OUTCOME_ACCEPTED]);
    }
    return rc;
}

static int s_submit_txn(MDB_txn *txn, void *arg)
{
    s_submit_t *a = arg;
    tsr_store_t *s = a->s;
    /* this body may be a re-run after the map grew: pend may hold what the
     * aborted run noted, so it is rebuilt from the committed log */
    int rc = s->pend_valid ? 0 : s_pend_rebuild(s, txn);
    s->pend_valid = false; /* until this transaction commits */
    s->ntally = 0;
    s->pin_pending = false; /* a re-run pins afresh */
    a->next = s->log_next;
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
            s_fate_t f;
            if (it->pre_reason) {
                s_reject(it, it->pre_reason, it->pre_detail);
            } else if (batch->client->role != TSR_ROLE_AGENT) {
                s_reject(it, TSR_REJECT_NOT_PERMITTED, "only agents may submit");
            } else if ((rc = s_fate(s, txn, it->incident ? it->incident->record_id : it->record_id,
                                    &f)) == 0) {
                s_decide(s, batch->client, it, &f, cutoff, (int32_t)(a->now / 86400));
                if (it->outcome == TSR_OUTCOME_ACCEPTED || it->outcome == TSR_OUTCOME_REPLACED ||
                    it->outcome == TSR_OUTCOME_RETRACTED)
                    rc = s_log_put(s, txn, a->next++, batch->client, it, a->now);
            }
        }
        if (rc == 0)
            rc = s_count_outcomes(s, txn, batch);
        if (rc == 0)
            rc = s_count(s, txn, "batches", 1);
    }
    if (rc == 0 && s->pin_pending) {
        uint8_t v[12 + TSR_CLIENT_ID_MAX];
        tsr_bytes_t b = {v, 0, sizeof v, false};
        tsr_bytes_put_u32(&b, s->pin_new);
        tsr_bytes_put_u64(&b, (uint64_t)a->now);
        tsr_bytes_put(&b, s->pin_agency, strlen(s->pin_agency));
        MDB_val k = {sizeof S_META_NETKEY - 1, (void *)S_META_NETKEY}, val = {b.n, v};
        rc = tsr_kv_put(txn, s->dbi[S_META], &k, &val, 0);
    }
    return rc == 0 ? s_count_flush(s, txn) : rc;
}

int tsr_store_submit(tsr_store_t *s, tsr_store_batch_t *batches, size_t n, int64_t now)
{
    if (s->log_n >= TSR_STORE_LOG_MAX) {
        tsr_warn("store", "%zu entries wait in the ingest log: batches wait until it drains",
                 s->log_n);
        return TSR_EFULL;
    }
    s_submit_t a = {s, batches, n, now, 0};
    int rc = tsr_kv_write(s->kv, s_submit_txn, &a);
    if (rc != 0) {
        s->pin_pending = false; /* nothing was pinned */
        s_log_err("store", "batch group not stored", rc);
        return rc;
    }
    s->log_n += a.next - s->log_next;
    s->log_next = a.next;
    s->pend_valid = true;
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

size_t tsr_store_logged(const tsr_store_t *s) { return s->log_n; }

/* --- drain: the log into records, indexes, clusters and series ---------------- */

/* Stores an incident (new, or replacing the stored version) with everything
 * derived from it. old is scratch space. */
static int s_put_incident(tsr_store_t *s, MDB_txn *txn, const tsr_incident_t *inc,
                          const char *agency, MDB_val *packed, tsr_incident_t *old)
{
    char old_agency[TSR_CLIENT_ID_MAX];
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)inc->record_id};
    int rc = s_link_get(s, txn, inc->record_id, old, old_agency);
    bool had = rc == 0;
    if (had) {
        rc = s_index(s, txn, old, false);
    } else if (rc == TSR_ENOTFOUND) {
        rc = tsr_kv_del(txn, s->dbi[S_TOMBSTONES], &k);
        if (rc == 0 || rc == TSR_ENOTFOUND)
            rc = s_count(s, txn, "records", 1);
    }
    if (rc == 0)
        rc = tsr_kv_put(txn, s->dbi[S_RECORDS], &k, packed, 0);
    if (rc == 0)
        rc = s_index(s, txn, inc, true);
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
static int s_put_retraction(tsr_store_t *s, MDB_txn *txn, const s_fate_t *f, tsr_incident_t *old)
{
    char old_agency[TSR_CLIENT_ID_MAX];
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)f->rid};
    int rc = s_link_get(s, txn, f->rid, old, old_agency);
    if (rc == 0) {
        rc = s_index(s, txn, old, false);
        if (rc == 0)
            rc = tsr_kv_del(txn, s->dbi[S_RECORDS], &k);
        if (rc == 0)
            rc = tsr_link_remove(s->link, txn, old, f->agency);
        if (rc == 0)
            rc = tsr_spikes_count(s->spikes, old, -1);
        if (rc == 0)
            rc = s_count(s, txn, "records", -1);
    } else if (rc == TSR_ENOTFOUND) {
        rc = 0; /* retracted before it was stored: the tombstone alone */
    }
    return rc == 0 ? s_tombstone_put(s, txn, f->rid, f->version, f->agency) : rc;
}

typedef struct {
    tsr_store_t *s;
    size_t max;
    int64_t now;
    size_t n; /* entries applied */
} s_drain_t;

static int s_drain_txn(MDB_txn *txn, void *arg)
{
    s_drain_t *d = arg;
    tsr_store_t *s = d->s;
    s->ntally = 0;
    d->n = 0;
    tsr_incident_t *inc = malloc(2 * sizeof *inc);
    uint8_t *val = malloc(S_LOG_VALUE_MAX);
    MDB_cursor *c = NULL;
    int rc = inc && val ? tsr_kv_cursor_open(txn, s->dbi[S_LOG], &c) : TSR_ENOMEM;
    MDB_val k, v;
    /* the first entry each time: each is deleted once applied */
    while (rc == 0 && d->n < d->max) {
        s_fate_t f;
        MDB_val packed;
        int op;
        if ((rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST)) != 0) {
            if (rc == TSR_ENOTFOUND)
                rc = 0; /* the log is empty; a not-found below is an error */
            break;
        }
        if (v.mv_size > S_LOG_VALUE_MAX) {
            rc = s_damaged(TSR_ECORRUPT, "ingest_log", k.mv_data, k.mv_size);
            break;
        }
        /* a copy: values read are valid only until the next write */
        memcpy(val, v.mv_data, v.mv_size);
        v.mv_data = val;
        if ((rc = s_log_parse(&v, &op, &f, &packed)) == 0 && op == S_LOG_INCIDENT)
            rc = s_unpack(&packed, &inc[0], NULL, NULL, f.rid);
        if (rc != 0) {
            s_damaged(rc, "ingest_log", k.mv_data, k.mv_size);
            break;
        }
        rc = op == S_LOG_INCIDENT ? s_put_incident(s, txn, &inc[0], f.agency, &packed, &inc[1])
                                  : s_put_retraction(s, txn, &f, &inc[1]);
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
    return rc == 0 ? s_count_flush(s, txn) : rc;
}

int tsr_store_drain(tsr_store_t *s, size_t max, int64_t now, size_t *applied)
{
    s_drain_t d = {s, max ? max : SIZE_MAX, now, 0};
    int rc;
    *applied = 0;
    if (!s->pend_valid) {
        /* a submit that did not commit (or whose commit failed uncertainly)
         * may have left log_n wrong: count the log again */
        if ((rc = s_pend_reload(s)) != 0)
            return rc;
    }
    if (s->log_n == 0)
        return 0;
    rc = s_write(s, s_drain_txn, &d);
    /* near the map's maximum a smaller transaction may still fit */
    while (rc == TSR_EFULL && (d.max = (d.max < s->log_n ? d.max : s->log_n) / 2) > 0)
        rc = s_write(s, s_drain_txn, &d);
    if (rc != 0) {
        s_log_err("store", "ingest log not applied (kept for the next try)", rc);
        return rc;
    }
    tsr_spikes_committed(s->spikes);
    *applied = d.n;
    s->log_n = d.n < s->log_n ? s->log_n - d.n : 0;
    /* pend stays exact for ids whose entries are all applied (the store now
     * holds what it says), so it is kept, and only rebuilt (without them)
     * when they are most of it */
    if (s->log_n == 0)
        s_pend_clear(s);
    else if (s->pend_n > 2 * s->log_n + 4096)
        s->pend_valid = false;
    return 0;
}

/* Drains the whole log, in transactions of TSR_STORE_DRAIN_MAX entries
 * (one call at least: it counts a log again after a failed submit). */
static int s_drain_all(tsr_store_t *s, int64_t now)
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
    return rc == 0 ? s_drain_all(s, now) : rc;
}

int tsr_store_get(tsr_store_t *s, const uint8_t rid[TSR_RECORD_ID_LEN], tsr_incident_t *inc,
                  char *agency_id, int64_t *received_at)
{
    MDB_txn *txn;
    int rc = tsr_kv_read_begin(s->kv, &txn);
    if (rc != 0)
        return rc;
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid}, v;
    rc = tsr_kv_get(txn, s->dbi[S_RECORDS], &k, &v);
    if (rc == 0)
        rc = s_damaged(s_unpack(&v, inc, agency_id, received_at, rid), "records", rid,
                       TSR_RECORD_ID_LEN);
    tsr_kv_read_end(txn);
    return rc;
}

/* --- linkage reads ---------------------------------------------------------- */

const tsr_link_published_t *tsr_store_published(tsr_store_t *s, size_t *n)
{
    return tsr_link_published(s->link, n);
}

void tsr_store_set_linkage(tsr_store_t *s, bool on) { tsr_link_enable(s->link, on); }

/* Runs one read of the linkage module in its own read transaction. */
typedef int (*s_read_fn)(tsr_store_t *s, MDB_txn *txn, void *arg);

static int s_read(tsr_store_t *s, s_read_fn fn, void *arg)
{
    MDB_txn *txn;
    int rc = tsr_kv_read_begin(s->kv, &txn);
    if (rc != 0)
        return rc;
    rc = fn(s, txn, arg);
    tsr_kv_read_end(txn);
    return rc;
}

typedef struct {
    uint64_t since, cid;
    uint32_t max;
    tsr_alert_filter_fn want;
    void *want_ctx;
    const tsr_token_t *tokens;
    size_t n_tokens;
    const uint8_t *rid;
    tsr_response_t *resp;
} s_read_args_t;

static int s_read_alerts(tsr_store_t *s, MDB_txn *txn, void *arg)
{
    s_read_args_t *a = arg;
    return tsr_link_alerts(s->link, txn, a->since, a->max, a->want, a->want_ctx, a->resp);
}

static int s_read_cluster(tsr_store_t *s, MDB_txn *txn, void *arg)
{
    s_read_args_t *a = arg;
    return tsr_link_cluster(s->link, txn, a->cid, a->resp);
}

static int s_read_lookup(tsr_store_t *s, MDB_txn *txn, void *arg)
{
    s_read_args_t *a = arg;
    return tsr_link_lookup(s->link, txn, a->tokens, a->n_tokens, a->resp);
}

static int s_read_record_cluster(tsr_store_t *s, MDB_txn *txn, void *arg)
{
    s_read_args_t *a = arg;
    return tsr_link_record_cluster(s->link, txn, a->rid, &a->cid);
}

int tsr_store_alerts(tsr_store_t *s, uint64_t since, uint32_t max, tsr_alert_filter_fn want,
                     void *want_ctx, tsr_response_t *resp)
{
    s_read_args_t a = {.since = since, .max = max, .want = want, .want_ctx = want_ctx, .resp = resp};
    return s_read(s, s_read_alerts, &a);
}

int tsr_store_cluster(tsr_store_t *s, uint64_t cid, tsr_response_t *resp)
{
    s_read_args_t a = {.cid = cid, .resp = resp};
    return s_read(s, s_read_cluster, &a);
}

int tsr_store_lookup(tsr_store_t *s, const tsr_token_t *tokens, size_t n, tsr_response_t *resp)
{
    s_read_args_t a = {.tokens = tokens, .n_tokens = n, .resp = resp};
    return s_read(s, s_read_lookup, &a);
}

uint64_t tsr_store_record_cluster(tsr_store_t *s, const uint8_t rid[TSR_RECORD_ID_LEN])
{
    s_read_args_t a = {.rid = rid};
    return s_read(s, s_read_record_cluster, &a) == 0 ? a.cid : 0;
}

/* --- audit log ---------------------------------------------------------------
 * Key: u64 sequence (big-endian). Value: i64 time, id, role, request (each a
 * length byte and bytes), u64 result size. Only appended. */

static int s_audit_txn(MDB_txn *txn, void *arg)
{
    void **a = arg;
    tsr_store_t *s = a[0];
    const tsr_audit_entry_t *e = a[1];
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, s->dbi[S_AUDIT], &c);
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
    return b.bad ? TSR_ERANGE : tsr_kv_put(txn, s->dbi[S_AUDIT], &k, &v, MDB_APPEND);
}

int tsr_store_audit(tsr_store_t *s, const tsr_audit_entry_t *e)
{
    void *a[2] = {s, (void *)e};
    int rc = tsr_kv_write(s->kv, s_audit_txn, a);
    if (rc != 0)
        s_log_err("audit", "audit entry not stored", rc);
    return rc;
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
        tsr_error_set(err, "audit", "entry %llu cannot be read: its %zu bytes end inside its "
                      "fields (%s)", seq, v->mv_size, S_AUDIT_DAMAGED);
    else if (b.n != v->mv_size)
        tsr_error_set(err, "audit", "entry %llu cannot be read: %zu byte%s after its last "
                      "field (%s)", seq, v->mv_size - b.n, v->mv_size - b.n == 1 ? "" : "s",
                      S_AUDIT_DAMAGED);
    else
        return 0;
    memset(e, 0, sizeof *e);
    return TSR_ECORRUPT;
}

/* A read transaction and a cursor on the audit log; the caller closes both. */
static int s_audit_cursor(tsr_store_t *s, MDB_txn **txn, MDB_cursor **c)
{
    int rc = tsr_kv_read_begin(s->kv, txn);
    if (rc == 0 && (rc = tsr_kv_cursor_open(*txn, s->dbi[S_AUDIT], c)) != 0)
        tsr_kv_read_end(*txn);
    return rc;
}

/* err for a cursor that could not step on from entry `after` (0: the start). */
static int s_audit_read_error(tsr_error_t *err, int rc, uint64_t after)
{
    tsr_error_set(err, "audit", "the entry after %llu cannot be read: %s",
                  (unsigned long long)after, tsr_strerror(rc));
    return rc;
}

int tsr_store_audit_list(tsr_store_t *s, int64_t since_time, const char *id, uint32_t max,
                         tsr_response_t *resp, tsr_error_t *err)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = s_audit_cursor(s, &txn, &c);
    if (rc != 0)
        return s_audit_read_error(err, rc, 0);
    size_t cap = 0;
    int out = 0;
    uint64_t last = 0; /* the last entry read */
    MDB_val k, v;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && resp->n_audit < max;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        tsr_audit_entry_t e;
        /* an entry that cannot be read may be one the reader asks for:
         * the whole answer fails, naming it, rather than leave it out */
        if ((out = s_audit_decode(&e, &k, &v, err)) != 0)
            break;
        last = tsr_bytes_from_be64(k.mv_data);
        if (e.time < since_time || (id && *id && strcmp(id, e.id) != 0))
            continue;
        if (tsr_grow((void **)&resp->audit, &cap, resp->n_audit, sizeof *resp->audit) != 0) {
            out = TSR_ENOMEM;
            tsr_error_set(err, "audit", "out of memory after %zu entries", resp->n_audit);
            break;
        }
        resp->audit[resp->n_audit++] = e;
    }
    if (out == 0 && rc != 0 && rc != TSR_ENOTFOUND)
        out = s_audit_read_error(err, rc, last);
    tsr_kv_cursor_close(c);
    tsr_kv_read_end(txn);
    if (out != 0) { /* nothing rather than a part that looks whole */
        free(resp->audit);
        resp->audit = NULL;
        resp->n_audit = 0;
    }
    return out;
}

int tsr_store_audit_each(tsr_store_t *s, int64_t since_time,
                         int (*fn)(void *ctx, const tsr_audit_entry_t *e), void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = s_audit_cursor(s, &txn, &c);
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
        if (e.time < since_time)
            break;
        out = fn(ctx, &e);
    }
    tsr_kv_cursor_close(c);
    tsr_kv_read_end(txn);
    return out != 0 ? out : rc == TSR_ENOTFOUND || rc == 0 ? 0 : rc;
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
    s->ntally = 0;
    int rc = tsr_kv_cursor_open(txn, s->dbi[S_AUDIT], &c);
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
    rc = p->n ? s_count(s, txn, "audit_purged", (int64_t)p->n) : 0;
    return rc == 0 ? s_count_flush(s, txn) : rc;
}

int tsr_store_audit_purge(tsr_store_t *s, int64_t before_time, uint64_t *purged)
{
    s_audit_purge_t p = {.s = s, .before = before_time};
    int rc;
    *purged = 0;
    do {
        rc = tsr_kv_write(s->kv, s_audit_purge_txn, &p);
        if (rc == 0)
            *purged += p.n;
    } while (rc == 0 && p.more);
    if (rc != 0) {
        s_log_err("retention", "audit purge stopped", rc);
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
    int rc = s_drain_all(s, now); /* the day's counts include every acknowledged record */
    if (rc != 0)
        return rc;
    rc = s_write(s, s_tick_txn, &t);
    if (rc != 0)
        s_log_err("spikes", "evaluation of the closed day failed", rc);
    return rc;
}

/* --- retention ----------------------------------------------------------------- */

int32_t tsr_store_retention_cutoff(int months, int64_t now)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    char iso[11];
    tsr_day_format(iso, (int32_t)(now / 86400));
    int y = atoi(iso), m = atoi(iso + 5) - 1 - months, d = atoi(iso + 8);
    while (m < 0) {
        m += 12;
        y--;
    }
    int last = mdays[m] + (m == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    char out[40];
    snprintf(out, sizeof out, "%04d-%02d-%02d", y, m + 1, d < last ? d : last);
    int32_t day = 0;
    tsr_day_parse(out, &day);
    return day;
}

#define S_PURGE_CHUNK 2000

typedef struct {
    tsr_store_t *s;
    int32_t before;
    int64_t now;
    uint8_t (*ids)[TSR_RECORD_ID_LEN]; /* purged in this transaction */
    size_t n;
    size_t changed; /* alerts rewritten by this transaction */
} s_purge_t;

static int s_cmp_rid(const void *a, const void *b) { return memcmp(a, b, TSR_RECORD_ID_LEN); }

static int s_purge_txn(MDB_txn *txn, void *arg)
{
    s_purge_t *p = arg;
    tsr_store_t *s = p->s;
    p->n = 0;
    p->changed = 0;
    s->ntally = 0;
    /* find up to a chunk of old records through the area/day index: each
     * area's entries sort by day, so its old ones come first, and at its
     * first entry still kept the scan jumps to the next area (a seek per
     * area, not a read of every record kept) */
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, s->dbi[S_BY_AREA_DAY], &c);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    uint8_t past[S_AREA_KEY + 4 + TSR_RECORD_ID_LEN];
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && p->n < S_PURGE_CHUNK;) {
        const uint8_t *kp = k.mv_data;
        MDB_cursor_op next = MDB_NEXT;
        if (k.mv_size == sizeof past) {
            if (tsr_bytes_from_day(kp + S_AREA_KEY) < p->before) {
                memcpy(p->ids[p->n++], kp + S_AREA_KEY + 4, TSR_RECORD_ID_LEN);
            } else {
                /* the highest key this area can have; unless this is it,
                 * on to the first key after it */
                memcpy(past, kp, S_AREA_KEY);
                memset(past + S_AREA_KEY, 0xff, sizeof past - S_AREA_KEY);
                if (memcmp(kp, past, sizeof past) != 0) {
                    k = (MDB_val){sizeof past, past};
                    next = MDB_SET_RANGE;
                }
            }
        }
        rc = tsr_kv_cursor_get(c, &k, &v, next);
    }
    tsr_kv_cursor_close(c);
    if (rc != 0 && rc != TSR_ENOTFOUND)
        return rc;
    rc = 0;
    tsr_incident_t *old = malloc(sizeof *old);
    if (!old)
        return TSR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        char agency[TSR_CLIENT_ID_MAX];
        MDB_val rk = {TSR_RECORD_ID_LEN, p->ids[i]};
        rc = s_link_get(s, txn, p->ids[i], old, agency);
        if (rc == TSR_ENOTFOUND)
            rc = TSR_ECORRUPT; /* the index names a record that is not there */
        if (rc == 0)
            rc = s_index(s, txn, old, false);
        if (rc == 0)
            rc = tsr_kv_del(txn, s->dbi[S_RECORDS], &rk);
        if (rc == 0)
            rc = tsr_link_remove(s->link, txn, old, agency);
        if (rc == 0)
            rc = s_count(s, txn, "records", -1);
        if (rc == 0)
            rc = s_count(s, txn, "purged", 1);
    }
    free(old);
    if (rc == 0)
        rc = tsr_link_finish(s->link, txn, p->now);
    /* the alerts lose these ids in the same transaction: a purge stopped
     * half way leaves no purged id behind in the log */
    size_t changed = 0;
    qsort(p->ids, p->n, TSR_RECORD_ID_LEN, s_cmp_rid);
    if (rc == 0)
        rc = tsr_link_scrub(s->link, txn, (const uint8_t(*)[TSR_RECORD_ID_LEN])p->ids, p->n,
                            &changed);
    p->changed = changed;
    return rc == 0 ? s_count_flush(s, txn) : rc;
}

int tsr_store_purge(tsr_store_t *s, int32_t before_day, int64_t now, uint64_t *purged)
{
    s_purge_t p = {s, before_day, now, malloc(S_PURGE_CHUNK * TSR_RECORD_ID_LEN), 0, 0};
    int rc = p.ids ? 0 : TSR_ENOMEM;
    size_t changed = 0;
    *purged = 0;
    if (rc == 0)
        rc = s_drain_all(s, now); /* the index must show every acknowledged record */
    while (rc == 0) {
        rc = s_write(s, s_purge_txn, &p);
        if (rc != 0 || p.n == 0)
            break;
        *purged += p.n;
        changed += p.changed;
    }
    if (rc == 0 && *purged > 0)
        tsr_info("retention", "purged %llu record(s) reported before day %d; %zu alert(s) no "
                 "longer name them event=purge records=%llu before_day=%d alerts_changed=%zu",
                 (unsigned long long)*purged, before_day, changed, (unsigned long long)*purged,
                 before_day, changed);
    if (rc != 0)
        s_log_err("retention", "purge stopped", rc);
    free(p.ids);
    return rc;
}

/* --- trends ------------------------------------------------------------------- */

/* What trends need of the store: keys for old profiles and the default
 * period, from the retention cutoff (ten years when nothing is purged). */
static tsr_trends_opts_t s_trends_opts(tsr_store_t *s, unsigned k, const tsr_ckm_table_t *table)
{
    int64_t now = (int64_t)time(NULL);
    int32_t today = (int32_t)(now / 86400);
    return (tsr_trends_opts_t){
        .k = k,
        .table = table,
        .keyer = s->keyer,
        .first_day = s->retention_months ? tsr_store_retention_cutoff(s->retention_months, now)
                                         : today - 3653,
        .today = today,
    };
}

int tsr_store_trends(tsr_store_t *s, const tsr_query_t *q, const tsr_client_t *who, unsigned k,
                     const tsr_ckm_table_t *table, tsr_response_t *resp, char *why, size_t cap)
{
    MDB_txn *txn;
    int rc = tsr_kv_read_begin(s->kv, &txn);
    if (rc != 0)
        return rc;
    tsr_trends_opts_t o = s_trends_opts(s, k, table);
    rc = tsr_trends(txn, s->dbi[S_BY_AREA_DAY], q, who, &o, resp, why, cap);
    tsr_kv_read_end(txn);
    return rc;
}

int tsr_store_released(tsr_store_t *s, const char *const *areas, size_t n_areas, int32_t from,
                       int32_t to, const tsr_filter_t *filters, size_t n_filters, unsigned k,
                       const tsr_ckm_table_t *table, uint64_t *released)
{
    MDB_txn *txn;
    int rc = tsr_kv_read_begin(s->kv, &txn);
    if (rc != 0)
        return rc;
    tsr_trends_opts_t o = s_trends_opts(s, k, table);
    uint64_t count = 0;
    rc = tsr_trends_cell(txn, s->dbi[S_BY_AREA_DAY], areas, n_areas, from, to, filters,
                         n_filters, &o, released, &count);
    tsr_kv_read_end(txn);
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

bool tsr_store_pending(const tsr_store_t *s) { return tsr_spikes_pending(s->spikes); }

int tsr_store_evaluate(tsr_store_t *s, int64_t now)
{
    if (!tsr_spikes_pending(s->spikes))
        return 0;
    s_eval_t e = {s, now};
    int rc = s_write(s, s_eval_txn, &e);
    if (rc == 0)
        tsr_spikes_evaluated(s->spikes);
    else
        s_log_err("spikes", "evaluation failed (kept for the next try)", rc);
    return rc;
}
