/* fair.c - each peer's share of a group commit (see fair.h). The queue is
 * sorted once by peer (a stable order: peer, then arrival) so a round is
 * O(n log n) for any number of peers; max_batches may be 10,000. */
#include "fair.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *peer;
    size_t at; /* position in the queue */
} s_entry_t;

typedef struct {
    size_t first;    /* queue position of its oldest batch */
    size_t cur, end; /* its batches still to choose from: entries[cur..end) */
    size_t batches, items;
    bool done; /* over its share: nothing more this commit */
} s_peer_t;

static int s_entry_cmp(const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    int c = strcmp(x->peer, y->peer);
    if (c)
        return c;
    return x->at < y->at ? -1 : x->at > y->at;
}

static int s_peer_cmp(const void *a, const void *b)
{
    const s_peer_t *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Without scratch memory: the oldest batches within the limits. */
static size_t s_in_order(tsr_fair_batch_t *q, size_t n, size_t max_batches, size_t max_items)
{
    size_t taken = 0, items = 0;
    for (size_t i = 0; i < n && taken < max_batches; i++) {
        if (taken > 0 && items + q[i].n_items > max_items)
            break;
        q[i].take = true;
        items += q[i].n_items;
        taken++;
    }
    return taken;
}

size_t tsr_fair_select(tsr_fair_batch_t *q, size_t n, size_t max_batches, size_t max_items,
                       size_t *left)
{
    *left = n;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        q[i].take = false;
    s_entry_t *e = malloc(n * sizeof *e);
    s_peer_t *p = malloc(n * sizeof *p);
    size_t taken = 0;
    if (!e || !p) {
        taken = s_in_order(q, n, max_batches, max_items);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        e[i] = (s_entry_t){q[i].peer, i};
    qsort(e, n, sizeof *e, s_entry_cmp);
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && !strcmp(e[i].peer, e[i - 1].peer)) {
            p[np - 1].end = i + 1;
            continue;
        }
        p[np++] = (s_peer_t){.first = e[i].at, .cur = i, .end = i + 1};
    }
    qsort(p, np, sizeof *p, s_peer_cmp);
    size_t share_b = (max_batches + np - 1) / np, share_i = (max_items + np - 1) / np;
    size_t total_b = 0, total_i = 0;
    for (bool progress = true; progress;) {
        progress = false;
        for (size_t k = 0; k < np; k++) {
            s_peer_t *pk = &p[k];
            if (pk->done || pk->cur == pk->end)
                continue;
            tsr_fair_batch_t *b = &q[e[pk->cur].at];
            /* a peer's oldest batch always goes in (rule 1 of fair.h) */
            bool fits =
                total_b < max_batches &&
                (pk->batches == 0 || (pk->batches < share_b && pk->items + b->n_items <= share_i &&
                                      total_i + b->n_items <= max_items));
            if (!fits) {
                pk->done = true; /* its order is kept: no later, smaller batch jumps ahead */
                continue;
            }
            b->take = true;
            pk->cur++;
            pk->batches++;
            pk->items += b->n_items;
            total_b++;
            total_i += b->n_items;
            taken++;
            progress = true;
        }
    }
out:
    free(e);
    free(p);
    *left = n - taken;
    return taken;
}
