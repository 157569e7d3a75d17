/* wire_encode.c - plain C structs to an Envelope, one function a message
 * kind (tsr_wire_encode() in wire.c picks it). The protobuf-c structs
 * point into the caller's message; only the pointer arrays protobuf-c
 * wants are allocated here, and freed before returning. */
#include "wire_int.h"

#include <stdlib.h>
#include <string.h>

/* --- incident conversion ---------------------------------------------------- */

/* bits -> malloc'd enum array */
static int *s_bits_to_list(uint32_t bits, size_t *n)
{
    int *a = malloc(32 * sizeof *a);
    *n = 0;
    for (int v = 1; a && v < 32; v++)
        if (bits & (1u << v))
            a[(*n)++] = v;
    return a;
}

static void s_incident_free_pb(Tessera__V1__Incident *p)
{
    free(p->contact_platforms);
    free(p->moved_to_platforms);
    free(p->demands);
    free(p->payment_methods);
    free(p->tactics);
    free(p->risks);
    free(p->actions);
    for (size_t i = 0; i < p->n_offender_tokens; i++)
        free(p->offender_tokens[i]);
    free(p->offender_tokens);
}

static int s_incident_to_pb(Tessera__V1__Incident *p, const tsr_incident_t *inc)
{
    tessera__v1__incident__init(p);
    p->record_id.data = (uint8_t *)inc->record_id;
    p->record_id.len = TSR_RECORD_ID_LEN;
    p->version = inc->version;
    p->agency_type = inc->agency_type;
    p->area_code = (char *)inc->area_code;
    p->reported_day = inc->reported_day;
    p->first_contact_day = inc->first_contact_day;
    p->date_precision = inc->date_precision;
    p->age_band = inc->age_band;
    p->gender = inc->gender;
    p->amount_demanded_band = inc->amount_demanded_band;
    p->amount_paid_band = inc->amount_paid_band;
    p->paid = inc->paid;
    p->agency_id = (char *)inc->agency_id; /* "" is proto3's absent string */
    p->contact_platforms = (void *)s_bits_to_list(inc->contact_platforms, &p->n_contact_platforms);
    p->moved_to_platforms = (void *)s_bits_to_list(inc->moved_to_platforms, &p->n_moved_to_platforms);
    p->demands = (void *)s_bits_to_list(inc->demands, &p->n_demands);
    p->payment_methods = (void *)s_bits_to_list(inc->payment_methods, &p->n_payment_methods);
    p->tactics = (void *)s_bits_to_list(inc->tactics, &p->n_tactics);
    p->risks = (void *)s_bits_to_list(inc->risks, &p->n_risks);
    p->actions = (void *)s_bits_to_list(inc->actions, &p->n_actions);
    size_t nt = inc->n_tokens <= TSR_MAX_TOKENS ? inc->n_tokens : TSR_MAX_TOKENS;
    p->offender_tokens = calloc(nt ? nt : 1, sizeof *p->offender_tokens);
    if (!p->contact_platforms || !p->moved_to_platforms || !p->demands || !p->payment_methods ||
        !p->tactics || !p->risks || !p->actions || !p->offender_tokens)
        return TSR_ENOMEM;
    for (size_t i = 0; i < nt; i++) {
        Tessera__V1__OffenderToken *t = malloc(sizeof *t);
        if (!t)
            return TSR_ENOMEM;
        tessera__v1__offender_token__init(t);
        t->kind = (char *)inc->tokens[i].kind;
        t->key_id = inc->tokens[i].key_id;
        t->token.data = (uint8_t *)inc->tokens[i].token;
        t->token.len = TSR_TOKEN_LEN;
        p->offender_tokens[p->n_offender_tokens++] = t;
    }
    return TSR_OK;
}

/* --- fixed-size C arrays to protobuf-c's pointer arrays --------------------- */

