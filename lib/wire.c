/* wire.c - Envelope <-> plain C structs, with every received field checked:
 * the limits, the checks of one record, and the dispatch of each message
 * kind to wire_encode.c and wire_decode.c, after wire_peek.c has bounded
 * what decoding may allocate. Only the wire_*.c files include the
 * protobuf-c generated header (through wire_int.h). */
#include "tessera/canon.h"
#include "tessera/codes.h"
#include "wire_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

const tsr_wire_limits_t *tsr_wire_limits_or_default(const tsr_wire_limits_t *lim,
                                                    tsr_wire_limits_t *def)
{
    if (lim)
        return lim;
    tsr_wire_limits_default(def);
    return def;
}

/* --- per-record checks ------------------------------------------------------ */

int tsr_wire_verdict_set(tsr_wire_verdict_t *v, int reason, const char *fmt, ...)
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
        return tsr_wire_verdict_set(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                                    "%s: unknown value %d", field, value);
    return 0;
}

static int s_day(tsr_wire_verdict_t *v, int32_t day, const tsr_wire_limits_t *lim,
                 const char *field)
{
    int32_t max = lim->max_day ? lim->max_day : tsr_day_today() + 1;
    if (day < lim->min_day || day > max)
        return tsr_wire_verdict_set(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                                    "%s: day %d outside %d..%d", field, day, lim->min_day, max);
    return 0;
}

bool tsr_wire_agency_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= TSR_AGENCY_ID_MAX || id[0] == '/' || id[n - 1] == '/')
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-' || *p == '/'))
            return false;
    return true;
}

int tsr_wire_check_incident(const tsr_incident_t *inc, const tsr_wire_limits_t *lim,
                            tsr_wire_verdict_t *v)
{
    tsr_wire_limits_t def;
    lim = tsr_wire_limits_or_default(lim, &def);
    const int bad = TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD;
    v->reason = 0;
    v->detail[0] = '\0';
    if (inc->version < 1)
        return tsr_wire_verdict_set(v, bad, "version: must be 1 or more");
    int rc;
    if ((rc = s_code(v, TSR_CODES_AGENCY_TYPE, inc->agency_type, "agency_type")) ||
        (rc = s_code(v, TSR_CODES_AGE_BAND, inc->age_band, "age_band")) ||
        (rc = s_code(v, TSR_CODES_GENDER, inc->gender, "gender")) ||
        (rc = s_code(v, TSR_CODES_AMOUNT_BAND, inc->amount_demanded_band, "amount_demanded_band")) ||
        (rc = s_code(v, TSR_CODES_AMOUNT_BAND, inc->amount_paid_band, "amount_paid_band")) ||
        (rc = s_code(v, TSR_CODES_PAID, inc->paid, "paid")))
        return rc;
    if (inc->date_precision != TSR_PRECISION_DAY && inc->date_precision != TSR_PRECISION_ISO_WEEK)
        return tsr_wire_verdict_set(v, bad, "date_precision: unknown value %d",
                                    inc->date_precision);
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
            return tsr_wire_verdict_set(v, bad, "%s: unknown value", lists[i].field);
    }
    tsr_error_t aerr;
    tsr_error_clear(&aerr);
    if (tsr_area_check(inc->area_code, "area_code", &aerr) != 0)
        return tsr_wire_verdict_set(v, bad, "area_code: %.100s", aerr.reason);
    if ((rc = s_day(v, inc->reported_day, lim, "reported_day")))
        return rc;
    if (inc->first_contact_day != 0) {
        if ((rc = s_day(v, inc->first_contact_day, lim, "first_contact_day")))
            return rc;
        if (inc->first_contact_day > inc->reported_day)
            return tsr_wire_verdict_set(v, bad, "first_contact_day: after reported_day");
    }
    if (inc->n_tokens > TSR_MAX_TOKENS)
        return tsr_wire_verdict_set(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_BAD_TOKEN,
                                    "offender_tokens: more than %d", TSR_MAX_TOKENS);
    for (size_t i = 0; i < inc->n_tokens; i++)
        if (!tsr_canon_kind_valid(inc->tokens[i].kind))
            return tsr_wire_verdict_set(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_BAD_TOKEN,
                                        "offender_tokens[%zu]: unknown kind '%.32s'", i,
                                        inc->tokens[i].kind);
    return 0;
}

/* --- encode and decode: one function a body --------------------------------- */

