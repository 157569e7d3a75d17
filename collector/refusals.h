/* refusals.h - refused queries in the audit log, without letting a peer
 * fill it (issue 15).
 *
 * Every refused query is still audited, but repeats are aggregated: per
 * peer and kind of refusal (e.g. "trends -> denied", "stats -> rate
 * limited"), the first `per_window` refusals of a window of `window_s`
 * seconds (the window opens at the first of them) are audited one by one,
 * as before; the rest are only counted, and when the window has passed one
 * entry stands for them all:
 *
 *     37 more refused "trends -> rate limited" from 2026-12-01T10:00:05Z
 *     to 2026-12-01T10:00:59Z
 *
 * So a peer adds at most per_window + 1 entries a window for each kind of
 * refusal, however fast it asks. The count of an aggregate still open when
 * the collector is killed is lost (a clean stop writes it): those queries
 * were refused before anything was read for them.
 *
 * Times are unix seconds given by the caller; tests need no clock.
 */
#ifndef TESSERA_REFUSALS_H
#define TESSERA_REFUSALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/wire.h"

typedef struct tsr_refusals tsr_refusals_t;

/* Most peer-and-kind pairs counted at once; past it a refusal is audited
 * on its own (fail open: never a refusal that leaves no trace). */
#define TSR_REFUSALS_MAX 4096

/* An aggregator auditing per_window refusals one by one per peer and kind
 * in each window of window_s (>= 1) seconds into *out; free with
 * tsr_refusals_destroy. Returns 0 or TSR_ENOMEM. */
int tsr_refusals_new(tsr_refusals_t **out, unsigned per_window, int64_t window_s);

/* Frees *self_p (NULL is fine) and sets it to NULL. Aggregates not flushed
 * are lost: flush with all = true first. */
void tsr_refusals_destroy(tsr_refusals_t **self_p);

/* Notes a refusal of kind (a short text, e.g. "trends -> denied") by the
 * peer id of role at now. Returns true when it is to be audited on its
 * own (the caller writes its entry), false when it was counted into the
 * aggregate written by a later tsr_refusals_flush. */
bool tsr_refusals_note(tsr_refusals_t *r, const char *id, const char *role, const char *kind,
                       int64_t now);

/* Writes the aggregates whose window has passed at now (all of them when
 * all) through write(ctx, entry); an aggregate whose write returns
 * non-zero is kept (with its count) and tried again at the next flush.
 * Windows that passed with nothing to write are closed. Returns 0 or the
 * first non-zero write result. */
int tsr_refusals_flush(tsr_refusals_t *r, int64_t now, bool all,
                       int (*write)(void *ctx, const tsr_audit_entry_t *e), void *ctx);

/* Refusals counted into aggregates since the aggregator was made (written
 * or not yet). */
uint64_t tsr_refusals_aggregated(const tsr_refusals_t *r);

/* Aggregate entries written since the aggregator was made. */
uint64_t tsr_refusals_entries(const tsr_refusals_t *r);

#endif
