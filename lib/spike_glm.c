/* spike_glm.c - the quasi-Poisson GLM that Farrington flexible fits,
 * following R's glm.fit (IRLS) and summary.glm step by step, so that the
 * numbers agree with R's surveillance package (spike_farrington.c). The
 * design is sparse (intercept, time, one seasonal dummy per row), which
 * makes a fit O(n). */
#include "spike_int.h"
#include "tessera/err.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void tsr_spike_glm_free(s_glm_t *g)
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

int tsr_spike_glm_alloc(s_glm_t *g, int nmax, int pmax)
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
double tsr_spike_glm_quad(const double *r, int p, const double *x, double *v)
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
bool tsr_spike_glm_fit(s_glm_t *g)
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
double tsr_spike_glm_dispersion(const s_glm_t *g)
{
    double s = 0;
    for (int i = 0; i < g->n; i++) {
        double res = (g->y[i] - g->mu[i]) / g->mu[i]; /* mu.eta(eta) = mu */
        s += g->wwork[i] * res * res;
    }
    return s / (g->n - g->p);
}

/* Builds the design of the rows for formula response ~ 1 [+ wtime] + seasgroups. */
void tsr_spike_glm_design(s_glm_t *g, const long *rows, const double *f, const double *yall,
                          int nrows, bool trend, const int *levels, int nlev, double wcenter)
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
