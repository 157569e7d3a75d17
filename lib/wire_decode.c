/* wire_decode.c - the bodies of an unpacked Envelope to plain C structs,
 * one function a body (tsr_wire_decode() in wire.c picks it). Nothing
 * received is trusted: counts are bounded by the limits, enums and lengths
 * are checked, strings are copied into fixed buffers. A bad record in a
 * SubmitBatch only gets its verdict; anything else wrong fails the message. */
#include "tessera/canon.h"
#include "tessera/codes.h"
#include "wire_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- incident conversion ---------------------------------------------------- */

/* A relayed agency id from the wire into dst ("" when absent); false with
 * a verdict when it is not one. */
static bool s_agency_id(char *dst, const char *src, tsr_wire_verdict_t *v)
{
    dst[0] = '\0';
    if (!src || !*src)
        return true;
    if (!tsr_wire_agency_id_valid(src)) {
        tsr_wire_verdict_set(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                             "agency_id: '%.63s' is not 1-63 characters of A-Z a-z 0-9 . _ - /",
                             src);
        return false;
    }
    snprintf(dst, TSR_AGENCY_ID_MAX, "%s", src);
    return true;
}

/* enum array -> bits; a value outside 1..31 or a list too long is refused. */
static int s_list_to_bits(uint32_t *bits, const int *a, size_t n, tsr_codes_list_t list,
                          const char *field, const tsr_wire_limits_t *lim, tsr_wire_verdict_t *v)
{
    *bits = 0;
    if (n > lim->max_list)
        return tsr_wire_verdict_set(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                                    "%s: %zu entries, at most %zu", field, n, lim->max_list);
    for (size_t i = 0; i < n; i++) {
        if (a[i] < 1 || a[i] > tsr_codes_max(list))
            return tsr_wire_verdict_set(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                                        "%s: unknown value %d", field, a[i]);
        *bits |= 1u << a[i];
    }
    return 0;
}

