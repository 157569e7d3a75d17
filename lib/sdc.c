/* sdc.c - cell suppression with a linear-program audit (see sdc.h). */
#include "tessera/sdc.h"
#include "tessera/err.h"

#include <glpk.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The lines whose totals an analyst may know: rows (when there are several
 * columns), columns (when there are several rows), and the grand total. */
typedef struct {
    size_t r, c;
    const bool *row_known; /* NULL: every row total may be known */
    const uint64_t *cells;
    unsigned k;
} s_shape_t;

static bool s_on(s_shape_t t, size_t l, size_t i, size_t j);

enum { S_UNKNOWN = 0, S_BELOW_K = 1, S_EXACT = 2 };

/* What the analyst may know of line l's total: nothing (a row the caller
 * says is hidden), that it is below k (a total from 1 to k-1: any table
 * showing it as a cell hides it), or the number. */
static int s_known(s_shape_t t, size_t l)
{
    if (t.c > 1 && l < t.r && t.row_known && !t.row_known[l])
        return S_UNKNOWN;
    uint64_t total = 0;
    for (size_t x = 0; x < t.r * t.c; x++)
        if (s_on(t, l, x / t.c, x % t.c))
            total += t.cells[x];
    return total == 0 || total >= t.k ? S_EXACT : S_BELOW_K;
}

static size_t s_nlines(s_shape_t t) { return (t.c > 1 ? t.r : 0) + (t.r > 1 ? t.c : 0) + 1; }

/* Whether cell (i, j) is on line l. */
static bool s_on(s_shape_t t, size_t l, size_t i, size_t j)
{
    size_t rows = t.c > 1 ? t.r : 0, cols = t.r > 1 ? t.c : 0;
    if (l < rows)
        return i == l;
    if (l < rows + cols)
        return j == l - rows;
    return true; /* grand total */
}

static int s_audit(const uint64_t *v, s_shape_t t, unsigned k, const int *mark, size_t *pinned)
{
    size_t n = t.r * t.c, nl = s_nlines(t), nv = 0;
    int *var = malloc((n + 1) * sizeof *var); /* cell -> LP column (1-based), 0 = shown */
    if (!var)
        return TSR_ENOMEM;
    for (size_t x = 0; x < n; x++)
        var[x] = mark[x] != TSR_SDC_SHOWN ? (int)++nv : 0;
    if (nv == 0) {
        free(var);
        return 0;
    }
    glp_prob *lp = glp_create_prob();
    glp_add_cols(lp, (int)nv);
    for (size_t x = 0; x < n; x++) {
        if (!var[x])
            continue;
        if (mark[x] == TSR_SDC_SMALL) /* 1..k-1, or a zero hidden to protect one */
            glp_set_col_bnds(lp, var[x], GLP_DB, 0, k - 1);
        else
            glp_set_col_bnds(lp, var[x], GLP_LO, k, 0);
    }
    /* one row per line holding a suppressed cell: their sum is what the
     * line's total leaves after the shown cells */
    int *ind = malloc((n + 1) * sizeof *ind);
    double *val = malloc((n + 1) * sizeof *val);
    if (!ind || !val) {
        free(ind);
        free(val);
        free(var);
        glp_delete_prob(lp);
        return TSR_ENOMEM;
    }
    for (size_t l = 0; l < nl; l++) {
        int cnt = 0;
        double rest = 0, shown = 0;
        int known = s_known(t, l);
        if (known == S_UNKNOWN)
            continue;
        for (size_t i = 0; i < t.r; i++)
            for (size_t j = 0; j < t.c; j++) {
                if (!s_on(t, l, i, j))
                    continue;
                size_t x = i * t.c + j;
                if (var[x]) {
                    ind[++cnt] = var[x];
                    val[cnt] = 1;
                    rest += (double)v[x];
                } else {
                    shown += (double)v[x];
                }
            }
        if (cnt == 0)
            continue;
        int row = glp_add_rows(lp, 1);
        if (known == S_EXACT)
            glp_set_row_bnds(lp, row, GLP_FX, rest, rest);
        else /* the total is only known to be below k */
            glp_set_row_bnds(lp, row, GLP_UP, 0, (double)t.k - 1 - shown);
        glp_set_mat_row(lp, row, cnt, ind, val);
    }
    glp_smcp parm;
    glp_init_smcp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    int out = 0;
    for (size_t x = 0; x < n && out == 0; x++) {
        if (!var[x])
            continue;
        double lo = -INFINITY, hi = INFINITY;
        for (int dir = 0; dir < 2; dir++) {
            for (int c = 1; c <= (int)nv; c++)
                glp_set_obj_coef(lp, c, c == var[x] ? 1 : 0);
            glp_set_obj_dir(lp, dir == 0 ? GLP_MIN : GLP_MAX);
            int st = glp_simplex(lp, &parm) == 0 ? glp_get_status(lp) : GLP_UNDEF;
            if (st == GLP_OPT) {
                if (dir == 0)
                    lo = glp_get_obj_val(lp);
                else
                    hi = glp_get_obj_val(lp);
            } else if (!(dir == 1 && st == GLP_UNBND)) {
                lo = hi = 0; /* a solver that fails proves nothing: count it pinned */
            }
        }
        if (hi - lo < 0.5) { /* one value only (the constraints are integral) */
            *pinned = x;
            out = 1;
        }
    }
    glp_delete_prob(lp);
    free(ind);
    free(val);
    free(var);
    return out;
}

