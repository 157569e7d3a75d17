/* histo.c - cumulative latency histograms (histo.h). */
#include "histo.h"

#include <stdio.h>

/* 0.5 ms to 10 s: an Ack normally comes within a few milliseconds of its
 * group commit; seconds mean a drain or a full disk held it back. */
const uint64_t tsr_histo_bounds_us[TSR_HISTO_BUCKETS] = {
    500,    1000,   2500,   5000,    10000,   25000,    50000,
    100000, 250000, 500000, 1000000, 2500000, 10000000, UINT64_MAX,
};

void tsr_histo_observe(tsr_histo_t *h, uint64_t us)
{
    for (int i = 0; i < TSR_HISTO_BUCKETS; i++)
        if (us <= tsr_histo_bounds_us[i])
            h->le[i]++;
    h->count++;
    h->sum_us += us;
}

void tsr_histo_counters(const tsr_histo_t *h, const char *name,
                        void (*add)(void *ctx, const char *name, uint64_t value), void *ctx)
{
    char n[96];
    for (int i = 0; i < TSR_HISTO_BUCKETS; i++) {
        if (tsr_histo_bounds_us[i] == UINT64_MAX)
            snprintf(n, sizeof n, "%s_bucket:le=+Inf", name);
        else
            snprintf(n, sizeof n, "%s_bucket:le=%llu", name,
                     (unsigned long long)tsr_histo_bounds_us[i]);
        add(ctx, n, h->le[i]);
    }
    snprintf(n, sizeof n, "%s_sum", name);
    add(ctx, n, h->sum_us);
    snprintf(n, sizeof n, "%s_count", name);
    add(ctx, n, h->count);
}
