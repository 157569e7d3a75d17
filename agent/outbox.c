/* outbox.c - queued items, the local record map and the rejection log. */
#include "outbox.h"
#include "tessera/err.h"
#include "tessera/kv.h"
#include "tessera/token.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { O_ITEMS, O_MAP, O_REJECTED, O_META, O_FILES, O_NDBS };
static const char *const s_names[O_NDBS] = {"outbox", "records", "rejections", "meta", "files"};

/* An item: type (1 byte), queued at (u64 BE unix seconds), then for the
 * types with a key (3, 4) the network key id (u32 BE), then the payload:
 * an incident's wire bytes, or a retraction's record id and version.
 * Types 1 and 2, without the key id, are what older outboxes hold. */
enum { ITEM_INCIDENT = 1, ITEM_RETRACTION = 2, ITEM_INCIDENT_K = 3, ITEM_RETRACTION_K = 4 };
#define S_ITEM_HEAD 9
#define S_ITEM_HEAD_K 13

typedef struct {
    int type;          /* ITEM_INCIDENT or ITEM_RETRACTION */
    bool has_key;      /* false: an older outbox's item (counts as the agent's own key) */
    uint32_t key_id;
    const uint8_t *payload;
    size_t len;
} s_item_t;

/* Reads an item's header; false for an item of no known shape. */
static bool s_item_parse(const MDB_val *v, s_item_t *it)
{
    const uint8_t *p = v->mv_data;
    memset(it, 0, sizeof *it);
    if (v->mv_size < S_ITEM_HEAD)
        return false;
    size_t head = S_ITEM_HEAD;
    it->type = p[0];
    if (p[0] == ITEM_INCIDENT_K || p[0] == ITEM_RETRACTION_K) {
        if (v->mv_size < S_ITEM_HEAD_K)
            return false;
        it->has_key = true;
        it->key_id = (uint32_t)p[9] << 24 | (uint32_t)p[10] << 16 | (uint32_t)p[11] << 8 | p[12];
        it->type = p[0] == ITEM_INCIDENT_K ? ITEM_INCIDENT : ITEM_RETRACTION;
        head = S_ITEM_HEAD_K;
    } else if (p[0] != ITEM_INCIDENT && p[0] != ITEM_RETRACTION) {
        return false;
    }
    it->payload = p + head;
    it->len = v->mv_size - head;
    return it->type == ITEM_INCIDENT || it->len == TSR_RECORD_ID_LEN + 4;
}

bool agent_outbox_keys_sendable(const agent_outbox_keys_t *k, uint32_t key_id)
{
    if (k->accepted.n > 0)
        return tsr_netkeys_accepts(&k->accepted, key_id, k->day);
    return key_id == k->own;
}

static bool s_item_sendable(const agent_outbox_keys_t *k, const s_item_t *it)
{
    return agent_outbox_keys_sendable(k, it->has_key ? it->key_id : k->own);
}

struct agent_outbox {
    tsr_kv_t *kv;
    MDB_dbi dbi[O_NDBS];
};

/* Map value: u32 version, 32-byte content hash, case reference, and the
 * key of the outbox item that last queued the record (0: none, or it was
 * withdrawn since). While that item waits for its Ack, the same record
 * queued again (a file submitted again after a crash mid-file) is not
 * queued a second time. Outboxes from before it have values without the
 * item key (S_MAP_OLD bytes): their records are queued again, as they were.
 * The native-endian struct is the stored form, as it always was. */
typedef struct {
    uint32_t version;
    uint8_t hash[32];
    char case_ref[TSR_CASE_REF_MAX];
    uint64_t item;
} s_map_t;
#define S_MAP_OLD (4 + 32 + TSR_CASE_REF_MAX)

/* The map entry of a record id: 0 (*map filled), TSR_ENOTFOUND,
 * TSR_ECORRUPT for a value of neither size, or another kv error. */