int tsr_wire_encode(const tsr_msg_t *m, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    switch (m->kind) {
    case TSR_MSG_SUBMIT: return tsr_wire_encode_submit(&m->u.submit, buf, len);
    case TSR_MSG_ACK: return tsr_wire_encode_ack(&m->u.ack, buf, len);
    case TSR_MSG_QUERY: return tsr_wire_encode_query(&m->u.query, buf, len);
    case TSR_MSG_RESPONSE: return tsr_wire_encode_response(&m->u.response, buf, len);
    case TSR_MSG_ALERT: return tsr_wire_encode_alert(&m->u.alert, buf, len);
    case TSR_MSG_HEARTBEAT: return tsr_wire_encode_heartbeat(m->u.last_seq, buf, len);
    default: return TSR_EINVAL;
    }
}

int tsr_wire_decode(tsr_msg_t *out, const uint8_t *buf, size_t len, const tsr_wire_limits_t *lim,
                    tsr_error_t *err)
{
    tsr_wire_limits_t def;
    lim = tsr_wire_limits_or_default(lim, &def);
    memset(out, 0, sizeof *out);
    if (len > lim->max_frame)
        return tsr_error_set(err, "", "frame of %zu bytes over the %zu limit", len, lim->max_frame),
               TSR_EPROTO;
    int rc = tsr_wire_precheck(buf, len, lim, err);
    if (rc != 0)
        return rc;
    tsr_wire_alloc_t budget;
    tsr_wire_alloc_init(&budget, tsr_wire_budget(len, lim));
    Tessera__V1__Envelope *env = tessera__v1__envelope__unpack(&budget.pb, len, buf);
    if (!env && budget.over)
        return tsr_error_set(err, "", "frame of %zu bytes needs more than %zu bytes to decode",
                             len, budget.budget),
               TSR_EPROTO;
    if (!env)
        return tsr_error_set(err, "", "not a Tessera envelope"), TSR_EPROTO;
    switch (env->body_case) {
    case TESSERA__V1__ENVELOPE__BODY_SUBMIT:
        out->kind = TSR_MSG_SUBMIT;
        rc = tsr_wire_decode_submit(&out->u.submit, env->submit, lim, err);
        break;
    case TESSERA__V1__ENVELOPE__BODY_ACK:
        out->kind = TSR_MSG_ACK;
        rc = tsr_wire_decode_ack(&out->u.ack, env->ack, lim, err);
        break;
    case TESSERA__V1__ENVELOPE__BODY_QUERY:
        out->kind = TSR_MSG_QUERY;
        rc = tsr_wire_decode_query(&out->u.query, env->query, err);
        break;
    case TESSERA__V1__ENVELOPE__BODY_RESPONSE:
        out->kind = TSR_MSG_RESPONSE;
        rc = tsr_wire_decode_response(&out->u.response, env->response, lim, err);
        break;
    case TESSERA__V1__ENVELOPE__BODY_ALERT:
        out->kind = TSR_MSG_ALERT;
        rc = tsr_wire_decode_alert(&out->u.alert, env->alert, lim, err);
        break;
    case TESSERA__V1__ENVELOPE__BODY_HEARTBEAT:
        out->kind = TSR_MSG_HEARTBEAT;
        out->u.last_seq = env->heartbeat->last_seq;
        break;
    default:
        tsr_error_set(err, "", "envelope has no body");
        rc = TSR_EPROTO;
    }
    tessera__v1__envelope__free_unpacked(env, &budget.pb);
    if (rc != 0)
        tsr_msg_clear(out);
    return rc;
}

void tsr_alert_clear(tsr_alert_t *a)
{
    free(a->areas);
    free(a->agencies);
    free(a->record_ids);
    free(a->token_kinds);
    memset(a, 0, sizeof *a);
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
    case TSR_MSG_QUERY: free(m->u.query.tokens); break;
    case TSR_MSG_RESPONSE: {
        tsr_response_t *r = &m->u.response;
        for (size_t i = 0; r->alerts && i < r->n_alerts; i++)
            tsr_alert_clear(&r->alerts[i]);
        free(r->counters);
        free(r->alerts);
        free(r->cells);
        free(r->records);
        free(r->areas);
        free(r->agencies);
        free(r->record_ids);
        free(r->audit);
        break;
    }
    case TSR_MSG_ALERT: tsr_alert_clear(&m->u.alert); break;
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

/* --- trend dimensions -------------------------------------------------------- */

static const char *const s_dimensions[] = {
    NULL,     "area",    "region",           "week",              "month",  "agency_type",
    "age_band", "gender", "contact_platform", "moved_to_platform", "demand", "payment_method",
    "tactic", "risk",    "action",           "paid",              "amount_band",
};

int tsr_dimension_parse(const char *name)
{
    for (int d = 1; d < (int)(sizeof s_dimensions / sizeof s_dimensions[0]); d++)
        if (!strcmp(name, s_dimensions[d]))
            return d;
    return 0;
}

const char *tsr_dimension_name(int dim)
{
    return dim > 0 && dim < (int)(sizeof s_dimensions / sizeof s_dimensions[0]) ? s_dimensions[dim]
                                                                                : NULL;
}