static void s_incident_from_pb(tsr_incident_t *inc, const Tessera__V1__Incident *p,
                               const tsr_wire_limits_t *lim, tsr_wire_verdict_t *v)
{
    memset(inc, 0, sizeof *inc);
    v->reason = 0;
    v->detail[0] = '\0';
    const int bad = TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD;
    const int badtok = TESSERA__V1__REJECT_REASON__REJECT_REASON_BAD_TOKEN;
    if (p->record_id.len != TSR_RECORD_ID_LEN) {
        tsr_wire_verdict_set(v, bad, "record_id: %zu bytes, expected %d", p->record_id.len,
                             TSR_RECORD_ID_LEN);
        return;
    }
    memcpy(inc->record_id, p->record_id.data, TSR_RECORD_ID_LEN);
    inc->version = p->version;
    inc->agency_type = p->agency_type;
    if (!p->area_code || strlen(p->area_code) >= TSR_AREA_CODE_MAX) {
        tsr_wire_verdict_set(v, bad, "area_code: not an area code");
        return;
    }
    snprintf(inc->area_code, sizeof inc->area_code, "%s", p->area_code);
    if (!s_agency_id(inc->agency_id, p->agency_id, v))
        return;
    inc->reported_day = p->reported_day;
    inc->first_contact_day = p->first_contact_day;
    inc->date_precision = p->date_precision;
    inc->age_band = p->age_band;
    inc->gender = p->gender;
    inc->amount_demanded_band = p->amount_demanded_band;
    inc->amount_paid_band = p->amount_paid_band;
    inc->paid = p->paid;
    if (s_list_to_bits(&inc->contact_platforms, (int *)p->contact_platforms, p->n_contact_platforms,
                       TSR_CODES_PLATFORM, "contact_platforms", lim, v) ||
        s_list_to_bits(&inc->moved_to_platforms, (int *)p->moved_to_platforms,
                       p->n_moved_to_platforms, TSR_CODES_PLATFORM, "moved_to_platforms", lim, v) ||
        s_list_to_bits(&inc->demands, (int *)p->demands, p->n_demands, TSR_CODES_DEMAND, "demands",
                       lim, v) ||
        s_list_to_bits(&inc->payment_methods, (int *)p->payment_methods, p->n_payment_methods,
                       TSR_CODES_PAYMENT_METHOD, "payment_methods", lim, v) ||
        s_list_to_bits(&inc->tactics, (int *)p->tactics, p->n_tactics, TSR_CODES_TACTIC, "tactics",
                       lim, v) ||
        s_list_to_bits(&inc->risks, (int *)p->risks, p->n_risks, TSR_CODES_RISK, "risks", lim, v) ||
        s_list_to_bits(&inc->actions, (int *)p->actions, p->n_actions, TSR_CODES_ACTION, "actions",
                       lim, v))
        return;
    if (p->n_offender_tokens > TSR_MAX_TOKENS) {
        tsr_wire_verdict_set(v, badtok, "offender_tokens: %zu, at most %d", p->n_offender_tokens,
                             TSR_MAX_TOKENS);
        return;
    }
    for (size_t i = 0; i < p->n_offender_tokens; i++) {
        const Tessera__V1__OffenderToken *t = p->offender_tokens[i];
        if (t->token.len != TSR_TOKEN_LEN) {
            tsr_wire_verdict_set(v, badtok, "offender_tokens[%zu]: %zu bytes, expected %d", i,
                                 t->token.len, TSR_TOKEN_LEN);
            return;
        }
        if (!t->kind || strlen(t->kind) >= TSR_KIND_MAX) {
            tsr_wire_verdict_set(v, badtok, "offender_tokens[%zu]: bad kind", i);
            return;
        }
        for (size_t j = 0; j < i; j++)
            if (!memcmp(inc->tokens[j].token, t->token.data, TSR_TOKEN_LEN)) {
                /* one identifier once: a repeat would count as shared */
                tsr_wire_verdict_set(v, badtok, "offender_tokens[%zu]: the same token as [%zu]", i,
                                     j);
                return;
            }
        snprintf(inc->tokens[i].kind, TSR_KIND_MAX, "%s", t->kind);
        inc->tokens[i].key_id = t->key_id;
        memcpy(inc->tokens[i].token, t->token.data, TSR_TOKEN_LEN);
    }
    inc->n_tokens = p->n_offender_tokens;
    tsr_wire_check_incident(inc, lim, v);
}

/* --- protobuf-c's pointer arrays to fixed-size C arrays --------------------- */

/* char *[n] -> malloc'd char[n][width] (strings cut to width - 1). */
static void *s_str_copy(char **src, size_t n, size_t width)
{
    char *d = calloc(n + 1, width);
    for (size_t i = 0; d && i < n; i++)
        snprintf(d + i * width, width, "%s", src[i] ? src[i] : "");
    return d;
}

/* ProtobufCBinaryData[n] -> malloc'd uint8_t[n][width]; NULL if a length differs. */
static void *s_bin_copy(const ProtobufCBinaryData *src, size_t n, size_t width, bool *bad)
{
    uint8_t *d = calloc(n + 1, width);
    for (size_t i = 0; d && i < n; i++) {
        if (src[i].len != width) {
            *bad = true;
            continue;
        }
        memcpy(d + i * width, src[i].data, width);
    }
    return d;
}

/* How a decode that copied lists with s_str_copy and s_bin_copy ends:
 * TSR_ENOMEM when a copy failed (copied false), TSR_EPROTO when a record id
 * had the wrong length (bad). */
static int s_copied(bool copied, bool bad, tsr_error_t *err)
{
    if (!copied)
        return TSR_ENOMEM;
    if (bad)
        return tsr_error_set(err, "record_ids", "a record id is not 16 bytes"), TSR_EPROTO;
    return TSR_OK;
}