static int s_map_get(agent_outbox_t *o, MDB_txn *txn, const uint8_t *rid, s_map_t *map)
{
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid}, v;
    int rc = tsr_kv_get(txn, o->dbi[O_MAP], &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != sizeof *map && v.mv_size != S_MAP_OLD)
        return TSR_ECORRUPT;
    memset(map, 0, sizeof *map);
    memcpy(map, v.mv_data, v.mv_size);
    return 0;
}

static int s_map_put(agent_outbox_t *o, MDB_txn *txn, const uint8_t *rid, const s_map_t *map)
{
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid}, v = {sizeof *map, (void *)map};
    return tsr_kv_put(txn, o->dbi[O_MAP], &k, &v, 0);
}

int agent_outbox_new(agent_outbox_t **out, const char *data_dir, size_t map_max)
{
    *out = NULL;
    agent_outbox_t *o = calloc(1, sizeof *o);
    if (!o)
        return TSR_ENOMEM;
    char path[4096];
    snprintf(path, sizeof path, "%s", data_dir);
    size_t first = 16u << 20;
    tsr_kv_opts_t opts = {.dir = path,
                          .map_size = map_max && map_max < first ? map_max : first,
                          .map_step = 64u << 20,
                          .map_max = map_max};
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    int rc = tsr_kv_open(&o->kv, &opts, &err);
    if (rc == 0)
        rc = tsr_kv_dbis(o->kv, s_names, O_NDBS, 0, o->dbi, &err);
    if (rc != 0) {
        fprintf(stderr, "tessera-agent: %s\n", tsr_error_format(&err, msg, sizeof msg));
        tsr_kv_close(&o->kv);
        free(o);
        return rc;
    }
    *out = o;
    return TSR_OK;
}

void agent_outbox_destroy(agent_outbox_t **o_p)
{
    if (!o_p || !*o_p)
        return;
    tsr_kv_close(&(*o_p)->kv);
    free(*o_p);
    *o_p = NULL;
}

