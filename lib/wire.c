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

/* A relayed agency id from the wire into dst ("" when absent); false with
 * a verdict when it is not one. */
static bool s_agency_id(char *dst, const char *src, tsr_wire_verdict_t *v)
{
    dst[0] = '\0';
    if (!src || !*src)
        return true;
    if (!tsr_wire_agency_id_valid(src)) {
        s_verdict(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                  "agency_id: '%.63s' is not 1-63 characters of A-Z a-z 0-9 . _ - /", src);
        return false;
    }
    snprintf(dst, TSR_AGENCY_ID_MAX, "%s", src);
    return true;
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
        for (size_t j = 0; j < i; j++)
            if (!memcmp(inc->tokens[j].token, t->token.data, TSR_TOKEN_LEN)) {
                /* one identifier once: a repeat would count as shared */
                s_verdict(v, badtok, "offender_tokens[%zu]: the same token as [%zu]", i, j);
                return;
            }
        snprintf(inc->tokens[i].kind, TSR_KIND_MAX, "%s", t->kind);
        inc->tokens[i].key_id = t->key_id;
        memcpy(inc->tokens[i].token, t->token.data, TSR_TOKEN_LEN);
    }
    inc->n_tokens = p->n_offender_tokens;
    tsr_wire_check_incident(inc, lim, v);
}

/* --- arrays between fixed-size C arrays and protobuf-c's pointer arrays ---- */

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

static uint32_t s_enum_bits(const int *a, size_t n)
{
    uint32_t bits = 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] > 0 && a[i] < 32)
            bits |= 1u << a[i];
    return bits;
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

static int s_encode_ack(const tsr_ack_t *a, uint8_t **buf, size_t *len)
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

static int s_encode_query(const tsr_query_t *q, uint8_t **buf, size_t *len)
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

