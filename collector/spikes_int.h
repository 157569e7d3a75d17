/* spikes_int.h - what the spike files share and nothing else includes:
 * the databases, the module's state and the helpers more than one file
 * calls (spikes.c: series, counting, evaluation and spike alerts;
 * spikes_cross.c: the cross-area and cross-region rules; spikes_text.c:
 * alerts' text). */
#ifndef TESSERA_SPIKES_INT_H
#define TESSERA_SPIKES_INT_H

#include "spikes.h"
#include "tessera/spike.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum { P_SERIES, P_NAMES, P_SEEN, P_NDBS };

/* methods, as stored in spike_seen */
enum { M_C1 = 1, M_C2 = 2, M_C3 = 3, M_FARRINGTON = 4, M_CROSS = 9 };
/* The methods' names by M_* ("c1" .. "farrington"; M_CROSS has none). */
extern const char *const tsr_spikes_method_names[];

#define P_NAME_MAX 96
/* the national series: every area's records (the cross-region rule's group) */
#define P_NATION "nation:all"
#define P_KEY_MAX (1 + P_NAME_MAX + 1 + 4)

typedef struct {
    uint8_t key[P_KEY_MAX];
    uint8_t len;
    int32_t delta;
} p_tally_t;

typedef struct {
    char g;
    int32_t period;
} p_period_t;

struct tsr_spikes {
    tsr_kv_t *kv;
    tsr_link_t *log;
    MDB_dbi dbi[P_NDBS];
    tsr_spikes_opts_t o;
    /* the count changes of the running transaction, one entry per series
     * and period: a drain of thousands of records touches the same few
     * thousand series over and over */
    p_tally_t *tally;
    size_t n_tally, cap_tally;
    uint32_t *slot;  /* open addressing over tally: index + 1, 0 = empty */
    size_t n_slot;   /* a power of two, at least twice n_tally */
    /* the records counted, grouped into series changes at finish */
    struct p_counted *counted;
    size_t n_counted, cap_counted;
    p_period_t *alarmed; /* (granularity, period) with a new alarm in this transaction */
    size_t n_alarmed, cap_alarmed;
    /* recent periods whose counts changed: staged by an ingest transaction,
     * pending once it committed, until an evaluation transaction commits */
    p_tally_t *staged, *pending;
    size_t n_staged, cap_staged, n_pending, cap_pending;
    /* the national series evaluated and the cross-region rule run: set by
     * the loop thread (SIGHUP), read by the one that evaluates */
    atomic_bool cross_region;
};

/* --- helpers shared by the files, by the file that defines them --- */

/* spikes.c */

/* A spike_seen key (P_KEY_MAX + 8 bytes): granularity, period, method,
 * name. Returns its length. */
size_t tsr_spikes_seen_key(uint8_t *k, char g, int32_t period, int method, const char *name);

/* Evaluates one period of one series with a method: *res gets the point,
 * *obs the period's count. */
int tsr_spikes_point(tsr_spikes_t *s, MDB_txn *txn, char g, const char *name, int32_t period,
                     int method, tsr_spike_point_t *res, double *obs);

/* spikes_cross.c */

/* The cross rules for the periods that alarmed in this transaction: per
 * region, and across regions where they are on (the national tier). */
int tsr_spikes_cross_alarmed(tsr_spikes_t *s, MDB_txn *txn, int64_t now);

#endif
