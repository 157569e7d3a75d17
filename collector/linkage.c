/* linkage.c - clusters of shared offender tokens and linkage alerts (see
 * linkage.h for the model; key encodings in docs/STORAGE.md). */
#include "linkage.h"
#include "bytes.h"
#include "tessera/auth.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { L_TOK, L_REC, L_MEMBERS, L_CLUSTERS, L_ALERTS, L_META, L_NDBS };
static const char *const l_db_names[L_NDBS] = {
    "link_token", "link_record", "link_members", "link_clusters", "alerts", "link_meta",
};

#define L_SUM_FORMAT 1
#define L_MAX_JOINED 4
/* An alert names at most this many record ids (the cluster query has them all). */
#define L_ALERT_MAX_RECORDS 1000

static const uint32_t l_thresholds[] = {3, 5, 10, 20, 50, 100};

typedef struct {
    uint64_t cid;
    uint64_t joined[L_MAX_JOINED]; /* alerted clusters that merged into this one */
    size_t n_joined;
    bool dead;                     /* merged away or emptied */
} l_touch_t;

struct tsr_link {
    tsr_kv_t *kv;
    MDB_dbi dbi[L_NDBS];
    MDB_dbi by_token;
    tsr_link_get_fn get;
    void *get_ctx;
    bool on;
    tsr_incident_t tmp;
    char tmp_agency[TSR_CLIENT_ID_MAX];
    l_touch_t *touched;
    size_t n_touched, cap_touched;
    /* Alerts to publish: pub[0, n_taken) were handed out by the last
     * tsr_link_published, pub[n_taken, n_mark) committed since, and
     * pub[n_mark, n_pub) belong to the running transaction. */
    tsr_link_published_t *pub;
    size_t n_pub, cap_pub, n_mark, n_taken;
};

/* --- small containers -------------------------------------------------------- */


/* A set of fixed-length byte keys (record ids or tokens), open addressing. */
typedef struct {
    uint8_t *keys;
    uint8_t *used;
    size_t klen, cap, n;
} l_set_t;

static uint64_t l_hash(const uint8_t *k, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a; keys are HMAC output already */
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    return h;
}

static void l_set_free(l_set_t *s)
{
    free(s->keys);
    free(s->used);
    memset(s, 0, sizeof *s);
}

/* Returns 1 when added, 0 when present, -1 when out of memory. */
static int l_set_add(l_set_t *s, const uint8_t *k);

static int l_set_grow(l_set_t *s)
{
    l_set_t g = {.klen = s->klen, .cap = s->cap ? s->cap * 2 : 64};
    g.keys = malloc(g.cap * g.klen);
    g.used = calloc(g.cap, 1);
    if (!g.keys || !g.used) {
        l_set_free(&g);
        return TSR_ENOMEM;
    }
    for (size_t i = 0; i < s->cap; i++)
        if (s->used[i])
            l_set_add(&g, s->keys + i * s->klen);
    l_set_free(s);
    *s = g;
    return 0;
}

static int l_set_add(l_set_t *s, const uint8_t *k)
{
    if ((s->n + 1) * 2 > s->cap && l_set_grow(s) != 0)
        return -1;
    size_t i = (size_t)(l_hash(k, s->klen) & (s->cap - 1));
    while (s->used[i]) {
        if (!memcmp(s->keys + i * s->klen, k, s->klen))
            return 0;
        i = (i + 1) & (s->cap - 1);
    }
    s->used[i] = 1;
    memcpy(s->keys + i * s->klen, k, s->klen);
    s->n++;
    return 1;
}

static bool l_set_has(const l_set_t *s, const uint8_t *k)
{
    if (!s->cap)
        return false;
    size_t i = (size_t)(l_hash(k, s->klen) & (s->cap - 1));
    while (s->used[i]) {
        if (!memcmp(s->keys + i * s->klen, k, s->klen))
            return true;
        i = (i + 1) & (s->cap - 1);
    }
    return false;
}

/* --- cluster summary ------------------------------------------------------------ */

/* One area or agency of a cluster: how many of its records, and whether an
 * alert has named it. */
typedef struct {
    char name[TSR_CLIENT_ID_MAX];
    uint32_t count;
    bool alerted;
} l_entry_t;

typedef struct {
    l_entry_t *v;
    size_t n, cap;
} l_list_t;

typedef struct {
    uint32_t n;         /* records */
    bool alerted;       /* an alert has been raised for the cluster as it is */
    uint32_t threshold; /* highest victim count alerted */
    l_list_t areas, ag; /* areas and agencies */
} l_sum_t;

static void l_sum_free(l_sum_t *s)
{
    free(s->areas.v);
    free(s->ag.v);
    memset(s, 0, sizeof *s);
}

/* Adds delta to an entry's count (creating it, dropping it at 0). */
static int l_list_add(l_list_t *l, const char *name, int delta, bool alerted)
{
    size_t i;
    for (i = 0; i < l->n && strcmp(l->v[i].name, name); i++)
        ;
    if (i == l->n) {
        if (delta < 0)
            return 0;
        if (tsr_grow((void **)&l->v, &l->cap, l->n, sizeof *l->v))
            return TSR_ENOMEM;
        l->v[l->n++] = (l_entry_t){.alerted = alerted};
        snprintf(l->v[i].name, sizeof l->v[i].name, "%s", name);
    }
    l->v[i].count = (uint32_t)((int64_t)l->v[i].count + delta);
    l->v[i].alerted |= alerted;
    if (l->v[i].count == 0)
        l->v[i] = l->v[--l->n];
    return 0;
}

/* One record of area and agency in (delta 1) or out (-1). */
static int l_sum_count(l_sum_t *s, const char *area, const char *agency, int delta)
{
    int rc = l_list_add(&s->areas, area, delta, false);
    if (rc == 0)
        rc = l_list_add(&s->ag, agency, delta, false);
    if (rc == 0)
        s->n = (uint32_t)((int64_t)s->n + delta);
    return rc;
}

static bool l_sum_spans(const l_sum_t *s) { return s->areas.n >= 2 || s->ag.n >= 2; }

/* The highest victim threshold n has reached (0 below the first). */
static uint32_t l_threshold_of(uint32_t n)
{
    uint32_t t = 0;
    for (size_t i = 0; i < sizeof l_thresholds / sizeof l_thresholds[0]; i++)
        if (n >= l_thresholds[i])
            t = l_thresholds[i];
    return t;
}

static void l_key(uint8_t k[8], uint64_t cid) { tsr_bytes_be64(k, cid); }

