/* test_wire.c - every message round-trips; the decoder refuses what it must,
 * per record where a record is at fault, and never crashes on junk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/wire.h"

#include "../hostile_frame.h"

static void s_incident(tsr_incident_t *inc, uint8_t id)
{
    memset(inc, 0, sizeof *inc);
    memset(inc->record_id, id, TSR_RECORD_ID_LEN);
    inc->version = 2;
    inc->agency_type = 3;
    snprintf(inc->area_code, sizeof inc->area_code, "E08000035");
    inc->reported_day = tsr_day_today() - 10;
    inc->first_contact_day = tsr_day_today() - 12;
    inc->date_precision = TSR_PRECISION_DAY;
    inc->age_band = 3;
    inc->gender = 1;
    inc->contact_platforms = 1u << 1 | 1u << 16;
    inc->moved_to_platforms = 1u << 2;
    inc->demands = 1u << 1 | 1u << 3;
    inc->amount_demanded_band = 6;
    inc->amount_paid_band = 4;
    inc->paid = 1;
    inc->payment_methods = 1u << 1;
    inc->tactics = 1u << 1 | 1u << 10;
    inc->risks = 1u << 6;
    inc->actions = 1u << 9;
    inc->n_tokens = 2;
    snprintf(inc->tokens[0].kind, TSR_KIND_MAX, "handle:instagram");
    inc->tokens[0].key_id = 0xdeadbeef;
    memset(inc->tokens[0].token, 0x11 + id, TSR_TOKEN_LEN);
    snprintf(inc->tokens[1].kind, TSR_KIND_MAX, "bank:uk");
    inc->tokens[1].key_id = 7;
    memset(inc->tokens[1].token, 0x22, TSR_TOKEN_LEN);
}

/* Encodes then decodes a one-incident batch; returns the verdict reason. */
static int s_roundtrip_one(const tsr_incident_t *in, tsr_incident_t *out, char *detail)
{
    tsr_msg_t m = {.kind = TSR_MSG_SUBMIT};
    m.u.submit.batch_id = 1;
    m.u.submit.incidents = (tsr_incident_t *)in;
    m.u.submit.n_incidents = 1;
    uint8_t *buf;
    size_t len;
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    tsr_msg_t d;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, &err), 0);
    free(buf);
    assert_int_equal(d.kind, TSR_MSG_SUBMIT);
    assert_int_equal(d.u.submit.n_incidents, 1);
    int reason = d.u.submit.incident_verdicts[0].reason;
    if (out)
        *out = d.u.submit.incidents[0];
    if (detail)
        snprintf(detail, 128, "%s", d.u.submit.incident_verdicts[0].detail);
    tsr_msg_clear(&d);
    return reason;
}

/* RejectReason INVALID_FIELD on the wire */
#define TSR_REJECT_INVALID_FIELD_WIRE 1

static void test_submit_roundtrip(void **state)
{
    (void)state;
    static tsr_incident_t incs[3], got;
    tsr_retraction_t rets[2] = {0};
    for (int i = 0; i < 3; i++)
        s_incident(&incs[i], (uint8_t)i);
    /* a relay's records name their agency (issue 19) */
    snprintf(incs[1].agency_id, sizeof incs[1].agency_id, "leeds-cs-01");
    snprintf(rets[1].agency_id, sizeof rets[1].agency_id, "yh-collector/leeds-cs-01");
    memset(rets[0].record_id, 0x55, TSR_RECORD_ID_LEN);
    rets[0].version = 4;
    memset(rets[1].record_id, 0x66, TSR_RECORD_ID_LEN);
    rets[1].version = 1;
    tsr_msg_t m = {.kind = TSR_MSG_SUBMIT};
    m.u.submit = (tsr_batch_t){.batch_id = 0x123456789abcULL, .incidents = incs, .n_incidents = 3,
                               .retractions = rets, .n_retractions = 2};
    uint8_t *buf;
    size_t len;
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    tsr_msg_t d;
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, NULL), 0);
    free(buf);
    assert_int_equal(d.u.submit.batch_id, 0x123456789abcULL);
    assert_int_equal(d.u.submit.n_incidents, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(d.u.submit.incident_verdicts[i].reason, 0);
        assert_memory_equal(&d.u.submit.incidents[i], &incs[i], sizeof incs[i]);
    }
    assert_int_equal(d.u.submit.n_retractions, 2);
    assert_memory_equal(d.u.submit.retractions, rets, sizeof rets);
    assert_int_equal(d.u.submit.retraction_verdicts[1].reason, 0);
    tsr_msg_clear(&d);
    assert_int_equal(d.kind, TSR_MSG_NONE);
    assert_int_equal(s_roundtrip_one(&incs[0], &got, NULL), 0);
    assert_memory_equal(&got, &incs[0], sizeof got);
    /* an agency id is an id, refused per record otherwise */
    char detail[128];
    snprintf(incs[0].agency_id, sizeof incs[0].agency_id, "leeds cs");
    assert_int_equal(s_roundtrip_one(&incs[0], &got, detail), TSR_REJECT_INVALID_FIELD_WIRE);
    assert_string_equal(detail, "agency_id: 'leeds cs' is not 1-63 characters of A-Z a-z 0-9 . _ - /");
    snprintf(incs[0].agency_id, sizeof incs[0].agency_id, "/leeds");
    assert_int_equal(s_roundtrip_one(&incs[0], &got, detail), TSR_REJECT_INVALID_FIELD_WIRE);
    assert_true(tsr_wire_agency_id_valid("yh/leeds-cs_01.a"));
    assert_false(tsr_wire_agency_id_valid(""));
    assert_false(tsr_wire_agency_id_valid("leeds/"));
}