/* Packs a response whose result is trends, cluster, lookup or audit. */
static int s_encode_result(Tessera__V1__QueryResponse *qr, const tsr_response_t *r,
                           Tessera__V1__Envelope *env, uint8_t **buf, size_t *len)
{
    Tessera__V1__TrendsResult tr = TESSERA__V1__TRENDS_RESULT__INIT;
    Tessera__V1__ClusterDetail cd = TESSERA__V1__CLUSTER_DETAIL__INIT;
    Tessera__V1__LookupResult lr = TESSERA__V1__LOOKUP_RESULT__INIT;
    Tessera__V1__AuditList au = TESSERA__V1__AUDIT_LIST__INIT;
    size_t n = r->kind == TSR_QUERY_TRENDS    ? r->n_cells
               : r->kind == TSR_QUERY_CLUSTER ? r->n_records
               : r->kind == TSR_QUERY_AUDIT   ? r->n_audit
                                              : 0;
    void **items = calloc(n + 1, sizeof *items);
    void **ptrs = calloc(n + 1, sizeof *ptrs);
    int **lists = calloc(3 * n + 1, sizeof *lists);
    char ***kinds = calloc(n + 1, sizeof *kinds);
    int rc = items && ptrs && lists && kinds ? TSR_OK : TSR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (r->kind == TSR_QUERY_TRENDS) {
            Tessera__V1__TrendCell *c = items[i] = malloc(sizeof *c);
            if (!c || !(kinds[i] = s_str_ptrs(r->cells[i].keys, r->cells[i].n_keys,
                                              sizeof r->cells[i].keys[0]))) {
                rc = TSR_ENOMEM;
                break;
            }
            tessera__v1__trend_cell__init(c);
            c->n_keys = r->cells[i].n_keys;
            c->keys = kinds[i];
            c->suppressed = r->cells[i].suppressed;
            c->protective = r->cells[i].protective;
            c->count = r->cells[i].suppressed ? 0 : r->cells[i].count;
        } else if (r->kind == TSR_QUERY_CLUSTER) {
            const tsr_cluster_record_t *cr = &r->records[i];
            Tessera__V1__ClusterRecord *c = items[i] = malloc(sizeof *c);
            if (!c || !(kinds[i] = s_str_ptrs(cr->token_kinds, cr->n_token_kinds,
                                              sizeof cr->token_kinds[0]))) {
                rc = TSR_ENOMEM;
                break;
            }
            tessera__v1__cluster_record__init(c);
            c->record_id.data = (uint8_t *)cr->record_id;
            c->record_id.len = TSR_RECORD_ID_LEN;
            c->agency_id = (char *)cr->agency_id;
            c->area_code = (char *)cr->area_code;
            c->reported_day = cr->reported_day;
            c->age_band = cr->age_band;
            c->contact_platforms = (void *)(lists[3 * i] = s_bits_to_list(cr->contact_platforms, &c->n_contact_platforms));
            c->demands = (void *)(lists[3 * i + 1] = s_bits_to_list(cr->demands, &c->n_demands));
            c->tactics = (void *)(lists[3 * i + 2] = s_bits_to_list(cr->tactics, &c->n_tactics));
            c->n_token_kinds = cr->n_token_kinds;
            c->token_kinds = kinds[i];
            if (!c->contact_platforms || !c->demands || !c->tactics)
                rc = TSR_ENOMEM;
        } else {
            const tsr_audit_entry_t *ae = &r->audit[i];
            Tessera__V1__AuditEntry *e = items[i] = malloc(sizeof *e);
            if (!e) {
                rc = TSR_ENOMEM;
                break;
            }
            tessera__v1__audit_entry__init(e);
            e->time = ae->time;
            e->id = (char *)ae->id;
            e->role = (char *)ae->role;
            e->request = (char *)ae->request;
            e->result_size = ae->result_size;
        }
        ptrs[i] = items[i];
    }
    char **areas = NULL, **agencies = NULL;
    ProtobufCBinaryData *rids = NULL;
    if (rc == 0) {
        switch (r->kind) {
        case TSR_QUERY_TRENDS:
            tr.k = r->k;
            tr.max_deviation = r->max_deviation;
            tr.variance = r->variance;
            tr.n_cells = n;
            tr.cells = (Tessera__V1__TrendCell **)ptrs;
            qr->result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_TRENDS;
            qr->trends = &tr;
            break;
        case TSR_QUERY_CLUSTER:
            cd.cluster_id = r->cluster_id;
            cd.n_records = n;
            cd.records = (Tessera__V1__ClusterRecord **)ptrs;
            qr->result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_CLUSTER;
            qr->cluster = &cd;
            break;
        case TSR_QUERY_LOOKUP:
            areas = s_str_ptrs(r->areas, r->n_areas, sizeof *r->areas);
            agencies = s_str_ptrs(r->agencies, r->n_agencies, sizeof *r->agencies);
            rids = s_bin_ptrs(r->record_ids, r->n_record_ids, sizeof *r->record_ids);
            lr.known = r->known;
            lr.cluster_id = r->cluster_id;
            lr.cluster_records = r->cluster_records;
            lr.n_areas = r->n_areas;
            lr.areas = areas;
            lr.n_agencies = r->n_agencies;
            lr.agencies = agencies;
            lr.n_record_ids = r->n_record_ids;
            lr.record_ids = rids;
            lr.first_day = r->first_day;
            lr.last_day = r->last_day;
            qr->result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_LOOKUP;
            qr->lookup = &lr;
            if (!areas || !agencies || !rids)
                rc = TSR_ENOMEM;
            break;
        case TSR_QUERY_AUDIT:
            au.n_entries = n;
            au.entries = (Tessera__V1__AuditEntry **)ptrs;
            qr->result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_AUDIT;
            qr->audit = &au;
            break;
        default: break;
        }
    }
    if (rc == 0) {
        env->body_case = TESSERA__V1__ENVELOPE__BODY_RESPONSE;
        env->response = qr;
        rc = s_pack(env, buf, len);
    }
    for (size_t i = 0; i < n; i++) {
        free(items ? items[i] : NULL);
        free(kinds ? kinds[i] : NULL);
    }
    for (size_t i = 0; lists && i < 3 * n; i++)
        free(lists[i]);
    free(items);
    free(ptrs);
    free(lists);
    free(kinds);
    free(areas);
    free(agencies);
    free(rids);
    return rc;
}