static int l_sum_load(tsr_link_t *l, MDB_txn *txn, uint64_t cid, l_sum_t *s)
{
    uint8_t kb[8];
    l_key(kb, cid);
    MDB_val k = {8, kb}, v;
    memset(s, 0, sizeof *s);
    int rc = tsr_kv_get(txn, l->dbi[L_CLUSTERS], &k, &v);
    if (rc != 0)
        return rc;
    tsr_bytes_t b = {v.mv_data, 0, v.mv_size, false};
    if (tsr_bytes_get_u8(&b) != L_SUM_FORMAT)
        return TSR_ECORRUPT;
    uint32_t n = tsr_bytes_get_u32(&b);
    bool alerted = tsr_bytes_get_u8(&b);
    uint32_t threshold = tsr_bytes_get_u32(&b);
    uint32_t na = tsr_bytes_get_u32(&b);
    int rc2 = 0;
    for (uint32_t i = 0; i < na && !b.bad && rc2 == 0; i++) {
        char code[TSR_AREA_CODE_MAX];
        tsr_bytes_get_str(&b, code, sizeof code);
        uint32_t count = tsr_bytes_get_u32(&b);
        rc2 = l_list_add(&s->areas, code, (int)count, tsr_bytes_get_u8(&b));
    }
    uint32_t ng = tsr_bytes_get_u32(&b);
    for (uint32_t i = 0; i < ng && !b.bad && rc2 == 0; i++) {
        char id[TSR_CLIENT_ID_MAX];
        tsr_bytes_get_str(&b, id, sizeof id);
        uint32_t count = tsr_bytes_get_u32(&b);
        rc2 = l_list_add(&s->ag, id, (int)count, tsr_bytes_get_u8(&b));
    }
    if (rc2 != 0) {
        l_sum_free(s);
        return rc2;
    }
    s->n = n;
    s->alerted = alerted;
    s->threshold = threshold;
    if (b.bad) {
        l_sum_free(s);
        return TSR_ECORRUPT;
    }
    return 0;
}

static int l_sum_save(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const l_sum_t *s)
{
    size_t cap = 32 + s->areas.n * (TSR_AREA_CODE_MAX + 6) + s->ag.n * (TSR_CLIENT_ID_MAX + 6);
    uint8_t *buf = malloc(cap), kb[8];
    if (!buf)
        return TSR_ENOMEM;
    tsr_bytes_t b = {buf, 0, cap, false};
    tsr_bytes_put_u8(&b, L_SUM_FORMAT);
    tsr_bytes_put_u32(&b, s->n);
    tsr_bytes_put_u8(&b, s->alerted);
    tsr_bytes_put_u32(&b, s->threshold);
    tsr_bytes_put_u32(&b, (uint32_t)s->areas.n);
    for (size_t i = 0; i < s->areas.n; i++) {
        tsr_bytes_put_str(&b, s->areas.v[i].name);
        tsr_bytes_put_u32(&b, s->areas.v[i].count);
        tsr_bytes_put_u8(&b, s->areas.v[i].alerted);
    }
    tsr_bytes_put_u32(&b, (uint32_t)s->ag.n);
    for (size_t i = 0; i < s->ag.n; i++) {
        tsr_bytes_put_str(&b, s->ag.v[i].name);
        tsr_bytes_put_u32(&b, s->ag.v[i].count);
        tsr_bytes_put_u8(&b, s->ag.v[i].alerted);
    }
    l_key(kb, cid);
    MDB_val k = {8, kb}, v = {b.n, buf};
    int rc = b.bad ? TSR_ERANGE : tsr_kv_put(txn, l->dbi[L_CLUSTERS], &k, &v, 0);
    free(buf);
    return rc;
}

static int l_sum_del(tsr_link_t *l, MDB_txn *txn, uint64_t cid)
{
    uint8_t kb[8];
    l_key(kb, cid);
    MDB_val k = {8, kb};
    int rc = tsr_kv_del(txn, l->dbi[L_CLUSTERS], &k);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

/* --- open ------------------------------------------------------------------------ */

int tsr_link_open(tsr_link_t **out, tsr_kv_t *kv, MDB_dbi by_token, tsr_link_get_fn get,
                  void *get_ctx, tsr_error_t *err)
{
    *out = NULL;
    tsr_link_t *l = calloc(1, sizeof *l);
    if (!l)
        return TSR_ENOMEM;
    int rc = tsr_kv_dbis(kv, l_db_names, L_NDBS, 0, l->dbi, err);
    if (rc != 0) {
        free(l);
        return rc;
    }
    l->kv = kv;
    l->by_token = by_token;
    l->get = get;
    l->get_ctx = get_ctx;
    l->on = true;
    *out = l;
    return TSR_OK;
}

/* Frees pub[from, to) and closes the gap. */
static void l_pub_drop(tsr_link_t *l, size_t from, size_t to)
{
    if (from == to)
        return; /* pub may still be NULL */
    for (size_t i = from; i < to; i++)
        free(l->pub[i].buf);
    memmove(l->pub + from, l->pub + to, (l->n_pub - to) * sizeof *l->pub);
    l->n_pub -= to - from;
}

void tsr_link_close(tsr_link_t **l_p)
{
    if (!l_p || !*l_p)
        return;
    tsr_link_t *l = *l_p;
    l_pub_drop(l, 0, l->n_pub);
    free(l->pub);
    free(l->touched);
    free(l);
    *l_p = NULL;
}

void tsr_link_enable(tsr_link_t *l, bool on) { l->on = on; }

void tsr_link_begin(tsr_link_t *l)
{
    l->n_touched = 0;
    l_pub_drop(l, l->n_mark, l->n_pub); /* an earlier run of this body, aborted */
}

void tsr_link_committed(tsr_link_t *l) { l->n_mark = l->n_pub; }

const tsr_link_published_t *tsr_link_published(tsr_link_t *l, size_t *n)
{
    l_pub_drop(l, 0, l->n_taken);
    l->n_mark -= l->n_taken;
    l->n_taken = l->n_mark;
    *n = l->n_mark;
    return l->pub;
}

/* --- meta counters ---------------------------------------------------------------- */

/* Returns the next value of a sequence ("cluster", "alert"), starting at 1. */
static int l_next(tsr_link_t *l, MDB_txn *txn, const char *name, uint64_t *out)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    uint64_t cur = 0;
    int rc = tsr_kv_get(txn, l->dbi[L_META], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        memcpy(&cur, v.mv_data, 8);
    else if (rc != TSR_ENOTFOUND)
        return rc == 0 ? TSR_ECORRUPT : rc;
    cur++;
    v.mv_size = 8;
    v.mv_data = &cur;
    *out = cur;
    return tsr_kv_put(txn, l->dbi[L_META], &k, &v, 0);
}

/* --- membership --------------------------------------------------------------------- */

/* The cluster a record or token map names in *cid (0: none). */
static int l_get_cid(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t klen, uint64_t *cid)
{
    MDB_val k = {klen, (void *)key}, v;
    *cid = 0;
    int rc = tsr_kv_get(txn, dbi, &k, &v);
    if (rc == 0 && v.mv_size != 8)
        rc = TSR_ECORRUPT;
    if (rc == 0)
        memcpy(cid, v.mv_data, 8);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

static int l_put_cid(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t klen, uint64_t cid)
{
    MDB_val k = {klen, (void *)key}, v = {8, &cid};
    return tsr_kv_put(txn, dbi, &k, &v, 0);
}

static void l_member_key(uint8_t mk[8 + TSR_RECORD_ID_LEN], uint64_t cid, const uint8_t *rid)
{
    l_key(mk, cid);
    memcpy(mk + 8, rid, TSR_RECORD_ID_LEN);
}

/* Puts rid (with tokens) into cluster cid: record map, member list, token map. */
static int l_join(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const tsr_incident_t *inc)
{
    uint8_t mk[8 + TSR_RECORD_ID_LEN];
    l_member_key(mk, cid, inc->record_id);
    MDB_val k = {sizeof mk, mk}, v = {0, ""};
    int rc = l_put_cid(txn, l->dbi[L_REC], inc->record_id, TSR_RECORD_ID_LEN, cid);
    if (rc == 0)
        rc = tsr_kv_put(txn, l->dbi[L_MEMBERS], &k, &v, 0);
    for (size_t i = 0; rc == 0 && i < inc->n_tokens; i++)
        rc = l_put_cid(txn, l->dbi[L_TOK], inc->tokens[i].token, TSR_TOKEN_LEN, cid);
    return rc;
}

static int l_member_del(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const uint8_t *rid)
{
    uint8_t mk[8 + TSR_RECORD_ID_LEN];
    l_member_key(mk, cid, rid);
    MDB_val k = {sizeof mk, mk};
    int rc = tsr_kv_del(txn, l->dbi[L_MEMBERS], &k);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

/* Calls fn for every record id of cluster cid (in id order). fn may not
 * change the member list; collect first when it must. */
static int l_members(tsr_link_t *l, MDB_txn *txn, uint64_t cid,
                     int (*fn)(void *ctx, const uint8_t *rid), void *ctx)
{
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, l->dbi[L_MEMBERS], &c);
    if (rc != 0)
        return rc;
    uint8_t kb[8];
    l_key(kb, cid);
    MDB_val k = {8, kb}, v;
    int out = 0; /* fn's code: its TSR_ENOTFOUND is not the cursor's end */
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 + TSR_RECORD_ID_LEN || memcmp(k.mv_data, kb, 8) != 0)
            break;
        if ((out = fn(ctx, (uint8_t *)k.mv_data + 8)) != 0)
            break;
    }
    tsr_kv_cursor_close(c);
    return out != 0 ? out : rc == TSR_ENOTFOUND ? 0 : rc;
}

