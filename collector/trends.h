/* trends.h - analysts' trend tables, answered from the area/day index (whose
 * values hold a compact profile of each record: day, codes and lists, no
 * identifier) and released only after disclosure control (lib sdc.h;
 * docs/PRIVACY.md). */
#ifndef TESSERA_TRENDS_H
#define TESSERA_TRENDS_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/auth.h"
#include "tessera/record.h"
#include "tessera/wire.h"

#define TSR_PROFILE_LEN 44

/* The index value for a record. Returns its length. */
size_t tsr_profile_pack(uint8_t out[TSR_PROFILE_LEN], const tsr_incident_t *inc);

/* Answers a trends query for `who` (records outside an analyst's areas do
 * not count) with threshold k into resp (cells, k). On a refusal returns
 * TSR_EINVAL (bad query) or TSR_ERANGE (nothing releasable) with why. */
int tsr_trends(MDB_txn *txn, MDB_dbi by_area_day, const tsr_query_t *q, const tsr_client_t *who,
               unsigned k, tsr_response_t *resp, char *why, size_t cap);

#endif
