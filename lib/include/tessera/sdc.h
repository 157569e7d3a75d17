/* sdc.h - statistical disclosure control for count tables (docs/PRIVACY.md).
 *
 * A table of r rows and c columns (c = 1: one dimension) whose row totals,
 * column totals and grand total an analyst may know from other queries.
 * Cells from 1 to k-1 are suppressed ("<k"). Then, so that no suppressed
 * cell can be worked out from the rest, more cells are suppressed: first
 * wherever a row or column would hold a single suppressed cell, then until
 * a linear-program audit (GLPK) finds, for every suppressed cell, at least
 * two values consistent with everything released and with the margins. A
 * cell hidden to protect another shows "<k" when it is 0 (zeros are
 * otherwise shown) and "x" ("protective", k or more) otherwise. The audit
 * takes a "<k" cell to be anything from 0 to k-1, an "x" cell k or more.
 */
#ifndef TESSERA_SDC_H
#define TESSERA_SDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { TSR_SDC_SHOWN = 0, TSR_SDC_SMALL = 1, TSR_SDC_PROTECTIVE = 2 };

/* cells[i * c + j]; mark gets a TSR_SDC_* per cell. k >= 3. Returns 0, or
 * TSR_ERANGE when no suppression pattern protects the table (everything
 * would have to go: the caller withholds it), TSR_ENOMEM, TSR_EINVAL. */
int tsr_sdc_protect(const uint64_t *cells, size_t r, size_t c, unsigned k, int *mark);

/* The same, starting from marks already set (cells hidden for another
 * table's sake stay hidden). row_known (NULL: all) says which row totals an
 * analyst may know; column and grand totals are always taken as known. */
int tsr_sdc_protect_more(const uint64_t *cells, size_t r, size_t c, unsigned k, int *mark,
                         const bool *row_known);

/* The audit alone: 0 when every suppressed cell (mark != SHOWN) has at least
 * two feasible values, else 1 and *pinned = the index of one that has only
 * one. Margins are the true sums of cells. Used by the tests too. */
int tsr_sdc_audit(const uint64_t *cells, size_t r, size_t c, unsigned k, const int *mark,
                  size_t *pinned);

#endif