typedef struct {
    uint8_t (*ids)[TSR_RECORD_ID_LEN];
    size_t n, cap;
} l_ids_t;

static int l_collect(void *ctx, const uint8_t *rid)
{
    l_ids_t *ids = ctx;
    if (tsr_grow((void **)&ids->ids, &ids->cap, ids->n, sizeof *ids->ids) != 0)
        return TSR_ENOMEM;
    memcpy(ids->ids[ids->n++], rid, TSR_RECORD_ID_LEN);
    return 0;
}

/* Moves the records in ids from cluster `from` to cluster `to`. */
static int l_relabel(tsr_link_t *l, MDB_txn *txn, const l_ids_t *ids, uint64_t from, uint64_t to)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ids->n; i++) {
        rc = l->get(l->get_ctx, txn, ids->ids[i], &l->tmp, l->tmp_agency);
        if (rc == 0)
            rc = l_member_del(l, txn, from, ids->ids[i]);
        if (rc == 0)
            rc = l_join(l, txn, to, &l->tmp);
    }
    return rc;
}

static l_touch_t *l_touch(tsr_link_t *l, uint64_t cid)
{
    for (size_t i = 0; i < l->n_touched; i++)
        if (l->touched[i].cid == cid) {
            l->touched[i].dead = false;
            return &l->touched[i];
        }
    if (tsr_grow((void **)&l->touched, &l->cap_touched, l->n_touched, sizeof *l->touched) != 0)
        return NULL;
    l->touched[l->n_touched] = (l_touch_t){.cid = cid};
    return &l->touched[l->n_touched++];
}

/* Merges cluster `from` into `into` (whose summary is *into_sum). */
static int l_merge(tsr_link_t *l, MDB_txn *txn, uint64_t from, uint64_t into, l_sum_t *into_sum)
{
    l_sum_t fs;
    l_ids_t ids = {0};
    int rc = l_sum_load(l, txn, from, &fs);
    if (rc == 0)
        rc = l_members(l, txn, from, l_collect, &ids);
    if (rc == 0)
        rc = l_relabel(l, txn, &ids, from, into);
    for (size_t i = 0; rc == 0 && i < fs.areas.n; i++)
        rc = l_list_add(&into_sum->areas, fs.areas.v[i].name, (int)fs.areas.v[i].count,
                        fs.areas.v[i].alerted);
    for (size_t i = 0; rc == 0 && i < fs.ag.n; i++)
        rc = l_list_add(&into_sum->ag, fs.ag.v[i].name, (int)fs.ag.v[i].count, fs.ag.v[i].alerted);
    into_sum->n += fs.n;
    bool both_alerted = fs.alerted && into_sum->alerted;
    if (rc == 0) {
        into_sum->alerted |= fs.alerted;
        if (fs.threshold > into_sum->threshold)
            into_sum->threshold = fs.threshold;
        rc = l_sum_del(l, txn, from);
    }
    l_touch_t *tf = rc == 0 ? l_touch(l, from) : NULL;
    if (tf)
        tf->dead = true;
    l_touch_t *ti = rc == 0 ? l_touch(l, into) : NULL;
    if (rc == 0 && (!tf || !ti))
        rc = TSR_ENOMEM;
    if (rc == 0 && both_alerted && ti->n_joined < L_MAX_JOINED)
        ti->joined[ti->n_joined++] = from;
    free(ids.ids);
    l_sum_free(&fs);
    return rc;
}

static int l_other_carrier(tsr_link_t *l, MDB_txn *txn, const uint8_t *t, const uint8_t *self,
                           uint8_t other[TSR_RECORD_ID_LEN]);

/* Puts inc into the cluster of its tokens, merging every cluster they (and
 * member_of, the record's cluster before an update; 0 for a new record)
 * reach into the largest. Counts the record in when it is new. */
static int l_attach(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *inc, const char *agency,
                    uint64_t member_of)
{
    uint64_t cids[TSR_MAX_TOKENS + 1];
    size_t nc = 0;
    l_ids_t singles = {0};
    int rc = 0;
    if (member_of)
        cids[nc++] = member_of;
    for (size_t i = 0; rc == 0 && i < inc->n_tokens; i++) {
        const uint8_t *t = inc->tokens[i].token;
        uint8_t other[TSR_RECORD_ID_LEN];
        uint64_t cid = 0;
        int carried = l_other_carrier(l, txn, t, inc->record_id, other);
        if (carried < 0) {
            rc = carried;
            break;
        }
        if (carried == 0)
            continue; /* no one else carries it: it links nothing */
        if ((rc = l_get_cid(txn, l->dbi[L_TOK], t, TSR_TOKEN_LEN, &cid)) != 0)
            break;
        if (cid == 0) {
            /* an unmapped token has one other carrier, a record on its own
             * so far: it joins the cluster with this one */
            size_t j;
            for (j = 0; j < singles.n && memcmp(singles.ids[j], other, TSR_RECORD_ID_LEN); j++)
                ;
            if (j == singles.n && l_collect(&singles, other) != 0)
                rc = TSR_ENOMEM;
            continue;
        }
        size_t j;
        for (j = 0; j < nc && cids[j] != cid; j++)
            ;
        if (j == nc)
            cids[nc++] = cid;
    }
    if (rc != 0 || (nc == 0 && singles.n == 0)) {
        free(singles.ids);
        return rc; /* linked to nothing: a cluster of one is not stored */
    }
    l_sum_t sum = {0};
    uint64_t into = 0;
    if (nc == 0) {
        rc = l_next(l, txn, "cluster", &into);
    } else {
        /* the largest keeps its id; the others are relabelled into it */
        uint32_t best = 0;
        for (size_t i = 0; rc == 0 && i < nc; i++) {
            l_sum_t s;
            rc = l_sum_load(l, txn, cids[i], &s);
            if (rc == 0 && (into == 0 || s.n > best)) {
                best = s.n;
                into = cids[i];
            }
            l_sum_free(&s);
        }
        if (rc == 0)
            rc = l_sum_load(l, txn, into, &sum);
        for (size_t i = 0; rc == 0 && i < nc; i++)
            if (cids[i] != into)
                rc = l_merge(l, txn, cids[i], into, &sum);
    }
    for (size_t i = 0; rc == 0 && i < singles.n; i++) {
        rc = l->get(l->get_ctx, txn, singles.ids[i], &l->tmp, l->tmp_agency);
        if (rc == 0)
            rc = l_join(l, txn, into, &l->tmp);
        if (rc == 0)
            rc = l_sum_count(&sum, l->tmp.area_code, l->tmp_agency, 1);
    }
    free(singles.ids);
    if (rc == 0)
        rc = l_join(l, txn, into, inc);
    if (rc == 0 && !member_of)
        rc = l_sum_count(&sum, inc->area_code, agency, 1);
    if (rc == 0)
        rc = l_sum_save(l, txn, into, &sum);
    if (rc == 0 && !l_touch(l, into))
        rc = TSR_ENOMEM;
    l_sum_free(&sum);
    return rc;
}

