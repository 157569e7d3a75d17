/* outbox.c - queued items, the local record map and the rejection log. */
#include "outbox.h"
#include "tessera/err.h"
#include "tessera/kv.h"
#include "tessera/token.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { O_ITEMS, O_MAP, O_REJECTED, O_META, O_FILES, O_NDBS };
static const char *const s_names[O_NDBS] = {"outbox", "records", "rejections", "meta", "files"};

enum { ITEM_INCIDENT = 1, ITEM_RETRACTION = 2 };

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

/* The map entry of a record id: 0 (*map filled), MDB_NOTFOUND (also for a
 * value of neither size) or an LMDB error. */
static int s_map_get(agent_outbox_t *o, MDB_txn *txn, const uint8_t *rid, s_map_t *map)
{
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid}, v;
    int rc = mdb_get(txn, o->dbi[O_MAP], &k, &v);
    if (rc != 0)
        return rc;
    if (v.mv_size != sizeof *map && v.mv_size != S_MAP_OLD)
        return MDB_NOTFOUND;
    memset(map, 0, sizeof *map);
    memcpy(map, v.mv_data, v.mv_size);
    return 0;
}

static int s_map_put(agent_outbox_t *o, MDB_txn *txn, const uint8_t *rid, const s_map_t *map)
{
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid}, v = {sizeof *map, (void *)map};
    return mdb_put(txn, o->dbi[O_MAP], &k, &v, 0);
}