static void test_ack_query_response_alert_roundtrip(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    tsr_msg_t d;
    tsr_rejection_t rj[2] = {{3, false, 2, "area E06000014 is not bound to a"},
                             {0, true, 6, "record id belongs to another agency"}};
    tsr_msg_t m = {.kind = TSR_MSG_ACK};
    m.u.ack = (tsr_ack_t){77, TSR_ACK_OK, 5, 4, 3, 2, rj, 2, "",
                          {{{1857500892u, 20878}, {1974342276u, 0}}, 2}, 24};
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, NULL), 0);
    free(buf);
    assert_int_equal(d.kind, TSR_MSG_ACK);
    assert_int_equal(d.u.ack.batch_id, 77);
    assert_int_equal(d.u.ack.accepted, 5);
    assert_int_equal(d.u.ack.duplicates, 4);
    assert_int_equal(d.u.ack.replaced, 3);
    assert_int_equal(d.u.ack.retracted, 2);
    assert_int_equal(d.u.ack.n_rejections, 2);
    assert_memory_equal(d.u.ack.rejections, rj, sizeof rj);
    /* the keys the collector accepts travel with every Ack */
    assert_int_equal(d.u.ack.network_keys.n, 2);
    assert_int_equal(d.u.ack.network_keys.ids[0].key_id, 1857500892u);
    assert_int_equal(d.u.ack.network_keys.ids[0].until_day, 20878);
    assert_int_equal(d.u.ack.network_keys.ids[1].key_id, 1974342276u);
    assert_int_equal(d.u.ack.network_keys.ids[1].until_day, 0);
    /* and the collector's retention, for the agent's own check */
    assert_int_equal(d.u.ack.retention_months, 24);
    tsr_msg_clear(&d);
    /* a retention no collector can have is refused, not clamped */
    m.u.ack.retention_months = 601;
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, &err), TSR_EPROTO);
    assert_string_equal(err.field, "retention_months");
    free(buf);

    static const int kinds[] = {TSR_QUERY_STATS, TSR_QUERY_ALERTS, TSR_QUERY_AUDIT};
    for (int k = 0; k < 3; k++) {
        m = (tsr_msg_t){.kind = TSR_MSG_QUERY};
        m.u.query = (tsr_query_t){.request_id = 9, .kind = kinds[k]};
        if (kinds[k] == TSR_QUERY_ALERTS) {
            m.u.query.since_seq = 41;
            m.u.query.max = 100;
        } else if (kinds[k] == TSR_QUERY_AUDIT) {
            m.u.query.since_time = 1700000000;
            snprintf(m.u.query.id, sizeof m.u.query.id, "yh-analyst-1");
            m.u.query.max = 5;
        }
        assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
        assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, NULL), 0);
        free(buf);
        assert_int_equal(d.kind, TSR_MSG_QUERY);
        assert_memory_equal(&d.u.query, &m.u.query, sizeof m.u.query);
        tsr_msg_clear(&d);
    }

    tsr_counter_t c[2] = {{"records", 12}, {"rejected:area_not_bound", 1}};
    m = (tsr_msg_t){.kind = TSR_MSG_RESPONSE};
    m.u.response = (tsr_response_t){.request_id = 9, .status = TSR_QSTATUS_OK,
                                    .kind = TSR_QUERY_STATS, .counters = c, .n_counters = 2};
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, NULL), 0);
    free(buf);
    assert_int_equal(d.u.response.kind, TSR_QUERY_STATS);
    assert_int_equal(d.u.response.n_counters, 2);
    assert_memory_equal(d.u.response.counters, c, sizeof c);
    tsr_msg_clear(&d);

    tsr_alert_t al[2] = {{.seq = 1, .kind = 1, .created_at = 1700000001,
                          .summary = "cluster 4 spans 2 areas"},
                         {.seq = 2, .kind = 2, .created_at = 1700000002, .summary = "spike"}};
    m = (tsr_msg_t){.kind = TSR_MSG_RESPONSE};
    m.u.response = (tsr_response_t){.request_id = 10, .status = TSR_QSTATUS_DENIED,
                                    .kind = TSR_QUERY_ALERTS, .alerts = al, .n_alerts = 2,
                                    .last_seq = 2};
    snprintf(m.u.response.error, sizeof m.u.response.error, "analysts may not see linkage alerts");
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, NULL), 0);
    free(buf);
    assert_int_equal(d.u.response.status, TSR_QSTATUS_DENIED);
    assert_string_equal(d.u.response.error, "analysts may not see linkage alerts");
    assert_int_equal(d.u.response.n_alerts, 2);
    assert_int_equal(d.u.response.last_seq, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(d.u.response.alerts[i].seq, al[i].seq);
        assert_int_equal(d.u.response.alerts[i].kind, al[i].kind);
        assert_int_equal(d.u.response.alerts[i].created_at, al[i].created_at);
        assert_string_equal(d.u.response.alerts[i].summary, al[i].summary);
        assert_int_equal(d.u.response.alerts[i].n_areas, 0);
    }
    tsr_msg_clear(&d);

    m = (tsr_msg_t){.kind = TSR_MSG_ALERT};
    m.u.alert = al[0];
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, NULL), 0);
    free(buf);
    assert_int_equal(d.kind, TSR_MSG_ALERT);
    assert_int_equal(d.u.alert.seq, 1);
    assert_string_equal(d.u.alert.summary, "cluster 4 spans 2 areas");
    tsr_msg_clear(&d);

    /* the alert stream's heartbeat, and the alerts query's kind filter */
    m = (tsr_msg_t){.kind = TSR_MSG_HEARTBEAT};
    m.u.last_seq = 987654321012ull;
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, NULL), 0);
    free(buf);
    assert_int_equal(d.kind, TSR_MSG_HEARTBEAT);
    assert_int_equal(d.u.last_seq, 987654321012ull);
    m = (tsr_msg_t){.kind = TSR_MSG_QUERY};
    m.u.query.kind = TSR_QUERY_ALERTS;
    m.u.query.since_seq = 41;
    m.u.query.alert_kind = TSR_ALERT_LINKAGE;
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, NULL), 0);
    free(buf);
    assert_int_equal(d.u.query.since_seq, 41);
    assert_int_equal(d.u.query.alert_kind, TSR_ALERT_LINKAGE);
    tsr_msg_clear(&d);
}