int tsr_link_add(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *inc, const char *agency)
{
    if (!l->on || inc->n_tokens == 0)
        return 0;
    return l_attach(l, txn, inc, agency, 0);
}

/* --- removal and splits ------------------------------------------------------------- */

/* 1 when a record other than self (NULL: any record) carries token t (its
 * id goes to other), 0 when none does, or a TSR_E* code when the index
 * cannot be read. */
static int l_other_carrier(tsr_link_t *l, MDB_txn *txn, const uint8_t *t, const uint8_t *self,
                           uint8_t other[TSR_RECORD_ID_LEN])
{
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, l->by_token, &c);
    if (rc != 0)
        return rc;
    MDB_val k = {TSR_TOKEN_LEN, (void *)t}, v;
    bool found = false;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && !found;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != TSR_TOKEN_LEN + TSR_RECORD_ID_LEN || memcmp(k.mv_data, t, TSR_TOKEN_LEN))
            break;
        const uint8_t *rid = (uint8_t *)k.mv_data + TSR_TOKEN_LEN;
        if (!self || memcmp(rid, self, TSR_RECORD_ID_LEN) != 0) {
            memcpy(other, rid, TSR_RECORD_ID_LEN);
            found = true;
        }
    }
    tsr_kv_cursor_close(c);
    if (found)
        return 1;
    return rc == 0 || rc == TSR_ENOTFOUND ? 0 : rc;
}

/* Breadth-first walk over records and tokens from `start`. Records reached
 * go to *recs (and the set), tokens to the set. Stops early when every token
 * of `targets` has been reached (returns 1 then), else 0 when the component
 * is exhausted, or a TSR_E* code. */
typedef struct {
    l_set_t toks, recs;
    l_ids_t order; /* records in the order reached */
} l_walk_t;

static int l_walk(tsr_link_t *l, MDB_txn *txn, const uint8_t *start, l_walk_t *w,
                  const uint8_t (*targets)[TSR_TOKEN_LEN], size_t n_targets)
{
    uint8_t (*queue)[TSR_TOKEN_LEN] = NULL;
    size_t qn = 0, qcap = 0, head = 0;
    int rc = l_set_add(&w->toks, start) < 0 ? TSR_ENOMEM : 0;
    if (rc == 0 && !(rc = tsr_grow((void **)&queue, &qcap, qn, sizeof *queue)))
        memcpy(queue[qn++], start, TSR_TOKEN_LEN);
    MDB_cursor *c = NULL;
    if (rc == 0)
        rc = tsr_kv_cursor_open(txn, l->by_token, &c);
    while (rc == 0 && head < qn) {
        if (targets) {
            size_t reached = 0;
            for (size_t i = 0; i < n_targets; i++)
                reached += l_set_has(&w->toks, targets[i]);
            if (reached == n_targets) {
                rc = 1;
                break;
            }
        }
        uint8_t tok[TSR_TOKEN_LEN];
        memcpy(tok, queue[head++], TSR_TOKEN_LEN);
        MDB_val k = {TSR_TOKEN_LEN, tok}, v;
        int crc;
        for (crc = tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE); crc == 0 && rc == 0;
             crc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
            if (k.mv_size != TSR_TOKEN_LEN + TSR_RECORD_ID_LEN ||
                memcmp(k.mv_data, tok, TSR_TOKEN_LEN) != 0)
                break;
            const uint8_t *rid = (uint8_t *)k.mv_data + TSR_TOKEN_LEN;
            int added = l_set_add(&w->recs, rid);
            if (added < 0 || (added && l_collect(&w->order, rid) != 0)) {
                rc = TSR_ENOMEM;
                break;
            }
            if (!added)
                continue;
            rc = l->get(l->get_ctx, txn, rid, &l->tmp, l->tmp_agency);
            for (size_t i = 0; rc == 0 && i < l->tmp.n_tokens; i++) {
                int a = l_set_add(&w->toks, l->tmp.tokens[i].token);
                if (a < 0 || (a && tsr_grow((void **)&queue, &qcap, qn, sizeof *queue)))
                    rc = TSR_ENOMEM;
                else if (a)
                    memcpy(queue[qn++], l->tmp.tokens[i].token, TSR_TOKEN_LEN);
            }
        }
        if (crc != 0 && crc != TSR_ENOTFOUND && rc == 0)
            rc = crc;
    }
    tsr_kv_cursor_close(c);
    free(queue);
    return rc;
}

static void l_walk_free(l_walk_t *w)
{
    l_set_free(&w->toks);
    l_set_free(&w->recs);
    free(w->order.ids);
}

static int l_dissolve(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const uint8_t *rid);

/* Recounts a piece's summary from its records, keeping what the old cluster
 * had alerted for its areas and agencies while it still spans several. */
static int l_piece_sum(tsr_link_t *l, MDB_txn *txn, const l_ids_t *ids, const l_sum_t *old,
                       l_sum_t *out)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ids->n; i++) {
        rc = l->get(l->get_ctx, txn, ids->ids[i], &l->tmp, l->tmp_agency);
        if (rc == 0)
            rc = l_sum_count(out, l->tmp.area_code, l->tmp_agency, 1);
    }
    if (rc != 0 || !old->alerted || !l_sum_spans(out))
        return rc; /* a piece within one area and agency starts afresh */
    out->alerted = true;
    out->threshold = old->threshold; /* a high-water mark: thresholds are not announced twice */
    for (size_t i = 0; i < out->areas.n; i++)
        for (size_t j = 0; j < old->areas.n; j++)
            if (!strcmp(out->areas.v[i].name, old->areas.v[j].name))
                out->areas.v[i].alerted = old->areas.v[j].alerted;
    for (size_t i = 0; i < out->ag.n; i++)
        for (size_t j = 0; j < old->ag.n; j++)
            if (!strcmp(out->ag.v[i].name, old->ag.v[j].name))
                out->ag.v[i].alerted = old->ag.v[j].alerted;
    return 0;
}

/* After a record left cluster cid (summary *sum already counted down), finds
 * whether the tokens it leaves behind (rest) are still connected; if not,
 * gives every piece its own cluster. */