static uint64_t s_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void s_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Next item key: one more than the last in the outbox or the meta counter. */
static int s_next_seq(agent_outbox_t *o, MDB_txn *txn, uint64_t *seq)
{
    MDB_val k = {4, "next"}, v;
    uint64_t next = 1;
    int rc = tsr_kv_get(txn, o->dbi[O_META], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        next = s_be64(v.mv_data);
    else if (rc != TSR_ENOTFOUND)
        return rc == 0 ? TSR_ECORRUPT : rc;
    *seq = next;
    uint8_t b[8];
    s_put_be64(b, next + 1);
    v.mv_size = 8;
    v.mv_data = b;
    return tsr_kv_put(txn, o->dbi[O_META], &k, &v, 0);
}

/* Appends an item of type (ITEM_INCIDENT or ITEM_RETRACTION) made under
 * network key key_id; *seq_out (may be NULL) is its sequence. */
static int s_put_item(agent_outbox_t *o, MDB_txn *txn, int type, uint32_t key_id,
                      const uint8_t *payload, size_t len, uint64_t *seq_out)
{
    uint64_t seq;
    int rc = s_next_seq(o, txn, &seq);
    if (rc != 0)
        return rc;
    uint8_t key[8];
    s_put_be64(key, seq);
    uint8_t *val = malloc(len + S_ITEM_HEAD_K);
    if (!val)
        return TSR_ENOMEM;
    val[0] = (uint8_t)(type == ITEM_INCIDENT ? ITEM_INCIDENT_K : ITEM_RETRACTION_K);
    s_put_be64(val + 1, (uint64_t)time(NULL));
    for (int i = 0; i < 4; i++)
        val[9 + i] = (uint8_t)(key_id >> (24 - 8 * i));
    memcpy(val + S_ITEM_HEAD_K, payload, len);
    MDB_val k = {8, key}, v = {len + S_ITEM_HEAD_K, val};
    rc = tsr_kv_put(txn, o->dbi[O_ITEMS], &k, &v, 0);
    free(val);
    if (rc == 0 && seq_out)
        *seq_out = seq;
    return rc;
}

/* Whether the item with key seq still waits for its Ack (keys are never
 * reused: a later item gets a higher one). */
static bool s_item_waiting(agent_outbox_t *o, MDB_txn *txn, uint64_t seq)
{
    uint8_t key[8];
    s_put_be64(key, seq);
    MDB_val k = {8, key}, v;
    return seq != 0 && tsr_kv_get(txn, o->dbi[O_ITEMS], &k, &v) == 0;
}

/* Wire bytes of one incident (a one-incident SubmitBatch). */
static int s_encode(const tsr_incident_t *inc, uint8_t **buf, size_t *len)
{
    tsr_msg_t m = {.kind = TSR_MSG_SUBMIT};
    m.u.submit.incidents = (tsr_incident_t *)inc;
    m.u.submit.n_incidents = 1;
    return tsr_wire_encode(&m, buf, len);
}

static void s_hash(const tsr_incident_t *inc, uint8_t out[32])
{
    tsr_incident_t copy = *inc;
    copy.version = 0; /* the content, whatever its version */
    uint8_t *buf;
    size_t len;
    memset(out, 0, 32);
    if (s_encode(&copy, &buf, &len) == 0) {
        EVP_Digest(buf, len, out, NULL, EVP_sha256(), NULL);
        free(buf);
    }
}

typedef struct {
    agent_outbox_t *o;
    tsr_incident_t *incs;
    char (*refs)[TSR_CASE_REF_MAX];
    size_t n;
    uint32_t key_id;
    size_t replaced;
    size_t waiting; /* unchanged records whose item still waits */
} s_put_t;

/* A queued item made under another key than the one now used, and its case. */
typedef struct {
    uint64_t seq;
    char case_ref[TSR_CASE_REF_MAX];
} s_other_t;

static int s_other_cmp(const void *a, const void *b)
{
    return strcmp(((const s_other_t *)a)->case_ref, ((const s_other_t *)b)->case_ref);
}

/* The record id an item is about (16 bytes into rid); false if unreadable. */
static bool s_item_rid(const s_item_t *it, uint8_t rid[TSR_RECORD_ID_LEN])
{
    if (it->type == ITEM_RETRACTION) {
        memcpy(rid, it->payload, TSR_RECORD_ID_LEN);
        return true;
    }
    tsr_msg_t m;
    bool ok = tsr_wire_decode(&m, it->payload, it->len, NULL, NULL) == 0 &&
              m.kind == TSR_MSG_SUBMIT && m.u.submit.n_incidents == 1;
    if (ok)
        memcpy(rid, m.u.submit.incidents[0].record_id, TSR_RECORD_ID_LEN);
    tsr_msg_clear(&m);
    return ok;
}

/* Removes the queued items made under another key than p->key_id whose
 * case is one of p's: their new versions, made under this key, replace
 * them (their record ids differ, so the collector would keep both). */
static int s_replace_other_keys(MDB_txn *txn, s_put_t *p)
{
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, p->o->dbi[O_ITEMS], &c);
    if (rc != 0)
        return rc;
    s_other_t *others = NULL;
    size_t n = 0, cap = 0;
    MDB_val k, v;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        s_item_t it;
        uint8_t rid[TSR_RECORD_ID_LEN];
        if (!s_item_parse(&v, &it) || !it.has_key || it.key_id == p->key_id || k.mv_size != 8 ||
            !s_item_rid(&it, rid))
            continue;
        s_map_t map;
        int grc = s_map_get(p->o, txn, rid, &map);
        if (grc == TSR_ENOTFOUND)
            continue;
        if (grc != 0) {
            rc = grc;
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            s_other_t *no = realloc(others, ncap * sizeof *no);
            if (!no) {
                rc = TSR_ENOMEM;
                break;
            }
            others = no;
            cap = ncap;
        }
        others[n].seq = s_be64(k.mv_data);
        memcpy(others[n].case_ref, map.case_ref, TSR_CASE_REF_MAX);
        others[n].case_ref[TSR_CASE_REF_MAX - 1] = '\0';
        n++;
    }
    tsr_kv_cursor_close(c);
    if (rc == TSR_ENOTFOUND)
        rc = 0; /* the end of the items */
    if (rc == 0 && n > 0) {
        qsort(others, n, sizeof *others, s_other_cmp);
        for (size_t i = 0; rc == 0 && i < p->n; i++) {
            s_other_t want;
            snprintf(want.case_ref, sizeof want.case_ref, "%s", p->refs[i]);
            s_other_t *hit = bsearch(&want, others, n, sizeof *others, s_other_cmp);
            if (!hit)
                continue;
            while (hit > others && !strcmp(hit[-1].case_ref, want.case_ref))
                hit--;
            for (; rc == 0 && hit < others + n && !strcmp(hit->case_ref, want.case_ref); hit++) {
                if (hit->seq == 0)
                    continue; /* a case twice in the file: removed already */
                uint8_t key[8];
                s_put_be64(key, hit->seq);
                MDB_val dk = {8, key};
                rc = tsr_kv_del(txn, p->o->dbi[O_ITEMS], &dk);
                if (rc == 0)
                    p->replaced++;
                hit->seq = 0;
            }
        }
    }
    free(others);
    return rc;
}