/* char[n][width] -> malloc'd char *[n] pointing into it. */
static char **s_str_ptrs(const void *base, size_t n, size_t width)
{
    char **p = calloc(n + 1, sizeof *p);
    for (size_t i = 0; p && i < n; i++)
        p[i] = (char *)base + i * width;
    return p;
}

/* uint8_t[n][16] -> malloc'd ProtobufCBinaryData[n] pointing into it. */
static ProtobufCBinaryData *s_bin_ptrs(const void *base, size_t n, size_t width)
{
    ProtobufCBinaryData *p = calloc(n + 1, sizeof *p);
    for (size_t i = 0; p && i < n; i++) {
        p[i].data = (uint8_t *)base + i * width;
        p[i].len = width;
    }
    return p;
}

/* --- encode ----------------------------------------------------------------- */

static int s_pack(const Tessera__V1__Envelope *env, uint8_t **buf, size_t *len)
{
    *len = tessera__v1__envelope__get_packed_size(env);
    *buf = malloc(*len ? *len : 1);
    if (!*buf)
        return TSR_ENOMEM;
    tessera__v1__envelope__pack(env, *buf);
    return TSR_OK;
}

int tsr_wire_encode_submit(const tsr_batch_t *b, uint8_t **buf, size_t *len)
{
    Tessera__V1__SubmitBatch sb = TESSERA__V1__SUBMIT_BATCH__INIT;
    Tessera__V1__Envelope env = TESSERA__V1__ENVELOPE__INIT;
    Tessera__V1__Incident *incs = calloc(b->n_incidents + 1, sizeof *incs);
    Tessera__V1__Incident **pincs = calloc(b->n_incidents + 1, sizeof *pincs);
    Tessera__V1__Retraction *rets = calloc(b->n_retractions + 1, sizeof *rets);
    Tessera__V1__Retraction **prets = calloc(b->n_retractions + 1, sizeof *prets);
    int rc = incs && pincs && rets && prets ? TSR_OK : TSR_ENOMEM;
    size_t done = 0;
    for (; rc == 0 && done < b->n_incidents; done++) {
        rc = s_incident_to_pb(&incs[done], &b->incidents[done]);
        pincs[done] = &incs[done];
    }
    for (size_t i = 0; rc == 0 && i < b->n_retractions; i++) {
        tessera__v1__retraction__init(&rets[i]);
        rets[i].record_id.data = (uint8_t *)b->retractions[i].record_id;
        rets[i].record_id.len = TSR_RECORD_ID_LEN;
        rets[i].version = b->retractions[i].version;
        rets[i].agency_id = (char *)b->retractions[i].agency_id;
        prets[i] = &rets[i];
    }
    if (rc == 0) {
        sb.batch_id = b->batch_id;
        sb.forward = b->forward;
        sb.n_incidents = b->n_incidents;
        sb.incidents = pincs;
        sb.n_retractions = b->n_retractions;
        sb.retractions = prets;
        env.body_case = TESSERA__V1__ENVELOPE__BODY_SUBMIT;
        env.submit = &sb;
        rc = s_pack(&env, buf, len);
    }
    for (size_t i = 0; incs && i < done; i++)
        s_incident_free_pb(&incs[i]);
    free(incs);
    free(pincs);
    free(rets);
    free(prets);
    return rc;
}

/* A key list into pb (caller's arrays of TSR_NETKEYS_MAX). */
static size_t s_netkeys_to_pb(const tsr_netkeys_t *k, Tessera__V1__NetworkKey *nk,
                              Tessera__V1__NetworkKey **pnk)
{
    size_t n = k->n < TSR_NETKEYS_MAX ? k->n : TSR_NETKEYS_MAX;
    for (size_t i = 0; i < n; i++) {
        tessera__v1__network_key__init(&nk[i]);
        nk[i].key_id = k->ids[i].key_id;
        nk[i].until_day = k->ids[i].until_day;
        pnk[i] = &nk[i];
    }
    return n;
}