static int s_encode_response(const tsr_response_t *r, uint8_t **buf, size_t *len)
{
    Tessera__V1__QueryResponse qr = TESSERA__V1__QUERY_RESPONSE__INIT;
    Tessera__V1__NetworkKey nk[TSR_NETKEYS_MAX], *pnk[TSR_NETKEYS_MAX];
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
        qr.retry_after_ms = r->retry_after_ms;
        qr.n_network_keys = s_netkeys_to_pb(&r->network_keys, nk, pnk);
        qr.network_keys = pnk;
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
            for (size_t i = 0; rc == 0 && i < r->n_alerts; i++) {
                rc = s_alert_to_pb(&a[i], &r->alerts[i]);
                pa[i] = &a[i];
            }
            al.n_alerts = r->n_alerts;
            al.alerts = pa;
            al.last_seq = r->last_seq;
            qr.result_case = TESSERA__V1__QUERY_RESPONSE__RESULT_ALERTS;
            qr.alerts = &al;
        } else if (r->kind) {
            rc = s_encode_result(&qr, r, &env, buf, len);
            goto done;
        }
        env.body_case = TESSERA__V1__ENVELOPE__BODY_RESPONSE;
        env.response = &qr;
        rc = s_pack(&env, buf, len);
    }
done:
    for (size_t i = 0; a && r->kind == TSR_QUERY_ALERTS && i < r->n_alerts; i++)
        s_alert_pb_free(&a[i]);
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
        int rc = s_alert_to_pb(&a, &m->u.alert);
        env.body_case = TESSERA__V1__ENVELOPE__BODY_ALERT;
        env.alert = &a;
        if (rc == 0)
            rc = s_pack(&env, buf, len);
        s_alert_pb_free(&a);
        return rc;
    }
    case TSR_MSG_HEARTBEAT: {
        Tessera__V1__Heartbeat h = TESSERA__V1__HEARTBEAT__INIT;
        Tessera__V1__Envelope env = TESSERA__V1__ENVELOPE__INIT;
        h.last_seq = m->u.last_seq;
        env.body_case = TESSERA__V1__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &h;
        return s_pack(&env, buf, len);
    }
    default: return TSR_EINVAL;
    }
}

/* --- decode ----------------------------------------------------------------- */

