/* wire.c - Envelope <-> plain C structs, with every received field checked.
 * The only file that includes the protobuf-c generated header. */
#include "tessera/wire.h"
#include "tessera/canon.h"
#include "tessera/codes.h"
#include "tessera/err.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera.pb-c.h"

void tsr_wire_limits_default(tsr_wire_limits_t *lim)
{
    lim->max_frame = 4u << 20;
    lim->max_incidents = 1000;
    lim->max_retractions = 1000;
    lim->max_list = 32;
    lim->max_items = 10000;
    lim->min_day = 10957 - 5; /* Monday 1999-12-27: 2000-01-01 coarsened to its ISO week */
    lim->max_day = 0;
}

/* --- per-record checks ------------------------------------------------------ */

static int s_verdict(tsr_wire_verdict_t *v, int reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_verdict(tsr_wire_verdict_t *v, int reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->detail, sizeof v->detail, fmt, ap);
    va_end(ap);
    v->reason = reason;
    return reason;
}

static int s_code(tsr_wire_verdict_t *v, tsr_codes_list_t list, int value, const char *field)
{
    if (value < 1 || value > tsr_codes_max(list))
        return s_verdict(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                         "%s: unknown value %d", field, value);
    return 0;
}

static int s_day(tsr_wire_verdict_t *v, int32_t day, const tsr_wire_limits_t *lim,
                 const char *field)
{
    int32_t max = lim->max_day ? lim->max_day : tsr_day_today() + 1;
    if (day < lim->min_day || day > max)
        return s_verdict(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                         "%s: day %d outside %d..%d", field, day, lim->min_day, max);
    return 0;
}

int tsr_wire_check_incident(const tsr_incident_t *inc, const tsr_wire_limits_t *lim,
                            tsr_wire_verdict_t *v)
{
    tsr_wire_limits_t def;
    if (!lim) {
        tsr_wire_limits_default(&def);
        lim = &def;
    }
    const int bad = TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD;
    v->reason = 0;
    v->detail[0] = '\0';
    if (inc->version < 1)
        return s_verdict(v, bad, "version: must be 1 or more");
    int rc;
    if ((rc = s_code(v, TSR_CODES_AGENCY_TYPE, inc->agency_type, "agency_type")) ||
        (rc = s_code(v, TSR_CODES_AGE_BAND, inc->age_band, "age_band")) ||
        (rc = s_code(v, TSR_CODES_GENDER, inc->gender, "gender")) ||
        (rc = s_code(v, TSR_CODES_AMOUNT_BAND, inc->amount_demanded_band, "amount_demanded_band")) ||
        (rc = s_code(v, TSR_CODES_AMOUNT_BAND, inc->amount_paid_band, "amount_paid_band")) ||
        (rc = s_code(v, TSR_CODES_PAID, inc->paid, "paid")))
        return rc;
    if (inc->date_precision != TSR_PRECISION_DAY && inc->date_precision != TSR_PRECISION_ISO_WEEK)
        return s_verdict(v, bad, "date_precision: unknown value %d", inc->date_precision);
    static const struct {
        size_t off;
        tsr_codes_list_t list;
        const char *field;
    } lists[] = {
        {offsetof(tsr_incident_t, contact_platforms), TSR_CODES_PLATFORM, "contact_platforms"},
        {offsetof(tsr_incident_t, moved_to_platforms), TSR_CODES_PLATFORM, "moved_to_platforms"},
        {offsetof(tsr_incident_t, demands), TSR_CODES_DEMAND, "demands"},
        {offsetof(tsr_incident_t, payment_methods), TSR_CODES_PAYMENT_METHOD, "payment_methods"},
        {offsetof(tsr_incident_t, tactics), TSR_CODES_TACTIC, "tactics"},
        {offsetof(tsr_incident_t, risks), TSR_CODES_RISK, "risks"},
        {offsetof(tsr_incident_t, actions), TSR_CODES_ACTION, "actions"},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        uint32_t bits = *(const uint32_t *)((const char *)inc + lists[i].off);
        uint32_t valid = ((tsr_codes_max(lists[i].list) >= 31 ? 0xffffffffu
                                                               : (1u << (tsr_codes_max(lists[i].list) + 1)) - 1)) &
                         ~1u;
        if (bits & ~valid)
            return s_verdict(v, bad, "%s: unknown value", lists[i].field);
    }
    tsr_error_t aerr;
    tsr_error_clear(&aerr);
    if (tsr_area_check(inc->area_code, "area_code", &aerr) != 0)
        return s_verdict(v, bad, "area_code: %.100s", aerr.reason);
    if ((rc = s_day(v, inc->reported_day, lim, "reported_day")))
        return rc;
    if (inc->first_contact_day != 0) {
        if ((rc = s_day(v, inc->first_contact_day, lim, "first_contact_day")))
            return rc;
        if (inc->first_contact_day > inc->reported_day)
            return s_verdict(v, bad, "first_contact_day: after reported_day");
    }
    if (inc->n_tokens > TSR_MAX_TOKENS)
        return s_verdict(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_BAD_TOKEN,
                         "offender_tokens: more than %d", TSR_MAX_TOKENS);
    for (size_t i = 0; i < inc->n_tokens; i++)
        if (!tsr_canon_kind_valid(inc->tokens[i].kind))
            return s_verdict(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_BAD_TOKEN,
                             "offender_tokens[%zu]: unknown kind '%.32s'", i, inc->tokens[i].kind);
    return 0;
}

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

