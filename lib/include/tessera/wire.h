/* wire.h - the one module that speaks proto/tessera.proto.
 *
 * Everything else works on these plain C structs; only lib/wire*.c include
 * the generated protobuf-c header (STYLE rule 5). The decoder trusts nothing:
 * envelope-level problems fail the whole message (TSR_EPROTO), while a bad
 * record inside a SubmitBatch only marks that record (its verdict), so the
 * rest of the batch is still stored (DESIGN section 5).
 *
 * Ownership: tsr_wire_decode() allocates the arrays inside *out; free them
 * with tsr_msg_clear(). tsr_wire_encode() allocates *buf; free() it.
 * Messages built by the caller for encoding own whatever the caller gave them.
 */
#ifndef TESSERA_WIRE_H
#define TESSERA_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/netkeys.h"
#include "tessera/record.h"

struct tsr_error;

typedef struct tsr_wire_limits {
    size_t max_frame;       /* bytes (default 4 MiB) */
    size_t max_incidents;   /* per batch (1000) */
    size_t max_retractions; /* per batch (1000) */
    size_t max_list;        /* entries of one repeated code field (32) */
    size_t max_items;       /* counters, alerts, rejections per message (10000) */
    int32_t min_day;        /* earliest day (1999-12-27: the ISO-week Monday of 2000-01-01) */
    int32_t max_day;        /* latest day; 0 = today + 1 when decoding */
} tsr_wire_limits_t;

void tsr_wire_limits_default(tsr_wire_limits_t *lim);

/* Equal to the wire enums. */
enum { TSR_ACK_OK = 1, TSR_ACK_RETRY_LATER = 2, TSR_ACK_DENIED = 3, TSR_ACK_MALFORMED = 4 };
enum {
    TSR_QUERY_STATS = 1,   /* no parameters */
    TSR_QUERY_ALERTS = 2,  /* since_seq, max */
    TSR_QUERY_AUDIT = 3,   /* since_time, id, max */
    TSR_QUERY_TRENDS = 4,  /* by, filters, since_day, until_day */
    TSR_QUERY_CLUSTER = 5, /* cluster_id */
    TSR_QUERY_LOOKUP = 6,  /* tokens */
    TSR_QUERY_PURGE = 7,   /* before_day (admin); answered with counters */
};
enum {
    TSR_QSTATUS_OK = 1,
    TSR_QSTATUS_DENIED = 2,
    TSR_QSTATUS_BAD_REQUEST = 3,
    TSR_QSTATUS_NOT_FOUND = 4,
    TSR_QSTATUS_ERROR = 5,
    TSR_QSTATUS_WRONG_NETWORK_KEY = 6, /* a lookup under a key not accepted (network_keys) */
    TSR_QSTATUS_RATE_LIMITED = 7, /* retry_after_ms says when to ask again */
};

/* Why a record was refused (reason = wire RejectReason; 0 = valid). */
typedef struct tsr_wire_verdict {
    int reason;
    char detail[128];
} tsr_wire_verdict_t;

typedef struct tsr_retraction {
    uint8_t record_id[TSR_RECORD_ID_LEN];
    uint32_t version;
    char agency_id[TSR_AGENCY_ID_MAX]; /* relays only, as tsr_incident_t.agency_id */
} tsr_retraction_t;

/* Equal to the wire enum ForwardMode (federation). */
enum { TSR_FORWARD_RECORDS = 1, TSR_FORWARD_LINKAGE = 2 };

typedef struct tsr_batch {
    uint64_t batch_id;
    int forward; /* a relay's TSR_FORWARD_*; 0 from an agent */
    tsr_incident_t *incidents;
    tsr_wire_verdict_t *incident_verdicts;   /* decode only; NULL when encoding */
    size_t n_incidents;
    tsr_retraction_t *retractions;
    tsr_wire_verdict_t *retraction_verdicts; /* decode only */
    size_t n_retractions;
} tsr_batch_t;

typedef struct tsr_rejection {
    uint32_t index;
    bool retraction;
    int reason;
    char detail[128];
} tsr_rejection_t;

typedef struct tsr_ack {
    uint64_t batch_id;
    int status; /* TSR_ACK_* */
    uint32_t accepted, duplicates, replaced, retracted;
    tsr_rejection_t *rejections;
    size_t n_rejections;
    char error[256]; /* MALFORMED, DENIED: why the batch as a whole was refused */
    tsr_netkeys_t network_keys; /* accepted today; n = 0: none pinned yet (or an older
                                 * collector) */
    int32_t retention_months;   /* the collector's retention; 0: not said (older collector) */
} tsr_ack_t;

#define TSR_TRENDS_MAX_BY 2
#define TSR_QUERY_MAX_FILTERS 16

