/* ckm.h - the cell-key method of disclosure control (docs/PRIVACY.md), after
 * ABS TableBuilder (Thompson, Broadfoot & Elazar 2013) and the ONS's
 * protection of Census 2021 tables; the perturbation table is made as the
 * sdcTools R package `ptable` makes one (maximum entropy).
 *
 * Every record has a key, a 32-bit number fixed for its life: an HMAC of its
 * record id under a secret only the collector holds, so a replay, restore or
 * rebuild gives the same key. A cell's key is the sum of its records' keys
 * modulo 2^32: the same set of records has the same key, whichever query,
 * table shape or format asks. The perturbation table maps (true count, cell
 * key) to the count released, so the same records always release the same
 * number, and repeating or reshaping a query gains nothing.
 *
 * The table, for a count i and parameters D (maximum deviation), V (target
 * variance) and js (the largest count never released, k - 1):
 *   - i = 0 releases 0: an empty cell has no records and so no key, and
 *     inventing cases where there are none would mislead safeguarding;
 *   - i >= 1 releases j with probability p_i(j) over the j with |j - i| <= D,
 *     j >= 0 and j not in 1..js; E[j] = i exactly (unbiased) and, where the
 *     support allows, Var[j] = V; among those, p_i has the largest entropy
 *     (p_i(j) proportional to exp(a (j - i) + b (j - i)^2)). Where the
 *     distribution with the mean fixed alone already varies no more than V
 *     (small i, whose support 1..js cuts short), or none has variance V,
 *     only the mean is fixed and the variance is what maximum entropy gives:
 *     forcing V there would put all the mass on the support's two ends.
 *   - every i >= js + D + 1 has the whole symmetric support, so its row is
 *     the same shape shifted: rows are kept up to that i.
 * A cell key k in [0, 2^32) picks the j where the row's cumulative
 * probability (scaled to 2^32) first exceeds k. Record keys are uniform, so
 * the key of any non-empty cell is uniform and the released count has
 * exactly the row's distribution (to 2^-32).
 */
#ifndef TESSERA_CKM_H
#define TESSERA_CKM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSR_CKM_SECRET_LEN 32
#define TSR_CKM_MAX_D 20
#define TSR_CKM_MAX_JS 20
/* rows kept: i = 0 .. js + D + 1 */
#define TSR_CKM_MAX_ROWS (TSR_CKM_MAX_JS + TSR_CKM_MAX_D + 2)
#define TSR_CKM_MAX_SUPPORT (2 * TSR_CKM_MAX_D + 1)

/* One row: the released values j[0..n) with cumulative thresholds
 * cum[0..n) (cum[n - 1] = 2^32), and its exact moments. */
typedef struct tsr_ckm_row {
    size_t n;
    uint64_t j[TSR_CKM_MAX_SUPPORT];
    double p[TSR_CKM_MAX_SUPPORT];
    uint64_t cum[TSR_CKM_MAX_SUPPORT];
    double mean, variance; /* of the released value */
    bool variance_met;     /* the row has variance V (else mean only) */
} tsr_ckm_row_t;

typedef struct tsr_ckm_table {
    unsigned d, js;
    double v;
    size_t n_rows; /* rows for i = 0 .. n_rows - 1; larger i use the last, shifted */
    tsr_ckm_row_t rows[TSR_CKM_MAX_ROWS];
} tsr_ckm_table_t;

/* Builds the table for maximum deviation d, variance v and js (no count in
 * 1..js is ever released). Refuses, with TSR_EINVAL and why (if not NULL),
 * parameters that are unsafe or cannot be met: js < 1, d < js (a count of 1
 * could never reach 0 or js + 1... so 1..js could not be avoided), d or js
 * over their maxima, v <= 0, or v above what a support of width 2d + 1 can
 * hold with maximum entropy (d (d + 1) / 3, the uniform's variance). */
int tsr_ckm_table_build(tsr_ckm_table_t *t, unsigned d, double v, unsigned js, char *why,
                        size_t cap);

/* The count released for a cell of `count` records whose key is cell_key. */
uint64_t tsr_ckm_perturb(const tsr_ckm_table_t *t, uint64_t count, uint32_t cell_key);

/* What computes record keys: HMAC-SHA256 keyed once with the collector's
 * secret. tsr_ckm_keyer_new returns 0, TSR_ENOMEM or TSR_ECRYPTO; the
 * caller destroys it with tsr_ckm_keyer_destroy (which NULLs the pointer
 * and frees the keyed context; OpenSSL cleanses its copy of the secret). */
typedef struct tsr_ckm_keyer tsr_ckm_keyer_t;
int tsr_ckm_keyer_new(tsr_ckm_keyer_t **out, const uint8_t secret[TSR_CKM_SECRET_LEN]);
void tsr_ckm_keyer_destroy(tsr_ckm_keyer_t **k_p);

/* A record's key: HMAC-SHA256(secret, "tessera cell key v1" 0x00 id) read
 * as a big-endian 32-bit number. Returns 0 and sets *key, or TSR_ECRYPTO.
 * Not thread-safe: one keyer per thread. */
int tsr_ckm_record_key(tsr_ckm_keyer_t *k, const uint8_t *id, size_t len, uint32_t *key);

/* Fills secret with fresh random bytes (RAND_bytes). 0 or TSR_ECRYPTO. */
int tsr_ckm_secret_new(uint8_t secret[TSR_CKM_SECRET_LEN]);

#endif