int tsr_wire_encode_ack(const tsr_ack_t *a, uint8_t **buf, size_t *len)
{
    Tessera__V1__NetworkKey nk[TSR_NETKEYS_MAX], *pnk[TSR_NETKEYS_MAX];
    Tessera__V1__Ack ack = TESSERA__V1__ACK__INIT;
    Tessera__V1__Envelope env = TESSERA__V1__ENVELOPE__INIT;
    Tessera__V1__Rejection *rj = calloc(a->n_rejections + 1, sizeof *rj);
    Tessera__V1__Rejection **prj = calloc(a->n_rejections + 1, sizeof *prj);
    int rc = rj && prj ? TSR_OK : TSR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < a->n_rejections; i++) {
        tessera__v1__rejection__init(&rj[i]);
        rj[i].index = a->rejections[i].index;
        rj[i].retraction = a->rejections[i].retraction;
        rj[i].reason = a->rejections[i].reason;
        rj[i].detail = (char *)a->rejections[i].detail;
        prj[i] = &rj[i];
    }
    if (rc == 0) {
        ack.batch_id = a->batch_id;
        ack.status = a->status;
        ack.accepted = a->accepted;
        ack.duplicates = a->duplicates;
        ack.replaced = a->replaced;
        ack.retracted = a->retracted;
        ack.n_rejected = a->n_rejections;
        ack.rejected = prj;
        ack.error = (char *)a->error;
        ack.n_network_keys = s_netkeys_to_pb(&a->network_keys, nk, pnk);
        ack.network_keys = pnk;
        ack.retention_months = a->retention_months;
        env.body_case = TESSERA__V1__ENVELOPE__BODY_ACK;
        env.ack = &ack;
        rc = s_pack(&env, buf, len);
    }
    free(rj);
    free(prj);
    return rc;
}