typedef struct tsr_filter {
    int dimension; /* wire enum Dimension */
    char value[64];
} tsr_filter_t;

typedef struct tsr_query {
    uint64_t request_id;
    int kind; /* TSR_QUERY_* */
    uint64_t since_seq;          /* alerts */
    int alert_kind;              /* alerts: 0 = all the role may see, else TSR_ALERT_* */
    int64_t since_time;          /* audit */
    char id[64];                 /* audit */
    uint32_t max;                /* alerts, audit */
    uint64_t cluster_id;         /* cluster */
    int32_t before_day;          /* purge; 0 = the configured retention */
    int by[TSR_TRENDS_MAX_BY];   /* trends: wire enum Dimension */
    size_t n_by;
    tsr_filter_t filters[TSR_QUERY_MAX_FILTERS];
    size_t n_filters;
    int32_t since_day, until_day; /* trends; 0 = no bound */
    tsr_token_t *tokens;         /* lookup; decode allocates */
    size_t n_tokens;
} tsr_query_t;

typedef struct tsr_counter {
    char name[96];
    uint64_t value;
} tsr_counter_t;

typedef char tsr_area_code_t[TSR_AREA_CODE_MAX];
typedef char tsr_name_t[64];
typedef uint8_t tsr_record_id_t[TSR_RECORD_ID_LEN];

/* Equal to the wire enum AlertKind. */
enum { TSR_ALERT_LINKAGE = 1, TSR_ALERT_SPIKE = 2, TSR_ALERT_CROSS_AREA = 3 };

typedef struct tsr_alert {
    uint64_t seq;
    int kind; /* 1 linkage, 2 spike, 3 cross-area */
    int64_t created_at;
    char summary[512];
    /* linkage */
    uint64_t cluster_id;
    char trigger[384];
    tsr_area_code_t *areas;
    size_t n_areas;
    tsr_name_t *agencies;
    size_t n_agencies;
    tsr_record_id_t *record_ids;
    size_t n_record_ids;
    tsr_name_t *token_kinds;
    size_t n_token_kinds;
    int32_t first_day, last_day;
    /* spike */
    char series[128];
    char method[16];
    int32_t period_day;
    uint64_t observed;
    double expected, upperbound;
    bool observed_suppressed; /* analysts: observed below k, not sent */
} tsr_alert_t;

/* Frees the arrays of an alert that tsr_wire_decode() filled. */
void tsr_alert_clear(tsr_alert_t *a);

typedef struct tsr_trend_cell {
    tsr_name_t keys[TSR_TRENDS_MAX_BY];
    size_t n_keys;
    bool suppressed;
    bool protective; /* suppressed to protect another cell: k or more, shown "x" */
    uint64_t count;  /* 0 when suppressed */
} tsr_trend_cell_t;

typedef struct tsr_cluster_record {
    uint8_t record_id[TSR_RECORD_ID_LEN];
    char agency_id[64];
    char area_code[TSR_AREA_CODE_MAX];
    int32_t reported_day;
    int age_band;
    uint32_t contact_platforms, demands, tactics; /* bitmasks */
    tsr_name_t token_kinds[8];
    size_t n_token_kinds;
} tsr_cluster_record_t;

typedef struct tsr_audit_entry {
    int64_t time;
    char id[64];
    char role[16];
    char request[256];
    uint64_t result_size;
} tsr_audit_entry_t;

typedef struct tsr_response {
    uint64_t request_id;
    int status; /* TSR_QSTATUS_* */
    char error[256];
    uint32_t retry_after_ms; /* TSR_QSTATUS_RATE_LIMITED: ask again after this */
    int kind;   /* TSR_QUERY_* the result answers; 0 = none */
    tsr_counter_t *counters; /* TSR_QUERY_STATS */
    size_t n_counters;
    tsr_alert_t *alerts;     /* TSR_QUERY_ALERTS */
    size_t n_alerts;
    uint64_t last_seq;
    uint32_t k;              /* TSR_QUERY_TRENDS: no released count is in 1..k-1 */
    uint32_t max_deviation;  /* TSR_QUERY_TRENDS: |released - true| <= this */
    double variance;         /* TSR_QUERY_TRENDS: perturbation variance (count >= k) */
    tsr_trend_cell_t *cells;
    size_t n_cells;
    uint64_t cluster_id;     /* TSR_QUERY_CLUSTER and TSR_QUERY_LOOKUP */
    tsr_cluster_record_t *records; /* TSR_QUERY_CLUSTER */
    size_t n_records;
    bool known;              /* TSR_QUERY_LOOKUP */
    uint32_t cluster_records;
    tsr_area_code_t *areas;
    size_t n_areas;
    tsr_name_t *agencies;
    size_t n_agencies;
    tsr_record_id_t *record_ids;
    size_t n_record_ids;
    int32_t first_day, last_day;
    tsr_audit_entry_t *audit; /* TSR_QUERY_AUDIT */
    size_t n_audit;
    tsr_netkeys_t network_keys; /* TSR_QSTATUS_WRONG_NETWORK_KEY: the keys accepted */
} tsr_response_t;