static int s_decode_submit(tsr_batch_t *b, const Tessera__V1__SubmitBatch *p,
                           const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    /* s_precheck refused these from the tags already; kept for the day a
     * body arrives another way */
    if (p->n_incidents > lim->max_incidents)
        return tsr_error_set(err, "incidents", "batch of %zu incidents is over the limit of %zu",
                             p->n_incidents, lim->max_incidents), TSR_EPROTO;
    if (p->n_retractions > lim->max_retractions)
        return tsr_error_set(err, "retractions",
                             "batch of %zu retractions is over the limit of %zu",
                             p->n_retractions, lim->max_retractions), TSR_EPROTO;
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
            s_verdict(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
                      "record_id: %zu bytes, expected %d", r->record_id.len, TSR_RECORD_ID_LEN);
        else if (r->version < 1)
            s_verdict(v, TESSERA__V1__REJECT_REASON__REJECT_REASON_INVALID_FIELD,
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
    s_copy_str(a->error, sizeof a->error, p->error);
    /* the collector's [retention] months takes 1..600 */
    if (p->retention_months < 0 || p->retention_months > 600)
        return tsr_error_set(err, "retention_months", "%d, not 0..600", (int)p->retention_months),
               TSR_EPROTO;
    a->retention_months = p->retention_months;
    return s_netkeys_from_pb(&a->network_keys, p->network_keys, p->n_network_keys, err);
}

void tsr_alert_clear(tsr_alert_t *a)
{
    free(a->areas);
    free(a->agencies);
    free(a->record_ids);
    free(a->token_kinds);
    memset(a, 0, sizeof *a);
}

static int s_alert_from_pb(tsr_alert_t *a, const Tessera__V1__Alert *p,
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
    if (!a->areas || !a->agencies || !a->record_ids || !a->token_kinds)
        return TSR_ENOMEM;
    if (bad)
        return tsr_error_set(err, "record_ids", "a record id is not 16 bytes"), TSR_EPROTO;
    return TSR_OK;
}

static int s_decode_response(tsr_response_t *r, const Tessera__V1__QueryResponse *p,
                             const tsr_wire_limits_t *lim, tsr_error_t *err)
{
    r->request_id = p->request_id;
    r->status = p->status;
    s_copy_str(r->error, sizeof r->error, p->error);
    r->retry_after_ms = p->retry_after_ms;
    int nrc = s_netkeys_from_pb(&r->network_keys, p->network_keys, p->n_network_keys, err);
    if (nrc != 0)
        return nrc;
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
        r->n_alerts = al->n_alerts;
        for (size_t i = 0; i < al->n_alerts; i++) {
            int rc = s_alert_from_pb(&r->alerts[i], al->alerts[i], lim, err);
            if (rc != 0)
                return rc;
        }
        r->last_seq = al->last_seq;
    } else if (p->result_case == TESSERA__V1__QUERY_RESPONSE__RESULT_TRENDS) {
        const Tessera__V1__TrendsResult *t = p->trends;
        if (t->n_cells > lim->max_items)
            return tsr_error_set(err, "cells", "too many entries"), TSR_EPROTO;
        r->kind = TSR_QUERY_TRENDS;
        r->k = t->k;
        r->max_deviation = t->max_deviation;
        r->variance = t->variance;
        r->cells = calloc(t->n_cells + 1, sizeof *r->cells);
        if (!r->cells)
            return TSR_ENOMEM;
        for (size_t i = 0; i < t->n_cells; i++) {
            const Tessera__V1__TrendCell *c = t->cells[i];
            if (c->n_keys > TSR_TRENDS_MAX_BY)
                return tsr_error_set(err, "cells", "more than %d keys", TSR_TRENDS_MAX_BY), TSR_EPROTO;
            for (size_t k = 0; k < c->n_keys; k++)
                s_copy_str(r->cells[i].keys[k], sizeof r->cells[i].keys[k], c->keys[k]);
            r->cells[i].n_keys = c->n_keys;
            r->cells[i].suppressed = c->suppressed;
            r->cells[i].protective = c->suppressed && c->protective;
            r->cells[i].count = c->suppressed ? 0 : c->count; /* never a number under k */
        }
        r->n_cells = t->n_cells;
    } else if (p->result_case == TESSERA__V1__QUERY_RESPONSE__RESULT_CLUSTER) {
        const Tessera__V1__ClusterDetail *d = p->cluster;
        if (d->n_records > lim->max_items)
            return tsr_error_set(err, "records", "too many entries"), TSR_EPROTO;
        r->kind = TSR_QUERY_CLUSTER;
        r->cluster_id = d->cluster_id;
        r->records = calloc(d->n_records + 1, sizeof *r->records);
        if (!r->records)
            return TSR_ENOMEM;
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
            o->contact_platforms = s_enum_bits((const int *)c->contact_platforms, c->n_contact_platforms);
            o->demands = s_enum_bits((const int *)c->demands, c->n_demands);
            o->tactics = s_enum_bits((const int *)c->tactics, c->n_tactics);
            for (size_t k = 0; k < c->n_token_kinds; k++)
                s_copy_str(o->token_kinds[k], sizeof o->token_kinds[k], c->token_kinds[k]);
            o->n_token_kinds = c->n_token_kinds;
        }
        r->n_records = d->n_records;
    } else if (p->result_case == TESSERA__V1__QUERY_RESPONSE__RESULT_LOOKUP) {
        const Tessera__V1__LookupResult *l = p->lookup;
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
        if (!r->areas || !r->agencies || !r->record_ids)
            return TSR_ENOMEM;
        if (bad)
            return tsr_error_set(err, "record_ids", "a record id is not 16 bytes"), TSR_EPROTO;
    } else if (p->result_case == TESSERA__V1__QUERY_RESPONSE__RESULT_AUDIT) {
        const Tessera__V1__AuditList *a = p->audit;
        if (a->n_entries > lim->max_items)
            return tsr_error_set(err, "entries", "too many entries"), TSR_EPROTO;
        r->kind = TSR_QUERY_AUDIT;
        r->audit = calloc(a->n_entries + 1, sizeof *r->audit);
        if (!r->audit)
            return TSR_ENOMEM;
        for (size_t i = 0; i < a->n_entries; i++) {
            r->audit[i].time = a->entries[i]->time;
            s_copy_str(r->audit[i].id, sizeof r->audit[i].id, a->entries[i]->id);
            s_copy_str(r->audit[i].role, sizeof r->audit[i].role, a->entries[i]->role);
            s_copy_str(r->audit[i].request, sizeof r->audit[i].request, a->entries[i]->request);
            r->audit[i].result_size = a->entries[i]->result_size;
        }
        r->n_audit = a->n_entries;
    }
    return TSR_OK;
}