static int l_split(tsr_link_t *l, MDB_txn *txn, uint64_t cid, l_sum_t *sum,
                   const uint8_t (*rest)[TSR_TOKEN_LEN], size_t n_rest)
{
    l_walk_t first = {.toks.klen = TSR_TOKEN_LEN, .recs.klen = TSR_RECORD_ID_LEN};
    int rc = l_walk(l, txn, rest[0], &first, rest, n_rest);
    if (rc != 0) {
        l_walk_free(&first);
        return rc == 1 ? 0 : rc; /* 1: all reached, still one cluster */
    }
    /* Split: walk the pieces from the tokens the first walk did not reach. */
    l_walk_t *pieces = calloc(n_rest, sizeof *pieces);
    size_t np = 0;
    if (!pieces) {
        l_walk_free(&first);
        return TSR_ENOMEM;
    }
    pieces[np++] = first;
    for (size_t i = 1; rc == 0 && i < n_rest; i++) {
        bool seen = false;
        for (size_t p = 0; p < np; p++)
            seen |= l_set_has(&pieces[p].toks, rest[i]);
        if (seen)
            continue;
        pieces[np] = (l_walk_t){.toks.klen = TSR_TOKEN_LEN, .recs.klen = TSR_RECORD_ID_LEN};
        rc = l_walk(l, txn, rest[i], &pieces[np++], NULL, 0);
    }
    size_t big = 0;
    for (size_t p = 1; p < np; p++)
        if (pieces[p].order.n > pieces[big].order.n)
            big = p;
    tsr_debug("linkage", "cluster %llu splits into %zu", (unsigned long long)cid, np);
    for (size_t p = 0; rc == 0 && p < np; p++) {
        if (pieces[p].order.n == 1) {
            /* a record left alone shares nothing: out of the cluster tables */
            rc = l_dissolve(l, txn, cid, pieces[p].order.ids[0]);
            if (rc == 0 && p == big) {
                rc = l_sum_del(l, txn, cid);
                l_touch_t *t = l_touch(l, cid);
                if (t)
                    t->dead = true;
            }
            continue;
        }
        uint64_t pid = cid;
        if (p != big && (rc = l_next(l, txn, "cluster", &pid)) == 0)
            rc = l_relabel(l, txn, &pieces[p].order, cid, pid);
        l_sum_t ps;
        if (rc == 0 && (rc = l_piece_sum(l, txn, &pieces[p].order, sum, &ps)) == 0) {
            rc = l_sum_save(l, txn, pid, &ps);
            l_sum_free(&ps);
        }
        if (rc == 0 && !l_touch(l, pid))
            rc = TSR_ENOMEM;
    }
    for (size_t p = 0; p < np; p++)
        l_walk_free(&pieces[p]);
    free(pieces);
    return rc == 0 ? 1 : rc; /* 1: summaries written */
}

/* Forgets the tokens of t[] that no record carries any more; the others
 * are appended to rest[]. */
static int l_drop_unused(tsr_link_t *l, MDB_txn *txn, const tsr_token_t *t, size_t n,
                         uint8_t (*rest)[TSR_TOKEN_LEN], size_t *n_rest)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t any[TSR_RECORD_ID_LEN];
        int used = l_other_carrier(l, txn, t[i].token, NULL, any);
        if (used < 0)
            return used;
        if (used) {
            memcpy(rest[(*n_rest)++], t[i].token, TSR_TOKEN_LEN);
            continue;
        }
        MDB_val tk = {TSR_TOKEN_LEN, (void *)t[i].token};
        int rc = tsr_kv_del(txn, l->dbi[L_TOK], &tk);
        if (rc != 0 && rc != TSR_ENOTFOUND)
            return rc;
    }
    return 0;
}

/* Takes the one record rid out of cluster cid's tables (membership, record
 * and token maps): a record that shares nothing is in no cluster. */
static int l_dissolve(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const uint8_t *rid)
{
    int rc = l->get(l->get_ctx, txn, rid, &l->tmp, l->tmp_agency);
    for (size_t i = 0; rc == 0 && i < l->tmp.n_tokens; i++) {
        MDB_val tk = {TSR_TOKEN_LEN, l->tmp.tokens[i].token};
        rc = tsr_kv_del(txn, l->dbi[L_TOK], &tk);
        if (rc == TSR_ENOTFOUND)
            rc = 0;
    }
    MDB_val rk = {TSR_RECORD_ID_LEN, (void *)rid};
    if (rc == 0 && (rc = tsr_kv_del(txn, l->dbi[L_REC], &rk)) == TSR_ENOTFOUND)
        rc = 0;
    if (rc == 0)
        rc = l_member_del(l, txn, cid, rid);
    return rc;
}

/* After cluster cid lost a record or some links (its summary counted down
 * in *sum): when walk is set, checks that the tokens rest[] are still
 * connected and splits the cluster if not; then writes the summaries. A
 * cluster no longer spanning two areas or agencies is no longer alerted: the
 * next link is news again. */
static int l_settle(tsr_link_t *l, MDB_txn *txn, uint64_t cid, l_sum_t *sum,
                    const uint8_t (*rest)[TSR_TOKEN_LEN], size_t n_rest, bool walk)
{
    l_touch_t *t = l_touch(l, cid);
    if (!t)
        return TSR_ENOMEM;
    if (sum->n == 0) {
        t->dead = true;
        return l_sum_del(l, txn, cid);
    }
    if (sum->n == 1) { /* one record left: it shares nothing any more */
        l_ids_t one = {0};
        int rc = l_members(l, txn, cid, l_collect, &one);
        if (rc == 0 && one.n == 1)
            rc = l_dissolve(l, txn, cid, one.ids[0]);
        free(one.ids);
        t->dead = true;
        return rc == 0 ? l_sum_del(l, txn, cid) : rc;
    }
    int split = walk && n_rest >= 2 ? l_split(l, txn, cid, sum, rest, n_rest) : 0;
    if (split != 0)
        return split == 1 ? 0 : split;
    if (sum->alerted && !l_sum_spans(sum)) {
        sum->alerted = false;
        sum->threshold = 0;
        for (size_t i = 0; i < sum->areas.n; i++)
            sum->areas.v[i].alerted = false;
        for (size_t i = 0; i < sum->ag.n; i++)
            sum->ag.v[i].alerted = false;
    }
    return l_sum_save(l, txn, cid, sum);
}

/* Takes old (already deleted from the record and token index) out of its
 * cluster. */
static int l_leave(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *old, const char *agency)
{
    uint64_t cid;
    int rc = l_get_cid(txn, l->dbi[L_REC], old->record_id, TSR_RECORD_ID_LEN, &cid);
    if (rc != 0 || cid == 0)
        return rc; /* 0: it carried no token */
    MDB_val rk = {TSR_RECORD_ID_LEN, (void *)old->record_id};
    uint8_t rest[TSR_MAX_TOKENS][TSR_TOKEN_LEN];
    size_t n_rest = 0;
    l_sum_t sum = {0};
    rc = tsr_kv_del(txn, l->dbi[L_REC], &rk);
    if (rc == 0)
        rc = l_member_del(l, txn, cid, old->record_id);
    if (rc == 0)
        rc = l_drop_unused(l, txn, old->tokens, old->n_tokens, rest, &n_rest);
    if (rc == 0)
        rc = l_sum_load(l, txn, cid, &sum);
    if (rc == 0)
        rc = l_sum_count(&sum, old->area_code, agency, -1);
    if (rc == 0)
        rc = l_settle(l, txn, cid, &sum, (const uint8_t(*)[TSR_TOKEN_LEN])rest, n_rest, true);
    l_sum_free(&sum);
    return rc;
}

int tsr_link_remove(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *old, const char *agency)
{
    return l->on ? l_leave(l, txn, old, agency) : 0;
}

