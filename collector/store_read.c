/* store_read.c - the store's reads for queries: a record, linkage
 * (alerts, clusters, lookups) and trends, each in a read transaction of
 * its own (tsr_kv_read). */
#include "store_int.h"
#include "bytes.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

typedef struct {
    tsr_store_t *s;
    const uint8_t *rid;
    tsr_incident_t *inc;
    char *agency_id;
    int64_t *received_at;
} s_get_t;

static int s_get(MDB_txn *txn, void *arg)
{
    s_get_t *g = arg;
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)g->rid}, v;
    int rc = tsr_kv_get(txn, g->s->dbi[S_RECORDS], &k, &v);
    return rc != 0 ? rc
                   : tsr_store_damaged(
                         tsr_store_unpack(&v, g->inc, g->agency_id, g->received_at, g->rid),
                         "records", g->rid, TSR_RECORD_ID_LEN);
}

int tsr_store_get(tsr_store_t *s, const uint8_t rid[TSR_RECORD_ID_LEN], tsr_incident_t *inc,
                  char *agency_id, int64_t *received_at)
{
    s_get_t g = {s, rid, inc, agency_id, received_at};
    return tsr_kv_read(s->kv, s_get, &g);
}

/* --- linkage reads ---------------------------------------------------------- */

const tsr_link_published_t *tsr_store_published(tsr_store_t *s, size_t *n)
{
    return tsr_link_published(s->link, n);
}

void tsr_store_set_linkage(tsr_store_t *s, bool on)
{
    tsr_link_enable(s->link, on);
}

/* Runs one read of the store (fn gets the store) in a read transaction. */
typedef int (*s_read_fn)(tsr_store_t *s, MDB_txn *txn, void *arg);

typedef struct {
    tsr_store_t *s;
    s_read_fn fn;
    void *arg;
} s_read_t;

static int s_read_body(MDB_txn *txn, void *arg)
{
    s_read_t *r = arg;
    return r->fn(r->s, txn, r->arg);
}

static int s_read(tsr_store_t *s, s_read_fn fn, void *arg)
{
    s_read_t r = {s, fn, arg};
    return tsr_kv_read(s->kv, s_read_body, &r);
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
    s_read_args_t a = {
        .since = since, .max = max, .want = want, .want_ctx = want_ctx, .resp = resp};
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
        .keyer = s->read_keyer,
        .first_day = s->retention_months ? tsr_store_retention_cutoff(s->retention_months, now)
                                         : today - 3653,
        .today = today,
    };
}

/* The arguments of a trends read (tsr_store_trends or tsr_store_released). */
typedef struct {
    tsr_trends_opts_t o;
    const tsr_query_t *q;
    const tsr_client_t *who;
    tsr_response_t *resp;
    char *why;
    size_t cap;
    const char *const *areas;
    size_t n_areas;
    int32_t from, to;
    const tsr_filter_t *filters;
    size_t n_filters;
    uint64_t *released;
} s_trends_read_t;

static int s_trends_read(tsr_store_t *s, MDB_txn *txn, void *arg)
{
    s_trends_read_t *a = arg;
    return tsr_trends(txn, s->dbi[S_BY_AREA_DAY], a->q, a->who, &a->o, a->resp, a->why, a->cap);
}

int tsr_store_trends(tsr_store_t *s, const tsr_query_t *q, const tsr_client_t *who, unsigned k,
                     const tsr_ckm_table_t *table, tsr_response_t *resp, char *why, size_t cap)
{
    s_trends_read_t a = {
        .o = s_trends_opts(s, k, table), .q = q, .who = who, .resp = resp, .why = why, .cap = cap};
    return s_read(s, s_trends_read, &a);
}

static int s_released_read(tsr_store_t *s, MDB_txn *txn, void *arg)
{
    s_trends_read_t *a = arg;
    uint64_t count = 0;
    return tsr_trends_cell(txn, s->dbi[S_BY_AREA_DAY], a->areas, a->n_areas, a->from, a->to,
                           a->filters, a->n_filters, &a->o, a->released, &count);
}

int tsr_store_released(tsr_store_t *s, const char *const *areas, size_t n_areas, int32_t from,
                       int32_t to, const tsr_filter_t *filters, size_t n_filters, unsigned k,
                       const tsr_ckm_table_t *table, uint64_t *released)
{
    s_trends_read_t a = {.o = s_trends_opts(s, k, table),
                         .areas = areas,
                         .n_areas = n_areas,
                         .from = from,
                         .to = to,
                         .filters = filters,
                         .n_filters = n_filters,
                         .released = released};
    return s_read(s, s_released_read, &a);
}
