/* spike_int.h - what the Farrington files share and nothing else includes:
 * the weighted least-squares problem of a quasi-Poisson GLM, fitted as R's
 * glm.fit does (spike_glm.c), and what algo.farrington.* build on it
 * (spike_farrington.c). spike.c holds EARS and the series files. */
#ifndef TESSERA_SPIKE_INT_H
#define TESSERA_SPIKE_INT_H

#include "tessera/spike.h"

#include <stdbool.h>

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

/* Room for nmax rows and pmax columns: 0 or TSR_ENOMEM. Free with
 * tsr_spike_glm_free() either way (g zeroed first). */
/* (spike_glm.c) */
int tsr_spike_glm_alloc(s_glm_t *g, int nmax, int pmax);
void tsr_spike_glm_free(s_glm_t *g);

/* Builds the design of the rows for formula response ~ 1 [+ wtime] +
 * seasgroups: rows are 1-based periods, f their seasonal factor, yall the
 * whole series, levels the factor's nlev levels (the first the baseline),
 * wcenter the mean time the time column is centred on. */
/* (spike_glm.c) */
void tsr_spike_glm_design(s_glm_t *g, const long *rows, const double *f, const double *yall,
                          int nrows, bool trend, const int *levels, int nlev, double wcenter);

/* glm.fit with family quasipoisson(log), no offset, control epsilon 1e-8,
 * maxit 25. Returns false when R would have stopped with an error or no
 * valid fit exists. g->converged says whether it converged. */
/* (spike_glm.c) */
bool tsr_spike_glm_fit(s_glm_t *g);

/* summary.glm(model)$dispersion for quasipoisson: Pearson, with the working
 * weights of the last iteration and the final residuals. */
/* (spike_glm.c) */
double tsr_spike_glm_dispersion(const s_glm_t *g);

/* v = R^-T x (forward substitution) for the p x p upper triangle r of a
 * fit; returns ||v||^2 = x' (R'R)^-1 x. */
/* (spike_glm.c) */
double tsr_spike_glm_quad(const double *r, int p, const double *x, double *v);

#endif
