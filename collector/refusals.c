/* refusals.c - aggregating repeated refusals for the audit log (see
 * refusals.h). One slot per peer and kind of refusal with an open window,
 * in an array searched linearly: only listed peers are refused this way,
 * and the kinds are a handful. */
#include "refusals.h"
#include "bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tessera/err.h"

typedef struct {
    char id[64];
    char role[16];
    char kind[64];
    int64_t opened;      /* the window's first refusal */
    unsigned single;     /* audited one by one in this window */
    uint64_t count;      /* counted into the aggregate */
    int64_t first, last; /* times of the first and last of them */
} s_slot_t;

struct tsr_refusals {
    unsigned per_window;
    int64_t window_s;
    s_slot_t *v;
    size_t n, cap;
    uint64_t aggregated, entries;
};

int tsr_refusals_new(tsr_refusals_t **out, unsigned per_window, int64_t window_s)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return TSR_ENOMEM;
    (*out)->per_window = per_window;
    (*out)->window_s = window_s > 0 ? window_s : 1;
    return 0;
}

void tsr_refusals_destroy(tsr_refusals_t **self_p)
{
    tsr_refusals_t *r = *self_p;
    if (!r)
        return;
    free(r->v);
    free(r);
    *self_p = NULL;
}

uint64_t tsr_refusals_aggregated(const tsr_refusals_t *r)
{
    return r->aggregated;
}

uint64_t tsr_refusals_entries(const tsr_refusals_t *r)
{
    return r->entries;
}

bool tsr_refusals_note(tsr_refusals_t *r, const char *id, const char *role, const char *kind,
                       int64_t now)
{
    s_slot_t *s = NULL;
    for (size_t i = 0; i < r->n && !s; i++)
        if (!strcmp(r->v[i].id, id) && !strcmp(r->v[i].kind, kind))
            s = &r->v[i];
    if (s && s->count == 0 && now >= s->opened + r->window_s) {
        s->opened = now; /* a window passed with nothing to aggregate: a new one */
        s->single = 0;
    }
    if (!s) {
        if (r->n == TSR_REFUSALS_MAX || tsr_grow((void **)&r->v, &r->cap, r->n, sizeof *r->v) != 0)
            return true;
        s = &r->v[r->n++];
        memset(s, 0, sizeof *s);
        snprintf(s->id, sizeof s->id, "%s", id);
        snprintf(s->role, sizeof s->role, "%s", role);
        snprintf(s->kind, sizeof s->kind, "%s", kind);
        s->opened = now;
    }
    if (s->single < r->per_window && s->count == 0) {
        s->single++;
        return true;
    }
    if (s->count == 0)
        s->first = now;
    s->count++;
    s->last = now;
    r->aggregated++;
    return false;
}

static const char *s_iso(char out[21], int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 21, "%lld", (long long)t);
    return out;
}

int tsr_refusals_flush(tsr_refusals_t *r, int64_t now, bool all,
                       int (*write)(void *ctx, const tsr_audit_entry_t *e), void *ctx)
{
    int out = 0;
    size_t kept = 0;
    for (size_t i = 0; i < r->n; i++) {
        s_slot_t *s = &r->v[i];
        bool due = all || now >= s->opened + r->window_s;
        if (due && s->count > 0) {
            tsr_audit_entry_t e = {.time = now, .result_size = 0};
            char t1[21], t2[21];
            snprintf(e.id, sizeof e.id, "%s", s->id);
            snprintf(e.role, sizeof e.role, "%s", s->role);
            snprintf(e.request, sizeof e.request, "%llu more refused \"%s\" from %s to %s",
                     (unsigned long long)s->count, s->kind, s_iso(t1, s->first),
                     s_iso(t2, s->last));
            int rc = write(ctx, &e);
            if (rc != 0) {
                if (out == 0)
                    out = rc;
                r->v[kept++] = *s; /* kept whole: tried again next time */
                continue;
            }
            r->entries++;
        }
        if (!due)
            r->v[kept++] = *s;
    }
    r->n = kept;
    return out;
}
