/* spike_farrington.c - Farrington flexible (surveillance::farringtonFlexible,
 * Noufaily et al. 2013) as the package's R code does it, period by period:
 * the reference blocks, the quasi-Poisson fit with and without trend
 * (spike_glm.c), the reweighting, the trend test and the negative binomial
 * threshold. Comments name the R code each part mirrors; the method in
 * words is in docs/DETECTION.md. */
#include "spike_int.h"
#include "tessera/err.h"

#include <float.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void tsr_farrington_defaults(tsr_farrington_opts_t *o)
{
    *o = (tsr_farrington_opts_t){
        .freq = 52,
        .b = 3,
        .w = 3,
        .reweight = true,
        .weights_threshold = 2.58,
        .past_weeks_not_included = 26,
        .no_periods = 10,
        .trend = true,
        .p_threshold_trend = 0.05,
        .threshold = TSR_FF_NBPLUGIN,
        .alpha = 0.05,
        .limit54_cases = 5,
        .limit54_period = 4,
    };
}

/* R's v[from:to] <- val with 1-based from/to (to < from counts down, as R's
 * colon does); out-of-range positions are ignored. */
static void r_assign(double *v, long n, long from, long to, double val)
{
    long step = from <= to ? 1 : -1;
    for (long i = from;; i += step) {
        if (i >= 1 && i <= n)
            v[i - 1] = val;
        if (i == to)
            break;
    }
}

/* surveillance:::blocks for a series without dates: the seasonal factor of
 * every period (NAN = not used), for period k (1-based). */
static int s_blocks(double *f, long n, long k, const tsr_farrington_opts_t *o)
{
    long w = o->w, p = o->no_periods;
    for (long i = 0; i < n; i++)
        f[i] = NAN;
    r_assign(f, n, k - w, k, (double)p);
    /* reference weeks, latest first: k, k - freq, ..., k - b*freq */
    for (long i = 1; i <= o->b; i++) {
        long ref = k - i * o->freq, later = k - (i - 1) * o->freq;
        r_assign(f, n, ref - w, ref + w, (double)p);
        if (p == 1)
            continue;
        long period = later - 2 * w - 1 - ref;
        if (period < p - (2 * w + 1))
            return TSR_EINVAL; /* "Number of factors too big!" */
        long len = period / (p - 1), rest = period % (p - 1), cum = 0;
        for (long j = 1; j <= p - 1; j++) {
            long l = len + (j <= rest ? 1 : 0);
            r_assign(f, n, ref + w + 1 + cum, ref + w + 1 + cum + l - 1, (double)j);
            cum += l;
        }
    }
    return 0;
}

/* A fitted model as algo.farrington.fitGLM.flexible leaves it. */
typedef struct {
    bool ok;
    bool trend;   /* the fitted formula has wtime */
    double phi;   /* max(dispersion, 1) */
    double disp;  /* summary dispersion of the final (reweighted) fit */
} s_model_t;

/* algo.farrington.assign.weights on Anscombe residuals of the fit. */
static void s_reweight(s_glm_t *g, double phi, double threshold)
{
    /* (X'WX)^-1 = R^-1 R^-T, column by column, for the hat values */
    int p = g->p;
    double inv[64 * 64], e[64];
    for (int j = 0; j < p; j++) {
        memset(e, 0, (size_t)p * sizeof *e);
        e[j] = 1;
        tsr_spike_glm_quad(g->r, p, e, g->v); /* v = R^-T e_j */
        for (int k = p - 1; k >= 0; k--) { /* R x = v */
            double t = g->v[k];
            for (int c = k + 1; c < p; c++)
                t -= g->r[k * p + c] * inv[c * p + j];
            inv[k * p + j] = t / g->r[k * p + k];
        }
    }
    double sum = 0;
    for (int i = 0; i < g->n; i++) {
        const int *c = &g->col[i * S_NNZ];
        const double *v = &g->val[i * S_NNZ];
        double q = 0;
        for (int a = 0; a < g->nnz[i]; a++)
            for (int b = 0; b < g->nnz[i]; b++)
                q += v[a] * v[b] * inv[c[a] * p + c[b]];
        double h = g->wwork[i] * q; /* hat value */
        double y = g->y[i], mu = g->mu[i];
        double s = 1.5 * (pow(y, 2.0 / 3.0) * pow(mu, -1.0 / 6.0) - sqrt(mu));
        s /= sqrt(phi * (1 - h));
        g->z[i] = s; /* keep the residual */
        sum += s > threshold ? 1 / (s * s) : 1;
    }
    double gamma = g->n / sum;
    for (int i = 0; i < g->n; i++)
        g->prior[i] = g->z[i] > threshold ? gamma / (g->z[i] * g->z[i]) : gamma;
}