static void test_record_rejections(void **state)
{
    (void)state;
    static tsr_incident_t inc;
    char detail[128];
    static const struct {
        int field; /* what to break */
        int reason;
        const char *detail;
    } cases[] = {
        {0, 1, "age_band: unknown value 99"},
        {1, 1, "version: must be 1 or more"},
        {2, 1, "area_code: 'E99999999' is not a current"},
        {3, 1, "area_code: area code E10000023 was retired by a reorganisation; use E06000065"},
        {4, 1, "reported_day: day 10950 outside"},
        {5, 1, "reported_day: day"},
        {6, 1, "first_contact_day: after reported_day"},
        {7, 3, "offender_tokens[1]: unknown kind 'handle:myspace'"},
        {8, 1, "gender: unknown value 0"},
        {9, 1, "contact_platforms: unknown value"},
        {10, 3, "offender_tokens[1]: the same token as [0]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_incident(&inc, 1);
        switch (cases[i].field) {
        case 0: inc.age_band = 99; break;
        case 1: inc.version = 0; break;
        case 2: snprintf(inc.area_code, sizeof inc.area_code, "E99999999"); break;
        case 3: snprintf(inc.area_code, sizeof inc.area_code, "E10000023"); break;
        case 4: inc.reported_day = 10950; inc.first_contact_day = 0; break;
        case 5: inc.reported_day = tsr_day_today() + 2; break;
        case 6: inc.first_contact_day = inc.reported_day + 1; break;
        case 7: snprintf(inc.tokens[1].kind, TSR_KIND_MAX, "handle:myspace"); break;
        case 8: inc.gender = 0; break;
        case 9: inc.contact_platforms |= 1u << 17; break;
        case 10: memcpy(inc.tokens[1].token, inc.tokens[0].token, TSR_TOKEN_LEN); break;
        }
        int reason = s_roundtrip_one(&inc, NULL, detail);
        if (reason != cases[i].reason || strncmp(detail, cases[i].detail, strlen(cases[i].detail)))
            fail_msg("case %zu: reason %d '%s', want %d '%s'", i, reason, detail, cases[i].reason,
                     cases[i].detail);
    }
    /* the Monday before 2000-01-01 is valid (a coarsened week), tomorrow too */
    s_incident(&inc, 1);
    inc.first_contact_day = 0;
    inc.reported_day = 10952;
    assert_int_equal(s_roundtrip_one(&inc, NULL, NULL), 0);
    inc.reported_day = tsr_day_today() + 1;
    assert_int_equal(s_roundtrip_one(&inc, NULL, NULL), 0);
}

/* The encoder only ever writes 32-byte tokens, so 31- and 33-byte tokens
 * are written here by hand, in protobuf's encoding, inside a valid Incident. */
static void test_bad_lengths_per_record(void **state)
{
    (void)state;
    static const uint8_t incident_prefix[] = {
        0x0a, 0x10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* record_id */
        0x10, 0x01,                                                 /* version 1 */
        0x18, 0x01,                                                 /* agency_type */
        0x22, 0x09, 'E', '0', '8', '0', '0', '0', '0', '3', '5',    /* area */
    };
    int32_t day = tsr_day_today() - 1;
    for (int tlen = 31; tlen <= 33; tlen += 2) {
        uint8_t inc[256], env[300];
        size_t n = 0;
        memcpy(inc, incident_prefix, sizeof incident_prefix);
        n = sizeof incident_prefix;
        inc[n++] = 0x28; /* reported_day varint */
        for (uint32_t v = (uint32_t)day; ; v >>= 7) {
            inc[n++] = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
            if (v < 0x80)
                break;
        }
        static const uint8_t rest[] = {0x38, 1, 0x40, 3, 0x48, 1, 0x68, 9, 0x70, 9, 0x78, 3};
        memcpy(inc + n, rest, sizeof rest);
        n += sizeof rest;
        /* offender_tokens (field 20, wire type 2): tag 0xa2 0x01 */
        uint8_t tok[64];
        size_t tn = 0;
        tok[tn++] = 0x0a;
        tok[tn++] = 5;
        memcpy(tok + tn, "phone", 5);
        tn += 5;
        tok[tn++] = 0x1a;
        tok[tn++] = (uint8_t)tlen;
        memset(tok + tn, 0x42, (size_t)tlen);
        tn += (size_t)tlen;
        inc[n++] = 0xa2;
        inc[n++] = 0x01;
        inc[n++] = (uint8_t)tn;
        memcpy(inc + n, tok, tn);
        n += tn;
        /* Envelope{submit(1){batch_id(1)=1, incidents(2)=inc}} */
        size_t e = 0;
        env[e++] = 0x0a;
        env[e++] = (uint8_t)(n + 4);
        env[e++] = 0x08;
        env[e++] = 0x01;
        env[e++] = 0x12;
        env[e++] = (uint8_t)n;
        memcpy(env + e, inc, n);
        e += n;
        tsr_msg_t d;
        tsr_error_t err;
        tsr_error_clear(&err);
        assert_int_equal(tsr_wire_decode(&d, env, e, NULL, &err), 0);
        assert_int_equal(d.u.submit.n_incidents, 1);
        assert_int_equal(d.u.submit.incident_verdicts[0].reason, 3);
        char want[64];
        snprintf(want, sizeof want, "offender_tokens[0]: %d bytes, expected 32", tlen);
        assert_string_equal(d.u.submit.incident_verdicts[0].detail, want);
        tsr_msg_clear(&d);
    }
}

static void test_one_bad_record_keeps_the_rest(void **state)
{
    (void)state;
    static tsr_incident_t incs[3];
    for (int i = 0; i < 3; i++)
        s_incident(&incs[i], (uint8_t)(i + 1));
    incs[1].age_band = 42;
    tsr_msg_t m = {.kind = TSR_MSG_SUBMIT};
    m.u.submit = (tsr_batch_t){.batch_id = 5, .incidents = incs, .n_incidents = 3};
    uint8_t *buf;
    size_t len;
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    tsr_msg_t d;
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, NULL), 0);
    free(buf);
    assert_int_equal(d.u.submit.incident_verdicts[0].reason, 0);
    assert_int_equal(d.u.submit.incident_verdicts[1].reason, 1);
    assert_string_equal(d.u.submit.incident_verdicts[1].detail, "age_band: unknown value 42");
    assert_int_equal(d.u.submit.incident_verdicts[2].reason, 0);
    assert_memory_equal(&d.u.submit.incidents[2], &incs[2], sizeof incs[2]);
    tsr_msg_clear(&d);
}