static int s_put_incidents_txn(MDB_txn *txn, void *arg)
{
    s_put_t *p = arg;
    p->waiting = 0; /* the transaction may be run again (map growth) */
    p->replaced = 0;
    int rc0 = s_replace_other_keys(txn, p);
    if (rc0 != 0)
        return rc0;
    for (size_t i = 0; i < p->n; i++) {
        tsr_incident_t inc = p->incs[i];
        s_map_t map = {0}, old;
        s_hash(&inc, map.hash);
        int rc = s_map_get(p->o, txn, inc.record_id, &old);
        if (rc == 0) {
            bool same = memcmp(old.hash, map.hash, 32) == 0;
            uint32_t want = same ? old.version : old.version + 1;
            if (inc.version < want)
                inc.version = want;
            /* the same record, same version, still waiting: queued once */
            if (same && inc.version == old.version && s_item_waiting(p->o, txn, old.item)) {
                p->waiting++;
                continue;
            }
        } else if (rc != TSR_ENOTFOUND) {
            return rc;
        }
        uint8_t *buf;
        size_t len;
        if ((rc = s_encode(&inc, &buf, &len)) != 0)
            return rc;
        rc = s_put_item(p->o, txn, ITEM_INCIDENT, p->key_id, buf, len, &map.item);
        free(buf);
        if (rc != 0)
            return rc;
        map.version = inc.version;
        snprintf(map.case_ref, sizeof map.case_ref, "%s", p->refs[i]);
        if ((rc = s_map_put(p->o, txn, inc.record_id, &map)) != 0)
            return rc;
    }
    return 0;
}

int agent_outbox_put_incidents(agent_outbox_t *o, tsr_incident_t *incs, char (*refs)[TSR_CASE_REF_MAX],
                         size_t n, uint32_t key_id, size_t *replaced, size_t *waiting)
{
    s_put_t p = {o, incs, refs, n, key_id, 0, 0};
    int rc = tsr_kv_write(o->kv, s_put_incidents_txn, &p);
    if (replaced)
        *replaced = rc == 0 ? p.replaced : 0;
    if (waiting)
        *waiting = rc == 0 ? p.waiting : 0;
    return rc;
}

typedef struct {
    agent_outbox_t *o;
    const uint8_t *rid;
    uint32_t key_id;
    int found;
} s_retract_t;

