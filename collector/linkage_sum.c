/* linkage_sum.c - linkage's small containers: a set of fixed-length byte
 * keys (record ids or tokens), and a cluster's summary (its records'
 * areas and agencies, whether and at which victim count it was alerted),
 * kept in link_clusters under the cluster id (docs/STORAGE.md). */
#include "bytes.h"
#include "linkage_int.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The set's keys are chosen by clients: an honest agent's tokens and record
 * ids are HMAC output, but a hostile one sends whatever bytes it likes, and
 * with an unkeyed hash (FNV-1a, as linkage.c used before) it could send
 * thousands that land in one probe run, making every walk of their cluster
 * quadratic. So the slots come from SipHash-2-4 (OpenSSL's) under a key
 * drawn at random for each set, which nobody outside the process knows.
 * EVP_MAC_init with no key restarts the MAC under the same key from OpenSSL
 * 3.0.3 (cmake/Dependencies.cmake asks for it). */
static EVP_MAC *l_siphash;
static pthread_once_t l_siphash_once = PTHREAD_ONCE_INIT;

static void l_siphash_fetch(void)
{
    l_siphash = EVP_MAC_fetch(NULL, "SIPHASH", NULL); /* kept to the end */
}

int tsr_link_hash_check(tsr_error_t *err)
{
    pthread_once(&l_siphash_once, l_siphash_fetch);
    if (l_siphash)
        return 0;
    tsr_error_set(err, "openssl",
                  "SipHash is not available from OpenSSL's providers (linkage needs it for "
                  "its in-memory sets; a FIPS-only configuration does not offer it)");
    return TSR_ECRYPTO;
}

/* Cannot fail on a context l_set_mac made (keyed, 8-byte output): the calls
 * only copy state and mix bytes. Were one to fail, keys would be misplaced,
 * so it is not quietly tolerated: the slot is 0, and it is logged. */
static uint64_t l_hash(const l_set_t *s, const uint8_t *k)
{
    uint8_t out[8] = {0};
    size_t n = 0;
    if (!EVP_MAC_init(s->mac, NULL, 0, NULL) || !EVP_MAC_update(s->mac, k, s->klen) ||
        !EVP_MAC_final(s->mac, out, &n, sizeof out) || n != sizeof out) {
        tsr_error("linkage", "SipHash failed in an in-memory set; its lookups may miss");
        return 0;
    }
    return tsr_bytes_from_be64(out);
}

/* A SipHash context with a fresh random key and 8-byte output, or NULL. */
static EVP_MAC_CTX *l_set_mac(void)
{
    uint8_t key[16];
    size_t outlen = 8;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen),
                           OSSL_PARAM_END};
    pthread_once(&l_siphash_once, l_siphash_fetch);
    EVP_MAC_CTX *ctx = l_siphash ? EVP_MAC_CTX_new(l_siphash) : NULL;
    if (ctx && (RAND_bytes(key, sizeof key) != 1 || !EVP_MAC_init(ctx, key, sizeof key, params) ||
                EVP_MAC_CTX_get_mac_size(ctx) != outlen)) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    OPENSSL_cleanse(key, sizeof key);
    return ctx;
}

void tsr_link_set_free(l_set_t *s)
{
    free(s->keys);
    free(s->used);
    EVP_MAC_CTX_free(s->mac);
    memset(s, 0, sizeof *s);
}

static size_t l_slot(const l_set_t *s, const uint8_t *k)
{
    size_t i = (size_t)(l_hash(s, k) & (s->cap - 1));
    while (s->used[i] && memcmp(s->keys + i * s->klen, k, s->klen) != 0)
        i = (i + 1) & (s->cap - 1);
    return i;
}

/* Doubles the table (or makes the first one, and the set's hash key). */
static int l_set_grow(l_set_t *s)
{
    l_set_t g = {.klen = s->klen, .cap = s->cap ? s->cap * 2 : 64, .mac = s->mac};
    s->mac = NULL;
    if (!g.mac)
        g.mac = l_set_mac();
    g.keys = malloc(g.cap * g.klen);
    g.used = calloc(g.cap, 1);
    if (!g.mac || !g.keys || !g.used) {
        s->mac = g.mac;
        g.mac = NULL;
        tsr_link_set_free(&g);
        return TSR_ENOMEM;
    }
    for (size_t i = 0; i < s->cap; i++)
        if (s->used[i]) {
            size_t j = l_slot(&g, s->keys + i * s->klen);
            g.used[j] = 1;
            memcpy(g.keys + j * g.klen, s->keys + i * s->klen, g.klen);
            g.n++;
        }
    tsr_link_set_free(s);
    *s = g;
    return 0;
}

/* Returns 1 when added, 0 when present, -1 when out of memory (or when
 * OpenSSL could not key the set's hash: tsr_link_hash_check, at open, makes
 * that a matter of memory or of the random source). */
int tsr_link_set_add(l_set_t *s, const uint8_t *k)
{
    if ((s->n + 1) * 2 > s->cap && l_set_grow(s) != 0)
        return -1;
    size_t i = l_slot(s, k);
    if (s->used[i])
        return 0;
    s->used[i] = 1;
    memcpy(s->keys + i * s->klen, k, s->klen);
    s->n++;
    return 1;
}

bool tsr_link_set_has(const l_set_t *s, const uint8_t *k)
{
    return s->cap && s->used[l_slot(s, k)];
}

void tsr_link_sum_free(l_sum_t *s)
{
    free(s->areas.v);
    free(s->ag.v);
    memset(s, 0, sizeof *s);
}