int tsr_wire_encode_query(const tsr_query_t *q, uint8_t **buf, size_t *len)
{
    Tessera__V1__TrendsQuery tq = TESSERA__V1__TRENDS_QUERY__INIT;
    Tessera__V1__Filter f[TSR_QUERY_MAX_FILTERS];
    Tessera__V1__Filter *pf[TSR_QUERY_MAX_FILTERS];
    Tessera__V1__ClusterQuery cq = TESSERA__V1__CLUSTER_QUERY__INIT;
    Tessera__V1__LookupQuery lq = TESSERA__V1__LOOKUP_QUERY__INIT;
    Tessera__V1__OffenderToken tk[TSR_MAX_TOKENS];
    Tessera__V1__OffenderToken *ptk[TSR_MAX_TOKENS];
    int by[TSR_TRENDS_MAX_BY];
    Tessera__V1__QueryRequest qr = TESSERA__V1__QUERY_REQUEST__INIT;
    Tessera__V1__StatsQuery sq = TESSERA__V1__STATS_QUERY__INIT;
    Tessera__V1__AlertsQuery aq = TESSERA__V1__ALERTS_QUERY__INIT;
    Tessera__V1__AuditQuery uq = TESSERA__V1__AUDIT_QUERY__INIT;
    Tessera__V1__PurgeQuery pq = TESSERA__V1__PURGE_QUERY__INIT;
    Tessera__V1__Envelope env = TESSERA__V1__ENVELOPE__INIT;
    qr.request_id = q->request_id;
    switch (q->kind) {
    case TSR_QUERY_STATS:
        qr.query_case = TESSERA__V1__QUERY_REQUEST__QUERY_STATS;
        qr.stats = &sq;
        break;
    case TSR_QUERY_ALERTS:
        aq.since_seq = q->since_seq;
        aq.max = q->max;
        aq.kind = (Tessera__V1__AlertKind)q->alert_kind;
        qr.query_case = TESSERA__V1__QUERY_REQUEST__QUERY_ALERTS;
        qr.alerts = &aq;
        break;
    case TSR_QUERY_AUDIT:
        uq.since_time = q->since_time;
        uq.id = (char *)q->id;
        uq.max = q->max;
        qr.query_case = TESSERA__V1__QUERY_REQUEST__QUERY_AUDIT;
        qr.audit = &uq;
        break;
    case TSR_QUERY_PURGE:
        pq.before_day = q->before_day;
        qr.query_case = TESSERA__V1__QUERY_REQUEST__QUERY_PURGE;
        qr.purge = &pq;
        break;
    case TSR_QUERY_TRENDS:
        tq.n_by = q->n_by < TSR_TRENDS_MAX_BY ? q->n_by : TSR_TRENDS_MAX_BY;
        memcpy(by, q->by, sizeof by);
        tq.by = (void *)by;
        tq.n_filters = q->n_filters < TSR_QUERY_MAX_FILTERS ? q->n_filters : TSR_QUERY_MAX_FILTERS;
        for (size_t i = 0; i < tq.n_filters; i++) {
            tessera__v1__filter__init(&f[i]);
            f[i].dimension = q->filters[i].dimension;
            f[i].value = (char *)q->filters[i].value;
            pf[i] = &f[i];
        }
        tq.filters = pf;
        tq.since_day = q->since_day;
        tq.until_day = q->until_day;
        qr.query_case = TESSERA__V1__QUERY_REQUEST__QUERY_TRENDS;
        qr.trends = &tq;
        break;
    case TSR_QUERY_CLUSTER:
        cq.cluster_id = q->cluster_id;
        qr.query_case = TESSERA__V1__QUERY_REQUEST__QUERY_CLUSTER;
        qr.cluster = &cq;
        break;
    case TSR_QUERY_LOOKUP:
        lq.n_tokens = q->n_tokens < TSR_MAX_TOKENS ? q->n_tokens : TSR_MAX_TOKENS;
        for (size_t i = 0; i < lq.n_tokens; i++) {
            tessera__v1__offender_token__init(&tk[i]);
            tk[i].kind = (char *)q->tokens[i].kind;
            tk[i].key_id = q->tokens[i].key_id;
            tk[i].token.data = (uint8_t *)q->tokens[i].token;
            tk[i].token.len = TSR_TOKEN_LEN;
            ptk[i] = &tk[i];
        }
        lq.tokens = ptk;
        qr.query_case = TESSERA__V1__QUERY_REQUEST__QUERY_LOOKUP;
        qr.lookup = &lq;
        break;
    default:
        break; /* a query with no body: the collector answers BAD_REQUEST */
    }
    env.body_case = TESSERA__V1__ENVELOPE__BODY_QUERY;
    env.query = &qr;
    return s_pack(&env, buf, len);
}

/* --- alerts and query responses --------------------------------------------- */

/* Fills p from a; the pointer arrays it allocates are freed by s_alert_pb_free. */
static int s_alert_to_pb(Tessera__V1__Alert *p, const tsr_alert_t *a)
{
    tessera__v1__alert__init(p);
    p->seq = a->seq;
    p->kind = a->kind;
    p->created_at = a->created_at;
    p->summary = (char *)a->summary;
    p->cluster_id = a->cluster_id;
    p->trigger = (char *)a->trigger;
    p->areas = s_str_ptrs(a->areas, a->n_areas, sizeof *a->areas);
    p->n_areas = a->n_areas;
    p->agencies = s_str_ptrs(a->agencies, a->n_agencies, sizeof *a->agencies);
    p->n_agencies = a->n_agencies;
    p->record_ids = s_bin_ptrs(a->record_ids, a->n_record_ids, sizeof *a->record_ids);
    p->n_record_ids = a->n_record_ids;
    p->token_kinds = s_str_ptrs(a->token_kinds, a->n_token_kinds, sizeof *a->token_kinds);
    p->n_token_kinds = a->n_token_kinds;
    p->first_day = a->first_day;
    p->last_day = a->last_day;
    p->series = (char *)a->series;
    p->method = (char *)a->method;
    p->period_day = a->period_day;
    p->observed = a->observed;
    p->expected = a->expected;
    p->upperbound = a->upperbound;
    p->observed_suppressed = a->observed_suppressed;
    return p->areas && p->agencies && p->record_ids && p->token_kinds ? TSR_OK : TSR_ENOMEM;
}

