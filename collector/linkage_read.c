/* linkage_read.c - reads for liaison: a record's cluster, a cluster's
 * members, and a lookup of tokens. */
#include "bytes.h"
#include "linkage_int.h"
#include "tessera/auth.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tsr_link_record_cluster(tsr_link_t *l, MDB_txn *txn, const uint8_t *rid, uint64_t *cid)
{
    return tsr_link_get_cid(txn, l->dbi[L_REC], rid, TSR_RECORD_ID_LEN, cid);
}

int tsr_link_shares_token(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *inc)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < inc->n_tokens; i++) {
        uint8_t other[TSR_RECORD_ID_LEN];
        rc = tsr_link_other_carrier(l, txn, inc->tokens[i].token, inc->record_id, other);
    }
    return rc;
}

typedef struct {
    tsr_link_t *l;
    MDB_txn *txn;
    tsr_response_t *resp;
    size_t cap;
    l_set_t toks;   /* every token seen */
    l_set_t shared; /* tokens seen twice */
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
    for (size_t i = 0; i < inc->n_tokens; i++) {
        int seen = tsr_link_set_add(&q->toks, inc->tokens[i].token);
        if (seen < 0 || (seen == 0 && tsr_link_set_add(&q->shared, inc->tokens[i].token) < 0))
            return TSR_ENOMEM;
    }
    return 0;
}

int tsr_link_cluster(tsr_link_t *l, MDB_txn *txn, uint64_t cid, tsr_response_t *resp)
{
    l_sum_t s;
    int rc = tsr_link_sum_load(l, txn, cid, &s);
    if (rc != 0)
        return rc;
    tsr_link_sum_free(&s);
    l_cluster_t q = {l, txn, resp, 0, {.klen = TSR_TOKEN_LEN}, {.klen = TSR_TOKEN_LEN}};
    rc = tsr_link_members(l, txn, cid, l_cluster_one, &q);
    /* Second pass: name, per record, the kinds of its tokens that another
     * record of the cluster carries too (what joins it). */
    for (size_t i = 0; rc == 0 && i < resp->n_records; i++) {
        tsr_cluster_record_t *cr = &resp->records[i];
        rc = l->get(l->get_ctx, txn, cr->record_id, &l->tmp, l->tmp_agency);
        for (size_t t = 0; rc == 0 && t < l->tmp.n_tokens; t++) {
            if (!tsr_link_set_has(&q.shared, l->tmp.tokens[t].token))
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
    tsr_link_set_free(&q.toks);
    tsr_link_set_free(&q.shared);
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
        carried = tsr_link_other_carrier(l, txn, tokens[i].token, NULL, rid);
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
        rc = tsr_link_get_cid(txn, l->dbi[L_TOK], tokens[i].token, TSR_TOKEN_LEN, &cid);
    if (rc != 0)
        return rc;
    if (!cid)
        return l_lookup_single(l, txn, tokens, n, resp);
    l_sum_t s;
    if ((rc = tsr_link_sum_load(l, txn, cid, &s)) != 0)
        return rc;
    l_detail_t d = {.l = l, .txn = txn, .toks.klen = TSR_TOKEN_LEN};
    rc = tsr_link_members(l, txn, cid, tsr_link_detail_one, &d);
    resp->areas = calloc(s.areas.n + 1, sizeof *resp->areas);
    resp->agencies = calloc(s.ag.n + 1, sizeof *resp->agencies);
    if (rc == 0 && (!resp->areas || !resp->agencies))
        rc = TSR_ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < s.areas.n; i++)
            snprintf(resp->areas[i], sizeof resp->areas[i], "%.*s", TSR_AREA_KEY_LEN, s.areas.v[i].name);
        for (size_t i = 0; i < s.ag.n; i++)
            snprintf(resp->agencies[i], sizeof resp->agencies[i], "%s", s.ag.v[i].name);
        resp->n_areas = s.areas.n;
        resp->n_agencies = s.ag.n;
        qsort(resp->areas, s.areas.n, sizeof *resp->areas, tsr_link_cmp_str);
        qsort(resp->agencies, s.ag.n, sizeof *resp->agencies, tsr_link_cmp_str);
        resp->cluster_id = cid;
        resp->cluster_records = s.n;
        resp->record_ids = d.ids.ids;
        resp->n_record_ids = d.ids.n;
        d.ids.ids = NULL;
        resp->first_day = d.first_day;
        resp->last_day = d.last_day;
    }
    free(d.ids.ids);
    tsr_link_set_free(&d.toks);
    tsr_link_sum_free(&s);
    return rc;
}
