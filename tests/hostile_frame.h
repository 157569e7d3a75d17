/* hostile_frame.h - SubmitBatch frames written byte by byte, shaped as no
 * encoder would make them (millions of empty incidents, incidents of
 * thousands of empty tokens), for the tests of bounded decoding: the unit
 * test (tests/unit/test_wire.c) and the test client's `raw` command
 * (tests/integration/testclient.c, hostile.sh). Header only. */
#ifndef TSR_HOSTILE_FRAME_H
#define TSR_HOSTILE_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* A protobuf varint of v into p; returns its length (1 to 10). */
static inline size_t tsr_frame_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* Envelope{submit: SubmitBatch{batch_id, n_inc x Incident{tokens x empty
 * OffenderToken}}} into buf. Returns its length, or 0 when it would not fit
 * in cap bytes. */
static inline size_t tsr_frame_empty_batch(uint8_t *buf, size_t cap, uint64_t batch_id,
                                           size_t n_inc, size_t tokens)
{
    uint8_t tmp[10];
    size_t inc_len = 3 * tokens; /* field 20: key 0xa2 0x01, length 0 */
    size_t one = 1 + tsr_frame_varint(tmp, inc_len) + inc_len;
    size_t body = 1 + tsr_frame_varint(tmp, batch_id) + n_inc * one;
    if (1 + tsr_frame_varint(tmp, body) + body > cap)
        return 0;
    size_t n = 0;
    buf[n++] = 0x0a; /* Envelope.submit */
    n += tsr_frame_varint(buf + n, body);
    buf[n++] = 0x08; /* batch_id */
    n += tsr_frame_varint(buf + n, batch_id);
    for (size_t i = 0; i < n_inc; i++) {
        buf[n++] = 0x12; /* incidents */
        n += tsr_frame_varint(buf + n, inc_len);
        for (size_t t = 0; t < tokens; t++) {
            buf[n++] = 0xa2;
            buf[n++] = 0x01;
            buf[n++] = 0x00;
        }
    }
    return n;
}

#endif
