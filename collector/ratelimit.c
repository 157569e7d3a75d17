/* ratelimit.c - token buckets per peer key (see ratelimit.h): a small
 * array searched linearly, as the client list is small (tens to hundreds
 * of keys) and a query costs far more than the scan. */
#include "ratelimit.h"
#include "bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/err.h"

/* One token, in the units buckets are counted in. */
#define S_TOKEN 60000

typedef struct {
    char key[64];
    int64_t level; /* units at `at` */
    int64_t at;    /* ms */
} s_bucket_t;

struct tsr_ratelimit {
    int64_t per_minute; /* units refilled per ms */
    int64_t capacity;   /* units */
    s_bucket_t *v;
    size_t n, cap;
};

int tsr_ratelimit_new(tsr_ratelimit_t **out, unsigned per_minute, unsigned burst)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return TSR_ENOMEM;
    (*out)->per_minute = per_minute ? per_minute : 1;
    (*out)->capacity = (int64_t)(burst ? burst : 1) * S_TOKEN;
    return 0;
}

void tsr_ratelimit_destroy(tsr_ratelimit_t **self_p)
{
    tsr_ratelimit_t *r = *self_p;
    if (!r)
        return;
    free(r->v);
    free(r);
    *self_p = NULL;
}

size_t tsr_ratelimit_size(const tsr_ratelimit_t *r)
{
    return r->n;
}

/* The bucket's level at now: refilled since b->at, at most full. A clock
 * that went back refills nothing. */
static int64_t s_level(const tsr_ratelimit_t *r, const s_bucket_t *b, int64_t now_ms)
{
    int64_t elapsed = now_ms > b->at ? now_ms - b->at : 0;
    if (elapsed >= r->capacity / r->per_minute + 1)
        return r->capacity;
    int64_t level = b->level + elapsed * r->per_minute;
    return level < r->capacity ? level : r->capacity;
}

/* Drops the buckets that are full again: they are as good as absent. */
static void s_prune(tsr_ratelimit_t *r, int64_t now_ms)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->n; i++)
        if (s_level(r, &r->v[i], now_ms) < r->capacity)
            r->v[kept++] = r->v[i];
    r->n = kept;
}

int64_t tsr_ratelimit_take(tsr_ratelimit_t *r, const char *key, int64_t now_ms)
{
    s_bucket_t *b = NULL;
    for (size_t i = 0; i < r->n && !b; i++)
        if (!strncmp(r->v[i].key, key, sizeof r->v[i].key - 1))
            b = &r->v[i];
    if (!b) {
        if (r->n == r->cap)
            s_prune(r, now_ms);
        if (tsr_grow((void **)&r->v, &r->cap, r->n, sizeof *r->v) != 0)
            return 0;
        b = &r->v[r->n++];
        snprintf(b->key, sizeof b->key, "%s", key);
        b->level = r->capacity;
        b->at = now_ms;
    }
    int64_t level = s_level(r, b, now_ms);
    if (now_ms > b->at)
        b->at = now_ms;
    b->level = level;
    if (level >= S_TOKEN) {
        b->level -= S_TOKEN;
        return 0;
    }
    /* whole milliseconds until the bucket holds a token again */
    return (S_TOKEN - level + r->per_minute - 1) / r->per_minute;
}
