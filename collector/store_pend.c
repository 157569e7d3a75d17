/* store_pend.c - pend: for each record id with an entry waiting in the
 * ingest log, what the store will hold for it once the log is applied
 * (store_log.c, "the ingest log"; docs/STORAGE.md, "Outcomes before the
 * apply, across threads"), and what the store holds for a record id
 * counting them. Also the log entry's reader, tsr_store_log_parse, which
 * the rebuild here, the apply, the probe and the upstream queue share (its
 * writer is store_log.c's). */
#define _GNU_SOURCE /* tdestroy */
#include "bytes.h"
#include "store_int.h"
#include "tessera/err.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

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
int tsr_store_pend_note(tsr_store_t *s, const tsr_store_fate_t *f)
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
int tsr_store_pend_rebuild(tsr_store_t *s, MDB_txn *txn)
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
        if ((bad = tsr_store_pend_note(s, &f)) != 0)
            break;
    }
    tsr_kv_cursor_close(c);
    rc = bad ? bad : rc == TSR_ENOTFOUND ? 0 : rc;
    s->pend_valid = rc == 0;
    return rc;
}

/* tsr_store_pend_rebuild in a read transaction of its own (outside a write). */
static int s_pend_reload_body(MDB_txn *txn, void *arg)
{
    return tsr_store_pend_rebuild(arg, txn);
}

int tsr_store_pend_reload(tsr_store_t *s)
{
    return tsr_kv_read(s->log_kv, s_pend_reload_body, s);
}

/* What the store holds for rid, counting the log's waiting entries. */
int tsr_store_fate_get(tsr_store_t *s, MDB_txn *txn, const uint8_t *rid, tsr_store_fate_t *f)
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