static void test_envelope_limits(void **state)
{
    (void)state;
    tsr_wire_limits_t lim;
    tsr_wire_limits_default(&lim);
    lim.max_incidents = 2;
    lim.max_list = 1;
    static tsr_incident_t incs[3];
    for (int i = 0; i < 3; i++)
        s_incident(&incs[i], (uint8_t)(i + 1));
    tsr_msg_t m = {.kind = TSR_MSG_SUBMIT};
    m.u.submit = (tsr_batch_t){.batch_id = 5, .incidents = incs, .n_incidents = 3};
    uint8_t *buf;
    size_t len;
    tsr_msg_t d;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    assert_int_equal(tsr_wire_decode(&d, buf, len, &lim, &err), TSR_EPROTO);
    assert_string_equal(err.reason, "batch of 3 incidents is over the limit of 2");
    assert_int_equal(d.kind, TSR_MSG_NONE);
    /* within the count, a list longer than max_list rejects that record */
    lim.max_incidents = 3;
    assert_int_equal(tsr_wire_decode(&d, buf, len, &lim, &err), 0);
    assert_string_equal(d.u.submit.incident_verdicts[0].detail,
                        "contact_platforms: 2 entries, at most 1");
    tsr_msg_clear(&d);
    lim.max_frame = len - 1;
    assert_int_equal(tsr_wire_decode(&d, buf, len, &lim, &err), TSR_EPROTO);
    assert_non_null(strstr(err.reason, "over the"));
    free(buf);
    /* an envelope with no body */
    assert_int_equal(tsr_wire_decode(&d, (const uint8_t *)"", 0, NULL, &err), TSR_EPROTO);
    assert_string_equal(err.reason, "envelope has no body");
}