static bool l_has_token(const tsr_incident_t *r, const uint8_t *token)
{
    for (size_t j = 0; j < r->n_tokens; j++)
        if (!memcmp(r->tokens[j].token, token, TSR_TOKEN_LEN))
            return true;
    return false;
}

/* A new version keeps its record id and cluster: a changed area is counted
 * over, new tokens merge what they reach, and tokens it dropped that other
 * records still carry may no longer hang together (checked by a walk from
 * the record's new tokens). */
int tsr_link_update(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *old,
                    const tsr_incident_t *inc, const char *agency)
{
    if (!l->on)
        return 0;
    uint64_t cid;
    int rc = l_get_cid(txn, l->dbi[L_REC], old->record_id, TSR_RECORD_ID_LEN, &cid);
    if (rc != 0)
        return rc;
    if (cid == 0)
        return tsr_link_add(l, txn, inc, agency);
    if (inc->n_tokens == 0)
        return l_leave(l, txn, old, agency);
    if (strcmp(old->area_code, inc->area_code) != 0) {
        l_sum_t sum;
        rc = l_sum_load(l, txn, cid, &sum);
        if (rc == 0) {
            rc = l_list_add(&sum.areas, old->area_code, -1, false);
            if (rc == 0)
                rc = l_list_add(&sum.areas, inc->area_code, 1, false);
            if (rc == 0)
                rc = l_sum_save(l, txn, cid, &sum);
            l_sum_free(&sum);
        }
    }
    if (rc == 0)
        rc = l_attach(l, txn, inc, agency, cid);
    /* rest: the record's tokens first (the walk starts there), then the
     * dropped tokens still carried elsewhere */
    uint8_t rest[2 * TSR_MAX_TOKENS][TSR_TOKEN_LEN];
    size_t n_rest = 0;
    tsr_token_t dropped[TSR_MAX_TOKENS];
    size_t n_dropped = 0;
    for (size_t i = 0; i < inc->n_tokens; i++)
        memcpy(rest[n_rest++], inc->tokens[i].token, TSR_TOKEN_LEN);
    for (size_t i = 0; i < old->n_tokens; i++)
        if (!l_has_token(inc, old->tokens[i].token))
            dropped[n_dropped++] = old->tokens[i];
    if (rc == 0)
        rc = l_drop_unused(l, txn, dropped, n_dropped, rest, &n_rest);
    uint64_t now_in = 0;
    if (rc == 0)
        rc = l_get_cid(txn, l->dbi[L_REC], inc->record_id, TSR_RECORD_ID_LEN, &now_in);
    l_sum_t sum = {0};
    if (rc == 0)
        rc = l_sum_load(l, txn, now_in, &sum);
    if (rc == 0)
        rc = l_settle(l, txn, now_in, &sum, (const uint8_t(*)[TSR_TOKEN_LEN])rest, n_rest,
                      n_rest > inc->n_tokens);
    l_sum_free(&sum);
    return rc;
}

/* --- alerts --------------------------------------------------------------------------- */

typedef struct {
    tsr_link_t *l;
    MDB_txn *txn;
    l_ids_t ids;
    l_set_t toks;
    tsr_name_t kinds[32];
    size_t n_kinds;
    int32_t first_day, last_day;
} l_detail_t;

/* For each member: its day and which of its token kinds another member shares. */
static int l_detail_one(void *ctx, const uint8_t *rid)
{
    l_detail_t *d = ctx;
    int rc = d->l->get(d->l->get_ctx, d->txn, rid, &d->l->tmp, d->l->tmp_agency);
    if (rc != 0)
        return rc;
    if (l_collect(&d->ids, rid) != 0)
        return TSR_ENOMEM;
    const tsr_incident_t *r = &d->l->tmp;
    if (d->first_day == 0 || r->reported_day < d->first_day)
        d->first_day = r->reported_day;
    if (r->reported_day > d->last_day)
        d->last_day = r->reported_day;
    for (size_t i = 0; i < r->n_tokens; i++) {
        int a = l_set_add(&d->toks, r->tokens[i].token);
        if (a < 0)
            return TSR_ENOMEM;
        if (a == 1)
            continue;
        size_t k;
        for (k = 0; k < d->n_kinds && strcmp(d->kinds[k], r->tokens[i].kind); k++)
            ;
        if (k == d->n_kinds && k < sizeof d->kinds / sizeof d->kinds[0])
            snprintf(d->kinds[d->n_kinds++], sizeof d->kinds[0], "%s", r->tokens[i].kind);
    }
    return 0;
}

static int l_cmp_str(const void *a, const void *b) { return strcmp(a, b); }

static void l_list_append(char *out, size_t cap, const char *item)
{
    size_t n = strlen(out);
    snprintf(out + n, cap - n, "%s%s", n ? ", " : "", item);
}

int tsr_link_append(tsr_link_t *l, MDB_txn *txn, tsr_alert_t *a)
{
    tsr_msg_t m = {.kind = TSR_MSG_ALERT};
    int rc = l_next(l, txn, "alert", &a->seq);
    m.u.alert = *a;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = tsr_wire_encode(&m, &buf, &len) != 0 ? TSR_ENOMEM : 0;
    if (rc == 0) {
        uint8_t kb[8];
        tsr_bytes_be64(kb, a->seq);
        MDB_val k = {8, kb}, v = {len, buf};
        rc = tsr_kv_put(txn, l->dbi[L_ALERTS], &k, &v, MDB_APPEND);
    }
    if (rc == 0 && tsr_grow((void **)&l->pub, &l->cap_pub, l->n_pub, sizeof *l->pub) != 0)
        rc = TSR_ENOMEM;
    if (rc == 0) {
        l->pub[l->n_pub++] = (tsr_link_published_t){a->seq, a->kind, buf, len};
        buf = NULL;
        tsr_info("alerts", "alert %llu: %s event=alert_raised seq=%llu kind=%s",
                 (unsigned long long)a->seq, a->summary, (unsigned long long)a->seq,
                 a->kind == TSR_ALERT_LINKAGE  ? "linkage"
                 : a->kind == TSR_ALERT_SPIKE ? "spike"
                                              : "cross_area");
    }
    free(buf);
    return rc;
}