/* enum array -> bits; a value outside 1..31 or a list too long is refused. */
static int s_list_to_bits(uint32_t *bits, const int *a, size_t n, tsr_codes_list_t list,
                          const char *field, const tsr_wire_limits_t *lim, tsr_wire_verdict_t *v)
{
    *bits = 0;
    if (n > lim->max_list)
        return s_verdict(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                         "%s: %zu entries, at most %zu", field, n, lim->max_list);
    for (size_t i = 0; i < n; i++) {
        if (a[i] < 1 || a[i] > tsr_codes_max(list))
            return s_verdict(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
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
        s_verdict(v, bad, "record_id: %zu bytes, expected %d", p->record_id.len, TSR_RECORD_ID_LEN);
        return;
    }
    memcpy(inc->record_id, p->record_id.data, TSR_RECORD_ID_LEN);
    inc->version = p->version;
    inc->agency_type = p->agency_type;
    if (!p->area_code || strlen(p->area_code) >= TSR_AREA_CODE_MAX) {
        s_verdict(v, bad, "area_code: not an area code");
        return;
    }
    snprintf(inc->area_code, sizeof inc->area_code, "%s", p->area_code);
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
        s_verdict(v, badtok, "offender_tokens: %zu, at most %d", p->n_offender_tokens, TSR_MAX_TOKENS);
        return;
    }
    for (size_t i = 0; i < p->n_offender_tokens; i++) {
        const Tessera__V1__OffenderToken *t = p->offender_tokens[i];
        if (t->token.len != TSR_TOKEN_LEN) {
            s_verdict(v, badtok, "offender_tokens[%zu]: %zu bytes, expected %d", i, t->token.len,
                      TSR_TOKEN_LEN);
            return;
        }
        if (!t->kind || strlen(t->kind) >= TSR_KIND_MAX) {
            s_verdict(v, badtok, "offender_tokens[%zu]: bad kind", i);
            return;
        }
        snprintf(inc->tokens[i].kind, TSR_KIND_MAX, "%s", t->kind);
        inc->tokens[i].key_id = t->key_id;
        memcpy(inc->tokens[i].token, t->token.data, TSR_TOKEN_LEN);
    }
    inc->n_tokens = p->n_offender_tokens;
    tsr_wire_check_incident(inc, lim, v);
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

static int s_encode_submit(const tsr_batch_t *b, uint8_t **buf, size_t *len)
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
        prets[i] = &rets[i];
    }
    if (rc == 0) {
        sb.batch_id = b->batch_id;
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

static int s_encode_ack(const tsr_ack_t *a, uint8_t **buf, size_t *len)
{
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
        env.body_case = TESSERA__V1__ENVELOPE__BODY_ACK;
        env.ack = &ack;
        rc = s_pack(&env, buf, len);
    }
    free(rj);
    free(prj);
    return rc;
}

