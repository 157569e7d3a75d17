/* trends.h - analysts' trend tables, answered from the area/day index (whose
 * values hold a compact profile of each record: day, codes, lists and its
 * cell key; no identifier) and released through the cell-key method (lib
 * ckm.h; docs/PRIVACY.md): every cell, total included, is perturbed by the
 * key of exactly its records, so the same records release the same number
 * in every table that holds them. */
#ifndef TESSERA_TRENDS_H
#define TESSERA_TRENDS_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/auth.h"
#include "tessera/ckm.h"
#include "tessera/record.h"
#include "tessera/wire.h"

#define TSR_PROFILE_LEN 48

/* The index value for a record whose cell key is key. Returns its length. */
size_t tsr_profile_pack(uint8_t out[TSR_PROFILE_LEN], const tsr_incident_t *inc, uint32_t key);

typedef struct tsr_trends_opts {
    unsigned k;                   /* no released count lies in 1..k-1 */
    const tsr_ckm_table_t *table; /* the perturbation; NULL releases true
                                   * counts (benchmarks only: the collector
                                   * always passes its table) */
    tsr_ckm_keyer_t *keyer;       /* keys for profiles written before keys were
                                   * stored (format 1) */
    int32_t first_day;            /* the earliest day a period may start when
                                   * the query gives none (retention) */
    int32_t today;                /* the latest, when it gives none */
} tsr_trends_opts_t;

/* Answers a trends query for `who` (records outside an analyst's areas do
 * not count) into resp (cells, totals, k and the perturbation's
 * parameters). On a refusal returns TSR_EINVAL (bad query) or TSR_ERANGE
 * (nothing releasable) with why. */
int tsr_trends(MDB_txn *txn, MDB_dbi by_area_day, const tsr_query_t *q, const tsr_client_t *who,
               const tsr_trends_opts_t *o, tsr_response_t *resp, char *why, size_t cap);

/* The released value and true count of one cell given by filters alone
 * (a spike alert's series and period): the records of the areas in
 * area_codes[0..n_areas) reported from day `from` to `to` that pass the
 * filters. Same perturbation as tsr_trends, so an alert's count and the
 * trend table's cell of the same records agree. */
int tsr_trends_cell(MDB_txn *txn, MDB_dbi by_area_day, const char *const *area_codes,
                    size_t n_areas, int32_t from, int32_t to, const tsr_filter_t *filters,
                    size_t n_filters, const tsr_trends_opts_t *o, uint64_t *released,
                    uint64_t *count);

#endif
