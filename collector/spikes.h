/* spikes.h - the collector's count series and the spike alerts raised on
 * them (DESIGN section 7; methods in lib spike.h, rules in
 * docs/DETECTION.md, layout in docs/STORAGE.md).
 *
 * Series, each daily (records with day precision only) and weekly (ISO week,
 * by Monday): per area, per region, and per (area, feature) and (region,
 * feature) for contact platform, moved-to platform, payment method, demand
 * and tactic; and the national total, "nation:all" (every area). Names:
 * "area:E08000035", "region:E12000003",
 * "area:E08000035/contact_platform:instagram".
 *
 * Counts change inside the ingest transaction (tallied, written once at its
 * end). Then the periods that changed, if recent, are evaluated in a
 * transaction of their own when ingest is idle: EARS on the daily series,
 * Farrington flexible on the weekly ones; each alarm becomes one spike alert
 * (never twice for the same series, method and period), and a region whose
 * areas alarm together gets one cross-area alert per period. With the
 * cross-region rule on (the national tier, issue 19), the national series is
 * evaluated too, and regions that alarm together get one cross-region alert
 * per period (a cross-area alert on "nation:all" whose areas are the
 * regions' codes).
 */
#ifndef TESSERA_SPIKES_H
#define TESSERA_SPIKES_H

#include <stdbool.h>
#include <stdint.h>

#include "linkage.h"
#include "tessera/kv.h"
#include "tessera/record.h"

struct tsr_error;

typedef struct tsr_spikes tsr_spikes_t;

typedef struct tsr_spikes_opts {
    bool c1, c2, c3, farrington; /* methods run (all by default) */
    int recent_days;             /* daily periods older than this are not evaluated (14) */
    int recent_weeks;            /* weekly periods older than this are not evaluated (4) */
    int min_cases;               /* an alarm becomes an alert only with this many cases (3) */
    bool cross_region;           /* the national series and cross-region rule (off) */
} tsr_spikes_opts_t;

void tsr_spikes_defaults(tsr_spikes_opts_t *o);

int tsr_spikes_open(tsr_spikes_t **out, tsr_kv_t *kv, tsr_link_t *alerts,
                    const tsr_spikes_opts_t *o, struct tsr_error *err);
void tsr_spikes_close(tsr_spikes_t **s_p);

/* Turns the national series' evaluation and the cross-region rule on or
 * off (from any thread; the next evaluation follows it). */
void tsr_spikes_cross_region(tsr_spikes_t *s, bool on);

/* Start of a write transaction's body. */
void tsr_spikes_begin(tsr_spikes_t *s);

/* A record enters (delta 1) or leaves (-1) the counts. */
int tsr_spikes_count(tsr_spikes_t *s, const tsr_incident_t *inc, int delta);

/* End of the body: writes the counts and stages the recent periods that
 * changed (today = the collector's day) for evaluation. */
int tsr_spikes_finish(tsr_spikes_t *s, MDB_txn *txn, int32_t today);

/* After that transaction committed: its staged periods become pending. */
void tsr_spikes_committed(tsr_spikes_t *s);
bool tsr_spikes_pending(const tsr_spikes_t *s);

/* The evaluation transaction: evaluates every pending period (EARS on daily
 * series, Farrington on weekly ones) and appends the alerts; after it
 * committed, tsr_spikes_evaluated() forgets them. Ingest does not wait for
 * detection: a crash in between only delays an alert to the day-boundary
 * run, which evaluates the closed day again (alerts are never repeated). */
int tsr_spikes_evaluate_pending(tsr_spikes_t *s, MDB_txn *txn, int32_t today, int64_t now);
void tsr_spikes_evaluated(tsr_spikes_t *s);

/* The text of a spike or cross-area alert; with k > 0 an observed count
 * below k is written "<k" (what analysts see). */
void tsr_spikes_summary(const tsr_alert_t *a, unsigned k, char *out, size_t cap);

/* The same as an analyst reads it, where every number is a released count:
 * observed is the period's released count (0: "<k"), expected the released
 * count of the four whole ISO weeks before the period's week per day (a
 * daily method) or per week (Farrington), and there is no bound. */
void tsr_spikes_summary_released(const tsr_alert_t *a, unsigned k, char *out, size_t cap);

/* The day boundary run for `day`, the day just closed: evaluates every
 * daily series with cases that day, and when it is a Sunday every weekly
 * series with cases that week (their data were incomplete until now). */
int tsr_spikes_evaluate_day(tsr_spikes_t *s, MDB_txn *txn, int32_t day, int64_t now);

#endif