static int s_encode_query(const tsr_query_t *q, uint8_t **buf, size_t *len)
{
    Tessera__V1__QueryRequest qr = TESSERA__V1__QUERY_REQUEST__INIT;
    Tessera__V1__StatsQuery sq = TESSERA__V1__STATS_QUERY__INIT;
    Tessera__V1__AlertsQuery aq = TESSERA__V1__ALERTS_QUERY__INIT;
    Tessera__V1__AuditQuery uq = TESSERA__V1__AUDIT_QUERY__INIT;
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
    default:
        break; /* a query with no body: the collector answers BAD_REQUEST */
    }
    env.body_case = TESSERA__V1__ENVELOPE__BODY_QUERY;
    env.query = &qr;
    return s_pack(&env, buf, len);
}

static void s_alert_to_pb(Tessera__V1__Alert *p, const tsr_alert_t *a)
{
    tessera__v1__alert__init(p);
    p->seq = a->seq;
    p->kind = a->kind;
    p->created_at = a->created_at;
    p->summary = (char *)a->summary;
}

static int s_encode_response(const tsr_response_t *r, uint8_t **buf, size_t *len)
{
    Tessera__V1__QueryResponse qr = TESSERA__V1__QUERY_RESPONSE__INIT;
    Tessera__V1__Stats st = TESSERA__V1__STATS__INIT;
    Tessera__V1__AlertList al = TESSERA__V1__ALERT_LIST__INIT;
    Tessera__V1__Envelope env = TESSERA__V1__ENVELOPE__INIT;
    Tessera__V1__Counter *c = calloc(r->n_counters + 1, sizeof *c);
    Tessera__V1__Counter **pc = calloc(r->n_counters + 1, sizeof *pc);
    Tessera__V1__Alert *a = calloc(r->n_alerts + 1, sizeof *a);
    Tessera__V1__Alert **pa = calloc(r->n_alerts + 1, sizeof *pa);
    int rc = c && pc && a && pa ? TSR_OK : TSR_ENOMEM;
    if (rc == 0) {
        qr.request_id = r->request_id;
        qr.status = r->status;
        qr.error = (char *)r->error;
        if (r->kind == TSR_QUERY_STATS) {
            for (size_t i = 0; i < r->n_counters; i++) {
                tessera__v1__counter__init(&c[i]);
                c[i].name = (char *)r->counters[i].name;
                c[i].value = r->counters[i].value;
                pc[i] = &c[i];
            }
            st.n_counters = r->n_counters;
            st.counters = pc;
            qr.result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_STATS;
            qr.stats = &st;
        } else if (r->kind == TSR_QUERY_ALERTS) {
            for (size_t i = 0; i < r->n_alerts; i++) {
                s_alert_to_pb(&a[i], &r->alerts[i]);
                pa[i] = &a[i];
            }
            al.n_alerts = r->n_alerts;
            al.alerts = pa;
            al.last_seq = r->last_seq;
            qr.result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_ALERTS;
            qr.alerts = &al;
        }
        env.body_case = TESSERA__V1__ENVELOPE__BODY_RESPONSE;
        env.response = &qr;
        rc = s_pack(&env, buf, len);
    }
    free(c);
    free(pc);
    free(a);
    free(pa);
    return rc;
}

int tsr_wire_encode(const tsr_msg_t *m, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    switch (m->kind) {
    case TSR_MSG_SUBMIT: return s_encode_submit(&m->u.submit, buf, len);
    case TSR_MSG_ACK: return s_encode_ack(&m->u.ack, buf, len);
    case TSR_MSG_QUERY: return s_encode_query(&m->u.query, buf, len);
    case TSR_MSG_RESPONSE: return s_encode_response(&m->u.response, buf, len);
    case TSR_MSG_ALERT: {
        Tessera__V1__Alert a;
        Tessera__V1__Envelope env = TESSERA__V1__ENVELOPE__INIT;
        s_alert_to_pb(&a, &m->u.alert);
        env.body_case = TESSERA__V1__ENVELOPE__BODY_ALERT;
        env.alert = &a;
        return s_pack(&env, buf, len);
    }
    default: return TSR_EINVAL;
    }
}

/* --- decode ----------------------------------------------------------------- */