static uint32_t s_enum_bits(const int *a, size_t n)
{
    uint32_t bits = 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] > 0 && a[i] < 32)
            bits |= 1u << a[i];
    return bits;
}

static int s_netkeys_from_pb(tsr_netkeys_t *k, Tessera__V1__NetworkKey *const *p, size_t n,
                             tsr_error_t *err)
{
    memset(k, 0, sizeof *k);
    if (n > TSR_NETKEYS_MAX)
        return tsr_error_set(err, "network_keys", "%zu, at most %d", n, TSR_NETKEYS_MAX),
               TSR_EPROTO;
    for (size_t i = 0; i < n; i++) {
        if (p[i]->until_day < 0)
            return tsr_error_set(err, "network_keys", "until_day %d", (int)p[i]->until_day),
                   TSR_EPROTO;
        k->ids[i].key_id = p[i]->key_id;
        k->ids[i].until_day = p[i]->until_day;
    }
    k->n = n;
    return TSR_OK;
}

/* --- message bodies --------------------------------------------------------- */

int tsr_wire_decode_submit(tsr_batch_t *b, const Tessera__V1__SubmitBatch *p,
                           const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    /* tsr_wire_precheck() refused these from the tags already; kept for
     * the day a body arrives another way */
    int rc = tsr_wire_check_batch(p->n_incidents, p->n_retractions, lim, err);
    if (rc != 0)
        return rc;
    if ((int)p->forward < 0 || (int)p->forward > TSR_FORWARD_LINKAGE)
        return tsr_error_set(err, "forward", "unknown value %d", (int)p->forward), TSR_EPROTO;
    b->batch_id = p->batch_id;
    b->forward = (int)p->forward;
    b->incidents = calloc(p->n_incidents + 1, sizeof *b->incidents);
    b->incident_verdicts = calloc(p->n_incidents + 1, sizeof *b->incident_verdicts);
    b->retractions = calloc(p->n_retractions + 1, sizeof *b->retractions);
    b->retraction_verdicts = calloc(p->n_retractions + 1, sizeof *b->retraction_verdicts);
    if (!b->incidents || !b->incident_verdicts || !b->retractions || !b->retraction_verdicts)
        return TSR_ENOMEM;
    for (size_t i = 0; i < p->n_incidents; i++)
        s_incident_from_pb(&b->incidents[i], p->incidents[i], lim, &b->incident_verdicts[i]);
    b->n_incidents = p->n_incidents;
    for (size_t i = 0; i < p->n_retractions; i++) {
        const Tessera__V1__Retraction *r = p->retractions[i];
        tsr_wire_verdict_t *v = &b->retraction_verdicts[i];
        if (r->record_id.len != TSR_RECORD_ID_LEN)
            tsr_wire_verdict_set(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                                 "record_id: %zu bytes, expected %d", r->record_id.len,
                                 TSR_RECORD_ID_LEN);
        else if (r->version < 1)
            tsr_wire_verdict_set(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                                 "version: must be 1 or more");
        else if (s_agency_id(b->retractions[i].agency_id, r->agency_id, v))
            memcpy(b->retractions[i].record_id, r->record_id.data, TSR_RECORD_ID_LEN);
        b->retractions[i].version = r->version;
    }
    b->n_retractions = p->n_retractions;
    return TSR_OK;
}

static void s_copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

