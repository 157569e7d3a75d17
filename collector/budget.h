/* budget.h - the per-analyst daily query budget (DESIGN section 2, rule 5;
 * issue 14): each analyst may have at most `limit` distinct trends queries
 * answered per UTC day. Under the cell-key method the same records always
 * release the same value, so asking an identical query again gains nothing
 * and is free; what an averaging attack needs is many different queries
 * over overlapping records, and that is what is bounded.
 *
 * The audit log is the source of truth: the set of today's queries kept
 * here is rebuilt from it at start-up (tsr_budget_replay), so a restart does
 * not reset the budget.
 *
 * Only trends queries count. Alerts do not: an analyst cannot choose what
 * an alert releases (the detectors raise it, once, with fixed values), so
 * asking for alerts again and again adds nothing to average; and counting
 * them would spend the budget of `tessera alerts --follow`, which asks the
 * log with a new `since` every few seconds, within hours. */
#ifndef TESSERA_BUDGET_H
#define TESSERA_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/auth.h"
#include "tessera/wire.h"

typedef struct tsr_budget tsr_budget_t;

/* What tsr_budget_check decides. */
typedef enum {
    TSR_BUDGET_FREE = 0,  /* not budgeted, or asked already today: answer, count nothing */
    TSR_BUDGET_NEW = 1,   /* a new query within the budget: answer, then tsr_budget_note */
    TSR_BUDGET_SPENT = 2, /* a new query past the budget: refuse */
} tsr_budget_verdict_t;

/* A budget of limit (>= 1) distinct queries per analyst per UTC day into
 * *out; free with tsr_budget_destroy. Returns 0 or TSR_ENOMEM. */
int tsr_budget_new(tsr_budget_t **out, unsigned limit);

/* Frees *self_p (NULL is fine) and sets it to NULL. */
void tsr_budget_destroy(tsr_budget_t **self_p);

/* The limit given to tsr_budget_new. */
unsigned tsr_budget_limit(const tsr_budget_t *b);

/* Whether a query of kind (TSR_QUERY_*) by role counts: analysts' trends. */
bool tsr_budget_applies(tsr_role_t role, int kind);

/* A 64-bit hash (FNV-1a) of s, the NUL-terminated fingerprint of a query. */
uint64_t tsr_budget_fingerprint(const char *s);

/* Decides query `request` (its audit text without the " -> status") by
 * analyst id on UTC day `day`. Budget refusals are not noted: they do not
 * count. */
tsr_budget_verdict_t tsr_budget_check(const tsr_budget_t *b, const char *id, int32_t day,
                                      const char *request);

/* Counts `request` for id on day (once; again is a no-op). A later day
 * starts a new count. Returns 0 or TSR_ENOMEM (then it is not counted). */
int tsr_budget_note(tsr_budget_t *b, const char *id, int32_t day, const char *request);

/* Queries id has spent on day. */
unsigned tsr_budget_used(const tsr_budget_t *b, const char *id, int32_t day);

/* Counts one audit log entry (at start-up, for every entry of today) when
 * it was a budgeted query by an analyst that was answered or refused for a
 * reason that released something: its status is neither "denied" (a role
 * or budget refusal), "rate limited" (refused before anything was read)
 * nor "error". An aggregate of refusals (refusals.h) begins with a count,
 * not "trends ", and is not counted. Returns 0 or TSR_ENOMEM. */
int tsr_budget_replay(tsr_budget_t *b, const tsr_audit_entry_t *e);

#endif
