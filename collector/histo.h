/* histo.h - a cumulative latency histogram, as Prometheus keeps one: each
 * bucket counts the observations at or under its bound, the last (+Inf)
 * all of them, with their sum. The collector keeps one of its Ack latency
 * (from reading a batch to sending its Ack) since start-up and serves it in
 * its stats reply; `tessera stats --format prometheus` writes it as a
 * histogram. */
#ifndef TESSERA_HISTO_H
#define TESSERA_HISTO_H

#include <stdint.h>

/* Upper bounds in microseconds, the last being +Inf (UINT64_MAX). */
#define TSR_HISTO_BUCKETS 14
extern const uint64_t tsr_histo_bounds_us[TSR_HISTO_BUCKETS];

typedef struct tsr_histo {
    uint64_t le[TSR_HISTO_BUCKETS]; /* cumulative counts */
    uint64_t count;
    uint64_t sum_us;
} tsr_histo_t;

/* Counts one observation of us microseconds. */
void tsr_histo_observe(tsr_histo_t *h, uint64_t us);

/* Calls add(ctx, name, value) for each bucket as "NAME_bucket:le=BOUND_US"
 * (the last "le=+Inf"), then "NAME_sum" (microseconds) and "NAME_count". */
void tsr_histo_counters(const tsr_histo_t *h, const char *name,
                        void (*add)(void *ctx, const char *name, uint64_t value), void *ctx);

#endif