static int s_decode_submit(tsr_batch_t *b, const Tessera__V1__SubmitBatch *p,
                           const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    if (p->n_incidents > lim->max_incidents)
        return tsr_error_set(err, "incidents", "%zu in one batch, at most %zu", p->n_incidents,
                             lim->max_incidents), TSR_EPROTO;
    if (p->n_retractions > lim->max_retractions)
        return tsr_error_set(err, "retractions", "%zu in one batch, at most %zu",
                             p->n_retractions, lim->max_retractions), TSR_EPROTO;
    b->batch_id = p->batch_id;
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
            s_verdict(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                      "record_id: %zu bytes, expected %d", r->record_id.len, TSR_RECORD_ID_LEN);
        else if (r->version < 1)
            s_verdict(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                      "version: must be 1 or more");
        else
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

static int s_decode_ack(tsr_ack_t *a, const Tessera__V1__Ack *p, const tsr_wire_limits_t *lim,
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
    return TSR_OK;
}

static void s_alert_from_pb(tsr_alert_t *a, const Tessera__V1__Alert *p)
{
    a->seq = p->seq;
    a->kind = p->kind;
    a->created_at = p->created_at;
    s_copy_str(a->summary, sizeof a->summary, p->summary);
}

static int s_decode_response(tsr_response_t *r, const Tessera__V1__QueryResponse *p,
                             const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    r->request_id = p->request_id;
    r->status = p->status;
    s_copy_str(r->error, sizeof r->error, p->error);
    if (p->result_case == TESSERA__V1__QUERY_RESPONSE__RESULT_STATS) {
        const Tessera__V1__Stats *s = p->stats;
        if (s->n_counters > lim->max_items)
            return tsr_error_set(err, "counters", "too many entries"), TSR_EPROTO;
        r->kind = TSR_QUERY_STATS;
        r->counters = calloc(s->n_counters + 1, sizeof *r->counters);
        if (!r->counters)
            return TSR_ENOMEM;
        for (size_t i = 0; i < s->n_counters; i++) {
            s_copy_str(r->counters[i].name, sizeof r->counters[i].name, s->counters[i]->name);
            r->counters[i].value = s->counters[i]->value;
        }
        r->n_counters = s->n_counters;
    } else if (p->result_case == TESSERA__V1__QUERY_RESPONSE__RESULT_ALERTS) {
        const Tessera__V1__AlertList *al = p->alerts;
        if (al->n_alerts > lim->max_items)
            return tsr_error_set(err, "alerts", "too many entries"), TSR_EPROTO;
        r->kind = TSR_QUERY_ALERTS;
        r->alerts = calloc(al->n_alerts + 1, sizeof *r->alerts);
        if (!r->alerts)
            return TSR_ENOMEM;
        for (size_t i = 0; i < al->n_alerts; i++)
            s_alert_from_pb(&r->alerts[i], al->alerts[i]);
        r->n_alerts = al->n_alerts;
        r->last_seq = al->last_seq;
    }
    return TSR_OK;
}

static void s_decode_query(tsr_query_t *q, const Tessera__V1__QueryRequest *p)
{
    q->request_id = p->request_id;
    switch (p->query_case) {
    case TESSERA__V1__QUERY_REQUEST__QUERY_STATS: q->kind = TSR_QUERY_STATS; break;
    case TESSERA__V1__QUERY_REQUEST__QUERY_ALERTS:
        q->kind = TSR_QUERY_ALERTS;
        q->since_seq = p->alerts->since_seq;
        q->max = p->alerts->max;
        break;
    case TESSERA__V1__QUERY_REQUEST__QUERY_AUDIT:
        q->kind = TSR_QUERY_AUDIT;
        q->since_time = p->audit->since_time;
        s_copy_str(q->id, sizeof q->id, p->audit->id);
        q->max = p->audit->max;
        break;
    default: q->kind = 0; break; /* not answered in this version: BAD_REQUEST */
    }
}

int tsr_wire_decode(tsr_msg_t *out, const uint8_t *buf, size_t len, const tsr_wire_limits_t *lim,
                    tsr_error_t *err)
{
    tsr_wire_limits_t def;
    if (!lim) {
        tsr_wire_limits_default(&def);
        lim = &def;
    }
    memset(out, 0, sizeof *out);
    if (len > lim->max_frame)
        return tsr_error_set(err, "", "frame of %zu bytes over the %zu limit", len, lim->max_frame),
               TSR_EPROTO;
    Tessera__V1__Envelope *env = tessera__v1__envelope__unpack(NULL, len, buf);
    if (!env)
        return tsr_error_set(err, "", "not a Tessera envelope"), TSR_EPROTO;
    int rc = TSR_OK;
    switch (env->body_case) {
    case TESSERA__V1__ENVELOPE__BODY_SUBMIT:
        out->kind = TSR_MSG_SUBMIT;
        rc = s_decode_submit(&out->u.submit, env->submit, lim, err);
        break;
    case TESSERA__V1__ENVELOPE__BODY_ACK:
        out->kind = TSR_MSG_ACK;
        rc = s_decode_ack(&out->u.ack, env->ack, lim, err);
        break;
    case TESSERA__V1__ENVELOPE__BODY_QUERY:
        out->kind = TSR_MSG_QUERY;
        s_decode_query(&out->u.query, env->query);
        break;
    case TESSERA__V1__ENVELOPE__BODY_RESPONSE:
        out->kind = TSR_MSG_RESPONSE;
        rc = s_decode_response(&out->u.response, env->response, lim, err);
        break;
    case TESSERA__V1__ENVELOPE__BODY_ALERT:
        out->kind = TSR_MSG_ALERT;
        s_alert_from_pb(&out->u.alert, env->alert);
        break;
    default:
        tsr_error_set(err, "", "envelope has no body");
        rc = TSR_EPROTO;
    }
    tessera__v1__envelope__free_unpacked(env, NULL);
    if (rc != 0)
        tsr_msg_clear(out);
    return rc;
}

void tsr_msg_clear(tsr_msg_t *m)
{
    switch (m->kind) {
    case TSR_MSG_SUBMIT:
        free(m->u.submit.incidents);
        free(m->u.submit.incident_verdicts);
        free(m->u.submit.retractions);
        free(m->u.submit.retraction_verdicts);
        break;
    case TSR_MSG_ACK: free(m->u.ack.rejections); break;
    case TSR_MSG_RESPONSE:
        free(m->u.response.counters);
        free(m->u.response.alerts);
        break;
    default: break;
    }
    memset(m, 0, sizeof *m);
}

/* --- code lists vs proto enums ---------------------------------------------- */

int tsr_wire_check_codes(tsr_error_t *err)
{
    static const struct {
        tsr_codes_list_t list;
        const ProtobufCEnumDescriptor *desc;
        const char *prefix;
    } map[] = {
        {TSR_CODES_AGENCY_TYPE, &tessera__v1__agency_type__descriptor, "AGENCY_TYPE_"},
        {TSR_CODES_AGE_BAND, &tessera__v1__age_band__descriptor, "AGE_BAND_"},
        {TSR_CODES_GENDER, &tessera__v1__gender__descriptor, "GENDER_"},
        {TSR_CODES_PLATFORM, &tessera__v1__platform__descriptor, "PLATFORM_"},
        {TSR_CODES_SERVICE, &tessera__v1__payment_service__descriptor, "PAYMENT_SERVICE_"},
        {TSR_CODES_DEMAND, &tessera__v1__demand__descriptor, "DEMAND_"},
        {TSR_CODES_AMOUNT_BAND, &tessera__v1__amount_band__descriptor, "AMOUNT_BAND_"},
        {TSR_CODES_PAID, &tessera__v1__paid__descriptor, "PAID_"},
        {TSR_CODES_PAYMENT_METHOD, &tessera__v1__payment_method__descriptor, "PAYMENT_METHOD_"},
        {TSR_CODES_TACTIC, &tessera__v1__tactic__descriptor, "TACTIC_"},
        {TSR_CODES_RISK, &tessera__v1__risk__descriptor, "RISK_"},
        {TSR_CODES_ACTION, &tessera__v1__action__descriptor, "ACTION_"},
    };
    for (size_t m = 0; m < sizeof map / sizeof map[0]; m++) {
        int max = tsr_codes_max(map[m].list);
        if ((int)map[m].desc->n_values != max + 1)
            return tsr_error_set(err, map[m].desc->name, "%u proto values, %d codes + UNSPECIFIED",
                                 map[m].desc->n_values, max);
        for (int v = 1; v <= max; v++) {
            const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(map[m].desc, v);
            char want[96];
            snprintf(want, sizeof want, "%s%s", map[m].prefix, tsr_codes_name(map[m].list, v));
            for (char *p = want; *p; p++)
                *p = (char)toupper((unsigned char)*p);
            if (!ev || strcmp(ev->name, want) != 0)
                return tsr_error_set(err, map[m].desc->name, "value %d is %s in the proto, %s in %s.csv",
                                     v, ev ? ev->name : "missing", want,
                                     tsr_codes_list_file(map[m].list));
        }
    }
    return TSR_OK;
}
