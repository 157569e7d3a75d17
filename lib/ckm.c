/* ckm.c - the cell-key method: record keys and the perturbation table
 * (see ckm.h for the method; docs/PRIVACY.md for its parameters). */
#include "tessera/ckm.h"
#include "tessera/err.h"

#include <math.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C_SCALE 4294967296.0 /* 2^32: the cell key's range */

/* Maximum-entropy probabilities p[m] proportional to exp(a x + b x^2) over
 * the offsets x[0..n) with mean 0 and, when use_b, mean square v: the
 * minimum of the convex dual log Z(a, b) - b v, found by Newton's method
 * with backtracking. Returns true when the constraints are met (to 1e-12);
 * false when they cannot be (the dual has no minimum: a or b runs away). */
static bool s_maxent(const double *x, size_t n, double v, bool use_b, double *p)
{
    double a = 0, b = 0;
    for (int iter = 0; iter < 500; iter++) {
        /* moments under (a, b), with the largest exponent subtracted */
        double top = -INFINITY;
        for (size_t m = 0; m < n; m++)
            top = fmax(top, a * x[m] + b * x[m] * x[m]);
        double z = 0, e1 = 0, e2 = 0, e3 = 0, e4 = 0;
        for (size_t m = 0; m < n; m++) {
            double w = exp(a * x[m] + b * x[m] * x[m] - top);
            p[m] = w;
            z += w;
        }
        for (size_t m = 0; m < n; m++) {
            p[m] /= z;
            double x2 = x[m] * x[m];
            e1 += p[m] * x[m];
            e2 += p[m] * x2;
            e3 += p[m] * x2 * x[m];
            e4 += p[m] * x2 * x2;
        }
        double g1 = e1, g2 = use_b ? e2 - v : 0;
        if (fabs(g1) < 1e-12 && fabs(g2) < 1e-12)
            return true;
        if (fabs(a) > 200 || fabs(b) > 200)
            return false;
        /* Hessian: the covariance of (x, x^2) */
        double h11 = e2 - e1 * e1, h12 = e3 - e1 * e2, h22 = e4 - e2 * e2;
        double da, db;
        if (use_b) {
            double det = h11 * h22 - h12 * h12;
            if (!(det > 1e-300))
                return false;
            da = (h22 * g1 - h12 * g2) / det;
            db = (h11 * g2 - h12 * g1) / det;
        } else {
            if (!(h11 > 1e-300))
                return false;
            da = g1 / h11;
            db = 0;
        }
        /* a full step converges fast near the optimum; far from it, halve
         * until the gradient shrinks (the dual is convex, so one does) */
        double norm = g1 * g1 + g2 * g2, t = 1;
        for (int half = 0; half < 40; half++, t /= 2) {
            double na = a - t * da, nb = b - t * db, ntop = -INFINITY;
            for (size_t m = 0; m < n; m++)
                ntop = fmax(ntop, na * x[m] + nb * x[m] * x[m]);
            double nz = 0, n1 = 0, n2 = 0;
            for (size_t m = 0; m < n; m++) {
                double w = exp(na * x[m] + nb * x[m] * x[m] - ntop);
                nz += w;
                n1 += w * x[m];
                n2 += w * x[m] * x[m];
            }
            n1 /= nz;
            n2 = use_b ? n2 / nz - v : 0;
            if (n1 * n1 + n2 * n2 < norm || half == 39) {
                a = na;
                b = nb;
                break;
            }
        }
    }
    return false;
}

/* Row i of the table: the support, the probabilities, their cumulative
 * thresholds on the key's range, and the exact moments. */
static bool s_row(tsr_ckm_row_t *r, uint64_t i, unsigned d, double v, unsigned js)
{
    memset(r, 0, sizeof *r);
    if (i == 0) {
        r->n = 1;
        r->p[0] = 1;
        r->cum[0] = (uint64_t)1 << 32;
        r->variance_met = false;
        return true;
    }
    double x[TSR_CKM_MAX_SUPPORT] = {0}, p_mean_only[TSR_CKM_MAX_SUPPORT] = {0};
    for (int64_t j = (int64_t)i - (int64_t)d; j <= (int64_t)(i + d); j++)
        if (j == 0 || j > (int64_t)js) {
            r->j[r->n] = (uint64_t)j;
            x[r->n++] = (double)j - (double)i;
        }
    /* Mean only first: where that already varies no more than V (supports
     * cut short by 1..js), it is the row; forcing V there would push the
     * mass to the support's ends (a count of 6 released as 5 or 11 only). */
    if (!s_maxent(x, r->n, v, false, p_mean_only))
        return false;
    double v0 = 0;
    for (size_t m = 0; m < r->n; m++)
        v0 += p_mean_only[m] * x[m] * x[m];
    r->variance_met = v0 > v - 1e-9 && s_maxent(x, r->n, v, true, r->p);
    if (!r->variance_met)
        memcpy(r->p, p_mean_only, sizeof r->p);
    double cum = 0;
    for (size_t m = 0; m < r->n; m++) {
        cum += r->p[m];
        r->cum[m] = m + 1 == r->n ? (uint64_t)1 << 32 : (uint64_t)llround(cum * C_SCALE);
        r->mean += r->p[m] * (double)r->j[m];
    }
    for (size_t m = 0; m < r->n; m++)
        r->variance += r->p[m] * ((double)r->j[m] - r->mean) * ((double)r->j[m] - r->mean);
    return fabs(r->mean - (double)i) < 1e-9;
}