int tsr_wire_decode_ack(tsr_ack_t *a, const Tessera__V1__Ack *p, const tsr_wire_limits_t *lim,
                        tsr_error_t *err)
{
    if (p->n_rejected > lim->max_items)
        return tsr_error_set(err, "rejected", "too many entries"), TSR_EPROTO;
    if ((int)p->status < TSR_ACK_OK || (int)p->status > TSR_ACK_MALFORMED)
        return tsr_error_set(err, "status", "unknown value %d", p->status), TSR_EPROTO;
    a->batch_id = p->batch_id;
    a->status = p->status;
    a->accepted = p->accepted;
    a->duplicates = p->duplicates;
    a->replaced = p->replaced;
    a->retracted = p->retracted;
    a->rejections = calloc(p->n_rejected + 1, sizeof *a->rejections);
    if (!a->rejections)
        return TSR_ENOMEM;
    for (size_t i = 0; i < p->n_rejected; i++) {
        a->rejections[i].index = p->rejected[i]->index;
        a->rejections[i].retraction = p->rejected[i]->retraction;
        a->rejections[i].reason = p->rejected[i]->reason;
        s_copy_str(a->rejections[i].detail, sizeof a->rejections[i].detail, p->rejected[i]->detail);
    }
    a->n_rejections = p->n_rejected;
    s_copy_str(a->error, sizeof a->error, p->error);
    /* the collector's [retention] months takes 1..600 */
    if (p->retention_months < 0 || p->retention_months > 600)
        return tsr_error_set(err, "retention_months", "%d, not 0..600", (int)p->retention_months),
               TSR_EPROTO;
    a->retention_months = p->retention_months;
    return s_netkeys_from_pb(&a->network_keys, p->network_keys, p->n_network_keys, err);
}

int tsr_wire_decode_alert(tsr_alert_t *a, const Tessera__V1__Alert *p,
                          const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    if (p->n_areas > lim->max_items || p->n_agencies > lim->max_items ||
        p->n_record_ids > lim->max_items || p->n_token_kinds > lim->max_items)
        return tsr_error_set(err, "alert", "too many entries"), TSR_EPROTO;
    a->seq = p->seq;
    a->kind = p->kind;
    a->created_at = p->created_at;
    s_copy_str(a->summary, sizeof a->summary, p->summary);
    a->cluster_id = p->cluster_id;
    s_copy_str(a->trigger, sizeof a->trigger, p->trigger);
    bool bad = false;
    a->areas = s_str_copy(p->areas, p->n_areas, sizeof *a->areas);
    a->n_areas = p->n_areas;
    a->agencies = s_str_copy(p->agencies, p->n_agencies, sizeof *a->agencies);
    a->n_agencies = p->n_agencies;
    a->record_ids = s_bin_copy(p->record_ids, p->n_record_ids, sizeof *a->record_ids, &bad);
    a->n_record_ids = p->n_record_ids;
    a->token_kinds = s_str_copy(p->token_kinds, p->n_token_kinds, sizeof *a->token_kinds);
    a->n_token_kinds = p->n_token_kinds;
    a->first_day = p->first_day;
    a->last_day = p->last_day;
    s_copy_str(a->series, sizeof a->series, p->series);
    s_copy_str(a->method, sizeof a->method, p->method);
    a->period_day = p->period_day;
    a->observed = p->observed;
    a->expected = p->expected;
    a->upperbound = p->upperbound;
    a->observed_suppressed = p->observed_suppressed;
    return s_copied(a->areas && a->agencies && a->record_ids && a->token_kinds, bad, err);
}

/* A zeroed array for the n entries of a repeated result field, after
 * checking n against the limits (*rc TSR_EPROTO, "too many entries", with
 * field named) and the allocation (*rc TSR_ENOMEM). NULL when *rc is set. */
static void *s_entries(size_t n, size_t size, const char *field, const tsr_wire_limits_t *lim,
                       tsr_error_t *err, int *rc)
{
    *rc = TSR_OK;
    if (n > lim->max_items) {
        tsr_error_set(err, field, "too many entries");
        *rc = TSR_EPROTO;
        return NULL;
    }
    void *p = calloc(n + 1, size);
    if (!p)
        *rc = TSR_ENOMEM;
    return p;
}

static int s_decode_stats(tsr_response_t *r, const Tessera__V1__Stats *s,
                          const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    int rc;
    r->counters = s_entries(s->n_counters, sizeof *r->counters, "counters", lim, err, &rc);
    if (rc != 0)
        return rc;
    r->kind = TSR_QUERY_STATS;
    for (size_t i = 0; i < s->n_counters; i++) {
        s_copy_str(r->counters[i].name, sizeof r->counters[i].name, s->counters[i]->name);
        r->counters[i].value = s->counters[i]->value;
    }
    r->n_counters = s->n_counters;
    return TSR_OK;
}