static void test_junk_never_crashes(void **state)
{
    (void)state;
    static tsr_incident_t incs[4];
    for (int i = 0; i < 4; i++)
        s_incident(&incs[i], (uint8_t)(i + 1));
    tsr_msg_t m = {.kind = TSR_MSG_SUBMIT};
    m.u.submit = (tsr_batch_t){.batch_id = 5, .incidents = incs, .n_incidents = 4};
    uint8_t *good;
    size_t len;
    assert_int_equal(tsr_wire_encode(&m, &good, &len), 0);
    srand(12345);
    uint8_t buf[4096];
    int refused = 0;
    for (int i = 0; i < 10000; i++) {
        size_t n;
        if (i % 2) { /* random bytes */
            n = (size_t)rand() % sizeof buf;
            for (size_t k = 0; k < n; k++)
                buf[k] = (uint8_t)rand();
        } else { /* a valid frame truncated or with a flipped byte */
            n = (size_t)rand() % len;
            memcpy(buf, good, n);
            if (n && i % 4 == 0)
                buf[rand() % n] ^= (uint8_t)(1 + rand() % 255);
        }
        tsr_msg_t d;
        int rc = tsr_wire_decode(&d, buf, n, NULL, NULL);
        refused += rc != 0;
        tsr_msg_clear(&d);
    }
    assert_true(refused > 5000);
    free(good);
}

/* Encodes m, decodes it into d (which the caller clears). */
static void s_roundtrip(const tsr_msg_t *m, tsr_msg_t *d)
{
    uint8_t *buf;
    size_t len;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_wire_encode(m, &buf, &len), 0);
    if (tsr_wire_decode(d, buf, len, NULL, &err) != 0)
        fail_msg("decode: %s: %s", err.field, err.reason);
    free(buf);
    assert_int_equal(d->kind, m->kind);
}

