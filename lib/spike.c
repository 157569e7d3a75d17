/* spike.c - EARS C1-C3 and Farrington flexible, following R's surveillance
 * 1.20 (earsC, farringtonFlexible and the functions they call) and R's
 * glm.fit step by step, so that the numbers agree (see spike.h; the method
 * in words is in docs/DETECTION.md). Comments name the R code each part
 * mirrors. Distribution functions come from GSL. */
#include "tessera/spike.h"
#include "tessera/csv.h"
#include "tessera/err.h"
#include "tessera/record.h"

#include <errno.h>
#include <float.h>
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* R's pmax(a, b) for two numbers: NaN (NA) wins, unlike C's fmax. */
static double r_pmax(double a, double b)
{
    if (isnan(a) || isnan(b))
        return NAN;
    return a > b ? a : b;
}

/* qnorm(1 - alpha) */
static double s_z(double alpha) { return gsl_cdf_ugaussian_Qinv(alpha); }

/* --- EARS (surveillance::earsC) ------------------------------------------------ */

void tsr_ears_defaults(tsr_ears_opts_t *o, tsr_ears_method_t method)
{
    *o = (tsr_ears_opts_t){.method = method, .baseline = 7, .min_sigma = 0, .alpha = 0};
}

/* Mean and sample standard deviation (R's sd: n - 1) of y[from..from+n). */
static void s_mean_sd(const double *y, size_t from, int n, double *mean, double *sd)
{
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++)
        m += y[from + (size_t)i];
    m /= n;
    for (int i = 0; i < n; i++) {
        double d = y[from + (size_t)i] - m;
        ss += d * d;
    }
    *mean = m;
    *sd = sqrt(ss / (n - 1));
}

int tsr_ears(const double *y, size_t n, const tsr_ears_opts_t *o, tsr_spike_point_t *out)
{
    if (o->baseline < 3 || o->min_sigma < 0 || o->alpha < 0 || o->alpha >= 1 ||
        o->method < TSR_EARS_C1 || o->method > TSR_EARS_C3)
        return TSR_EINVAL;
    double alpha = o->alpha > 0 ? o->alpha : o->method == TSR_EARS_C3 ? 0.025 : 0.001;
    double z = s_z(alpha);
    size_t bl = (size_t)o->baseline;
    /* the reference window of period t: t-bl..t-1 (C1) or t-bl-2..t-3 (C2, C3) */
    size_t gap = o->method == TSR_EARS_C1 ? 0 : 2;
    size_t first = bl + gap + (o->method == TSR_EARS_C3 ? 2 : 0);
    for (size_t t = 0; t < n; t++) {
        tsr_spike_point_t *p = &out[t];
        *p = (tsr_spike_point_t){.evaluated = t >= first, .expected = NAN, .upperbound = NAN,
                                 .alarm = TSR_ALARM_NA};
        if (!p->evaluated)
            continue;
        double mean, sd;
        s_mean_sd(y, t - gap - bl, (int)bl, &mean, &sd);
        double sigma = r_pmax(sd, o->min_sigma);
        p->expected = mean;
        if (o->method != TSR_EARS_C3) {
            p->upperbound = mean + z * sigma;
        } else {
            /* C2 statistics of t-2 and t-1; the bound is what y[t] would have
             * to exceed for their positive parts plus its own to pass z */
            double part[2];
            for (int lag = 2; lag >= 1; lag--) {
                size_t u = t - (size_t)lag;
                double m2, sd2;
                s_mean_sd(y, u - gap - bl, (int)bl, &m2, &sd2);
                double c2 = (y[u] - m2) / r_pmax(sd2, o->min_sigma);
                part[2 - lag] = r_pmax(0, c2 - 1);
            }
            p->upperbound = r_pmax(0, y[t] + sigma * (z - (part[0] + part[1])));
        }
        p->alarm = isnan(p->upperbound) ? TSR_ALARM_NA
                                        : (y[t] > p->upperbound ? TSR_ALARM_YES : TSR_ALARM_NO);
    }
    return 0;
}

