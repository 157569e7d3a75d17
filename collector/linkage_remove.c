/* linkage_remove.c - a record leaves its cluster (retracted, replaced,
 * purged): the cluster shrinks, splits into the pieces still linked, or
 * dissolves. */
#include "bytes.h"
#include "linkage_int.h"
#include "tessera/auth.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- removal and splits ------------------------------------------------------------- */

/* 1 when a record other than self (NULL: any record) carries token t (its
 * id goes to other), 0 when none does, or a TSR_E* code when the index
 * cannot be read. */
int tsr_link_other_carrier(tsr_link_t *l, MDB_txn *txn, const uint8_t *t, const uint8_t *self,
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
    uint8_t(*queue)[TSR_TOKEN_LEN] = NULL;
    size_t qn = 0, qcap = 0, head = 0;
    int rc = tsr_link_set_add(&w->toks, start) < 0 ? TSR_ENOMEM : 0;
    if (rc == 0 && !(rc = tsr_grow((void **)&queue, &qcap, qn, sizeof *queue)))
        memcpy(queue[qn++], start, TSR_TOKEN_LEN);
    MDB_cursor *c = NULL;
    if (rc == 0)
        rc = tsr_kv_cursor_open(txn, l->by_token, &c);
    while (rc == 0 && head < qn) {
        if (targets) {
            size_t reached = 0;
            for (size_t i = 0; i < n_targets; i++)
                reached += tsr_link_set_has(&w->toks, targets[i]);
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
            int added = tsr_link_set_add(&w->recs, rid);
            if (added < 0 || (added && tsr_link_collect(&w->order, rid) != 0)) {
                rc = TSR_ENOMEM;
                break;
            }
            if (!added)
                continue;
            rc = l->get(l->get_ctx, txn, rid, &l->tmp, l->tmp_agency);
            for (size_t i = 0; rc == 0 && i < l->tmp.n_tokens; i++) {
                int a = tsr_link_set_add(&w->toks, l->tmp.tokens[i].token);
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
    tsr_link_set_free(&w->toks);
    tsr_link_set_free(&w->recs);
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
            rc = tsr_link_sum_count(out, l->tmp.area_code, l->tmp_agency, 1);
    }
    if (rc != 0 || !old->alerted || !tsr_link_sum_spans(out))
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
            seen |= tsr_link_set_has(&pieces[p].toks, rest[i]);
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
                rc = tsr_link_sum_del(l, txn, cid);
                l_touch_t *t = tsr_link_touch(l, cid);
                if (t)
                    t->dead = true;
            }
            continue;
        }
        uint64_t pid = cid;
        if (p != big && (rc = tsr_link_next(l, txn, "cluster", &pid)) == 0)
            rc = tsr_link_relabel(l, txn, &pieces[p].order, cid, pid);
        l_sum_t ps;
        if (rc == 0 && (rc = l_piece_sum(l, txn, &pieces[p].order, sum, &ps)) == 0) {
            rc = tsr_link_sum_save(l, txn, pid, &ps);
            tsr_link_sum_free(&ps);
        }
        if (rc == 0 && !tsr_link_touch(l, pid))
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
        int used = tsr_link_other_carrier(l, txn, t[i].token, NULL, any);
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
        rc = tsr_link_member_del(l, txn, cid, rid);
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
    l_touch_t *t = tsr_link_touch(l, cid);
    if (!t)
        return TSR_ENOMEM;
    if (sum->n == 0) {
        t->dead = true;
        return tsr_link_sum_del(l, txn, cid);
    }
    if (sum->n == 1) { /* one record left: it shares nothing any more */
        l_ids_t one = {0};
        int rc = tsr_link_members(l, txn, cid, tsr_link_collect, &one);
        if (rc == 0 && one.n == 1)
            rc = l_dissolve(l, txn, cid, one.ids[0]);
        free(one.ids);
        t->dead = true;
        return rc == 0 ? tsr_link_sum_del(l, txn, cid) : rc;
    }
    int split = walk && n_rest >= 2 ? l_split(l, txn, cid, sum, rest, n_rest) : 0;
    if (split != 0)
        return split == 1 ? 0 : split;
    if (sum->alerted && !tsr_link_sum_spans(sum)) {
        sum->alerted = false;
        sum->threshold = 0;
        for (size_t i = 0; i < sum->areas.n; i++)
            sum->areas.v[i].alerted = false;
        for (size_t i = 0; i < sum->ag.n; i++)
            sum->ag.v[i].alerted = false;
    }
    return tsr_link_sum_save(l, txn, cid, sum);
}

/* Takes old (already deleted from the record and token index) out of its
 * cluster. */
static int l_leave(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *old, const char *agency)
{
    uint64_t cid;
    int rc = tsr_link_get_cid(txn, l->dbi[L_REC], old->record_id, TSR_RECORD_ID_LEN, &cid);
    if (rc != 0 || cid == 0)
        return rc; /* 0: it carried no token */
    MDB_val rk = {TSR_RECORD_ID_LEN, (void *)old->record_id};
    uint8_t rest[TSR_MAX_TOKENS][TSR_TOKEN_LEN];
    size_t n_rest = 0;
    l_sum_t sum = {0};
    rc = tsr_kv_del(txn, l->dbi[L_REC], &rk);
    if (rc == 0)
        rc = tsr_link_member_del(l, txn, cid, old->record_id);
    if (rc == 0)
        rc = l_drop_unused(l, txn, old->tokens, old->n_tokens, rest, &n_rest);
    if (rc == 0)
        rc = tsr_link_sum_load(l, txn, cid, &sum);
    if (rc == 0)
        rc = tsr_link_sum_count(&sum, old->area_code, agency, -1);
    if (rc == 0)
        rc = l_settle(l, txn, cid, &sum, (const uint8_t(*)[TSR_TOKEN_LEN])rest, n_rest, true);
    tsr_link_sum_free(&sum);
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
    int rc = tsr_link_get_cid(txn, l->dbi[L_REC], old->record_id, TSR_RECORD_ID_LEN, &cid);
    if (rc != 0)
        return rc;
    if (cid == 0)
        return tsr_link_add(l, txn, inc, agency);
    if (inc->n_tokens == 0)
        return l_leave(l, txn, old, agency);
    if (strcmp(old->area_code, inc->area_code) != 0) {
        l_sum_t sum;
        rc = tsr_link_sum_load(l, txn, cid, &sum);
        if (rc == 0) {
            rc = tsr_link_list_add(&sum.areas, old->area_code, -1, false);
            if (rc == 0)
                rc = tsr_link_list_add(&sum.areas, inc->area_code, 1, false);
            if (rc == 0)
                rc = tsr_link_sum_save(l, txn, cid, &sum);
            tsr_link_sum_free(&sum);
        }
    }
    if (rc == 0)
        rc = tsr_link_attach(l, txn, inc, agency, cid);
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
        rc = tsr_link_get_cid(txn, l->dbi[L_REC], inc->record_id, TSR_RECORD_ID_LEN, &now_in);
    l_sum_t sum = {0};
    if (rc == 0)
        rc = tsr_link_sum_load(l, txn, now_in, &sum);
    if (rc == 0)
        rc = l_settle(l, txn, now_in, &sum, (const uint8_t(*)[TSR_TOKEN_LEN])rest, n_rest,
                      n_rest > inc->n_tokens);
    tsr_link_sum_free(&sum);
    return rc;
}