static void test_queries_and_results_roundtrip(void **state)
{
    (void)state;
    tsr_msg_t m = {.kind = TSR_MSG_QUERY}, d;
    /* trends */
    tsr_query_t *q = &m.u.query;
    q->request_id = 3;
    q->kind = TSR_QUERY_TRENDS;
    q->by[0] = 1; /* area */
    q->by[1] = 3; /* week */
    q->n_by = 2;
    q->filters[0] = (tsr_filter_t){2, "E12000003"};
    q->filters[1] = (tsr_filter_t){8, "instagram"};
    q->n_filters = 2;
    q->since_day = 20000;
    q->until_day = 20400;
    s_roundtrip(&m, &d);
    assert_memory_equal(&d.u.query, q, sizeof *q);
    tsr_msg_clear(&d);
    /* cluster */
    memset(q, 0, sizeof *q);
    q->kind = TSR_QUERY_CLUSTER;
    q->cluster_id = 0xabcdef;
    s_roundtrip(&m, &d);
    assert_int_equal(d.u.query.kind, TSR_QUERY_CLUSTER);
    assert_int_equal(d.u.query.cluster_id, 0xabcdef);
    tsr_msg_clear(&d);
    /* lookup: tokens only, never a value */
    tsr_token_t toks[2] = {{"phone", 9, {0}}, {"bank:uk", 9, {0}}};
    memset(toks[0].token, 0x31, TSR_TOKEN_LEN);
    memset(toks[1].token, 0x32, TSR_TOKEN_LEN);
    memset(q, 0, sizeof *q);
    q->kind = TSR_QUERY_LOOKUP;
    q->tokens = toks;
    q->n_tokens = 2;
    s_roundtrip(&m, &d);
    assert_int_equal(d.u.query.n_tokens, 2);
    assert_memory_equal(d.u.query.tokens, toks, sizeof toks);
    tsr_msg_clear(&d);
    /* a lookup token of an unknown kind refuses the query */
    snprintf(toks[1].kind, TSR_KIND_MAX, "name");
    uint8_t *buf;
    size_t len;
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, NULL), TSR_EPROTO);
    free(buf);

    /* trends result: suppressed cells carry no count */
    tsr_trend_cell_t cells[2] = {{{"E08000035", "2026-10-05"}, 2, false, false, 12},
                                 {{"E08000032", "2026-10-05"}, 2, true, true, 7}};
    m = (tsr_msg_t){.kind = TSR_MSG_RESPONSE};
    tsr_response_t *r = &m.u.response;
    r->status = TSR_QSTATUS_OK;
    r->kind = TSR_QUERY_TRENDS;
    r->k = 5;
    r->cells = cells;
    r->n_cells = 2;
    s_roundtrip(&m, &d);
    assert_int_equal(d.u.response.k, 5);
    assert_int_equal(d.u.response.n_cells, 2);
    assert_memory_equal(&d.u.response.cells[0], &cells[0], sizeof cells[0]);
    /* a suppressed cell's count never travels, even when the caller set one */
    assert_true(d.u.response.cells[1].suppressed);
    assert_true(d.u.response.cells[1].protective);
    assert_int_equal(d.u.response.cells[1].count, 0);
    assert_string_equal(d.u.response.cells[1].keys[0], "E08000032");
    tsr_msg_clear(&d);

    /* cluster detail */
    tsr_cluster_record_t recs[1] = {{.agency_id = "leeds-cs-01", .area_code = "E08000035",
                                     .reported_day = 20366, .age_band = 3,
                                     .contact_platforms = 1u << 1, .demands = 1u << 1 | 1u << 3,
                                     .tactics = 1u << 10, .token_kinds = {"phone", "bank:uk"},
                                     .n_token_kinds = 2}};
    memset(recs[0].record_id, 0x77, TSR_RECORD_ID_LEN);
    m = (tsr_msg_t){.kind = TSR_MSG_RESPONSE};
    r->status = TSR_QSTATUS_OK;
    r->kind = TSR_QUERY_CLUSTER;
    r->cluster_id = 42;
    r->records = recs;
    r->n_records = 1;
    s_roundtrip(&m, &d);
    assert_int_equal(d.u.response.cluster_id, 42);
    assert_memory_equal(d.u.response.records, recs, sizeof recs);
    tsr_msg_clear(&d);

    /* lookup result */
    tsr_area_code_t areas[2] = {"E08000035", "E08000032"};
    tsr_name_t agencies[1] = {"leeds-cs-01"};
    tsr_record_id_t rids[2];
    memset(rids, 0x19, sizeof rids);
    m = (tsr_msg_t){.kind = TSR_MSG_RESPONSE};
    *r = (tsr_response_t){.status = TSR_QSTATUS_OK, .kind = TSR_QUERY_LOOKUP, .known = true,
                          .cluster_id = 42, .cluster_records = 2, .areas = areas, .n_areas = 2,
                          .agencies = agencies, .n_agencies = 1, .record_ids = rids,
                          .n_record_ids = 2, .first_day = 20360, .last_day = 20370};
    s_roundtrip(&m, &d);
    assert_true(d.u.response.known);
    assert_int_equal(d.u.response.cluster_records, 2);
    assert_memory_equal(d.u.response.areas, areas, sizeof areas);
    assert_memory_equal(d.u.response.agencies, agencies, sizeof agencies);
    assert_memory_equal(d.u.response.record_ids, rids, sizeof rids);
    assert_int_equal(d.u.response.last_day, 20370);
    tsr_msg_clear(&d);

    /* audit list */
    tsr_audit_entry_t au[1] = {{1700000000, "yh-analyst-1", "analyst", "trends by=area", 14}};
    m = (tsr_msg_t){.kind = TSR_MSG_RESPONSE};
    *r = (tsr_response_t){.status = TSR_QSTATUS_OK, .kind = TSR_QUERY_AUDIT, .audit = au,
                          .n_audit = 1};
    s_roundtrip(&m, &d);
    assert_memory_equal(d.u.response.audit, au, sizeof au);
    tsr_msg_clear(&d);
}