int tsr_sdc_audit(const uint64_t *cells, size_t r, size_t c, unsigned k, const int *mark,
                  size_t *pinned)
{
    return s_audit(cells, (s_shape_t){r, c, NULL, cells, k}, k, mark, pinned);
}

/* The smallest shown cell on a line through cell p, or anywhere; SIZE_MAX
 * when none is left. */
static size_t s_candidate(const uint64_t *v, s_shape_t t, const int *mark, size_t p)
{
    size_t best = SIZE_MAX, pi = p / t.c, pj = p % t.c;
    for (int pass = 0; pass < 2 && best == SIZE_MAX; pass++)
        for (size_t x = 0; x < t.r * t.c; x++) {
            bool near = x / t.c == pi || x % t.c == pj || (t.c == 1 || t.r == 1);
            if (mark[x] != TSR_SDC_SHOWN || (pass == 0 && !near))
                continue;
            if (best == SIZE_MAX || v[x] < v[best])
                best = x;
        }
    return best;
}

/* A cell hidden to protect another: a zero is hidden as "<k" (true of it);
 * a count of k or more as protective ("x"), which says it is k or more. */
static int s_hide_mark(uint64_t v, unsigned k) { return v < k ? TSR_SDC_SMALL : TSR_SDC_PROTECTIVE; }

int tsr_sdc_protect(const uint64_t *cells, size_t r, size_t c, unsigned k, int *mark)
{
    for (size_t x = 0; x < r * c; x++)
        mark[x] = TSR_SDC_SHOWN;
    return tsr_sdc_protect_more(cells, r, c, k, mark, NULL);
}

int tsr_sdc_protect_more(const uint64_t *cells, size_t r, size_t c, unsigned k, int *mark,
                         const bool *row_known)
{
    if (k < 3 || r == 0 || c == 0)
        return TSR_EINVAL;
    s_shape_t t = {r, c, row_known, cells, k};
    size_t n = r * c;
    for (size_t x = 0; x < n; x++)
        if (mark[x] == TSR_SDC_SHOWN && cells[x] >= 1 && cells[x] < k)
            mark[x] = TSR_SDC_SMALL;
    /* no line may hold a single suppressed cell */
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t l = 0; l < s_nlines(t); l++) {
            size_t ns = 0;
            uint64_t hidden = 0;
            if (s_known(t, l) != S_EXACT)
                continue;
            for (size_t x = 0; x < n; x++)
                if (s_on(t, l, x / c, x % c) && mark[x] != TSR_SDC_SHOWN) {
                    ns++;
                    hidden += cells[x];
                }
            /* A line's total less its shown cells is the sum of its hidden
             * ones: a single hidden cell is then known, and a sum from 1 to
             * k-1 is itself a small count ("3 cases in these two areas"). */
            bool small_sum = hidden > 0 && hidden < k;
            if (ns != 1 && !small_sum)
                continue;
            size_t best = SIZE_MAX;
            for (size_t x = 0; x < n; x++)
                if (s_on(t, l, x / c, x % c) && mark[x] == TSR_SDC_SHOWN &&
                    (!small_sum || cells[x] > 0) && (best == SIZE_MAX || cells[x] < cells[best]))
                    best = x;
            if (best == SIZE_MAX && small_sum)
                return TSR_ERANGE; /* the line's total is itself small */
            if (best != SIZE_MAX) {
                mark[best] = s_hide_mark(cells[best], k);
                changed = true;
            }
        }
    }
    /* then until the audit finds nothing that can be worked out */
    for (size_t guard = 0; guard <= n; guard++) {
        size_t pinned = 0;
        int rc = s_audit(cells, t, k, mark, &pinned);
        if (rc <= 0)
            return rc;
        size_t x = s_candidate(cells, t, mark, pinned);
        if (x == SIZE_MAX)
            return TSR_ERANGE;
        mark[x] = s_hide_mark(cells[x], k);
    }
    return TSR_ERANGE;
}