/* --- Farrington flexible --------------------------------------------------------- */

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

/* One weighted least-squares problem of IRLS and what the summaries need. */
#define S_NNZ 3 /* non-zero columns per design row at most */

typedef struct {
    int n, p;          /* rows, columns */
    double *x;         /* n x p, row-major: the design */
    int *col, *nnz;    /* the same rows, sparse: S_NNZ column indexes per row */
    double *val;
    bool trend;        /* column 1 is time */
    double *t;         /* time (centred) per row */
    int *lev;          /* column of the row's seasonal dummy; 0 (none) for the first level */
    double *y, *prior; /* response and prior weights */
    double *ylogy;     /* y log y */
    /* results of a fit */
    double *beta, *eta, *mu, *wwork; /* wwork: working weights of the last iteration */
    double *r;         /* p x p upper triangle of the QR of sqrt(wwork) X, row-major */
    bool converged;
    /* scratch */
    double *z, *coefold, *v;
} s_glm_t;

static void s_glm_free(s_glm_t *g)
{
    free(g->x);
    free(g->col);
    free(g->nnz);
    free(g->val);
    free(g->t);
    free(g->lev);
    free(g->y);
    free(g->ylogy);
    free(g->prior);
    free(g->beta);
    free(g->eta);
    free(g->mu);
    free(g->wwork);
    free(g->r);
    free(g->z);
    free(g->coefold);
    free(g->v);
}

static int s_glm_alloc(s_glm_t *g, int nmax, int pmax)
{
    size_t n = (size_t)nmax, p = (size_t)pmax;
    g->x = calloc(n * p, sizeof *g->x);
    g->col = calloc(n * S_NNZ, sizeof *g->col);
    g->nnz = calloc(n, sizeof *g->nnz);
    g->val = calloc(n * S_NNZ, sizeof *g->val);
    g->t = calloc(n, sizeof *g->t);
    g->lev = calloc(n, sizeof *g->lev);
    g->y = calloc(n, sizeof *g->y);
    g->ylogy = calloc(n, sizeof *g->ylogy);
    g->prior = calloc(n, sizeof *g->prior);
    g->beta = calloc(p, sizeof *g->beta);
    g->eta = calloc(n, sizeof *g->eta);
    g->mu = calloc(n, sizeof *g->mu);
    g->wwork = calloc(n, sizeof *g->wwork);
    g->r = calloc(p * p, sizeof *g->r);
    g->z = calloc(n, sizeof *g->z);
    g->coefold = calloc(p, sizeof *g->coefold);
    g->v = calloc(n > p ? n : p, sizeof *g->v);
    return g->x && g->col && g->nnz && g->val && g->t && g->lev && g->y && g->ylogy && g->prior && g->beta && g->eta && g->mu && g->wwork && g->r &&
                   g->z && g->coefold && g->v
               ? 0
               : TSR_ENOMEM;
}

/* poisson()$linkinv and $mu.eta: pmax(exp(eta), .Machine$double.eps) */
static double s_linkinv(double eta)
{
    double m = exp(eta);
    return m > DBL_EPSILON ? m : DBL_EPSILON;
}

/* poisson()$dev.resids summed: 2 w (y log(y/mu) - (y - mu)), with
 * y log(y/mu) = y log y - y log mu. ylogy holds y log y per row; log mu is
 * eta itself unless mu was clamped at the machine epsilon. Taking no log per
 * row per iteration halves the cost of a fit; the sums differ from R's in
 * the last bits only. */
static double s_deviance(const s_glm_t *g)
{
    static const double log_eps = -36.043653389117154; /* log(DBL_EPSILON) */
    double d = 0;
    for (int i = 0; i < g->n; i++) {
        double y = g->y[i], mu = g->mu[i];
        double logmu = mu > DBL_EPSILON ? g->eta[i] : log_eps;
        d += 2 * g->prior[i] * ((y > 0 ? g->ylogy[i] - y * logmu : 0) - (y - mu));
    }
    return d;
}