static int s_retract_txn(MDB_txn *txn, void *arg)
{
    s_retract_t *r = arg;
    s_map_t map;
    int rc = s_map_get(r->o, txn, r->rid, &map);
    r->found = rc == 0;
    if (!r->found)
        return rc == TSR_ENOTFOUND ? 0 : rc;
    uint8_t payload[TSR_RECORD_ID_LEN + 4];
    memcpy(payload, r->rid, TSR_RECORD_ID_LEN);
    memcpy(payload + TSR_RECORD_ID_LEN, &map.version, 4);
    if ((rc = s_put_item(r->o, txn, ITEM_RETRACTION, r->key_id, payload, sizeof payload, NULL)) != 0)
        return rc;
    /* withdrawn after its last item: the record submitted again goes again */
    map.item = 0;
    return s_map_put(r->o, txn, r->rid, &map);
}

int agent_outbox_put_retraction(agent_outbox_t *o, const uint8_t rid[TSR_RECORD_ID_LEN],
                          uint32_t key_id)
{
    s_retract_t r = {o, rid, key_id, 0};
    int rc = tsr_kv_write(o->kv, s_retract_txn, &r);
    return rc == 0 && !r.found ? TSR_ENOTFOUND : rc;
}

/* Opens a read transaction and a cursor on the items; on failure nothing
 * is left open. The caller ends both with s_items_close. */
static int s_items_open(agent_outbox_t *o, MDB_txn **txn, MDB_cursor **c)
{
    *c = NULL;
    int rc = tsr_kv_read_begin(o->kv, txn);
    if (rc != 0)
        return rc;
    if ((rc = tsr_kv_cursor_open(*txn, o->dbi[O_ITEMS], c)) != 0)
        tsr_kv_read_end(*txn);
    return rc;
}

static void s_items_close(MDB_txn *txn, MDB_cursor *c)
{
    tsr_kv_cursor_close(c);
    tsr_kv_read_end(txn);
}

int agent_outbox_peek(agent_outbox_t *o, size_t max, const agent_outbox_keys_t *keys, tsr_batch_t *b,
                uint64_t *seqs)
{
    memset(b, 0, sizeof *b);
    b->incidents = calloc(max, sizeof *b->incidents);
    b->retractions = calloc(max, sizeof *b->retractions);
    if (!b->incidents || !b->retractions)
        return TSR_ENOMEM;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = s_items_open(o, &txn, &c);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    size_t n = 0;
    /* incidents first, then retractions, in the order they were queued:
     * seqs[] holds incident keys then retraction keys */
    uint64_t *rseq = calloc(max, sizeof *rseq);
    if (rc == 0 && !rseq)
        rc = TSR_ENOMEM;
    for (rc = rc ? rc : tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < max;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        s_item_t it;
        uint64_t seq = k.mv_size == 8 ? s_be64(k.mv_data) : 0;
        bool parsed = seq && s_item_parse(&v, &it), ok = false;
        if (parsed && !s_item_sendable(keys, &it))
            continue; /* held: made under a key the collector does not accept */
        n++;
        if (parsed && it.type == ITEM_INCIDENT) {
            tsr_msg_t m;
            if (tsr_wire_decode(&m, it.payload, it.len, NULL, NULL) == 0 &&
                m.u.submit.n_incidents == 1) {
                b->incidents[b->n_incidents] = m.u.submit.incidents[0];
                seqs[b->n_incidents++] = seq;
                ok = true;
            }
            tsr_msg_clear(&m);
        } else if (parsed) {
            memcpy(b->retractions[b->n_retractions].record_id, it.payload, TSR_RECORD_ID_LEN);
            memcpy(&b->retractions[b->n_retractions].version, it.payload + TSR_RECORD_ID_LEN, 4);
            rseq[b->n_retractions++] = seq;
            ok = true;
        }
        /* the others go on, and this one stays queued for whoever mends it */
        if (!ok)
            fprintf(stderr, "tessera-agent: outbox item %llu cannot be read (%zu bytes): %s; "
                            "it stays queued and is not sent\n",
                    (unsigned long long)seq, v.mv_size, tsr_strerror(TSR_ECORRUPT));
    }
    s_items_close(txn, c);
    if (rseq)
        memcpy(seqs + b->n_incidents, rseq, b->n_retractions * sizeof *rseq);
    free(rseq);
    b->batch_id = b->n_incidents ? seqs[0] : b->n_retractions ? seqs[b->n_incidents] : 0;
    return rc == 0 || rc == TSR_ENOTFOUND ? TSR_OK : rc;
}