int outbox_open(agent_outbox_t **out, const char *data_dir)
{
    *out = NULL;
    agent_outbox_t *o = calloc(1, sizeof *o);
    if (!o)
        return TSR_ENOMEM;
    char path[4096];
    snprintf(path, sizeof path, "%s", data_dir);
    tsr_kv_opts_t opts = {.dir = path, .map_size = 16u << 20, .map_step = 64u << 20};
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

void outbox_close(agent_outbox_t **o_p)
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
    int rc = mdb_get(txn, o->dbi[O_META], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        next = s_be64(v.mv_data);
    else if (rc != MDB_NOTFOUND)
        return rc;
    *seq = next;
    uint8_t b[8];
    s_put_be64(b, next + 1);
    v.mv_size = 8;
    v.mv_data = b;
    return mdb_put(txn, o->dbi[O_META], &k, &v, 0);
}

static int s_put_item(agent_outbox_t *o, MDB_txn *txn, int type, const uint8_t *payload, size_t len,
                      uint64_t *seq_out)
{
    uint64_t seq;
    int rc = s_next_seq(o, txn, &seq);
    if (rc != 0)
        return rc;
    uint8_t key[8];
    s_put_be64(key, seq);
    uint8_t *val = malloc(len + 9);
    if (!val)
        return ENOMEM;
    val[0] = (uint8_t)type;
    s_put_be64(val + 1, (uint64_t)time(NULL));
    memcpy(val + 9, payload, len);
    MDB_val k = {8, key}, v = {len + 9, val};
    rc = mdb_put(txn, o->dbi[O_ITEMS], &k, &v, 0);
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
    return seq != 0 && mdb_get(txn, o->dbi[O_ITEMS], &k, &v) == 0;
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
    size_t waiting; /* unchanged records whose item still waits */
} s_put_t;

static int s_put_incidents_txn(MDB_txn *txn, void *arg)
{
    s_put_t *p = arg;
    p->waiting = 0; /* the transaction may be run again (map growth) */
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
        } else if (rc != MDB_NOTFOUND) {
            return rc;
        }
        uint8_t *buf;
        size_t len;
        if (s_encode(&inc, &buf, &len) != 0)
            return ENOMEM;
        rc = s_put_item(p->o, txn, ITEM_INCIDENT, buf, len, &map.item);
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

int outbox_put_incidents(agent_outbox_t *o, tsr_incident_t *incs, char (*refs)[TSR_CASE_REF_MAX],
                         size_t n, size_t *waiting)
{
    s_put_t p = {o, incs, refs, n, 0};
    int rc = tsr_kv_write(o->kv, s_put_incidents_txn, &p, NULL);
    if (waiting)
        *waiting = rc == 0 ? p.waiting : 0;
    return rc;
}

typedef struct {
    agent_outbox_t *o;
    const uint8_t *rid;
    int found;
} s_retract_t;

static int s_retract_txn(MDB_txn *txn, void *arg)
{
    s_retract_t *r = arg;
    s_map_t map;
    int rc = s_map_get(r->o, txn, r->rid, &map);
    r->found = rc == 0;
    if (!r->found)
        return rc == MDB_NOTFOUND ? 0 : rc;
    uint8_t payload[TSR_RECORD_ID_LEN + 4];
    memcpy(payload, r->rid, TSR_RECORD_ID_LEN);
    memcpy(payload + TSR_RECORD_ID_LEN, &map.version, 4);
    if ((rc = s_put_item(r->o, txn, ITEM_RETRACTION, payload, sizeof payload, NULL)) != 0)
        return rc;
    /* withdrawn after its last item: the record submitted again goes again */
    map.item = 0;
    return s_map_put(r->o, txn, r->rid, &map);
}

int outbox_put_retraction(agent_outbox_t *o, const uint8_t rid[TSR_RECORD_ID_LEN])
{
    s_retract_t r = {o, rid, 0};
    int rc = tsr_kv_write(o->kv, s_retract_txn, &r, NULL);
    return rc == 0 && !r.found ? TSR_ENOTFOUND : rc;
}

int outbox_peek(agent_outbox_t *o, size_t max, tsr_batch_t *b, uint64_t *seqs)
{
    memset(b, 0, sizeof *b);
    b->incidents = calloc(max, sizeof *b->incidents);
    b->retractions = calloc(max, sizeof *b->retractions);
    if (!b->incidents || !b->retractions)
        return TSR_ENOMEM;
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = mdb_txn_begin(tsr_kv_env(o->kv), NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return tsr_kv_code(rc);
    rc = mdb_cursor_open(txn, o->dbi[O_ITEMS], &c);
    MDB_val k, v;
    size_t n = 0;
    /* incidents first, then retractions, in the order they were queued:
     * seqs[] holds incident keys then retraction keys */
    uint64_t *rseq = calloc(max, sizeof *rseq);
    for (int op = MDB_FIRST; rc == 0 && rseq && n < max &&
                             mdb_cursor_get(c, &k, &v, (MDB_cursor_op)op) == 0;
         op = MDB_NEXT, n++) {
        const uint8_t *p = v.mv_data;
        uint64_t seq = s_be64(k.mv_data);
        if (p[0] == ITEM_INCIDENT) {
            tsr_msg_t m;
            if (tsr_wire_decode(&m, p + 9, v.mv_size - 9, NULL, NULL) == 0 &&
                m.u.submit.n_incidents == 1) {
                b->incidents[b->n_incidents] = m.u.submit.incidents[0];
                seqs[b->n_incidents++] = seq;
            }
            tsr_msg_clear(&m);
        } else if (p[0] == ITEM_RETRACTION && v.mv_size == 9 + TSR_RECORD_ID_LEN + 4) {
            memcpy(b->retractions[b->n_retractions].record_id, p + 9, TSR_RECORD_ID_LEN);
            memcpy(&b->retractions[b->n_retractions].version, p + 9 + TSR_RECORD_ID_LEN, 4);
            rseq[b->n_retractions++] = seq;
        }
    }
    if (rc == 0)
        mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rseq)
        memcpy(seqs + b->n_incidents, rseq, b->n_retractions * sizeof *rseq);
    free(rseq);
    b->batch_id = b->n_incidents ? seqs[0] : b->n_retractions ? seqs[b->n_incidents] : 0;
    return rc == 0 ? TSR_OK : tsr_kv_code(rc);
}

void outbox_batch_free(tsr_batch_t *b)
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
        int rc = mdb_del(txn, d->o->dbi[O_ITEMS], &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
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
            rc = mdb_put(txn, d->o->dbi[O_REJECTED], &rk, &rv, 0);
        if (rc != 0)
            return rc;
    }
    uint8_t now[8];
    s_put_be64(now, (uint64_t)time(NULL));
    MDB_val k = {8, "last_ack"}, v = {8, now};
    return mdb_put(txn, d->o->dbi[O_META], &k, &v, 0);
}