static int s_decode_alerts(tsr_response_t *r, const Tessera__V1__AlertList *al,
                           const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    int rc;
    r->alerts = s_entries(al->n_alerts, sizeof *r->alerts, "alerts", lim, err, &rc);
    if (rc != 0)
        return rc;
    r->kind = TSR_QUERY_ALERTS;
    r->n_alerts = al->n_alerts;
    for (size_t i = 0; i < al->n_alerts; i++)
        if ((rc = tsr_wire_decode_alert(&r->alerts[i], al->alerts[i], lim, err)) != 0)
            return rc;
    r->last_seq = al->last_seq;
    return TSR_OK;
}

static int s_decode_trends(tsr_response_t *r, const Tessera__V1__TrendsResult *t,
                           const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    int rc;
    r->cells = s_entries(t->n_cells, sizeof *r->cells, "cells", lim, err, &rc);
    if (rc != 0)
        return rc;
    r->kind = TSR_QUERY_TRENDS;
    r->k = t->k;
    r->max_deviation = t->max_deviation;
    r->variance = t->variance;
    for (size_t i = 0; i < t->n_cells; i++) {
        const Tessera__V1__TrendCell *c = t->cells[i];
        if (c->n_keys > TSR_TRENDS_MAX_BY)
            return tsr_error_set(err, "cells", "more than %d keys", TSR_TRENDS_MAX_BY),
                   TSR_EPROTO;
        for (size_t k = 0; k < c->n_keys; k++)
            s_copy_str(r->cells[i].keys[k], sizeof r->cells[i].keys[k], c->keys[k]);
        r->cells[i].n_keys = c->n_keys;
        r->cells[i].suppressed = c->suppressed;
        r->cells[i].protective = c->suppressed && c->protective;
        r->cells[i].count = c->suppressed ? 0 : c->count; /* never a number under k */
    }
    r->n_cells = t->n_cells;
    return TSR_OK;
}

static int s_decode_cluster(tsr_response_t *r, const Tessera__V1__ClusterDetail *d,
                            const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    int rc;
    r->records = s_entries(d->n_records, sizeof *r->records, "records", lim, err, &rc);
    if (rc != 0)
        return rc;
    r->kind = TSR_QUERY_CLUSTER;
    r->cluster_id = d->cluster_id;
    for (size_t i = 0; i < d->n_records; i++) {
        const Tessera__V1__ClusterRecord *c = d->records[i];
        tsr_cluster_record_t *o = &r->records[i];
        if (c->record_id.len != TSR_RECORD_ID_LEN || c->n_token_kinds > 8)
            return tsr_error_set(err, "records", "bad record %zu", i), TSR_EPROTO;
        memcpy(o->record_id, c->record_id.data, TSR_RECORD_ID_LEN);
        s_copy_str(o->agency_id, sizeof o->agency_id, c->agency_id);
        s_copy_str(o->area_code, sizeof o->area_code, c->area_code);
        o->reported_day = c->reported_day;
        o->age_band = c->age_band;
        o->contact_platforms =
            s_enum_bits((const int *)c->contact_platforms, c->n_contact_platforms);
        o->demands = s_enum_bits((const int *)c->demands, c->n_demands);
        o->tactics = s_enum_bits((const int *)c->tactics, c->n_tactics);
        for (size_t k = 0; k < c->n_token_kinds; k++)
            s_copy_str(o->token_kinds[k], sizeof o->token_kinds[k], c->token_kinds[k]);
        o->n_token_kinds = c->n_token_kinds;
    }
    r->n_records = d->n_records;
    return TSR_OK;
}