static void s_alert_pb_free(Tessera__V1__Alert *p)
{
    free(p->areas);
    free(p->agencies);
    free(p->record_ids);
    free(p->token_kinds);
}

int tsr_wire_encode_alert(const tsr_alert_t *a, uint8_t **buf, size_t *len)
{
    Tessera__V1__Alert pa;
    Tessera__V1__Envelope env = TESSERA__V1__ENVELOPE__INIT;
    int rc = s_alert_to_pb(&pa, a);
    env.body_case = TESSERA__V1__ENVELOPE__BODY_ALERT;
    env.alert = &pa;
    if (rc == 0)
        rc = s_pack(&env, buf, len);
    s_alert_pb_free(&pa);
    return rc;
}

int tsr_wire_encode_heartbeat(uint64_t last_seq, uint8_t **buf, size_t *len)
{
    Tessera__V1__Heartbeat h = TESSERA__V1__HEARTBEAT__INIT;
    Tessera__V1__Envelope env = TESSERA__V1__ENVELOPE__INIT;
    h.last_seq = last_seq;
    env.body_case = TESSERA__V1__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &h;
    return s_pack(&env, buf, len);
}

/* Packs qr, its result filled by the caller, as the envelope's body. */
static int s_pack_response(Tessera__V1__QueryResponse *qr, uint8_t **buf, size_t *len)
{
    Tessera__V1__Envelope env = TESSERA__V1__ENVELOPE__INIT;
    env.body_case = TESSERA__V1__ENVELOPE__BODY_RESPONSE;
    env.response = qr;
    return s_pack(&env, buf, len);
}

static int s_encode_stats(Tessera__V1__QueryResponse *qr, const tsr_response_t *r, uint8_t **buf,
                          size_t *len)
{
    Tessera__V1__Stats st = TESSERA__V1__STATS__INIT;
    Tessera__V1__Counter *c = calloc(r->n_counters + 1, sizeof *c);
    Tessera__V1__Counter **pc = calloc(r->n_counters + 1, sizeof *pc);
    int rc = c && pc ? TSR_OK : TSR_ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < r->n_counters; i++) {
            tessera__v1__counter__init(&c[i]);
            c[i].name = (char *)r->counters[i].name;
            c[i].value = r->counters[i].value;
            pc[i] = &c[i];
        }
        st.n_counters = r->n_counters;
        st.counters = pc;
        qr->result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_STATS;
        qr->stats = &st;
        rc = s_pack_response(qr, buf, len);
    }
    free(c);
    free(pc);
    return rc;
}

static int s_encode_alerts(Tessera__V1__QueryResponse *qr, const tsr_response_t *r, uint8_t **buf,
                           size_t *len)
{
    Tessera__V1__AlertList al = TESSERA__V1__ALERT_LIST__INIT;
    Tessera__V1__Alert *a = calloc(r->n_alerts + 1, sizeof *a);
    Tessera__V1__Alert **pa = calloc(r->n_alerts + 1, sizeof *pa);
    int rc = a && pa ? TSR_OK : TSR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < r->n_alerts; i++) {
        rc = s_alert_to_pb(&a[i], &r->alerts[i]);
        pa[i] = &a[i];
    }
    if (rc == 0) {
        al.n_alerts = r->n_alerts;
        al.alerts = pa;
        al.last_seq = r->last_seq;
        qr->result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_ALERTS;
        qr->alerts = &al;
        rc = s_pack_response(qr, buf, len);
    }
    for (size_t i = 0; a && i < r->n_alerts; i++)
        s_alert_pb_free(&a[i]);
    free(a);
    free(pa);
    return rc;
}