/* Weighted least squares of z on the design with weights wt: beta out, and
 * the upper triangular R with R'R = X'WX into r (what R's QR would give, up
 * to signs). Rows have at most S_NNZ non-zero columns (intercept, time, one
 * seasonal level), so X'WX costs O(n) and the p x p Cholesky factor is the
 * rest. Returns false when X'WX is not positive definite (a column depends
 * on the others; R would pivot it out, which cannot happen with this design,
 * and we refuse rather than guess). */
static bool s_lsq(const s_glm_t *g, const double *wt, const double *z, double *r, double *beta)
{
    int n = g->n, p = g->p, tc = g->trend ? 1 : -1; /* column of time, if any */
    double xtx[64 * 64], xtz[64];
    memset(xtx, 0, (size_t)(p * p) * sizeof *xtx);
    memset(xtz, 0, (size_t)p * sizeof *xtz);
    /* The design is an intercept, maybe time t, and one seasonal dummy per
     * row (column lev, or none for the first level): X'WX is made of the
     * sums below. */
    double sw = 0, swt = 0, swtt = 0, swz = 0, swtz = 0;
    double lw[64] = {0}, lwt[64] = {0}, lwz[64] = {0};
    for (int i = 0; i < n; i++) {
        double w = wt[i], t = g->t[i], wz = w * z[i];
        int l = g->lev[i];
        sw += w;
        swz += wz;
        swt += w * t;
        swtt += w * t * t;
        swtz += wz * t;
        lw[l] += w;
        lwt[l] += w * t;
        lwz[l] += wz;
    }
    xtx[0] = sw;
    xtz[0] = swz;
    if (tc > 0) {
        xtx[1] = xtx[p] = swt;
        xtx[p + 1] = swtt;
        xtz[1] = swtz;
    }
    for (int c = tc > 0 ? 2 : 1; c < p; c++) {
        xtx[c] = xtx[c * p] = xtx[c * p + c] = lw[c];
        if (tc > 0)
            xtx[p + c] = xtx[c * p + 1] = lwt[c];
        xtz[c] = lwz[c];
    }
    /* Cholesky X'WX = R'R, R upper (row-major) */
    for (int j = 0; j < p; j++) {
        double d = xtx[j * p + j];
        for (int k = 0; k < j; k++)
            d -= r[k * p + j] * r[k * p + j];
        if (!(d > 1e-13 * xtx[j * p + j]) || d <= 0)
            return false;
        r[j * p + j] = sqrt(d);
        for (int c = j + 1; c < p; c++) {
            double s = xtx[j * p + c];
            for (int k = 0; k < j; k++)
                s -= r[k * p + j] * r[k * p + c];
            r[j * p + c] = s / r[j * p + j];
        }
        for (int c = 0; c < j; c++)
            r[j * p + c] = 0;
    }
    /* R'R beta = X'Wz: forward then back substitution */
    double u[64];
    for (int j = 0; j < p; j++) {
        double s = xtz[j];
        for (int k = 0; k < j; k++)
            s -= r[k * p + j] * u[k];
        u[j] = s / r[j * p + j];
    }
    for (int j = p - 1; j >= 0; j--) {
        double s = u[j];
        for (int c = j + 1; c < p; c++)
            s -= r[j * p + c] * beta[c];
        beta[j] = s / r[j * p + j];
    }
    return true;
}

/* v = R^-T x (forward substitution); returns ||v||^2 = x' (R'R)^-1 x. */
static double s_quad(const double *r, int p, const double *x, double *v)
{
    double q = 0;
    for (int j = 0; j < p; j++) {
        double s = x[j];
        for (int c = 0; c < j; c++)
            s -= r[c * p + j] * v[c];
        v[j] = s / r[j * p + j];
        q += v[j] * v[j];
    }
    return q;
}

static void s_linpred(s_glm_t *g, const double *coef)
{
    for (int i = 0; i < g->n; i++) {
        double e = 0;
        for (int a = 0; a < g->nnz[i]; a++)
            e += g->val[i * S_NNZ + a] * coef[g->col[i * S_NNZ + a]];
        g->eta[i] = e;
        g->mu[i] = s_linkinv(e);
    }
}