static void test_full_alert_roundtrip(void **state)
{
    (void)state;
    tsr_area_code_t areas[3] = {"E08000035", "E08000032", "E06000014"};
    tsr_name_t agencies[2] = {"leeds-cs-01", "bradford-school-07"};
    tsr_name_t kinds[2] = {"handle:instagram", "bank:uk"};
    tsr_record_id_t rids[3];
    memset(rids, 0x44, sizeof rids);
    tsr_msg_t m = {.kind = TSR_MSG_ALERT}, d;
    m.u.alert = (tsr_alert_t){.seq = 7, .kind = 1, .created_at = 1700000000,
                              .summary = "cluster 42 spans 3 areas", .cluster_id = 42,
                              .trigger = "spans 3 areas", .areas = areas, .n_areas = 3,
                              .agencies = agencies, .n_agencies = 2, .record_ids = rids,
                              .n_record_ids = 3, .token_kinds = kinds, .n_token_kinds = 2,
                              .first_day = 20360, .last_day = 20375,
                              .series = "region:E12000003", .method = "c2", .period_day = 20370,
                              .observed = 9, .expected = 2.5, .upperbound = 6.25};
    s_roundtrip(&m, &d);
    tsr_alert_t *a = &d.u.alert;
    assert_int_equal(a->seq, 7);
    assert_string_equal(a->trigger, "spans 3 areas");
    assert_int_equal(a->n_areas, 3);
    assert_memory_equal(a->areas, areas, sizeof areas);
    assert_memory_equal(a->agencies, agencies, sizeof agencies);
    assert_memory_equal(a->record_ids, rids, sizeof rids);
    assert_memory_equal(a->token_kinds, kinds, sizeof kinds);
    assert_string_equal(a->series, "region:E12000003");
    assert_string_equal(a->method, "c2");
    assert_int_equal(a->observed, 9);
    assert_true(a->expected == 2.5 && a->upperbound == 6.25);
    tsr_msg_clear(&d);
}

/* --- hostile sizes (issue 15) --- */

/* An Envelope of hand-made SubmitBatch bytes (hostile_frame.h) in a
 * buffer of cap bytes. */
static uint8_t *s_hostile_batch(size_t cap, uint64_t batch_id, size_t n_inc, size_t tokens,
                                size_t *len)
{
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    *len = tsr_frame_empty_batch(buf, cap, batch_id, n_inc, tokens);
    assert_true(*len > 0);
    return buf;
}