static int s_decode_query(tsr_query_t *q, const Tessera__V1__QueryRequest *p, tsr_error_t *err)
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

/* --- bounds before unpacking ------------------------------------------------ */

/* Protobuf wire format (protobuf.dev/programming-guides/encoding): each field
 * is a varint key (number << 3 | wire type) then a varint (0), 8 bytes (1),
 * a varint length and that many bytes (2) or 4 bytes (5). Groups (3, 4) are
 * not in proto3 and are refused. This is a bounds check, not a parser: it
 * only counts and finds. */
enum { S_WT_VARINT = 0, S_WT_I64 = 1, S_WT_LEN = 2, S_WT_I32 = 5 };

/* Reads a varint at *p (below end). Returns false when it runs out or is
 * longer than 10 bytes. */
static bool s_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* One field at *p: fills number, wire type and, for a length-delimited
 * field, its bytes (*data, *dlen; cut at end when the length runs past it,
 * *whole false then). Returns false when the key or value is malformed. */
static bool s_field(const uint8_t **p, const uint8_t *end, uint32_t *number, int *wt,
                    const uint8_t **data, size_t *dlen, bool *whole)
{
    uint64_t key, v;
    if (!s_varint(p, end, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return false;
    *number = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    *whole = true;
    switch (*wt) {
    case S_WT_VARINT: return s_varint(p, end, &v);
    case S_WT_I64:
        if (end - *p < 8)
            return false;
        *p += 8;
        return true;
    case S_WT_I32:
        if (end - *p < 4)
            return false;
        *p += 4;
        return true;
    case S_WT_LEN:
        if (!s_varint(p, end, &v))
            return false;
        *data = *p;
        if (v > (uint64_t)(end - *p)) {
            *dlen = (size_t)(end - *p);
            *whole = false;
            *p = end;
            return false;
        }
        *dlen = (size_t)v;
        *p += v;
        return true;
    default: return false;
    }
}

/* The fields of a SubmitBatch body: batch_id (1), incidents (2),
 * retractions (3). Counts add up over repeated bodies, as protobuf merges
 * them. */
static bool s_peek_submit(tsr_wire_peek_t *out, const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        uint32_t number;
        int wt;
        const uint8_t *data = NULL, *at = p;
        size_t dlen = 0;
        bool whole;
        if (!s_field(&p, end, &number, &wt, &data, &dlen, &whole))
            return false;
        if (number == 1 && wt == S_WT_VARINT) {
            const uint8_t *q = at;
            uint64_t key;
            s_varint(&q, end, &key);
            s_varint(&q, end, &out->batch_id);
            out->has_batch_id = true;
        } else if (number == 2 && wt == S_WT_LEN) {
            out->n_incidents++;
        } else if (number == 3 && wt == S_WT_LEN) {
            out->n_retractions++;
        }
    }
    return true;
}

int tsr_wire_peek(tsr_wire_peek_t *out, const uint8_t *buf, size_t len)
{
    memset(out, 0, sizeof *out);
    const uint8_t *p = buf, *end = buf + len;
    bool ok = true;
    while (ok && p < end) {
        uint32_t number;
        int wt;
        const uint8_t *data = NULL;
        size_t dlen = 0;
        bool whole = true;
        ok = s_field(&p, end, &number, &wt, &data, &dlen, &whole);
        if (!data || wt != S_WT_LEN)
            continue;
        /* Envelope.body: submit 1, ack 2, query 3, response 4, alert 5, heartbeat 6 */
        static const tsr_msg_kind_t kinds[] = {TSR_MSG_NONE,     TSR_MSG_SUBMIT, TSR_MSG_ACK,
                                               TSR_MSG_QUERY,    TSR_MSG_RESPONSE,
                                               TSR_MSG_ALERT,    TSR_MSG_HEARTBEAT};
        if (number < sizeof kinds / sizeof kinds[0]) {
            out->kind = kinds[number];
            /* a cut body is still read for its batch id */
            if (number == 1 && !s_peek_submit(out, data, data + dlen))
                ok = false;
        }
        if (!whole)
            ok = false;
    }
    return ok ? TSR_OK : TSR_EPROTO;
}

size_t tsr_wire_budget(size_t len, const tsr_wire_limits_t *lim)
{
    tsr_wire_limits_t def;
    if (!lim) {
        tsr_wire_limits_default(&def);
        lim = &def;
    }
    /* Real messages unpack to about twice their size; an item of a
     * repeated field, even an empty one, costs protobuf-c a struct of up to
     * ~300 bytes and a pointer. 4x the frame plus 512 bytes for each item
     * the limits allow holds every valid message (a full 4 MiB batch of
     * 1000 incidents needs under 10 MiB) and bounds the rest: 21 MiB at
     * the defaults, where 2 million empty incidents would take 567 MiB. */
    size_t items = lim->max_incidents + lim->max_retractions;
    if (lim->max_items > items)
        items = lim->max_items;
    return 4 * len + items * 512 + 64 * 1024;
}

typedef struct {
    size_t used, budget;
    bool over;
} s_budget_t;

/* protobuf-c's allocator with a budget: counts what it hands out (freeing
 * does not give it back: unpacking only frees when it gives up) and says
 * no once the budget is spent, which makes the unpack fail cleanly. */
static void *s_budget_alloc(void *data, size_t size)
{
    s_budget_t *b = data;
    if (size > b->budget - b->used) {
        b->over = true;
        return NULL;
    }
    b->used += size;
    return malloc(size);
}

static void s_budget_free(void *data, void *ptr)
{
    (void)data;
    free(ptr);
}

/* Refuses a SubmitBatch over the limits from its tags alone. */
static int s_precheck(const uint8_t *buf, size_t len, const tsr_wire_limits_t *lim,
                      tsr_error_t *err)
{
    tsr_wire_peek_t pk;
    if (tsr_wire_peek(&pk, buf, len) != 0)
        return tsr_error_set(err, "", "not a Tessera envelope (bad tag or length)"), TSR_EPROTO;
    if (pk.kind != TSR_MSG_SUBMIT)
        return TSR_OK;
    if (pk.n_incidents > lim->max_incidents)
        return tsr_error_set(err, "incidents", "batch of %zu incidents is over the limit of %zu",
                             pk.n_incidents, lim->max_incidents),
               TSR_EPROTO;
    if (pk.n_retractions > lim->max_retractions)
        return tsr_error_set(err, "retractions",
                             "batch of %zu retractions is over the limit of %zu",
                             pk.n_retractions, lim->max_retractions),
               TSR_EPROTO;
    return TSR_OK;
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
    int rc = s_precheck(buf, len, lim, err);
    if (rc != 0)
        return rc;
    s_budget_t budget = {.budget = tsr_wire_budget(len, lim)};
    ProtobufCAllocator alloc = {s_budget_alloc, s_budget_free, &budget};
    Tessera__V1__Envelope *env = tessera__v1__envelope__unpack(&alloc, len, buf);
    if (!env && budget.over)
        return tsr_error_set(err, "", "frame of %zu bytes needs more than %zu bytes to decode",
                             len, budget.budget),
               TSR_EPROTO;
    if (!env)
        return tsr_error_set(err, "", "not a Tessera envelope"), TSR_EPROTO;
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
        rc = s_decode_query(&out->u.query, env->query, err);
        break;
    case TESSERA__V1__ENVELOPE__BODY_RESPONSE:
        out->kind = TSR_MSG_RESPONSE;
        rc = s_decode_response(&out->u.response, env->response, lim, err);
        break;
    case TESSERA__V1__ENVELOPE__BODY_ALERT:
        out->kind = TSR_MSG_ALERT;
        rc = s_alert_from_pb(&out->u.alert, env->alert, lim, err);
        break;
    case TESSERA__V1__ENVELOPE__BODY_HEARTBEAT:
        out->kind = TSR_MSG_HEARTBEAT;
        out->u.last_seq = env->heartbeat->last_seq;
        break;
    default:
        tsr_error_set(err, "", "envelope has no body");
        rc = TSR_EPROTO;
    }
    tessera__v1__envelope__free_unpacked(env, &alloc);
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