/* Adds delta to an entry's count (creating it, dropping it at 0). */
int tsr_link_list_add(l_list_t *l, const char *name, int delta, bool alerted)
{
    size_t i;
    for (i = 0; i < l->n && strcmp(l->v[i].name, name); i++)
        ;
    if (i == l->n) {
        if (delta < 0)
            return 0;
        if (tsr_grow((void **)&l->v, &l->cap, l->n, sizeof *l->v))
            return TSR_ENOMEM;
        l->v[l->n++] = (l_entry_t){.alerted = alerted};
        snprintf(l->v[i].name, sizeof l->v[i].name, "%s", name);
    }
    l->v[i].count = (uint32_t)((int64_t)l->v[i].count + delta);
    l->v[i].alerted |= alerted;
    if (l->v[i].count == 0)
        l->v[i] = l->v[--l->n];
    return 0;
}

/* One record of area and agency in (delta 1) or out (-1). */
int tsr_link_sum_count(l_sum_t *s, const char *area, const char *agency, int delta)
{
    int rc = tsr_link_list_add(&s->areas, area, delta, false);
    if (rc == 0)
        rc = tsr_link_list_add(&s->ag, agency, delta, false);
    if (rc == 0)
        s->n = (uint32_t)((int64_t)s->n + delta);
    return rc;
}

bool tsr_link_sum_spans(const l_sum_t *s)
{
    return s->areas.n >= 2 || s->ag.n >= 2;
}

int tsr_link_sum_load(tsr_link_t *l, MDB_txn *txn, uint64_t cid, l_sum_t *s)
{
    uint8_t kb[8];
    tsr_bytes_be64(kb, cid);
    MDB_val k = {8, kb}, v;
    memset(s, 0, sizeof *s);
    int rc = tsr_kv_get(txn, l->dbi[L_CLUSTERS], &k, &v);
    if (rc != 0)
        return rc;
    tsr_bytes_t b = {v.mv_data, 0, v.mv_size, false};
    if (tsr_bytes_get_u8(&b) != L_SUM_FORMAT)
        return TSR_ECORRUPT;
    uint32_t n = tsr_bytes_get_u32(&b);
    bool alerted = tsr_bytes_get_u8(&b);
    uint32_t threshold = tsr_bytes_get_u32(&b);
    uint32_t na = tsr_bytes_get_u32(&b);
    int rc2 = 0;
    for (uint32_t i = 0; i < na && !b.bad && rc2 == 0; i++) {
        char code[TSR_AREA_CODE_MAX];
        tsr_bytes_get_str(&b, code, sizeof code);
        uint32_t count = tsr_bytes_get_u32(&b);
        rc2 = tsr_link_list_add(&s->areas, code, (int)count, tsr_bytes_get_u8(&b));
    }
    uint32_t ng = tsr_bytes_get_u32(&b);
    for (uint32_t i = 0; i < ng && !b.bad && rc2 == 0; i++) {
        char id[TSR_CLIENT_ID_MAX];
        tsr_bytes_get_str(&b, id, sizeof id);
        uint32_t count = tsr_bytes_get_u32(&b);
        rc2 = tsr_link_list_add(&s->ag, id, (int)count, tsr_bytes_get_u8(&b));
    }
    if (rc2 != 0) {
        tsr_link_sum_free(s);
        return rc2;
    }
    s->n = n;
    s->alerted = alerted;
    s->threshold = threshold;
    if (b.bad) {
        tsr_link_sum_free(s);
        return TSR_ECORRUPT;
    }
    return 0;
}

int tsr_link_sum_save(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const l_sum_t *s)
{
    size_t cap = 32 + s->areas.n * (TSR_AREA_CODE_MAX + 6) + s->ag.n * (TSR_CLIENT_ID_MAX + 6);
    uint8_t *buf = malloc(cap), kb[8];
    if (!buf)
        return TSR_ENOMEM;
    tsr_bytes_t b = {buf, 0, cap, false};
    tsr_bytes_put_u8(&b, L_SUM_FORMAT);
    tsr_bytes_put_u32(&b, s->n);
    tsr_bytes_put_u8(&b, s->alerted);
    tsr_bytes_put_u32(&b, s->threshold);
    tsr_bytes_put_u32(&b, (uint32_t)s->areas.n);
    for (size_t i = 0; i < s->areas.n; i++) {
        tsr_bytes_put_str(&b, s->areas.v[i].name);
        tsr_bytes_put_u32(&b, s->areas.v[i].count);
        tsr_bytes_put_u8(&b, s->areas.v[i].alerted);
    }
    tsr_bytes_put_u32(&b, (uint32_t)s->ag.n);
    for (size_t i = 0; i < s->ag.n; i++) {
        tsr_bytes_put_str(&b, s->ag.v[i].name);
        tsr_bytes_put_u32(&b, s->ag.v[i].count);
        tsr_bytes_put_u8(&b, s->ag.v[i].alerted);
    }
    tsr_bytes_be64(kb, cid);
    MDB_val k = {8, kb}, v = {b.n, buf};
    int rc = b.bad ? TSR_ERANGE : tsr_kv_put(txn, l->dbi[L_CLUSTERS], &k, &v, 0);
    free(buf);
    return rc;
}

int tsr_link_sum_del(tsr_link_t *l, MDB_txn *txn, uint64_t cid)
{
    uint8_t kb[8];
    tsr_bytes_be64(kb, cid);
    MDB_val k = {8, kb};
    int rc = tsr_kv_del(txn, l->dbi[L_CLUSTERS], &k);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}
