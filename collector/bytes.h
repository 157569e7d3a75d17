/* bytes.h - bounded little-endian writer/reader for the collector's stored
 * values (records, cluster summaries, audit entries). A write or read past
 * the end sets `bad` instead of overrunning; check it once at the end.
 * Also the hash of the collector's in-memory tables. */
#ifndef TESSERA_BYTES_H
#define TESSERA_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/err.h"

typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool bad;
} tsr_bytes_t;

static inline void tsr_bytes_put(tsr_bytes_t *b, const void *v, size_t n)
{
    if (b->bad || b->n + n > b->cap) {
        b->bad = true;
        return;
    }
    memcpy(b->p + b->n, v, n);
    b->n += n;
}

static inline void tsr_bytes_put_u8(tsr_bytes_t *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    tsr_bytes_put(b, &x, 1);
}

static inline void tsr_bytes_put_u32(tsr_bytes_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    tsr_bytes_put(b, x, 4);
}

static inline void tsr_bytes_put_u64(tsr_bytes_t *b, uint64_t v)
{
    tsr_bytes_put_u32(b, (uint32_t)v);
    tsr_bytes_put_u32(b, (uint32_t)(v >> 32));
}

/* A string as one length byte and its bytes (at most 255). */
static inline void tsr_bytes_put_str(tsr_bytes_t *b, const char *s)
{
    size_t n = strlen(s);
    if (n > 255) {
        b->bad = true;
        return;
    }
    tsr_bytes_put_u8(b, (unsigned)n);
    tsr_bytes_put(b, s, n);
}

static inline void tsr_bytes_get(tsr_bytes_t *b, void *v, size_t n)
{
    if (b->bad || b->n + n > b->cap) {
        b->bad = true;
        memset(v, 0, n);
        return;
    }
    memcpy(v, b->p + b->n, n);
    b->n += n;
}

static inline unsigned tsr_bytes_get_u8(tsr_bytes_t *b)
{
    uint8_t x;
    tsr_bytes_get(b, &x, 1);
    return x;
}

static inline uint32_t tsr_bytes_get_u32(tsr_bytes_t *b)
{
    uint8_t x[4];
    tsr_bytes_get(b, x, 4);
    return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

static inline uint64_t tsr_bytes_get_u64(tsr_bytes_t *b)
{
    uint64_t lo = tsr_bytes_get_u32(b);
    return lo | (uint64_t)tsr_bytes_get_u32(b) << 32;
}

/* Reads a string written by tsr_bytes_put_str into out (cap bytes, cut to
 * fit, always terminated). */
static inline void tsr_bytes_get_str(tsr_bytes_t *b, char *out, size_t cap)
{
    unsigned n = tsr_bytes_get_u8(b);
    char tmp[256];
    tsr_bytes_get(b, tmp, n);
    size_t keep = n < cap ? n : cap - 1;
    memcpy(out, tmp, keep);
    out[keep] = '\0';
}

/* Makes room for one more element in *arr (n used of *cap, elem bytes
 * each), doubling from 16. Returns 0 or TSR_ENOMEM. */
static inline int tsr_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return TSR_ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

/* Big-endian u64, for keys that must sort by number. */
static inline void tsr_bytes_be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static inline uint64_t tsr_bytes_from_be64(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

/* A day number (or a week's Monday) in a key: big-endian with the sign bit
 * flipped, so that the bytes sort like the days (INT32_MIN is 00 00 00 00). */
static inline void tsr_bytes_day(uint8_t out[4], int32_t day)
{
    uint32_t d = (uint32_t)day ^ 0x80000000u;
    for (int i = 3; i >= 0; i--, d >>= 8)
        out[i] = (uint8_t)d;
}

static inline int32_t tsr_bytes_from_day(const uint8_t in[4])
{
    uint32_t d = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
    return (int32_t)(d ^ 0x80000000u);
}

/* FNV-1a over n bytes, for in-memory hash tables keyed by what the collector
 * makes itself (series names). Not for keys a client chooses, such as record
 * ids: anyone can aim collisions at it. */
static inline uint64_t tsr_fnv1a(const void *p, size_t n)
{
    const uint8_t *k = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    return h;
}

#endif
