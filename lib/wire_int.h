/* wire_int.h - what the wire module's files share and nothing else
 * includes: the protobuf-c generated header (STYLE rule 5) and the helpers
 * more than one of them calls. wire.c: limits, the record checks, the
 * encode and decode dispatch, clearing; wire_encode.c: C structs to an
 * Envelope; wire_decode.c: an Envelope's bodies to C structs, every field
 * checked; wire_peek.c: the scan of a frame's tags and the allocation
 * budget that bound memory before unpacking. */
#ifndef TESSERA_WIRE_INT_H
#define TESSERA_WIRE_INT_H

#include "tessera/err.h"
#include "tessera/wire.h"

#include "tessera.pb-c.h"

/* lim, or the defaults written into *def when lim is NULL. */
/* (wire.c) */
const tsr_wire_limits_t *tsr_wire_limits_or_default(const tsr_wire_limits_t *lim,
                                                    tsr_wire_limits_t *def);

/* Sets v's reason and detail; returns reason. */
/* (wire.c) */
int tsr_wire_verdict_set(tsr_wire_verdict_t *v, int reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One message kind packed as an Envelope into a malloc'd *buf (the caller
 * frees it); TSR_ENOMEM when memory runs out. */
/* (wire_encode.c) */
int tsr_wire_encode_submit(const tsr_batch_t *b, uint8_t **buf, size_t *len);
int tsr_wire_encode_ack(const tsr_ack_t *a, uint8_t **buf, size_t *len);
int tsr_wire_encode_query(const tsr_query_t *q, uint8_t **buf, size_t *len);
int tsr_wire_encode_response(const tsr_response_t *r, uint8_t **buf, size_t *len);
int tsr_wire_encode_alert(const tsr_alert_t *a, uint8_t **buf, size_t *len);
int tsr_wire_encode_heartbeat(uint64_t last_seq, uint8_t **buf, size_t *len);

/* One body of an unpacked Envelope into its C struct, checked against lim:
 * TSR_EPROTO with err filled for what the message gets wrong (a bad record
 * in a batch only gets its verdict), TSR_ENOMEM. What they allocate is
 * freed by tsr_msg_clear(), also after a failure. */
/* (wire_decode.c) */
int tsr_wire_decode_submit(tsr_batch_t *b, const Tessera__V1__SubmitBatch *p,
                           const tsr_wire_limits_t *lim, tsr_error_t *err);
int tsr_wire_decode_ack(tsr_ack_t *a, const Tessera__V1__Ack *p, const tsr_wire_limits_t *lim,
                        tsr_error_t *err);
int tsr_wire_decode_query(tsr_query_t *q, const Tessera__V1__QueryRequest *p, tsr_error_t *err);
int tsr_wire_decode_response(tsr_response_t *r, const Tessera__V1__QueryResponse *p,
                             const tsr_wire_limits_t *lim, tsr_error_t *err);
int tsr_wire_decode_alert(tsr_alert_t *a, const Tessera__V1__Alert *p,
                          const tsr_wire_limits_t *lim, tsr_error_t *err);

/* TSR_EPROTO when a batch holds more incidents or retractions than lim
 * allows. */
/* (wire_peek.c) */
int tsr_wire_check_batch(size_t n_incidents, size_t n_retractions, const tsr_wire_limits_t *lim,
                         tsr_error_t *err);

/* Refuses a frame whose tags are malformed, or a SubmitBatch over the
 * limits, from its tags alone: before protobuf-c allocates anything. */
/* (wire_peek.c) */
int tsr_wire_precheck(const uint8_t *buf, size_t len, const tsr_wire_limits_t *lim,
                      tsr_error_t *err);

/* protobuf-c's allocator with a budget: counts what it hands out (freeing
 * does not give it back: unpacking only frees when it gives up) and says
 * no once the budget is spent, which makes the unpack fail cleanly. Hand
 * &pb to protobuf-c; over says the budget ran out. */
typedef struct tsr_wire_alloc {
    ProtobufCAllocator pb;
    size_t used, budget;
    bool over;
} tsr_wire_alloc_t;

/* (wire_peek.c) */
void tsr_wire_alloc_init(tsr_wire_alloc_t *a, size_t budget);

#endif