static bool s_validmu(const s_glm_t *g)
{
    for (int i = 0; i < g->n; i++)
        if (!isfinite(g->mu[i]) || g->mu[i] <= 0)
            return false;
    return true;
}

/* glm.fit with family quasipoisson(log), no offset, control epsilon 1e-8,
 * maxit 25. Returns false when R would have stopped with an error or no
 * valid fit exists. g->converged says whether it converged. */
static bool s_glm_fit(s_glm_t *g)
{
    int n = g->n, p = g->p;
    for (int i = 0; i < n; i++) {
        g->mu[i] = g->y[i] + 0.1; /* mustart */
        g->eta[i] = log(g->mu[i]);
        g->mu[i] = s_linkinv(g->eta[i]);
    }
    double devold = s_deviance(g);
    bool have_coefold = false;
    g->converged = false;
    for (int iter = 1; iter <= 25; iter++) {
        for (int i = 0; i < n; i++) {
            double me = g->mu[i]; /* mu.eta(eta) is linkinv(eta), which mu already is */
            g->z[i] = g->eta[i] + (g->y[i] - g->mu[i]) / me;
            g->wwork[i] = g->prior[i] * me * me / g->mu[i];
        }
        if (!s_lsq(g, g->wwork, g->z, g->r, g->beta))
            return false;
        for (int j = 0; j < p; j++)
            if (!isfinite(g->beta[j]))
                return true; /* "non-finite coefficients": not converged */
        s_linpred(g, g->beta);
        double dev = s_deviance(g);
        if (!isfinite(dev) || !s_validmu(g)) {
            if (!have_coefold)
                return false; /* R stops: no valid set of coefficients */
            for (int ii = 1; !isfinite(dev) || !s_validmu(g); ii++) {
                if (ii > 25)
                    return false;
                for (int j = 0; j < p; j++)
                    g->beta[j] = (g->beta[j] + g->coefold[j]) / 2;
                s_linpred(g, g->beta);
                dev = s_deviance(g);
            }
        }
        if (fabs(dev - devold) / (fabs(dev) + 0.1) < 1e-8) {
            g->converged = true;
            break;
        }
        devold = dev;
        memcpy(g->coefold, g->beta, (size_t)p * sizeof *g->beta);
        have_coefold = true;
    }
    return true;
}

/* summary.glm(model)$dispersion for quasipoisson: Pearson, with the working
 * weights of the last iteration and the final residuals. */
static double s_dispersion(const s_glm_t *g)
{
    double s = 0;
    for (int i = 0; i < g->n; i++) {
        double res = (g->y[i] - g->mu[i]) / g->mu[i]; /* mu.eta(eta) = mu */
        s += g->wwork[i] * res * res;
    }
    return s / (g->n - g->p);
}

/* A fitted model as algo.farrington.fitGLM.flexible leaves it. */
typedef struct {
    bool ok;
    bool trend;   /* the fitted formula has wtime */
    double phi;   /* max(dispersion, 1) */
    double disp;  /* summary dispersion of the final (reweighted) fit */
} s_model_t;

/* Builds the design of the rows for formula response ~ 1 [+ wtime] + seasgroups. */
static void s_design(s_glm_t *g, const long *rows, const double *f, const double *yall, int nrows,
                     bool trend, const int *levels, int nlev, double wcenter)
{
    g->n = nrows;
    g->p = 1 + (trend ? 1 : 0) + (nlev - 1);
    for (int i = 0; i < nrows; i++) {
        double *x = &g->x[i * g->p];
        int c = 0;
        x[c++] = 1;
        if (trend)
            x[c++] = (double)rows[i] - wcenter; /* wtime, centred: same fit, better conditioned */
        for (int l = 1; l < nlev; l++)
            x[c++] = f[rows[i] - 1] == levels[l] ? 1 : 0;
        g->trend = trend;
        g->t[i] = trend ? x[1] : 0;
        g->lev[i] = 0;
        for (int j = trend ? 2 : 1; j < g->p; j++)
            if (x[j] != 0)
                g->lev[i] = j;
        g->nnz[i] = 0;
        for (int j = 0; j < g->p && g->nnz[i] < S_NNZ; j++)
            if (x[j] != 0) {
                g->col[i * S_NNZ + g->nnz[i]] = j;
                g->val[i * S_NNZ + g->nnz[i]++] = x[j];
            }
        g->y[i] = yall[rows[i] - 1];
        g->ylogy[i] = g->y[i] > 0 ? g->y[i] * log(g->y[i]) : 0;
        g->prior[i] = 1;
    }
}