int tsr_ckm_table_build(tsr_ckm_table_t *t, unsigned d, double v, unsigned js, char *why,
                        size_t cap)
{
    char dummy[8];
    if (!why) {
        why = dummy;
        cap = sizeof dummy;
    }
    memset(t, 0, sizeof *t);
    if (js < 1 || js > TSR_CKM_MAX_JS) {
        snprintf(why, cap, "js must be from 1 to %d (no count from 1 to js is released)",
                 TSR_CKM_MAX_JS);
        return TSR_EINVAL;
    }
    if (d < js || d > TSR_CKM_MAX_D) {
        snprintf(why, cap,
                 "the maximum deviation must be from js (%u: a count of 1 must be able to "
                 "become js + 1) to %d",
                 js, TSR_CKM_MAX_D);
        return TSR_EINVAL;
    }
    double vmax = (double)d * (d + 1) / 3.0;
    if (!(v > 0) || v > vmax) {
        snprintf(why, cap,
                 "the variance must be above 0 and at most %.4g (the most a deviation of at "
                 "most %u can have)",
                 vmax, d);
        return TSR_EINVAL;
    }
    t->d = d;
    t->v = v;
    t->js = js;
    t->n_rows = (size_t)js + d + 2;
    for (size_t i = 0; i < t->n_rows; i++)
        if (!s_row(&t->rows[i], i, d, v, js)) {
            snprintf(why, cap, "no unbiased perturbation exists for a count of %zu", i);
            return TSR_EINVAL;
        }
    return TSR_OK;
}

uint64_t tsr_ckm_perturb(const tsr_ckm_table_t *t, uint64_t count, uint32_t cell_key)
{
    if (count == 0 || t->n_rows == 0)
        return count; /* no records, no key: a true zero stays zero */
    size_t r = count < t->n_rows ? (size_t)count : t->n_rows - 1;
    uint64_t shift = count - r;
    const tsr_ckm_row_t *row = &t->rows[r];
    size_t m = 0;
    while (m + 1 < row->n && (uint64_t)cell_key >= row->cum[m])
        m++;
    return row->j[m] + shift;
}

static const char s_label[] = "tessera cell key v1"; /* fed with its NUL */

struct tsr_ckm_keyer {
    EVP_MAC *mac;
    EVP_MAC_CTX *keyed; /* HMAC-SHA256 with the secret set */
};

int tsr_ckm_keyer_new(tsr_ckm_keyer_t **out, const uint8_t secret[TSR_CKM_SECRET_LEN])
{
    *out = NULL;
    tsr_ckm_keyer_t *k = calloc(1, sizeof *k);
    if (!k)
        return TSR_ENOMEM;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    k->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    k->keyed = k->mac ? EVP_MAC_CTX_new(k->mac) : NULL;
    if (!k->keyed || !EVP_MAC_init(k->keyed, secret, TSR_CKM_SECRET_LEN, params)) {
        tsr_ckm_keyer_destroy(&k);
        return TSR_ECRYPTO;
    }
    *out = k;
    return TSR_OK;
}

void tsr_ckm_keyer_destroy(tsr_ckm_keyer_t **k_p)
{
    if (!k_p || !*k_p)
        return;
    EVP_MAC_CTX_free((*k_p)->keyed); /* OpenSSL cleanses the key material */
    EVP_MAC_free((*k_p)->mac);
    free(*k_p);
    *k_p = NULL;
}

int tsr_ckm_record_key(tsr_ckm_keyer_t *k, const uint8_t *id, size_t len, uint32_t *key)
{
    uint8_t out[32];
    size_t out_len = 0;
    /* OpenSSL 3: an init without a key starts again with the key set */
    if (!EVP_MAC_init(k->keyed, NULL, 0, NULL) ||
        !EVP_MAC_update(k->keyed, (const uint8_t *)s_label, sizeof s_label) ||
        !EVP_MAC_update(k->keyed, id, len) ||
        !EVP_MAC_final(k->keyed, out, &out_len, sizeof out) || out_len != sizeof out)
        return TSR_ECRYPTO;
    *key = (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
    return TSR_OK;
}

int tsr_ckm_secret_new(uint8_t secret[TSR_CKM_SECRET_LEN])
{
    return RAND_bytes(secret, TSR_CKM_SECRET_LEN) == 1 ? TSR_OK : TSR_ECRYPTO;
}
