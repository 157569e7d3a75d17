/* fair.h - each peer's share of a group commit (issue 15, "a fair share for
 * every peer").
 *
 * The collector reads the batches waiting on its ingest socket into a queue
 * (at most [ingest] max_batches of them) and logs a group of them in one
 * transaction. Before, the group was simply everything read, so one peer
 * that pipelines big batches filled every commit, and an agent's Ack waited
 * for the whole of it. tsr_fair_select() chooses the group instead:
 *
 *  1. every peer with a batch waiting has its oldest batch in the commit
 *     (an agent sends one batch and waits for its Ack: it is never left
 *     for a later commit);
 *  2. then, round-robin over the peers in the order their oldest batch
 *     arrived, one batch per peer per pass, oldest first, while the peer
 *     holds fewer than ceil(max_batches / P) batches and its items stay
 *     within ceil(max_items / P), and the commit stays within max_batches
 *     batches and max_items items (P = peers with a batch waiting);
 *  3. what is left stays queued, in order, for the next commit (a
 *     "deferral"), where it is chosen the same way.
 *
 * A peer's own batches are never reordered. Pure function: no I/O, no
 * clock, so tests/unit/test_fair.c checks exact selections.
 */
#ifndef TESSERA_FAIR_H
#define TESSERA_FAIR_H

#include <stdbool.h>
#include <stddef.h>

/* One queued batch. */
typedef struct tsr_fair_batch {
    const char *peer; /* in: the sending peer (equal strings: the same peer) */
    size_t n_items;   /* in: incidents + retractions */
    bool take;        /* out: in this commit */
} tsr_fair_batch_t;

/* Chooses the batches of q[0..n) (oldest first) that go into the next
 * commit, setting each one's take. max_batches and max_items are at least
 * 1. Returns how many were chosen (at least one when n > 0); *left = how
 * many stay queued. Allocates scratch memory; if that fails it chooses the
 * oldest batches within the limits, in order (never none). */
size_t tsr_fair_select(tsr_fair_batch_t *q, size_t n, size_t max_batches, size_t max_items,
                       size_t *left);

#endif