int agent_outbox_held(agent_outbox_t *o, const agent_outbox_keys_t *keys, agent_outbox_held_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = s_items_open(o, &txn, &c);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        s_item_t it;
        if (!s_item_parse(&v, &it) || s_item_sendable(keys, &it))
            continue;
        if (out->n++ == 0)
            out->key_id = it.key_id;
    }
    s_items_close(txn, c);
    return rc == 0 || rc == TSR_ENOTFOUND ? TSR_OK : rc;
}

void agent_outbox_batch_clear(tsr_batch_t *b)
{
    free(b->incidents);
    free(b->retractions);
    memset(b, 0, sizeof *b);
}

typedef struct {
    agent_outbox_t *o;
    const tsr_batch_t *b;
    const uint64_t *seqs;
    const tsr_ack_t *a;
} s_done_t;

static int s_done_txn(MDB_txn *txn, void *arg)
{
    s_done_t *d = arg;
    size_t n = d->b->n_incidents + d->b->n_retractions;
    for (size_t i = 0; i < n; i++) {
        uint8_t key[8];
        s_put_be64(key, d->seqs[i]);
        MDB_val k = {8, key};
        int rc = tsr_kv_del(txn, d->o->dbi[O_ITEMS], &k);
        if (rc != 0 && rc != TSR_ENOTFOUND)
            return rc;
    }
    for (size_t i = 0; i < d->a->n_rejections; i++) {
        const tsr_rejection_t *r = &d->a->rejections[i];
        const uint8_t *rid = NULL;
        if (!r->retraction && r->index < d->b->n_incidents)
            rid = d->b->incidents[r->index].record_id;
        else if (r->retraction && r->index < d->b->n_retractions)
            rid = d->b->retractions[r->index].record_id;
        char case_ref[TSR_CASE_REF_MAX] = "?", line[512], hex[33] = "?";
        s_map_t map;
        if (rid && s_map_get(d->o, txn, rid, &map) == 0)
            snprintf(case_ref, sizeof case_ref, "%s", map.case_ref);
        if (rid)
            tsr_hex_encode(hex, rid, TSR_RECORD_ID_LEN);
        int n2 = snprintf(line, sizeof line, "%lld\t%s\t%s\t%s%s", (long long)time(NULL), case_ref,
                          hex, r->retraction ? "retraction: " : "", r->detail);
        uint64_t seq;
        int rc = s_next_seq(d->o, txn, &seq);
        uint8_t key[8];
        s_put_be64(key, seq);
        MDB_val rk = {8, key}, rv = {(size_t)(n2 < (int)sizeof line ? n2 : (int)sizeof line - 1), line};
        if (rc == 0)
            rc = tsr_kv_put(txn, d->o->dbi[O_REJECTED], &rk, &rv, 0);
        if (rc != 0)
            return rc;
    }
    uint8_t now[8];
    s_put_be64(now, (uint64_t)time(NULL));
    MDB_val k = {8, "last_ack"}, v = {8, now};
    return tsr_kv_put(txn, d->o->dbi[O_META], &k, &v, 0);
}

int agent_outbox_done(agent_outbox_t *o, const tsr_batch_t *b, const uint64_t *seqs, const tsr_ack_t *a)
{
    s_done_t d = {o, b, seqs, a};
    int rc = tsr_kv_write(o->kv, s_done_txn, &d);
    return rc == 0 ? (int)a->n_rejections : rc;
}