/* algo.farrington.fitGLM.flexible */
static s_model_t s_fit_flexible(s_glm_t *g, const long *rows, const double *f, const double *y,
                                int nrows, bool trend, const int *levels, int nlev, double wcenter,
                                const tsr_farrington_opts_t *o)
{
    s_model_t m = {0};
    tsr_spike_glm_design(g, rows, f, y, nrows, trend, levels, nlev, wcenter);
    if (!tsr_spike_glm_fit(g))
        return m;
    if (!g->converged) {
        if (!trend)
            return m;
        trend = false;
        tsr_spike_glm_design(g, rows, f, y, nrows, false, levels, nlev, wcenter);
        if (!tsr_spike_glm_fit(g) || !g->converged)
            return m;
    }
    double phi = fmax(tsr_spike_glm_dispersion(g), 1);
    if (o->reweight) {
        s_reweight(g, phi, o->weights_threshold);
        if (!tsr_spike_glm_fit(g)) /* R does not check this fit's convergence */
            return m;
        phi = fmax(tsr_spike_glm_dispersion(g), 1);
    }
    m.ok = true;
    m.trend = trend;
    m.phi = phi;
    /* The package then stores the prior weights omega in model$weights, so
     * every later summary.glm (the trend test) and predict.glm (se.fit) of
     * this model estimates the dispersion with omega in place of the working
     * weights. We do the same, or the trend decisions would differ. */
    if (o->reweight) {
        double d = 0;
        for (int i = 0; i < g->n; i++) {
            double res = (g->y[i] - g->mu[i]) / g->mu[i];
            d += g->prior[i] * res * res;
        }
        m.disp = d / (g->n - g->p);
    } else {
        m.disp = tsr_spike_glm_dispersion(g);
    }
    return m;
}

/* P(X <= y) for a negative binomial (size > 0) or Poisson(mu). */
static double s_cdf(double y, double mu, double size, double prob)
{
    return size > 0 ? gsl_cdf_negative_binomial_P((unsigned)y, prob, size)
                    : gsl_cdf_poisson_P((unsigned)y, mu);
}

/* R's qnbinom / qpois on the lower tail with its left-continuity fuzz: the
 * smallest y with P(X <= y) >= p. size <= 0 means Poisson(mu).
 *
 * The CDF is non-decreasing in y, so the answer is found by galloping from
 * R's start (mu - 6 sd) and then bisecting: O(log y) CDF calls. A step at
 * a time (as R does) took minutes for an overdispersed fit whose quantile
 * lies far from its start (fuzz_series found one: 42 s of CPU for one
 * series; tests/fuzz/corpus/series/timeout-issue15-quantile-scan). */
