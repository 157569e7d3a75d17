/* spike.h - outbreak detection on count series, number for number with R's
 * surveillance package (1.20): EARS C1, C2, C3 (surveillance::earsC) on
 * daily counts and Farrington flexible (surveillance::farringtonFlexible,
 * Noufaily et al. 2013) on weekly counts. Pure functions: a series in,
 * one result per period out; no I/O. The formulas, in words, are in
 * docs/DETECTION.md.
 *
 * Indexes are 0-based; result i belongs to period i of the input. Periods
 * without enough history are marked not evaluated.
 */
#ifndef TESSERA_SPIKE_H
#define TESSERA_SPIKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tsr_error;

/* alarm values */
enum { TSR_ALARM_NA = -1, TSR_ALARM_NO = 0, TSR_ALARM_YES = 1 };

typedef struct tsr_spike_point {
    bool evaluated;    /* false: not enough history before this period */
    double expected;   /* EARS: baseline mean; Farrington: fitted expectation (NAN = NA) */
    double upperbound; /* NAN = NA (as R gives it) */
    int alarm;         /* TSR_ALARM_* */
} tsr_spike_point_t;

typedef enum { TSR_EARS_C1 = 1, TSR_EARS_C2, TSR_EARS_C3 } tsr_ears_method_t;

typedef struct tsr_ears_opts {
    tsr_ears_method_t method;
    int baseline;     /* days in the reference window (7; at least 3) */
    double min_sigma; /* floor for the standard deviation (0) */
    double alpha;     /* 0 = the package's default: 0.001 for C1, C2; 0.025 for C3 */
} tsr_ears_opts_t;

void tsr_ears_defaults(tsr_ears_opts_t *o, tsr_ears_method_t method);

/* Evaluates every period with enough history (C1 from baseline, C2 from
 * baseline + 2, C3 from baseline + 4). out has n entries. Returns 0, or
 * TSR_EINVAL for bad options. */
int tsr_ears(const double *y, size_t n, const tsr_ears_opts_t *o, tsr_spike_point_t *out);

typedef enum { TSR_FF_NBPLUGIN = 1, TSR_FF_MUAN = 2 } tsr_ff_threshold_t;

typedef struct tsr_farrington_opts {
    int freq;                 /* periods per year (52) */
    int b;                    /* years back (3) */
    int w;                    /* half-window around each reference week (3) */
    bool reweight;            /* down-weight past outbreaks (true) */
    double weights_threshold; /* Anscombe residual above which a week is down-weighted (2.58) */
    int past_weeks_not_included; /* recent weeks left out of the fit (26) */
    int no_periods;           /* seasonal factor levels (10) */
    bool trend;               /* consider a time trend (true) */
    double p_threshold_trend; /* keep the trend when its p-value is below (0.05) */
    tsr_ff_threshold_t threshold; /* nbPlugin (default) or muan */
    double alpha;             /* 0.05 */
    int limit54_cases, limit54_period; /* alarm only with >= 5 cases in the last 4 periods */
} tsr_farrington_opts_t;

void tsr_farrington_defaults(tsr_farrington_opts_t *o);

/* Evaluates every period from freq*b + w on. Returns 0, TSR_EINVAL for bad
 * options, TSR_ENOMEM. */
int tsr_farrington(const double *y, size_t n, const tsr_farrington_opts_t *o,
                   tsr_spike_point_t *out);

/* --- series files -------------------------------------------------------------
 * CSV with a header `period,count`: one row per period, an ISO date (a
 * weekly series is dated by the Monday of each week), consecutive with no
 * gaps, counts whole and not negative. */
typedef struct tsr_series {
    int32_t *day; /* days since 1970-01-01 */
    double *count;
    size_t n;
    int step; /* 1 (daily) or 7 (weekly) */
} tsr_series_t;

/* Loads path; step 1 or 7 demands that spacing, 0 takes it from the first
 * two rows. Errors name FILE:LINE: FIELD. Returns 0, TSR_EINVAL, TSR_EIO,
 * TSR_ENOMEM. */
int tsr_series_load(tsr_series_t *s, const char *path, int step, struct tsr_error *err);
void tsr_series_free(tsr_series_t *s);

/* A method's name as people read it, from its short name in alerts and
 * configs: "c1" -> "EARS C1", ..., "farrington" -> "Farrington flexible";
 * NULL for any other. */
const char *tsr_spike_method_title(const char *method);

#endif