static int s_decode_lookup(tsr_response_t *r, const Tessera__V1__LookupResult *l,
                           const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    if (l->n_areas > lim->max_items || l->n_agencies > lim->max_items ||
        l->n_record_ids > lim->max_items)
        return tsr_error_set(err, "lookup", "too many entries"), TSR_EPROTO;
    bool bad = false;
    r->kind = TSR_QUERY_LOOKUP;
    r->known = l->known;
    r->cluster_id = l->cluster_id;
    r->cluster_records = l->cluster_records;
    r->areas = s_str_copy(l->areas, l->n_areas, sizeof *r->areas);
    r->n_areas = l->n_areas;
    r->agencies = s_str_copy(l->agencies, l->n_agencies, sizeof *r->agencies);
    r->n_agencies = l->n_agencies;
    r->record_ids = s_bin_copy(l->record_ids, l->n_record_ids, sizeof *r->record_ids, &bad);
    r->n_record_ids = l->n_record_ids;
    r->first_day = l->first_day;
    r->last_day = l->last_day;
    return s_copied(r->areas && r->agencies && r->record_ids, bad, err);
}

static int s_decode_audit(tsr_response_t *r, const Tessera__V1__AuditList *a,
                          const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    int rc;
    r->audit = s_entries(a->n_entries, sizeof *r->audit, "entries", lim, err, &rc);
    if (rc != 0)
        return rc;
    r->kind = TSR_QUERY_AUDIT;
    for (size_t i = 0; i < a->n_entries; i++) {
        r->audit[i].time = a->entries[i]->time;
        s_copy_str(r->audit[i].id, sizeof r->audit[i].id, a->entries[i]->id);
        s_copy_str(r->audit[i].role, sizeof r->audit[i].role, a->entries[i]->role);
        s_copy_str(r->audit[i].request, sizeof r->audit[i].request, a->entries[i]->request);
        r->audit[i].result_size = a->entries[i]->result_size;
    }
    r->n_audit = a->n_entries;
    return TSR_OK;
}

int tsr_wire_decode_response(tsr_response_t *r, const Tessera__V1__QueryResponse *p,
                             const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    r->request_id = p->request_id;
    r->status = p->status;
    s_copy_str(r->error, sizeof r->error, p->error);
    r->retry_after_ms = p->retry_after_ms;
    int rc = s_netkeys_from_pb(&r->network_keys, p->network_keys, p->n_network_keys, err);
    if (rc != 0)
        return rc;
    switch (p->result_case) {
    case TESSERA__V1__QUERY_RESPONSE__RESULT_STATS: return s_decode_stats(r, p->stats, lim, err);
    case TESSERA__V1__QUERY_RESPONSE__RESULT_ALERTS: return s_decode_alerts(r, p->alerts, lim, err);
    case TESSERA__V1__QUERY_RESPONSE__RESULT_TRENDS: return s_decode_trends(r, p->trends, lim, err);
    case TESSERA__V1__QUERY_RESPONSE__RESULT_CLUSTER:
        return s_decode_cluster(r, p->cluster, lim, err);
    case TESSERA__V1__QUERY_RESPONSE__RESULT_LOOKUP: return s_decode_lookup(r, p->lookup, lim, err);
    case TESSERA__V1__QUERY_RESPONSE__RESULT_AUDIT: return s_decode_audit(r, p->audit, lim, err);
    default: return TSR_OK; /* a status with no result */
    }
}