/* Writes one alert for cluster cid (summary s) with the given trigger. */
static int l_raise(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const l_sum_t *s,
                   const char *trigger, int64_t now)
{
    l_detail_t d = {.l = l, .txn = txn, .toks.klen = TSR_TOKEN_LEN};
    int rc = l_members(l, txn, cid, l_detail_one, &d);
    tsr_msg_t m = {.kind = TSR_MSG_ALERT};
    tsr_alert_t *a = &m.u.alert;
    tsr_area_code_t *areas = calloc(s->areas.n + 1, sizeof *areas);
    tsr_name_t *ags = calloc(s->ag.n + 1, sizeof *ags);
    if (rc == 0 && (!areas || !ags))
        rc = TSR_ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < s->areas.n; i++)
            snprintf(areas[i], sizeof areas[i], "%.9s", s->areas.v[i].name);
        for (size_t i = 0; i < s->ag.n; i++)
            snprintf(ags[i], sizeof ags[i], "%s", s->ag.v[i].name);
        qsort(areas, s->areas.n, sizeof *areas, l_cmp_str);
        qsort(ags, s->ag.n, sizeof *ags, l_cmp_str);
        qsort(d.kinds, d.n_kinds, sizeof d.kinds[0], l_cmp_str);
        a->kind = TSR_ALERT_LINKAGE;
        a->created_at = now;
        a->cluster_id = cid;
        snprintf(a->trigger, sizeof a->trigger, "%s", trigger);
        a->areas = areas;
        a->n_areas = s->areas.n;
        a->agencies = ags;
        a->n_agencies = s->ag.n;
        a->record_ids = d.ids.ids;
        a->n_record_ids = d.ids.n < L_ALERT_MAX_RECORDS ? d.ids.n : L_ALERT_MAX_RECORDS;
        a->token_kinds = d.kinds;
        a->n_token_kinds = d.n_kinds;
        a->first_day = d.first_day;
        a->last_day = d.last_day;
        char kinds[160] = "";
        for (size_t i = 0; i < d.n_kinds; i++)
            l_list_append(kinds, sizeof kinds, d.kinds[i]);
        snprintf(a->summary, sizeof a->summary,
                 "cluster %llu: %u victim record(s) in %zu area(s) from %zu agenc%s, linked by %s",
                 (unsigned long long)cid, s->n, s->areas.n, s->ag.n, s->ag.n == 1 ? "y" : "ies",
                 d.n_kinds ? kinds : "one record's identifiers");
    }
    if (rc == 0)
        rc = tsr_link_append(l, txn, a);
    free(areas);
    free(ags);
    free(d.ids.ids);
    l_set_free(&d.toks);
    return rc;
}

/* Decides whether cluster t->cid needs an alert now, and raises it. */
static int l_evaluate(tsr_link_t *l, MDB_txn *txn, const l_touch_t *t, int64_t now)
{
    l_sum_t s;
    int rc = l_sum_load(l, txn, t->cid, &s);
    if (rc == TSR_ENOTFOUND)
        return 0; /* a cluster this transaction made and dissolved again */
    if (rc != 0)
        return rc;
    char trigger[128] = "", item[96];
    uint32_t th = l_threshold_of(s.n);
    if (l_sum_spans(&s) && !s.alerted) {
        snprintf(item, sizeof item, "first linked across %zu area%s and %zu agenc%s", s.areas.n,
                 s.areas.n == 1 ? "" : "s", s.ag.n, s.ag.n == 1 ? "y" : "ies");
        l_list_append(trigger, sizeof trigger, item);
        if (th > 0) {
            snprintf(item, sizeof item, "victims reached %u", th);
            l_list_append(trigger, sizeof trigger, item);
        }
    } else if (s.alerted) {
        for (size_t i = 0; i < t->n_joined; i++) {
            snprintf(item, sizeof item, "joined cluster %llu", (unsigned long long)t->joined[i]);
            l_list_append(trigger, sizeof trigger, item);
        }
        for (size_t i = 0; i < s.areas.n; i++)
            if (!s.areas.v[i].alerted) {
                snprintf(item, sizeof item, "new area %s", s.areas.v[i].name);
                l_list_append(trigger, sizeof trigger, item);
            }
        if (th > s.threshold) {
            snprintf(item, sizeof item, "victims reached %u", th);
            l_list_append(trigger, sizeof trigger, item);
        }
    }
    if (trigger[0]) {
        rc = l_raise(l, txn, t->cid, &s, trigger, now);
        s.alerted = true;
        s.threshold = th > s.threshold ? th : s.threshold;
        for (size_t i = 0; i < s.areas.n; i++)
            s.areas.v[i].alerted = true;
        for (size_t i = 0; i < s.ag.n; i++)
            s.ag.v[i].alerted = true;
        if (rc == 0)
            rc = l_sum_save(l, txn, t->cid, &s);
    }
    l_sum_free(&s);
    return rc;
}

int tsr_link_finish(tsr_link_t *l, MDB_txn *txn, int64_t now)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < l->n_touched; i++)
        if (!l->touched[i].dead)
            rc = l_evaluate(l, txn, &l->touched[i], now);
    return rc;
}

/* --- reads ------------------------------------------------------------------------------ */

int tsr_link_alerts(tsr_link_t *l, MDB_txn *txn, uint64_t since, uint32_t max,
                    tsr_alert_filter_fn want, void *want_ctx, tsr_response_t *resp)
{
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, l->dbi[L_ALERTS], &c);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    if ((rc = tsr_kv_cursor_get(c, &k, &v, MDB_LAST)) == 0 && k.mv_size != 8)
        rc = TSR_ECORRUPT;
    if (rc != 0 && rc != TSR_ENOTFOUND) {
        tsr_kv_cursor_close(c);
        return rc;
    }
    resp->last_seq = rc == 0 ? tsr_bytes_from_be64(k.mv_data) : 0;
    uint8_t kb[8];
    tsr_bytes_be64(kb, since + 1);
    k.mv_size = 8;
    k.mv_data = kb;
    size_t cap = 0;
    int out = TSR_OK;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && resp->n_alerts < max;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        tsr_msg_t m;
        if (k.mv_size != 8 || tsr_wire_decode(&m, v.mv_data, v.mv_size, NULL, NULL) != 0 ||
            m.kind != TSR_MSG_ALERT) {
            /* never page past an alert a reader may be owed */
            tsr_error("linkage", "alert %llu in the log cannot be read",
                      k.mv_size == 8 ? (unsigned long long)tsr_bytes_from_be64(k.mv_data) : 0ULL);
            if (k.mv_size == 8)
                tsr_msg_clear(&m);
            out = TSR_ECORRUPT;
            break;
        }
        if (want && !want(want_ctx, &m.u.alert)) {
            tsr_msg_clear(&m);
            continue;
        }
        if (tsr_grow((void **)&resp->alerts, &cap, resp->n_alerts, sizeof *resp->alerts) != 0) {
            tsr_msg_clear(&m);
            out = TSR_ENOMEM;
            break;
        }
        resp->alerts[resp->n_alerts++] = m.u.alert; /* takes its arrays */
    }
    tsr_kv_cursor_close(c);
    if (out == 0 && rc != 0 && rc != TSR_ENOTFOUND && resp->n_alerts < max)
        out = rc; /* a read error is not the end of the log */
    return out;
}

int tsr_link_record_cluster(tsr_link_t *l, MDB_txn *txn, const uint8_t *rid, uint64_t *cid)
{
    return l_get_cid(txn, l->dbi[L_REC], rid, TSR_RECORD_ID_LEN, cid);
}

typedef struct {
    tsr_link_t *l;
    MDB_txn *txn;
    tsr_response_t *resp;
    size_t cap;
    l_set_t toks;    /* every token seen */
    l_set_t shared;  /* tokens seen twice */
} l_cluster_t;

static int l_cluster_one(void *ctx, const uint8_t *rid)
{
    l_cluster_t *q = ctx;
    tsr_response_t *r = q->resp;
    int rc = q->l->get(q->l->get_ctx, q->txn, rid, &q->l->tmp, q->l->tmp_agency);
    if (rc != 0)
        return rc;
    if (tsr_grow((void **)&r->records, &q->cap, r->n_records, sizeof *r->records) != 0)
        return TSR_ENOMEM;
    const tsr_incident_t *inc = &q->l->tmp;
    tsr_cluster_record_t *cr = &r->records[r->n_records++];
    memset(cr, 0, sizeof *cr);
    memcpy(cr->record_id, rid, TSR_RECORD_ID_LEN);
    snprintf(cr->agency_id, sizeof cr->agency_id, "%s", q->l->tmp_agency);
    snprintf(cr->area_code, sizeof cr->area_code, "%s", inc->area_code);
    cr->reported_day = inc->reported_day;
    cr->age_band = inc->age_band;
    cr->contact_platforms = inc->contact_platforms;
    cr->demands = inc->demands;
    cr->tactics = inc->tactics;
    for (size_t i = 0; i < inc->n_tokens; i++)
        if (l_set_add(&q->toks, inc->tokens[i].token) == 0 &&
            l_set_add(&q->shared, inc->tokens[i].token) < 0)
            return TSR_ENOMEM;
    return 0;
}