static long s_peak_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_hostile_batch_bounded_memory(void **state)
{
    (void)state;
    tsr_wire_limits_t lim;
    tsr_wire_limits_default(&lim);
    /* 4 MiB of empty incidents: 2,097,148 of them, 567 MiB to unpack before */
    size_t len;
    size_t n_inc = ((4u << 20) - 16) / 2;
    uint8_t *buf = s_hostile_batch(4u << 20, 4242, n_inc, 0, &len);
    assert_true(len <= lim.max_frame);
    tsr_wire_peek_t pk;
    assert_int_equal(tsr_wire_peek(&pk, buf, len), 0);
    assert_int_equal(pk.kind, TSR_MSG_SUBMIT);
    assert_true(pk.has_batch_id);
    assert_int_equal(pk.batch_id, 4242);
    assert_int_equal(pk.n_incidents, n_inc);
    long before = s_peak_kib();
    tsr_msg_t d;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_wire_decode(&d, buf, len, &lim, &err), TSR_EPROTO);
    char want[128];
    snprintf(want, sizeof want, "batch of %zu incidents is over the limit of 1000", n_inc);
    assert_string_equal(err.reason, want);
    assert_string_equal(err.field, "incidents");
    assert_int_equal(d.kind, TSR_MSG_NONE);
    free(buf);

    /* 1000 incidents (within the count) of 1,397 empty tokens each: the
     * budget refuses it before protobuf-c spends ~300 MiB on token structs */
    buf = s_hostile_batch(4u << 20, 4243, 1000, 1397, &len);
    assert_true(len <= lim.max_frame);
    tsr_error_clear(&err);
    assert_int_equal(tsr_wire_decode(&d, buf, len, &lim, &err), TSR_EPROTO);
    assert_non_null(strstr(err.reason, "needs more than"));
    assert_true(tsr_wire_budget(len, &lim) < 32u << 20);
    /* ru_maxrss is in KiB: both decodes together stayed far below the 567 MiB */
    assert_true(s_peak_kib() - before < 48 * 1024);
    /* a cut frame still gives its batch id */
    assert_int_equal(tsr_wire_peek(&pk, buf, 100), TSR_EPROTO);
    assert_true(pk.has_batch_id);
    assert_int_equal(pk.batch_id, 4243);
    free(buf);

    /* 1,500 valid-looking items: refused by count, with the reason */
    static tsr_incident_t incs[1500];
    for (size_t i = 0; i < 1500; i++)
        s_incident(&incs[i], (uint8_t)i);
    tsr_msg_t m = {.kind = TSR_MSG_SUBMIT};
    m.u.submit = (tsr_batch_t){.batch_id = 15, .incidents = incs, .n_incidents = 1500};
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    tsr_error_clear(&err);
    assert_int_equal(tsr_wire_decode(&d, buf, len, &lim, &err), TSR_EPROTO);
    assert_string_equal(err.reason, "batch of 1500 incidents is over the limit of 1000");
    assert_int_equal(tsr_wire_peek(&pk, buf, len), 0);
    assert_int_equal(pk.batch_id, 15);
    free(buf);
    /* ...and 1000 of them are fine: the budget holds every valid batch */
    m.u.submit.n_incidents = 1000;
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    assert_int_equal(tsr_wire_decode(&d, buf, len, &lim, &err), 0);
    assert_int_equal(d.u.submit.n_incidents, 1000);
    tsr_msg_clear(&d);
    free(buf);
}

static void test_malformed_ack_carries_why(void **state)
{
    (void)state;
    tsr_msg_t m = {.kind = TSR_MSG_ACK}, d;
    m.u.ack.batch_id = 9;
    m.u.ack.status = TSR_ACK_MALFORMED;
    snprintf(m.u.ack.error, sizeof m.u.ack.error, "incidents: batch of 1500 incidents is over");
    uint8_t *buf;
    size_t len;
    assert_int_equal(tsr_wire_encode(&m, &buf, &len), 0);
    assert_int_equal(tsr_wire_decode(&d, buf, len, NULL, NULL), 0);
    free(buf);
    assert_int_equal(d.u.ack.status, TSR_ACK_MALFORMED);
    assert_string_equal(d.u.ack.error, m.u.ack.error);
    tsr_msg_clear(&d);
}

static void test_codes_agree_with_proto(void **state)
{
    (void)state;
    tsr_error_t err;
    tsr_error_clear(&err);
    if (tsr_wire_check_codes(&err) != 0)
        fail_msg("%s: %s", err.field, err.reason);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_roundtrip),
        cmocka_unit_test(test_ack_query_response_alert_roundtrip),
        cmocka_unit_test(test_record_rejections),
        cmocka_unit_test(test_bad_lengths_per_record),
        cmocka_unit_test(test_one_bad_record_keeps_the_rest),
        cmocka_unit_test(test_envelope_limits),
        cmocka_unit_test(test_junk_never_crashes),
        cmocka_unit_test(test_queries_and_results_roundtrip),
        cmocka_unit_test(test_full_alert_roundtrip),
        cmocka_unit_test(test_codes_agree_with_proto),
        cmocka_unit_test(test_hostile_batch_bounded_memory),
        cmocka_unit_test(test_malformed_ack_carries_why),
    };
    return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