static int s_encode_trends(Tessera__V1__QueryResponse *qr, const tsr_response_t *r, uint8_t **buf,
                           size_t *len)
{
    Tessera__V1__TrendsResult tr = TESSERA__V1__TRENDS_RESULT__INIT;
    Tessera__V1__TrendCell *c = calloc(r->n_cells + 1, sizeof *c);
    Tessera__V1__TrendCell **pc = calloc(r->n_cells + 1, sizeof *pc);
    int rc = c && pc ? TSR_OK : TSR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < r->n_cells; i++) {
        const tsr_trend_cell_t *cell = &r->cells[i];
        tessera__v1__trend_cell__init(&c[i]);
        c[i].n_keys = cell->n_keys;
        c[i].keys = s_str_ptrs(cell->keys, cell->n_keys, sizeof cell->keys[0]);
        c[i].suppressed = cell->suppressed;
        c[i].protective = cell->protective;
        c[i].count = cell->suppressed ? 0 : cell->count;
        pc[i] = &c[i];
        if (!c[i].keys)
            rc = TSR_ENOMEM;
    }
    if (rc == 0) {
        tr.k = r->k;
        tr.max_deviation = r->max_deviation;
        tr.variance = r->variance;
        tr.n_cells = r->n_cells;
        tr.cells = pc;
        qr->result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_TRENDS;
        qr->trends = &tr;
        rc = s_pack_response(qr, buf, len);
    }
    for (size_t i = 0; c && i < r->n_cells; i++)
        free(c[i].keys);
    free(c);
    free(pc);
    return rc;
}

static int s_encode_cluster(Tessera__V1__QueryResponse *qr, const tsr_response_t *r,
                            uint8_t **buf, size_t *len)
{
    Tessera__V1__ClusterDetail cd = TESSERA__V1__CLUSTER_DETAIL__INIT;
    Tessera__V1__ClusterRecord *c = calloc(r->n_records + 1, sizeof *c);
    Tessera__V1__ClusterRecord **pc = calloc(r->n_records + 1, sizeof *pc);
    int rc = c && pc ? TSR_OK : TSR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < r->n_records; i++) {
        const tsr_cluster_record_t *cr = &r->records[i];
        tessera__v1__cluster_record__init(&c[i]);
        c[i].record_id.data = (uint8_t *)cr->record_id;
        c[i].record_id.len = TSR_RECORD_ID_LEN;
        c[i].agency_id = (char *)cr->agency_id;
        c[i].area_code = (char *)cr->area_code;
        c[i].reported_day = cr->reported_day;
        c[i].age_band = cr->age_band;
        c[i].contact_platforms =
            (void *)s_bits_to_list(cr->contact_platforms, &c[i].n_contact_platforms);
        c[i].demands = (void *)s_bits_to_list(cr->demands, &c[i].n_demands);
        c[i].tactics = (void *)s_bits_to_list(cr->tactics, &c[i].n_tactics);
        c[i].n_token_kinds = cr->n_token_kinds;
        c[i].token_kinds =
            s_str_ptrs(cr->token_kinds, cr->n_token_kinds, sizeof cr->token_kinds[0]);
        pc[i] = &c[i];
        if (!c[i].contact_platforms || !c[i].demands || !c[i].tactics || !c[i].token_kinds)
            rc = TSR_ENOMEM;
    }
    if (rc == 0) {
        cd.cluster_id = r->cluster_id;
        cd.n_records = r->n_records;
        cd.records = pc;
        qr->result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_CLUSTER;
        qr->cluster = &cd;
        rc = s_pack_response(qr, buf, len);
    }
    for (size_t i = 0; c && i < r->n_records; i++) {
        free(c[i].contact_platforms);
        free(c[i].demands);
        free(c[i].tactics);
        free(c[i].token_kinds);
    }
    free(c);
    free(pc);
    return rc;
}