int tsr_link_cluster(tsr_link_t *l, MDB_txn *txn, uint64_t cid, tsr_response_t *resp)
{
    l_sum_t s;
    int rc = l_sum_load(l, txn, cid, &s);
    if (rc != 0)
        return rc;
    l_sum_free(&s);
    l_cluster_t q = {l, txn, resp, 0, {.klen = TSR_TOKEN_LEN}, {.klen = TSR_TOKEN_LEN}};
    rc = l_members(l, txn, cid, l_cluster_one, &q);
    /* Second pass: name, per record, the kinds of its tokens that another
     * record of the cluster carries too (what joins it). */
    for (size_t i = 0; rc == 0 && i < resp->n_records; i++) {
        tsr_cluster_record_t *cr = &resp->records[i];
        rc = l->get(l->get_ctx, txn, cr->record_id, &l->tmp, l->tmp_agency);
        for (size_t t = 0; rc == 0 && t < l->tmp.n_tokens; t++) {
            if (!l_set_has(&q.shared, l->tmp.tokens[t].token))
                continue;
            size_t k;
            for (k = 0; k < cr->n_token_kinds && strcmp(cr->token_kinds[k], l->tmp.tokens[t].kind);
                 k++)
                ;
            if (k == cr->n_token_kinds && k < sizeof cr->token_kinds / sizeof cr->token_kinds[0])
                snprintf(cr->token_kinds[cr->n_token_kinds++], sizeof cr->token_kinds[0], "%s",
                         l->tmp.tokens[t].kind);
        }
    }
    l_set_free(&q.toks);
    l_set_free(&q.shared);
    resp->cluster_id = cid;
    return rc;
}

/* A token carried by one record that shares nothing: known, in no cluster. */
static int l_lookup_single(tsr_link_t *l, MDB_txn *txn, const tsr_token_t *tokens, size_t n,
                           tsr_response_t *resp)
{
    uint8_t rid[TSR_RECORD_ID_LEN];
    int carried = 0;
    for (size_t i = 0; i < n && carried == 0; i++)
        carried = l_other_carrier(l, txn, tokens[i].token, NULL, rid);
    if (carried < 0)
        return carried;
    resp->known = carried > 0;
    if (!resp->known)
        return 0;
    int rc = l->get(l->get_ctx, txn, rid, &l->tmp, l->tmp_agency);
    if (rc != 0)
        return rc;
    resp->areas = calloc(1, sizeof *resp->areas);
    resp->agencies = calloc(1, sizeof *resp->agencies);
    resp->record_ids = calloc(1, sizeof *resp->record_ids);
    if (!resp->areas || !resp->agencies || !resp->record_ids)
        return TSR_ENOMEM;
    snprintf(resp->areas[0], sizeof resp->areas[0], "%s", l->tmp.area_code);
    snprintf(resp->agencies[0], sizeof resp->agencies[0], "%s", l->tmp_agency);
    memcpy(resp->record_ids[0], rid, TSR_RECORD_ID_LEN);
    resp->n_areas = resp->n_agencies = resp->n_record_ids = 1;
    resp->cluster_records = 1;
    resp->first_day = resp->last_day = l->tmp.reported_day;
    return 0;
}

int tsr_link_lookup(tsr_link_t *l, MDB_txn *txn, const tsr_token_t *tokens, size_t n,
                    tsr_response_t *resp)
{
    resp->known = true;
    uint64_t cid = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n && cid == 0; i++)
        rc = l_get_cid(txn, l->dbi[L_TOK], tokens[i].token, TSR_TOKEN_LEN, &cid);
    if (rc != 0)
        return rc;
    if (!cid)
        return l_lookup_single(l, txn, tokens, n, resp);
    l_sum_t s;
    if ((rc = l_sum_load(l, txn, cid, &s)) != 0)
        return rc;
    l_detail_t d = {.l = l, .txn = txn, .toks.klen = TSR_TOKEN_LEN};
    rc = l_members(l, txn, cid, l_detail_one, &d);
    resp->areas = calloc(s.areas.n + 1, sizeof *resp->areas);
    resp->agencies = calloc(s.ag.n + 1, sizeof *resp->agencies);
    if (rc == 0 && (!resp->areas || !resp->agencies))
        rc = TSR_ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < s.areas.n; i++)
            snprintf(resp->areas[i], sizeof resp->areas[i], "%.9s", s.areas.v[i].name);
        for (size_t i = 0; i < s.ag.n; i++)
            snprintf(resp->agencies[i], sizeof resp->agencies[i], "%s", s.ag.v[i].name);
        resp->n_areas = s.areas.n;
        resp->n_agencies = s.ag.n;
        qsort(resp->areas, s.areas.n, sizeof *resp->areas, l_cmp_str);
        qsort(resp->agencies, s.ag.n, sizeof *resp->agencies, l_cmp_str);
        resp->cluster_id = cid;
        resp->cluster_records = s.n;
        resp->record_ids = d.ids.ids;
        resp->n_record_ids = d.ids.n;
        d.ids.ids = NULL;
        resp->first_day = d.first_day;
        resp->last_day = d.last_day;
    }
    free(d.ids.ids);
    l_set_free(&d.toks);
    l_sum_free(&s);
    return rc;
}

/* --- retention --------------------------------------------------------------------------- */

static int l_cmp_rid(const void *a, const void *b) { return memcmp(a, b, TSR_RECORD_ID_LEN); }

int tsr_link_scrub(tsr_link_t *l, MDB_txn *txn, const uint8_t (*ids)[TSR_RECORD_ID_LEN], size_t n,
                   size_t *changed)
{
    *changed = 0;
    if (n == 0)
        return 0;
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, l->dbi[L_ALERTS], &c);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        tsr_msg_t m;
        if (tsr_wire_decode(&m, v.mv_data, v.mv_size, NULL, NULL) != 0 || m.kind != TSR_MSG_ALERT) {
            tsr_msg_clear(&m);
            continue;
        }
        tsr_alert_t *a = &m.u.alert;
        size_t keep = 0;
        for (size_t i = 0; i < a->n_record_ids; i++)
            if (!bsearch(a->record_ids[i], ids, n, TSR_RECORD_ID_LEN, l_cmp_rid))
                memmove(a->record_ids[keep++], a->record_ids[i], TSR_RECORD_ID_LEN);
        if (keep != a->n_record_ids) {
            a->n_record_ids = keep;
            uint8_t *buf;
            size_t len;
            if ((rc = tsr_wire_encode(&m, &buf, &len)) != 0) {
                tsr_msg_clear(&m);
                rc = TSR_ENOMEM;
                break;
            }
            MDB_val nv = {len, buf};
            rc = tsr_kv_cursor_put(c, &k, &nv, MDB_CURRENT);
            free(buf);
            (*changed)++;
        }
        tsr_msg_clear(&m);
        if (rc != 0)
            break;
    }
    tsr_kv_cursor_close(c);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}