int agent_outbox_resolve(agent_outbox_t *o, const uint8_t rid[TSR_RECORD_ID_LEN], char *case_ref)
{
    MDB_txn *txn;
    int rc = tsr_kv_read_begin(o->kv, &txn);
    if (rc != 0)
        return rc;
    s_map_t map;
    rc = s_map_get(o, txn, rid, &map);
    if (rc == 0)
        memcpy(case_ref, map.case_ref, TSR_CASE_REF_MAX);
    tsr_kv_read_end(txn);
    return rc;
}

int agent_outbox_status(agent_outbox_t *o, agent_outbox_status_t *st)
{
    memset(st, 0, sizeof *st);
    MDB_txn *txn;
    int rc = tsr_kv_read_begin(o->kv, &txn);
    if (rc != 0)
        return rc;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    rc = tsr_kv_entries(txn, o->dbi[O_ITEMS], &st->depth);
    if (rc == 0)
        rc = tsr_kv_entries(txn, o->dbi[O_REJECTED], &st->rejections);
    if (rc == 0)
        rc = tsr_kv_cursor_open(txn, o->dbi[O_ITEMS], &c);
    if (rc == 0 && (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST)) == 0 && v.mv_size >= 9)
        st->oldest = (int64_t)s_be64((uint8_t *)v.mv_data + 1);
    tsr_kv_cursor_close(c);
    MDB_val lk = {8, "last_ack"};
    if (rc == 0 || rc == TSR_ENOTFOUND)
        rc = tsr_kv_get(txn, o->dbi[O_META], &lk, &v);
    if (rc == 0 && v.mv_size == 8)
        st->last_ack = (int64_t)s_be64(v.mv_data);
    tsr_kv_read_end(txn);
    return rc == 0 || rc == TSR_ENOTFOUND ? TSR_OK : rc;
}

int agent_outbox_rejections(agent_outbox_t *o, void (*fn)(void *, const char *), void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = tsr_kv_read_begin(o->kv, &txn);
    if (rc != 0)
        return rc;
    if ((rc = tsr_kv_cursor_open(txn, o->dbi[O_REJECTED], &c)) == 0) {
        MDB_val k, v;
        for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
            char line[600];
            snprintf(line, sizeof line, "%.*s", (int)v.mv_size, (char *)v.mv_data);
            fn(ctx, line);
        }
        tsr_kv_cursor_close(c);
    }
    tsr_kv_read_end(txn);
    return rc == TSR_ENOTFOUND ? TSR_OK : rc;
}

int agent_outbox_retention_get(agent_outbox_t *o, long *months)
{
    MDB_txn *txn;
    int rc = tsr_kv_read_begin(o->kv, &txn);
    if (rc != 0)
        return rc;
    MDB_val k = {9, "retention"}, v;
    rc = tsr_kv_get(txn, o->dbi[O_META], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        *months = (long)s_be64(v.mv_data);
    else if (rc == 0)
        rc = TSR_ECORRUPT;
    tsr_kv_read_end(txn);
    return rc;
}

typedef struct {
    agent_outbox_t *o;
    uint8_t val[8];
} s_retention_t;

static int s_retention_txn(MDB_txn *txn, void *arg)
{
    s_retention_t *r = arg;
    MDB_val k = {9, "retention"}, v = {8, r->val};
    return tsr_kv_put(txn, r->o->dbi[O_META], &k, &v, 0);
}

int agent_outbox_retention_put(agent_outbox_t *o, long months)
{
    long old;
    if (agent_outbox_retention_get(o, &old) == 0 && old == months)
        return TSR_OK; /* no write transaction for what it holds already */
    s_retention_t r = {o, {0}};
    s_put_be64(r.val, (uint64_t)months);
    return tsr_kv_write(o->kv, s_retention_txn, &r);
}