int tsr_wire_decode_query(tsr_query_t *q, const Tessera__V1__QueryRequest *p, tsr_error_t *err)
{
    q->request_id = p->request_id;
    const int max_dim = TESSERA__V1__DIMENSION__DIMENSION_AMOUNT_BAND;
    switch (p->query_case) {
    case TESSERA__V1__QUERY_REQUEST__QUERY_TRENDS: {
        const Tessera__V1__TrendsQuery *t = p->trends;
        if (t->n_by < 1 || t->n_by > TSR_TRENDS_MAX_BY)
            return tsr_error_set(err, "by", "one or two dimensions"), TSR_EPROTO;
        if (t->n_filters > TSR_QUERY_MAX_FILTERS)
            return tsr_error_set(err, "filters", "at most %d", TSR_QUERY_MAX_FILTERS), TSR_EPROTO;
        q->kind = TSR_QUERY_TRENDS;
        for (size_t i = 0; i < t->n_by; i++) {
            if ((int)t->by[i] < 1 || (int)t->by[i] > max_dim)
                return tsr_error_set(err, "by", "unknown dimension %d", (int)t->by[i]), TSR_EPROTO;
            q->by[i] = t->by[i];
        }
        q->n_by = t->n_by;
        for (size_t i = 0; i < t->n_filters; i++) {
            if ((int)t->filters[i]->dimension < 1 || (int)t->filters[i]->dimension > max_dim)
                return tsr_error_set(err, "filters", "unknown dimension"), TSR_EPROTO;
            q->filters[i].dimension = t->filters[i]->dimension;
            s_copy_str(q->filters[i].value, sizeof q->filters[i].value, t->filters[i]->value);
        }
        q->n_filters = t->n_filters;
        q->since_day = t->since_day;
        q->until_day = t->until_day;
        return TSR_OK;
    }
    case TESSERA__V1__QUERY_REQUEST__QUERY_CLUSTER:
        q->kind = TSR_QUERY_CLUSTER;
        q->cluster_id = p->cluster->cluster_id;
        return TSR_OK;
    case TESSERA__V1__QUERY_REQUEST__QUERY_LOOKUP: {
        const Tessera__V1__LookupQuery *l = p->lookup;
        if (l->n_tokens < 1 || l->n_tokens > TSR_MAX_TOKENS)
            return tsr_error_set(err, "tokens", "1 to %d tokens", TSR_MAX_TOKENS), TSR_EPROTO;
        q->kind = TSR_QUERY_LOOKUP;
        q->tokens = calloc(l->n_tokens, sizeof *q->tokens);
        if (!q->tokens)
            return TSR_ENOMEM;
        for (size_t i = 0; i < l->n_tokens; i++) {
            const Tessera__V1__OffenderToken *t = l->tokens[i];
            if (t->token.len != TSR_TOKEN_LEN || !tsr_canon_kind_valid(t->kind))
                return tsr_error_set(err, "tokens", "token %zu: bad kind or length", i), TSR_EPROTO;
            s_copy_str(q->tokens[i].kind, TSR_KIND_MAX, t->kind);
            q->tokens[i].key_id = t->key_id;
            memcpy(q->tokens[i].token, t->token.data, TSR_TOKEN_LEN);
        }
        q->n_tokens = l->n_tokens;
        return TSR_OK;
    }
    case TESSERA__V1__QUERY_REQUEST__QUERY_STATS: q->kind = TSR_QUERY_STATS; break;
    case TESSERA__V1__QUERY_REQUEST__QUERY_ALERTS:
        q->kind = TSR_QUERY_ALERTS;
        q->since_seq = p->alerts->since_seq;
        q->max = p->alerts->max;
        q->alert_kind = (int)p->alerts->kind;
        if (q->alert_kind < 0 || q->alert_kind > 3)
            return tsr_error_set(err, "kind", "unknown alert kind %d", q->alert_kind), TSR_EPROTO;
        break;
    case TESSERA__V1__QUERY_REQUEST__QUERY_AUDIT:
        q->kind = TSR_QUERY_AUDIT;
        q->since_time = p->audit->since_time;
        s_copy_str(q->id, sizeof q->id, p->audit->id);
        q->max = p->audit->max;
        break;
    case TESSERA__V1__QUERY_REQUEST__QUERY_PURGE:
        q->kind = TSR_QUERY_PURGE;
        q->before_day = p->purge->before_day;
        break;
    default: q->kind = 0; break; /* no query: the collector answers BAD_REQUEST */
    }
    return TSR_OK;
}
