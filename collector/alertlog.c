/* alertlog.c - the alert log (`alerts`): alerts appended in the
 * transaction that raises them, published once it committed, read back by
 * sequence, and scrubbed of purged record ids. */
#include "bytes.h"
#include "linkage_int.h"
#include "tessera/auth.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Frees pub[from, to) and closes the gap. */
void tsr_link_pub_drop(tsr_link_t *l, size_t from, size_t to)
{
    if (from == to)
        return; /* pub may still be NULL */
    for (size_t i = from; i < to; i++)
        free(l->pub[i].buf);
    memmove(l->pub + from, l->pub + to, (l->n_pub - to) * sizeof *l->pub);
    l->n_pub -= to - from;
}

void tsr_link_committed(tsr_link_t *l)
{
    l->n_mark = l->n_pub;
}

const tsr_link_published_t *tsr_link_published(tsr_link_t *l, size_t *n)
{
    tsr_link_pub_drop(l, 0, l->n_taken);
    l->n_mark -= l->n_taken;
    l->n_taken = l->n_mark;
    *n = l->n_mark;
    return l->pub;
}

const char *tsr_link_kind_name(int kind)
{
    return kind == TSR_ALERT_LINKAGE ? "linkage" : kind == TSR_ALERT_SPIKE ? "spike" : "cross_area";
}

/* link_meta's counter of the alerts of one kind ("alerts:linkage"...). */
static void s_kind_key(char *buf, size_t cap, int kind)
{
    snprintf(buf, cap, "alerts:%s", tsr_link_kind_name(kind));
}

int tsr_link_append(tsr_link_t *l, MDB_txn *txn, tsr_alert_t *a)
{
    tsr_msg_t m = {.kind = TSR_MSG_ALERT};
    int rc = tsr_link_next(l, txn, "alert", &a->seq);
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
    if (rc == 0) {
        char name[32];
        uint64_t n;
        s_kind_key(name, sizeof name, a->kind);
        rc = tsr_link_next(l, txn, name, &n);
    }
    if (rc == 0 && tsr_grow((void **)&l->pub, &l->cap_pub, l->n_pub, sizeof *l->pub) != 0)
        rc = TSR_ENOMEM;
    if (rc == 0) {
        l->pub[l->n_pub++] = (tsr_link_published_t){a->seq, a->kind, buf, len};
        buf = NULL;
        tsr_info("alerts", "alert %llu: %s event=alert_raised seq=%llu kind=%s",
                 (unsigned long long)a->seq, a->summary, (unsigned long long)a->seq,
                 tsr_link_kind_name(a->kind));
    }
    free(buf);
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

int tsr_link_alert_counts(tsr_link_t *l, MDB_txn *txn, uint64_t counts[TSR_ALERT_KINDS + 1])
{
    int rc = 0;
    memset(counts, 0, (TSR_ALERT_KINDS + 1) * sizeof *counts);
    for (int k = 1; rc == 0 && k <= TSR_ALERT_KINDS; k++) {
        char name[32];
        s_kind_key(name, sizeof name, k);
        MDB_val key = {strlen(name), name}, v;
        rc = tsr_kv_get(txn, l->dbi[L_META], &key, &v);
        if (rc == 0 && v.mv_size == 8)
            memcpy(&counts[k], v.mv_data, 8);
        else if (rc == 0)
            rc = TSR_ECORRUPT;
        else if (rc == TSR_ENOTFOUND) /* none of this kind yet */
            rc = 0;
    }
    return rc;
}

int tsr_link_last_seq(tsr_link_t *l, MDB_txn *txn, uint64_t *seq)
{
    MDB_val k = {5, "alert"}, v;
    *seq = 0;
    int rc = tsr_kv_get(txn, l->dbi[L_META], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        memcpy(seq, v.mv_data, 8);
    else if (rc == 0)
        rc = TSR_ECORRUPT;
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

int tsr_link_alert_recount(tsr_link_t *l, MDB_txn *txn)
{
    uint64_t counts[TSR_ALERT_KINDS + 1] = {0};
    MDB_cursor *c;
    MDB_val k, v;
    int rc = tsr_kv_cursor_open(txn, l->dbi[L_ALERTS], &c);
    for (rc = rc ? rc : tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        tsr_msg_t m;
        if (tsr_wire_decode(&m, v.mv_data, v.mv_size, NULL, NULL) != 0)
            continue; /* counted nowhere; reading it reports it */
        if (m.kind == TSR_MSG_ALERT && m.u.alert.kind >= 1 && m.u.alert.kind <= TSR_ALERT_KINDS)
            counts[m.u.alert.kind]++;
        tsr_msg_clear(&m);
    }
    tsr_kv_cursor_close(c);
    if (rc != TSR_ENOTFOUND)
        return rc;
    rc = 0;
    for (int kind = 1; rc == 0 && kind <= TSR_ALERT_KINDS; kind++) {
        char name[32];
        s_kind_key(name, sizeof name, kind);
        MDB_val key = {strlen(name), name}, val = {8, &counts[kind]};
        rc = tsr_kv_put(txn, l->dbi[L_META], &key, &val, 0);
    }
    return rc;
}

/* --- retention --------------------------------------------------------------------------- */

static int l_cmp_rid(const void *a, const void *b)
{
    return memcmp(a, b, TSR_RECORD_ID_LEN);
}

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