static double s_quantile(double p, double mu, double size, double prob)
{
    const double y_max = 1e9 + 1; /* past it: no bound (NA), as before */
    double target = p * (1 + 8 * DBL_EPSILON);
    if (target >= 1)
        return INFINITY;
    double sd = size > 0 ? sqrt(mu / prob) : sqrt(mu);
    double y = floor(mu - 6 * sd);
    if (y < 0)
        y = 0;
    if (mu + 20 * sd > 4e9)
        return NAN; /* beyond what the CDFs take: no bound (NA) */
    if (y > y_max)
        return NAN;
    /* lo < answer <= hi: lo = -1 or P(X <= lo) < target; P(X <= hi) >= target */
    double lo, hi, step = 1;
    if (s_cdf(y, mu, size, prob) >= target) {
        hi = y;
        for (;;) {
            double down = hi - step;
            if (down < 0) {
                lo = -1;
                break;
            }
            if (s_cdf(down, mu, size, prob) < target) {
                lo = down;
                break;
            }
            hi = down;
            step *= 2;
        }
    } else {
        lo = y;
        for (;;) {
            hi = lo + step;
            if (hi >= y_max) {
                hi = y_max;
                if (s_cdf(hi, mu, size, prob) < target)
                    return NAN;
                break;
            }
            if (s_cdf(hi, mu, size, prob) >= target)
                break;
            lo = hi;
            step *= 2;
        }
    }
    while (hi - lo > 1) {
        double mid = floor((lo + hi) / 2);
        if (s_cdf(mid, mu, size, prob) >= target)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* The design row x0 of the period predicted (time t, the current seasonal
 * level) and the linear predictor there. */
static double s_predict(const s_glm_t *g, bool trend, double t, const int *levels, int nlev,
                        int level, double *x0)
{
    int c = 0;
    x0[c++] = 1;
    if (trend)
        x0[c++] = t;
    for (int l = 1; l < nlev; l++)
        x0[c++] = levels[l] == level ? 1 : 0;
    double eta = 0;
    for (int j = 0; j < g->p; j++)
        eta += x0[j] * g->beta[j];
    return eta;
}

/* The reference periods of one fit: the 1-based rows whose seasonal factor
 * f is set (returns how many), the factor's levels (at most 64) sorted, the
 * largest count among the rows and the mean of their times. */
static int s_reference(const double *f, const double *y, long N, long *rows, int *levels,
                       int *nlev, double *ymax, double *wcenter)
{
    int nrows = 0;
    double wsum = 0;
    *nlev = 0;
    *ymax = 0;
    for (long i = 1; i <= N; i++) {
        if (isnan(f[i - 1]))
            continue;
        rows[nrows++] = i;
        wsum += (double)i;
        if (y[i - 1] > *ymax)
            *ymax = y[i - 1];
        int lv = (int)f[i - 1], l;
        for (l = 0; l < *nlev && levels[l] != lv; l++)
            ;
        if (l == *nlev && *nlev < 64)
            levels[(*nlev)++] = lv;
    }
    /* factor levels sort numerically; the first is the baseline */
    for (int a = 1; a < *nlev; a++)
        for (int b2 = a; b2 > 0 && levels[b2 - 1] > levels[b2]; b2--) {
            int tmp = levels[b2];
            levels[b2] = levels[b2 - 1];
            levels[b2 - 1] = tmp;
        }
    *wcenter = nrows ? wsum / nrows : 0;
    return nrows;
}

int tsr_farrington(const double *y, size_t n, const tsr_farrington_opts_t *o,
                   tsr_spike_point_t *out)
{
    if (o->freq < 1 || o->b < 1 || o->w < 0 || o->no_periods < 1 || o->alpha <= 0 ||
        o->alpha >= 1 || o->limit54_period < 1 || o->limit54_cases < 0 ||
        o->past_weeks_not_included < 0 || o->no_periods > 60 ||
        (o->threshold != TSR_FF_NBPLUGIN && o->threshold != TSR_FF_MUAN))
        return TSR_EINVAL;
    long N = (long)n, first = (long)o->freq * o->b + o->w + 1; /* 1-based, as control$range */
    for (size_t t = 0; t < n; t++)
        out[t] = (tsr_spike_point_t){.evaluated = (long)t + 1 >= first, .expected = NAN,
                                     .upperbound = NAN, .alarm = TSR_ALARM_NA};
    if (N < first)
        return 0;
    double *f = malloc(n * sizeof *f);
    long *rows = malloc(n * sizeof *rows);
    s_glm_t g = {0};
    int rc = f && rows ? tsr_spike_glm_alloc(&g, (int)N, o->no_periods + 2) : TSR_ENOMEM;
    for (long k = first; rc == 0 && k <= N; k++) {
        tsr_spike_point_t *pt = &out[k - 1];
        if ((rc = s_blocks(f, N, k, o)) != 0)
            break;
        /* blocksID[(k - pastWeeksNotIncluded):k] <- NA */
        for (long i = k - o->past_weeks_not_included; i <= k; i++)
            if (i >= 1)
                f[i - 1] = NAN;
        int levels[64], nlev;
        double ymax, wcenter;
        int nrows = s_reference(f, y, N, rows, levels, &nlev, &ymax, &wcenter);
        int pred_level = o->no_periods;
        double recent = 0;
        for (long i = k - o->limit54_period + 1; i <= k; i++)
            recent += i >= 1 ? y[i - 1] : 0;
        bool enough = recent >= o->limit54_cases;
        if (!enough) {
            /* Too few recent cases: R reports no bound and no alarm whatever
             * the model says, unless no model converges at all (then the
             * alarm is NA). Only that needs finding out. */
            tsr_spike_glm_design(&g, rows, f, y, nrows, o->trend, levels, nlev, wcenter);
            bool ok = tsr_spike_glm_fit(&g) && g.converged;
            if (!ok && o->trend) {
                tsr_spike_glm_design(&g, rows, f, y, nrows, false, levels, nlev, wcenter);
                ok = tsr_spike_glm_fit(&g) && g.converged;
            }
            if (ok)
                pt->alarm = TSR_ALARM_NO;
            continue;
        }
        /* algo.farrington.glm */
        s_model_t m = s_fit_flexible(&g, rows, f, y, nrows, o->trend, levels, nlev, wcenter, o);
        if (m.ok && m.trend) {
            double x0[64], t_p;
            double eta0 = s_predict(&g, true, (double)k - wcenter, levels, nlev, pred_level, x0);
            /* summary.glm: t test of wtime with the estimated dispersion */
            double e1[64] = {0};
            e1[1] = 1;
            double se = sqrt(m.disp * tsr_spike_glm_quad(g.r, g.p, e1, g.v));
            t_p = 2 * gsl_cdf_tdist_P(-fabs(g.beta[1] / se), g.n - g.p);
            bool significant = t_p < o->p_threshold_trend;
            bool no_extrapolation = exp(eta0) <= ymax;
            if (!(o->b >= 3 && significant && no_extrapolation))
                m = s_fit_flexible(&g, rows, f, y, nrows, false, levels, nlev, wcenter, o);
        }
        if (!m.ok)
            continue; /* no convergence with or without trend: NA, as R */
        double x0[64];
        double eta0 = s_predict(&g, m.trend, (double)k - wcenter, levels, nlev, pred_level, x0);
        double se_eta0 = sqrt(m.disp * tsr_spike_glm_quad(g.r, g.p, x0, g.v));
        /* algo.farrington.threshold.noufaily */
        double mu0 = o->threshold == TSR_FF_NBPLUGIN
                         ? exp(eta0)
                         : exp(eta0 + se_eta0 * gsl_cdf_ugaussian_Qinv(o->alpha));
        double upper = NAN;
        if (isfinite(mu0))
            upper = m.phi > 1 ? s_quantile(1 - o->alpha, mu0, mu0 / (m.phi - 1), 1 / m.phi)
                              : s_quantile(1 - o->alpha, mu0, 0, 0);
        double yk = y[k - 1];
        double score = !isnan(upper) ? (yk - eta0) / (upper - eta0) : NAN;
        double x = enough ? score : NAN;
        pt->alarm = !isnan(x) && x > 1 && yk != 0 ? TSR_ALARM_YES : TSR_ALARM_NO;
        pt->upperbound = enough ? upper : NAN;
        pt->expected = !isnan(upper) && enough ? exp(eta0) : NAN;
    }
    tsr_spike_glm_free(&g);
    free(f);
    free(rows);
    return rc;
}
