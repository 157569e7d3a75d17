/* wire_peek.c - bounds before unpacking: a scan of a frame's tags that
 * counts a SubmitBatch's records and finds its batch id without allocating,
 * and the budget protobuf-c unpacks under, so a frame over the limits is
 * refused before it costs memory (docs/RELIABILITY.md, "Bounded memory
 * before decoding"). */
#include "wire_int.h"

#include <stdlib.h>
#include <string.h>

/* --- the tags of a frame ---------------------------------------------------- */

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

/* --- what decoding may allocate --------------------------------------------- */

size_t tsr_wire_budget(size_t len, const tsr_wire_limits_t *lim)
{
    tsr_wire_limits_t def;
    lim = tsr_wire_limits_or_default(lim, &def);
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

static void *s_budget_alloc(void *data, size_t size)
{
    tsr_wire_alloc_t *b = data;
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

void tsr_wire_alloc_init(tsr_wire_alloc_t *a, size_t budget)
{
    *a = (tsr_wire_alloc_t){.pb = {s_budget_alloc, s_budget_free, a}, .budget = budget};
}

int tsr_wire_check_batch(size_t n_incidents, size_t n_retractions, const tsr_wire_limits_t *lim,
                         tsr_error_t *err)
{
    if (n_incidents > lim->max_incidents)
        return tsr_error_set(err, "incidents", "batch of %zu incidents is over the limit of %zu",
                             n_incidents, lim->max_incidents),
               TSR_EPROTO;
    if (n_retractions > lim->max_retractions)
        return tsr_error_set(err, "retractions",
                             "batch of %zu retractions is over the limit of %zu", n_retractions,
                             lim->max_retractions),
               TSR_EPROTO;
    return TSR_OK;
}

int tsr_wire_precheck(const uint8_t *buf, size_t len, const tsr_wire_limits_t *lim,
                      tsr_error_t *err)
{
    tsr_wire_peek_t pk;
    if (tsr_wire_peek(&pk, buf, len) != 0)
        return tsr_error_set(err, "", "not a Tessera envelope (bad tag or length)"), TSR_EPROTO;
    if (pk.kind != TSR_MSG_SUBMIT)
        return TSR_OK;
    return tsr_wire_check_batch(pk.n_incidents, pk.n_retractions, lim, err);
}