typedef enum {
    TSR_MSG_NONE = 0,
    TSR_MSG_SUBMIT,
    TSR_MSG_ACK,
    TSR_MSG_QUERY,
    TSR_MSG_RESPONSE,
    TSR_MSG_ALERT,
    TSR_MSG_HEARTBEAT, /* alert stream: u.last_seq */
} tsr_msg_kind_t;

typedef struct tsr_msg {
    tsr_msg_kind_t kind;
    union {
        tsr_batch_t submit;
        tsr_ack_t ack;
        tsr_query_t query;
        tsr_response_t response;
        tsr_alert_t alert;
        uint64_t last_seq;
    } u;
} tsr_msg_t;

/* Encodes m as one Envelope. The encoder does not validate: it writes what
 * it is given (so tests can craft bad input). Returns 0, TSR_ENOMEM or
 * TSR_EINVAL (unknown kind). */
int tsr_wire_encode(const tsr_msg_t *m, uint8_t **buf, size_t *len);

/* Decodes one Envelope into out (cleared first). Returns 0, or TSR_EPROTO
 * with err saying why the message as a whole is refused. Memory is bounded
 * before it is spent: a SubmitBatch with more incidents or retractions than
 * lim allows is refused from a scan of its tags ("batch of N incidents is
 * over the limit of M"), and protobuf-c unpacks within tsr_wire_budget(). For a SubmitBatch,
 * check each incident_verdicts[i] / retraction_verdicts[i]. lim may be NULL
 * for the defaults. */
int tsr_wire_decode(tsr_msg_t *out, const uint8_t *buf, size_t len, const tsr_wire_limits_t *lim,
                    struct tsr_error *err);

/* What a frame says it is, read from its outer fields without decoding it:
 * no allocation, time linear in len. The collector uses it to refuse a body
 * the peer's role may not send before spending a decode on it, and to find
 * the batch id of a batch it cannot decode, so its sender gets an Ack. */
typedef struct tsr_wire_peek {
    tsr_msg_kind_t kind;  /* the Envelope's body (the last one, as protobuf
                           * reads it); TSR_MSG_NONE when there is none */
    bool has_batch_id;    /* SubmitBatch: batch_id was found */
    uint64_t batch_id;
    size_t n_incidents;   /* SubmitBatch: entries of incidents[] and */
    size_t n_retractions; /* retractions[] on the wire */
} tsr_wire_peek_t;

/* Fills out from buf. Returns 0 when the tags and lengths of the Envelope
 * and of a SubmitBatch body are well formed, TSR_EPROTO otherwise; out holds
 * what could be read either way (a batch id before the damage is found). */
int tsr_wire_peek(tsr_wire_peek_t *out, const uint8_t *buf, size_t len);

/* Bytes tsr_wire_decode() lets protobuf-c allocate for a frame of len bytes
 * under lim: a small multiple of the frame plus a share for each item the
 * limits allow. A frame whose unpacking would need more is refused
 * (TSR_EPROTO) when the budget runs out, before the memory is spent. */
size_t tsr_wire_budget(size_t len, const tsr_wire_limits_t *lim);

/* Frees what tsr_wire_decode() allocated in m and zeroes it. */
void tsr_msg_clear(tsr_msg_t *m);

/* The per-record rules of the decoder, for the agent to apply before
 * sending. Returns 0 when valid; else the reason, with detail filled. */
int tsr_wire_check_incident(const tsr_incident_t *inc, const tsr_wire_limits_t *lim,
                            tsr_wire_verdict_t *verdict);

/* Whether id may be a relayed agency id (tsr_incident_t.agency_id): 1-63
 * characters of A-Z a-z 0-9 . _ - and '/'. */
bool tsr_wire_agency_id_valid(const char *id);

/* Trend dimensions (wire enum Dimension) <-> names: "area", "region",
 * "week", "month", "agency_type", "age_band", "gender", "contact_platform",
 * "moved_to_platform", "demand", "payment_method", "tactic", "risk",
 * "action", "paid", "amount_band". 0 / NULL when unknown. */
int tsr_dimension_parse(const char *name);
const char *tsr_dimension_name(int dim);

/* Checks that schemas/codes agree with the proto enums (names and numbers).
 * Returns 0 or TSR_EINVAL naming the first disagreement. */
int tsr_wire_check_codes(struct tsr_error *err);

#endif
