/* budget.c - the per-analyst daily query budget (see budget.h). Each
 * analyst has a sorted array of 64-bit fingerprints (FNV-1a) of the
 * queries counted on one day; a budget of at most 100000 makes a lookup a
 * binary search and an insertion one memmove. */
#include "budget.h"
#include "bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/err.h"

typedef struct {
    char id[TSR_CLIENT_ID_MAX];
    int32_t day;
    uint64_t *fp; /* sorted */
    size_t n, cap;
} s_analyst_t;

struct tsr_budget {
    unsigned limit;
    s_analyst_t *v;
    size_t n, cap;
};

int tsr_budget_new(tsr_budget_t **out, unsigned limit)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return TSR_ENOMEM;
    (*out)->limit = limit;
    return 0;
}

void tsr_budget_destroy(tsr_budget_t **self_p)
{
    tsr_budget_t *b = *self_p;
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].fp);
    free(b->v);
    free(b);
    *self_p = NULL;
}

unsigned tsr_budget_limit(const tsr_budget_t *b)
{
    return b->limit;
}

bool tsr_budget_applies(tsr_role_t role, int kind)
{
    return role == TSR_ROLE_ANALYST && kind == TSR_QUERY_TRENDS;
}

/* FNV-1a, 64 bits: a collision would make one new query free, with odds
 * of about n^2 / 2^65 for n queries a day. */
uint64_t tsr_budget_fingerprint(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static s_analyst_t *s_find(const tsr_budget_t *b, const char *id)
{
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].id, id))
            return &b->v[i];
    return NULL;
}

/* Index of the first fingerprint >= h. */
static size_t s_lower(const s_analyst_t *a, uint64_t h)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->fp[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

unsigned tsr_budget_used(const tsr_budget_t *b, const char *id, int32_t day)
{
    const s_analyst_t *a = s_find(b, id);
    return a && a->day == day ? (unsigned)a->n : 0;
}

tsr_budget_verdict_t tsr_budget_check(const tsr_budget_t *b, const char *id, int32_t day,
                                      const char *request)
{
    const s_analyst_t *a = s_find(b, id);
    if (!a || a->day != day)
        return b->limit > 0 ? TSR_BUDGET_NEW : TSR_BUDGET_SPENT;
    uint64_t h = tsr_budget_fingerprint(request);
    size_t i = s_lower(a, h);
    if (i < a->n && a->fp[i] == h)
        return TSR_BUDGET_FREE;
    return a->n < b->limit ? TSR_BUDGET_NEW : TSR_BUDGET_SPENT;
}

int tsr_budget_note(tsr_budget_t *b, const char *id, int32_t day, const char *request)
{
    s_analyst_t *a = s_find(b, id);
    if (!a) {
        if (tsr_grow((void **)&b->v, &b->cap, b->n, sizeof *b->v) != 0)
            return TSR_ENOMEM;
        a = &b->v[b->n++];
        memset(a, 0, sizeof *a);
        snprintf(a->id, sizeof a->id, "%s", id);
        a->day = day;
    }
    if (a->day != day) {
        /* a new UTC day: yesterday's queries count no more (an entry
         * replayed out of order from an earlier day is dropped: the
         * replay only reads today's) */
        if (day < a->day)
            return 0;
        a->day = day;
        a->n = 0;
    }
    uint64_t h = tsr_budget_fingerprint(request);
    size_t i = s_lower(a, h);
    if (i < a->n && a->fp[i] == h)
        return 0;
    if (tsr_grow((void **)&a->fp, &a->cap, a->n, sizeof *a->fp) != 0)
        return TSR_ENOMEM;
    memmove(a->fp + i + 1, a->fp + i, (a->n - i) * sizeof *a->fp);
    a->fp[i] = h;
    a->n++;
    return 0;
}

int tsr_budget_replay(tsr_budget_t *b, const tsr_audit_entry_t *e)
{
    /* the collector's audit text of a trends query begins "trends " and
     * ends " -> STATUS" (collector/main.c, s_describe and s_query) */
    if (strcmp(e->role, tsr_role_name(TSR_ROLE_ANALYST)) != 0 || strncmp(e->request, "trends ", 7))
        return 0;
    const char *arrow = NULL;
    for (const char *p = strstr(e->request, " -> "); p; p = strstr(p + 1, " -> "))
        arrow = p;
    if (!arrow)
        return 0;
    const char *status = arrow + 4;
    if (!strcmp(status, "denied") || !strcmp(status, "error") || !strcmp(status, "rate limited"))
        return 0;
    char request[sizeof e->request];
    snprintf(request, sizeof request, "%.*s", (int)(arrow - e->request), e->request);
    return tsr_budget_note(b, e->id, (int32_t)(e->time / 86400), request);
}
