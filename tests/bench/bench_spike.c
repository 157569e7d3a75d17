/* bench_spike.c - backtest speed for docs/PERFORMANCE.md (issue 7): EARS C1,
 * C2, C3 over 400 area series of 10 years of daily counts, and Farrington
 * flexible over 400 series of 10 years of weekly counts. Prints seconds. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tessera/spike.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A Poisson draw (Knuth; means here are small) from a fixed generator. */
static unsigned long s_state = 12345;
static double s_unif(void)
{
    s_state = s_state * 6364136223846793005ul + 1442695040888963407ul;
    return (double)(s_state >> 11) / 9007199254740992.0;
}
static double s_pois(double mu)
{
    double l = exp(-mu), p = 1;
    int k = 0;
    do {
        k++;
        p *= s_unif();
    } while (p > l);
    return k - 1;
}

enum { WEEKS = 520 };

typedef struct {
    double y[WEEKS];
    long alarms;
} s_job_t;

typedef struct {
    s_job_t *jobs;
    int from, to;
} s_range_t;

static void *s_run(void *arg)
{
    s_range_t *r = arg;
    tsr_farrington_opts_t fo;
    tsr_farrington_defaults(&fo);
    tsr_spike_point_t out[WEEKS];
    for (int s = r->from; s < r->to; s++) {
        tsr_farrington(r->jobs[s].y, WEEKS, &fo, out);
        r->jobs[s].alarms = 0;
        for (int t = 0; t < WEEKS; t++)
            r->jobs[s].alarms += out[t].alarm == TSR_ALARM_YES;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int series = argc > 1 ? atoi(argv[1]) : 400;
    enum { DAYS = 3650 };
    double *y = malloc(DAYS * sizeof *y);
    tsr_spike_point_t *out = malloc(DAYS * sizeof *out);
    long alarms[4] = {0};
    for (int m = TSR_EARS_C1; m <= TSR_EARS_C3; m++) {
        tsr_ears_opts_t o;
        tsr_ears_defaults(&o, (tsr_ears_method_t)m);
        double total = 0;
        for (int s = 0; s < series; s++) {
            double base = 0.2 + (s % 20) * 0.25;
            for (int t = 0; t < DAYS; t++)
                y[t] = s_pois(base * (1 + 0.3 * sin(2 * M_PI * t / 365.25)));
            double t0 = s_now();
            tsr_ears(y, DAYS, &o, out);
            total += s_now() - t0;
            for (int t = 0; t < DAYS; t++)
                alarms[m - 1] += out[t].alarm == TSR_ALARM_YES;
        }
        printf("EARS C%d: %d series x %d days in %.3f s (%ld alarms)\n", m, series, DAYS, total,
               alarms[m - 1]);
    }
    /* Farrington: series are independent, so they are split over the
     * machine's cores (the functions are pure and thread-safe). */
    int nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads < 1)
        nthreads = 1;
    s_job_t *jobs = calloc((size_t)series, sizeof *jobs);
    for (int s = 0; s < series; s++) {
        double base = 0.5 + (s % 20) * 0.5;
        for (int t = 0; t < WEEKS; t++)
            jobs[s].y[t] = s_pois(base * (1 + 0.4 * sin(2 * M_PI * t / 52)));
    }
    for (int threads = 1; threads <= nthreads; threads += nthreads > 1 ? nthreads - 1 : 1) {
        pthread_t th[64];
        s_range_t rg[64];
        double t0 = s_now();
        for (int i = 0; i < threads; i++) {
            rg[i] = (s_range_t){jobs, series * i / threads, series * (i + 1) / threads};
            pthread_create(&th[i], NULL, s_run, &rg[i]);
        }
        long alarms_ff = 0;
        for (int i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
        for (int s = 0; s < series; s++)
            alarms_ff += jobs[s].alarms;
        printf("Farrington flexible: %d series x %d weeks (%d evaluated each), %d thread%s: %.3f s "
               "(%ld alarms)\n",
               series, WEEKS, WEEKS - (52 * 3 + 3), threads, threads == 1 ? "" : "s",
               s_now() - t0, alarms_ff);
        fflush(stdout);
    }
    free(jobs);
    free(y);
    free(out);
    return 0;
}
