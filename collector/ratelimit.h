/* ratelimit.h - a token bucket per peer key for the query socket (issue 15,
 * "a fair share for every peer").
 *
 * Each key has a bucket of `burst` tokens, refilled at `per_minute` tokens
 * a minute; a query takes one, and a query that finds less than one is
 * refused (RATE_LIMITED) without taking any, so a peer that keeps asking
 * while refused still gets its tokens back at the same pace. Time is the
 * caller's monotonic clock in milliseconds, so tests need no sleeping.
 * Arithmetic is in whole units (1 token = 60,000 units, refilled at
 * per_minute units a millisecond): no rounding drift.
 *
 * Keys are only ever those of listed clients (the caller asks after the
 * ZAP handler has authenticated the peer), so the table is as large as the
 * client list at most; buckets that have refilled are dropped when it
 * grows.
 */
#ifndef TESSERA_RATELIMIT_H
#define TESSERA_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct tsr_ratelimit tsr_ratelimit_t;

/* A limiter of per_minute tokens a minute and buckets of burst tokens (both
 * at least 1) into *out; free with tsr_ratelimit_destroy. Returns 0 or
 * TSR_ENOMEM. */
int tsr_ratelimit_new(tsr_ratelimit_t **out, unsigned per_minute, unsigned burst);

/* Frees *self_p (NULL is fine) and sets it to NULL. */
void tsr_ratelimit_destroy(tsr_ratelimit_t **self_p);

/* Takes a token from key's bucket at now_ms. Returns 0 when one was taken
 * (answer the query), else the milliseconds until one will be there (at
 * least 1): refuse, and tell the peer to retry after that long. A new key
 * starts with a full bucket. Out of memory for a new key: 0 (the query is
 * answered; refusing it would punish the peer for the collector's state). */
int64_t tsr_ratelimit_take(tsr_ratelimit_t *r, const char *key, int64_t now_ms);

/* Keys with a bucket now (for tests). */
size_t tsr_ratelimit_size(const tsr_ratelimit_t *r);

#endif
