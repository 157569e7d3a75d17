/* bench_token.c - identifiers per second per core (issue 20): canonicalisation
 * alone, the token step alone (HMAC-SHA256 through the key's context), both,
 * and in-process raw HMAC-SHA256 (EVP_MAC re-initialised without its key,
 * as `openssl speed -hmac` does) on messages of the tokens' mean size.
 *
 *   bench_token [SECONDS]     (CPU seconds per figure, default 2)
 *
 * Four identifier kinds in equal shares, as agencies write them: an
 * instagram handle with '@' and capitals, a national phone number with
 * spaces, an email address with capitals, a sort code and account number.
 * Times are CPU time of this thread (CLOCK_THREAD_CPUTIME_ID), so a busy
 * machine slows the figures less than wall-clock time would; `openssl
 * speed` divides by CPU (user) time too. Prints one `name=value` per line;
 * tests/bench/bench_token.sh puts them next to `openssl speed`. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tessera/canon.h"
#include "tessera/err.h"
#include "tessera/token.h"

#define N_INPUTS 4096

typedef struct {
    char kind[TSR_KIND_MAX];
    char input[96];
    char canon_kind[TSR_KIND_MAX];
    char canon[TSR_CANON_MAX];
} s_id_t;

static double s_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static volatile unsigned s_sink; /* keeps the compiler from dropping the work */

/* Runs fn over the inputs, round after round, for at least secs of CPU;
 * returns identifiers per CPU second. */
static double s_rate(const char *what, int (*fn)(s_id_t *, const tsr_netkey_t *, uint8_t *),
                     s_id_t *ids, const tsr_netkey_t *key, double secs)
{
    uint8_t out[32];
    double t0 = s_cpu(), t;
    long n = 0;
    do {
        for (size_t i = 0; i < N_INPUTS; i++) {
            if (fn(&ids[i], key, out) != 0) {
                fprintf(stderr, "bench_token: %s failed on %s '%s'\n", what, ids[i].kind,
                        ids[i].input);
                exit(1);
            }
            s_sink += out[0];
        }
        n += N_INPUTS;
    } while ((t = s_cpu() - t0) < secs);
    return (double)n / t;
}

static int s_canon_only(s_id_t *id, const tsr_netkey_t *key, uint8_t *out)
{
    (void)key;
    char kind[TSR_KIND_MAX], canon[TSR_CANON_MAX];
    int rc = tsr_canon(id->kind, id->input, NULL, kind, sizeof kind, canon, sizeof canon, NULL);
    out[0] = (uint8_t)canon[0];
    return rc;
}

static int s_token_only(s_id_t *id, const tsr_netkey_t *key, uint8_t *out)
{
    return tsr_token_compute(out, key, id->canon_kind, id->canon);
}

static int s_both(s_id_t *id, const tsr_netkey_t *key, uint8_t *out)
{
    char kind[TSR_KIND_MAX], canon[TSR_CANON_MAX];
    int rc = tsr_canon(id->kind, id->input, NULL, kind, sizeof kind, canon, sizeof canon, NULL);
    return rc != 0 ? rc : tsr_token_compute(out, key, kind, canon);
}

/* Raw HMAC-SHA256 of len bytes, the loop of `openssl speed -hmac sha256`. */
static double s_raw_hmac(const uint8_t key[32], size_t len, double secs)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    uint8_t msg[TSR_CANON_MAX + 64] = {0}, out[32];
    if (!ctx || !EVP_MAC_init(ctx, key, 32, params)) {
        fprintf(stderr, "bench_token: no HMAC-SHA256 from OpenSSL\n");
        exit(1);
    }
    double t0 = s_cpu(), t;
    long n = 0;
    do {
        for (int i = 0; i < 4096; i++) {
            size_t outl;
            if (!EVP_MAC_init(ctx, NULL, 0, NULL) || !EVP_MAC_update(ctx, msg, len) ||
                !EVP_MAC_final(ctx, out, &outl, sizeof out))
                exit(1);
            s_sink += out[0];
        }
        n += 4096;
    } while ((t = s_cpu() - t0) < secs);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return (double)n / t;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    if (!(secs > 0)) {
        fprintf(stderr, "usage: bench_token [CPU_SECONDS]\n");
        return 2;
    }
    s_id_t *ids = calloc(N_INPUTS, sizeof *ids);
    if (!ids)
        return 1;
    for (int i = 0; i < N_INPUTS; i++) {
        s_id_t *id = &ids[i];
        int j = i / 4;
        switch (i % 4) {
        case 0:
            snprintf(id->kind, sizeof id->kind, "handle:instagram");
            snprintf(id->input, sizeof id->input, "@Jake_%04d_Official", j);
            break;
        case 1:
            snprintf(id->kind, sizeof id->kind, "phone");
            snprintf(id->input, sizeof id->input, "07700 9%05d", j);
            break;
        case 2:
            snprintf(id->kind, sizeof id->kind, "email");
            snprintf(id->input, sizeof id->input, "Offender.Name%d@Example.org", j);
            break;
        default:
            snprintf(id->kind, sizeof id->kind, "bank:uk");
            snprintf(id->input, sizeof id->input, "20-00-00 %08d", 10000000 + j);
            break;
        }
    }
    uint8_t kb[TSR_NETKEY_LEN];
    for (int i = 0; i < TSR_NETKEY_LEN; i++)
        kb[i] = (uint8_t)i;
    tsr_netkey_t key;
    if (tsr_netkey_from_bytes(&key, kb) != 0)
        return 1;
    /* canonical forms once, for the token step alone; the mean message the
     * HMAC sees: "tessera/v1/id" 0x00 kind 0x00 canonical */
    double bytes = 0;
    for (int i = 0; i < N_INPUTS; i++) {
        s_id_t *id = &ids[i];
        tsr_error_t err;
        tsr_error_clear(&err);
        if (tsr_canon(id->kind, id->input, NULL, id->canon_kind, sizeof id->canon_kind, id->canon,
                      sizeof id->canon, &err) != 0) {
            fprintf(stderr, "bench_token: %s '%s': %s\n", id->kind, id->input, err.reason);
            return 1;
        }
        bytes +=
            (double)(strlen("tessera/v1/id") + 1 + strlen(id->canon_kind) + 1 + strlen(id->canon));
    }
    size_t msg_bytes = (size_t)(bytes / N_INPUTS + 0.5);
    printf("identifiers=%d kinds=handle:instagram,phone,email,bank:uk\n", N_INPUTS);
    printf("msg_bytes=%zu\n", msg_bytes);
    printf("canon_per_s=%.0f\n", s_rate("canonicalisation", s_canon_only, ids, &key, secs));
    printf("token_per_s=%.0f\n", s_rate("token", s_token_only, ids, &key, secs));
    printf("both_per_s=%.0f\n", s_rate("canonicalisation + token", s_both, ids, &key, secs));
    printf("raw_hmac_per_s=%.0f\n", s_raw_hmac(kb, msg_bytes, secs));
    tsr_netkey_clear(&key);
    free(ids);
    return 0;
}