/* algo.farrington.assign.weights on Anscombe residuals of the fit. */
static void s_reweight(s_glm_t *g, double phi, double threshold)
{
    /* (X'WX)^-1 = R^-1 R^-T, column by column, for the hat values */
    int p = g->p;
    double inv[64 * 64], e[64];
    for (int j = 0; j < p; j++) {
        memset(e, 0, (size_t)p * sizeof *e);
        e[j] = 1;
        s_quad(g->r, p, e, g->v); /* v = R^-T e_j */
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
    s_design(g, rows, f, y, nrows, trend, levels, nlev, wcenter);
    if (!s_glm_fit(g))
        return m;
    if (!g->converged) {
        if (!trend)
            return m;
        trend = false;
        s_design(g, rows, f, y, nrows, false, levels, nlev, wcenter);
        if (!s_glm_fit(g) || !g->converged)
            return m;
    }
    double phi = fmax(s_dispersion(g), 1);
    if (o->reweight) {
        s_reweight(g, phi, o->weights_threshold);
        if (!s_glm_fit(g)) /* R does not check this fit's convergence */
            return m;
        phi = fmax(s_dispersion(g), 1);
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
        m.disp = s_dispersion(g);
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
    int rc = f && rows ? s_glm_alloc(&g, (int)N, o->no_periods + 2) : TSR_ENOMEM;
    for (long k = first; rc == 0 && k <= N; k++) {
        tsr_spike_point_t *pt = &out[k - 1];
        if ((rc = s_blocks(f, N, k, o)) != 0)
            break;
        /* blocksID[(k - pastWeeksNotIncluded):k] <- NA */
        for (long i = k - o->past_weeks_not_included; i <= k; i++)
            if (i >= 1)
                f[i - 1] = NAN;
        int nrows = 0, levels[64], nlev = 0;
        double ymax = 0, wsum = 0;
        for (long i = 1; i <= N; i++) {
            if (isnan(f[i - 1]))
                continue;
            rows[nrows++] = i;
            wsum += (double)i;
            if (y[i - 1] > ymax)
                ymax = y[i - 1];
            int lv = (int)f[i - 1], l;
            for (l = 0; l < nlev && levels[l] != lv; l++)
                ;
            if (l == nlev && nlev < 64)
                levels[nlev++] = lv;
        }
        /* factor levels sort numerically; the first is the baseline */
        for (int a = 1; a < nlev; a++)
            for (int b2 = a; b2 > 0 && levels[b2 - 1] > levels[b2]; b2--) {
                int tmp = levels[b2];
                levels[b2] = levels[b2 - 1];
                levels[b2 - 1] = tmp;
            }
        double wcenter = nrows ? wsum / nrows : 0;
        int pred_level = o->no_periods;
        double recent = 0;
        for (long i = k - o->limit54_period + 1; i <= k; i++)
            recent += i >= 1 ? y[i - 1] : 0;
        bool enough = recent >= o->limit54_cases;
        if (!enough) {
            /* Too few recent cases: R reports no bound and no alarm whatever
             * the model says, unless no model converges at all (then the
             * alarm is NA). Only that needs finding out. */
            s_design(&g, rows, f, y, nrows, o->trend, levels, nlev, wcenter);
            bool ok = s_glm_fit(&g) && g.converged;
            if (!ok && o->trend) {
                s_design(&g, rows, f, y, nrows, false, levels, nlev, wcenter);
                ok = s_glm_fit(&g) && g.converged;
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
            double se = sqrt(m.disp * s_quad(g.r, g.p, e1, g.v));
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
        double se_eta0 = sqrt(m.disp * s_quad(g.r, g.p, x0, g.v));
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
    s_glm_free(&g);
    free(f);
    free(rows);
    return rc;
}

/* --- series files ------------------------------------------------------------------- */

typedef struct {
    tsr_series_t *s;
    size_t cap;
    int step;
    const char *path;
    tsr_error_t *err;
    bool header;
} s_load_t;

static int s_load_row(void *ctx, char **fields, size_t nf, long line)
{
    s_load_t *l = ctx;
    tsr_series_t *s = l->s;
    tsr_error_at(l->err, l->path, line);
    if (!l->header) {
        if (nf != 2 || strcmp(fields[0], "period") != 0 || strcmp(fields[1], "count") != 0)
            return tsr_error_set(l->err, "", "the first line must be the header 'period,count'");
        l->header = true;
        return 0;
    }
    if (nf != 2)
        return tsr_error_set(l->err, "", "%zu fields; want 2 (period,count)", nf);
    int32_t day;
    if (tsr_day_parse(fields[0], &day) != 0)
        return tsr_error_set(l->err, "period", "'%s' is not a date (YYYY-MM-DD)", fields[0]);
    char *end;
    double c = strtod(fields[1], &end);
    if (*fields[1] == '\0' || *end || c < 0 || c != floor(c) || c > 1e9)
        return tsr_error_set(l->err, "count", "'%s' is not a whole number of cases", fields[1]);
    if (s->n > 0) {
        int32_t d = day - s->day[s->n - 1];
        if (l->step == 0 && s->n == 1 && (d == 1 || d == 7))
            l->step = d;
        if (d != l->step) {
            char prev[11];
            return tsr_error_set(l->err, "period",
                                 "%s does not follow %s by %d day%s (periods must be "
                                 "consecutive, without gaps)",
                                 fields[0], tsr_day_format(prev, s->day[s->n - 1]),
                                 l->step ? l->step : 1, l->step == 1 || !l->step ? "" : "s");
        }
    }
    if (s->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        int32_t *d = realloc(s->day, cap * sizeof *d);
        if (d)
            s->day = d;
        double *cn = realloc(s->count, cap * sizeof *cn);
        if (cn)
            s->count = cn;
        if (!d || !cn)
            return TSR_ENOMEM;
        l->cap = cap;
    }
    s->day[s->n] = day;
    s->count[s->n++] = c;
    return 0;
}

int tsr_series_load(tsr_series_t *s, const char *path, int step, tsr_error_t *err)
{
    memset(s, 0, sizeof *s);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        tsr_error_at(err, path, 0);
        tsr_error_set(err, "", "cannot open: %s", strerror(errno));
        return TSR_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(fp);
                return TSR_ENOMEM;
            }
            buf = b;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    fclose(fp);
    s_load_t l = {s, 0, step, path, err, false};
    int rc = tsr_csv_parse(buf, len, s_load_row, &l, err);
    free(buf);
    if (rc == 0 && s->n == 0)
        rc = tsr_error_set(err, "", "no periods");
    if (rc != 0) {
        if (err && err->file[0] == '\0')
            snprintf(err->file, sizeof err->file, "%s", path);
        tsr_series_free(s);
        return rc;
    }
    s->step = l.step ? l.step : (step ? step : 1);
    return 0;
}

void tsr_series_free(tsr_series_t *s)
{
    free(s->day);
    free(s->count);
    memset(s, 0, sizeof *s);
}

const char *tsr_spike_method_title(const char *method)
{
    static const char *const names[][2] = {
        {"c1", "EARS C1"}, {"c2", "EARS C2"}, {"c3", "EARS C3"}, {"farrington", "Farrington flexible"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(method, names[i][0]))
            return names[i][1];
    return NULL;
}