int outbox_done(agent_outbox_t *o, const tsr_batch_t *b, const uint64_t *seqs, const tsr_ack_t *a)
{
    s_done_t d = {o, b, seqs, a};
    int rc = tsr_kv_write(o->kv, s_done_txn, &d, NULL);
    return rc == 0 ? (int)a->n_rejections : rc;
}

int outbox_resolve(agent_outbox_t *o, const uint8_t rid[TSR_RECORD_ID_LEN], char *case_ref)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(tsr_kv_env(o->kv), NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return tsr_kv_code(rc);
    s_map_t map;
    rc = s_map_get(o, txn, rid, &map);
    if (rc == 0)
        memcpy(case_ref, map.case_ref, TSR_CASE_REF_MAX);
    mdb_txn_abort(txn);
    return rc == 0 ? TSR_OK : tsr_kv_code(rc);
}

int outbox_status(agent_outbox_t *o, outbox_status_t *st)
{
    memset(st, 0, sizeof *st);
    MDB_txn *txn;
    int rc = mdb_txn_begin(tsr_kv_env(o->kv), NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return tsr_kv_code(rc);
    MDB_stat ms;
    if (mdb_stat(txn, o->dbi[O_ITEMS], &ms) == 0)
        st->depth = ms.ms_entries;
    if (mdb_stat(txn, o->dbi[O_REJECTED], &ms) == 0)
        st->rejections = ms.ms_entries;
    MDB_cursor *c;
    MDB_val k, v;
    if (mdb_cursor_open(txn, o->dbi[O_ITEMS], &c) == 0) {
        if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && v.mv_size >= 9)
            st->oldest = (int64_t)s_be64((uint8_t *)v.mv_data + 1);
        mdb_cursor_close(c);
    }
    MDB_val lk = {8, "last_ack"};
    if (mdb_get(txn, o->dbi[O_META], &lk, &v) == 0 && v.mv_size == 8)
        st->last_ack = (int64_t)s_be64(v.mv_data);
    mdb_txn_abort(txn);
    return TSR_OK;
}

int outbox_rejections(agent_outbox_t *o, void (*fn)(void *, const char *), void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = mdb_txn_begin(tsr_kv_env(o->kv), NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return tsr_kv_code(rc);
    if (mdb_cursor_open(txn, o->dbi[O_REJECTED], &c) == 0) {
        MDB_val k, v;
        for (int op = MDB_FIRST; mdb_cursor_get(c, &k, &v, (MDB_cursor_op)op) == 0; op = MDB_NEXT) {
            char line[600];
            snprintf(line, sizeof line, "%.*s", (int)v.mv_size, (char *)v.mv_data);
            fn(ctx, line);
        }
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    return TSR_OK;
}

/* files: name -> u64 size, u64 mtime of the version already queued. */
static void s_file_val(uint8_t v[16], uint64_t size, uint64_t mtime)
{
    s_put_be64(v, size);
    s_put_be64(v + 8, mtime);
}

bool outbox_file_seen(agent_outbox_t *o, const char *name, uint64_t size, uint64_t mtime)
{
    MDB_txn *txn;
    bool seen = false;
    if (mdb_txn_begin(tsr_kv_env(o->kv), NULL, MDB_RDONLY, &txn) != 0)
        return false;
    MDB_val k = {strlen(name), (void *)name}, v;
    uint8_t want[16];
    s_file_val(want, size, mtime);
    if (mdb_get(txn, o->dbi[O_FILES], &k, &v) == 0 && v.mv_size == 16)
        seen = memcmp(v.mv_data, want, 16) == 0;
    mdb_txn_abort(txn);
    return seen;
}

typedef struct {
    agent_outbox_t *o;
    const char *name;
    uint8_t val[16];
} s_file_t;

static int s_file_txn(MDB_txn *txn, void *arg)
{
    s_file_t *f = arg;
    MDB_val k = {strlen(f->name), (void *)f->name}, v = {16, f->val};
    return mdb_put(txn, f->o->dbi[O_FILES], &k, &v, 0);
}

int outbox_file_done(agent_outbox_t *o, const char *name, uint64_t size, uint64_t mtime)
{
    s_file_t f = {o, name, {0}};
    s_file_val(f.val, size, mtime);
    return tsr_kv_write(o->kv, s_file_txn, &f, NULL);
}