static int s_encode_lookup(Tessera__V1__QueryResponse *qr, const tsr_response_t *r,
                           uint8_t **buf, size_t *len)
{
    Tessera__V1__LookupResult lr = TESSERA__V1__LOOKUP_RESULT__INIT;
    lr.known = r->known;
    lr.cluster_id = r->cluster_id;
    lr.cluster_records = r->cluster_records;
    lr.n_areas = r->n_areas;
    lr.areas = s_str_ptrs(r->areas, r->n_areas, sizeof *r->areas);
    lr.n_agencies = r->n_agencies;
    lr.agencies = s_str_ptrs(r->agencies, r->n_agencies, sizeof *r->agencies);
    lr.n_record_ids = r->n_record_ids;
    lr.record_ids = s_bin_ptrs(r->record_ids, r->n_record_ids, sizeof *r->record_ids);
    lr.first_day = r->first_day;
    lr.last_day = r->last_day;
    qr->result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_LOOKUP;
    qr->lookup = &lr;
    int rc = lr.areas && lr.agencies && lr.record_ids ? s_pack_response(qr, buf, len)
                                                      : TSR_ENOMEM;
    free(lr.areas);
    free(lr.agencies);
    free(lr.record_ids);
    return rc;
}

static int s_encode_audit(Tessera__V1__QueryResponse *qr, const tsr_response_t *r, uint8_t **buf,
                          size_t *len)
{
    Tessera__V1__AuditList au = TESSERA__V1__AUDIT_LIST__INIT;
    Tessera__V1__AuditEntry *e = calloc(r->n_audit + 1, sizeof *e);
    Tessera__V1__AuditEntry **pe = calloc(r->n_audit + 1, sizeof *pe);
    int rc = e && pe ? TSR_OK : TSR_ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < r->n_audit; i++) {
            const tsr_audit_entry_t *ae = &r->audit[i];
            tessera__v1__audit_entry__init(&e[i]);
            e[i].time = ae->time;
            e[i].id = (char *)ae->id;
            e[i].role = (char *)ae->role;
            e[i].request = (char *)ae->request;
            e[i].result_size = ae->result_size;
            pe[i] = &e[i];
        }
        au.n_entries = r->n_audit;
        au.entries = pe;
        qr->result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_AUDIT;
        qr->audit = &au;
        rc = s_pack_response(qr, buf, len);
    }
    free(e);
    free(pe);
    return rc;
}

int tsr_wire_encode_response(const tsr_response_t *r, uint8_t **buf, size_t *len)
{
    Tessera__V1__QueryResponse qr = TESSERA__V1__QUERY_RESPONSE__INIT;
    Tessera__V1__NetworkKey nk[TSR_NETKEYS_MAX], *pnk[TSR_NETKEYS_MAX];
    qr.request_id = r->request_id;
    qr.status = r->status;
    qr.error = (char *)r->error;
    qr.retry_after_ms = r->retry_after_ms;
    qr.n_network_keys = s_netkeys_to_pb(&r->network_keys, nk, pnk);
    qr.network_keys = pnk;
    switch (r->kind) {
    case TSR_QUERY_STATS: return s_encode_stats(&qr, r, buf, len);
    case TSR_QUERY_ALERTS: return s_encode_alerts(&qr, r, buf, len);
    case TSR_QUERY_TRENDS: return s_encode_trends(&qr, r, buf, len);
    case TSR_QUERY_CLUSTER: return s_encode_cluster(&qr, r, buf, len);
    case TSR_QUERY_LOOKUP: return s_encode_lookup(&qr, r, buf, len);
    case TSR_QUERY_AUDIT: return s_encode_audit(&qr, r, buf, len);
    default: return s_pack_response(&qr, buf, len); /* a status with no result */
    }
}
