/* test_token.c - tokens and record ids against tests/vectors/tokens.json
 * (computed independently in Python), and the network key file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/canon.h"
#include "tessera/err.h"
#include "tessera/token.h"

static json_t *s_vectors;
static tsr_netkey_t s_key;
static char s_dir[64];

static int s_setup(void **state)
{
    (void)state;
    const char *src = getenv("TSR_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/tests/vectors/tokens.json", src ? src : TSR_TEST_SOURCE_DIR);
    json_error_t jerr;
    s_vectors = json_load_file(path, 0, &jerr);
    if (!s_vectors) {
        fprintf(stderr, "%s: %s\n", path, jerr.text);
        return -1;
    }
    uint8_t k[32];
    if (tsr_hex_decode(k, 32, json_string_value(json_object_get(s_vectors, "key_hex"))) != 0 ||
        tsr_netkey_from_bytes(&s_key, k) != 0)
        return -1;
    snprintf(s_dir, sizeof s_dir, "/tmp/tsr-token-XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    json_decref(s_vectors);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_key_id(void **state)
{
    (void)state;
    assert_int_equal(s_key.key_id, (uint32_t)json_integer_value(json_object_get(s_vectors, "key_id")));
    assert_int_equal(s_key.key_id, 1661848873u);
}

static void test_token_vectors(void **state)
{
    (void)state;
    json_t *toks = json_object_get(s_vectors, "tokens");
    assert_true(json_array_size(toks) >= 15);
    size_t i;
    json_t *v;
    json_array_foreach(toks, i, v) {
        const char *kind = json_string_value(json_object_get(v, "kind"));
        const char *input = json_string_value(json_object_get(v, "input"));
        const char *canonical = json_string_value(json_object_get(v, "canonical"));
        const char *want = json_string_value(json_object_get(v, "token"));
        uint8_t tok[TSR_TOKEN_LEN];
        char hex[65];
        assert_int_equal(tsr_token_compute(tok, &s_key, kind, canonical), 0);
        if (strcmp(tsr_hex_encode(hex, tok, sizeof tok), want) != 0)
            fail_msg("vector %zu (%s %s): got %s want %s", i, kind, canonical, hex, want);
        /* and the agency's notation canonicalises to the vector's form */
        char kind_out[TSR_KIND_MAX], canon[TSR_CANON_MAX];
        tsr_error_t err;
        tsr_error_clear(&err);
        if (tsr_canon(kind, input, NULL, kind_out, sizeof kind_out, canon, sizeof canon, &err) != 0)
            fail_msg("vector %zu: canon(%s, %s) failed: %s", i, kind, input, err.reason);
        assert_string_equal(kind_out, kind);
        assert_string_equal(canon, canonical);
    }
}

static void test_record_id_vectors(void **state)
{
    (void)state;
    json_t *recs = json_object_get(s_vectors, "record_ids");
    assert_int_equal(json_array_size(recs), 5);
    size_t i;
    json_t *v;
    json_array_foreach(recs, i, v) {
        uint8_t rid[TSR_RECORD_ID_LEN];
        char hex[33];
        assert_int_equal(tsr_record_id_compute(rid, &s_key,
                                               json_string_value(json_object_get(v, "agency_id")),
                                               json_string_value(json_object_get(v, "case_ref"))),
                         0);
        assert_string_equal(tsr_hex_encode(hex, rid, sizeof rid),
                            json_string_value(json_object_get(v, "record_id")));
    }
}

static void test_hex(void **state)
{
    (void)state;
    uint8_t b[3];
    char hex[7];
    assert_int_equal(tsr_hex_decode(b, 3, "00aFff"), 0);
    assert_int_equal(b[1], 0xaf);
    assert_string_equal(tsr_hex_encode(hex, b, 3), "00afff");
    assert_int_equal(tsr_hex_decode(b, 3, "00afg0"), TSR_EINVAL);
    assert_int_equal(tsr_hex_decode(b, 3, "00af"), TSR_EINVAL);
    assert_int_equal(tsr_hex_decode(b, 3, NULL), TSR_EINVAL);
}

static void s_write(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_key_files(void **state)
{
    (void)state;
    char path[128];
    tsr_netkey_t k;
    tsr_error_t err;
    tsr_error_clear(&err);
    snprintf(path, sizeof path, "%s/ok.key", s_dir);
    s_write(path, "  000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0600);
    assert_int_equal(tsr_netkey_load(&k, path, &err), 0);
    assert_int_equal(k.key_id, s_key.key_id);
    assert_memory_equal(k.key, s_key.key, 32);

    chmod(path, 0644);
    assert_int_equal(tsr_netkey_load(&k, path, &err), TSR_EPERM);
    assert_non_null(strstr(err.reason, "(mode 0644); run: chmod 600"));
    assert_string_equal(err.file, path);

    snprintf(path, sizeof path, "%s/short.key", s_dir);
    s_write(path, "0001020304\n", 0600);
    assert_int_equal(tsr_netkey_load(&k, path, &err), TSR_EINVAL);
    snprintf(path, sizeof path, "%s/junk.key", s_dir);
    s_write(path, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f extra\n", 0600);
    assert_int_equal(tsr_netkey_load(&k, path, &err), TSR_EINVAL);
    snprintf(path, sizeof path, "%s/missing.key", s_dir);
    assert_int_equal(tsr_netkey_load(&k, path, &err), TSR_EIO);

    /* generate: 0600, loads back, refuses to overwrite */
    tsr_netkey_t g, g2;
    snprintf(path, sizeof path, "%s/new.key", s_dir);
    assert_int_equal(tsr_netkey_generate(&g, path, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    assert_int_equal(tsr_netkey_load(&g2, path, &err), 0);
    assert_memory_equal(g.key, g2.key, 32);
    assert_int_equal(g.key_id, g2.key_id);
    assert_int_equal(tsr_netkey_generate(NULL, path, &err), TSR_EEXIST);
    assert_int_equal(tsr_netkey_load(&g2, path, &err), 0);
    assert_memory_equal(g.key, g2.key, 32); /* untouched */
}

/* One keyed context, reused: tokens and record ids interleaved on one key
 * give the vectors' values, as does a fresh key per token; a key whose
 * context is prepared twice still gives them; clear wipes everything. */
static void test_context_reuse(void **state)
{
    (void)state;
    json_t *toks = json_object_get(s_vectors, "tokens"),
           *recs = json_object_get(s_vectors, "record_ids");
    uint8_t kb[32];
    assert_int_equal(
        tsr_hex_decode(kb, 32, json_string_value(json_object_get(s_vectors, "key_hex"))), 0);
    tsr_netkey_t reused;
    assert_int_equal(tsr_netkey_from_bytes(&reused, kb), 0);
    assert_null(reused.mac);
    assert_int_equal(tsr_netkey_prepare(&reused), 0);
    assert_non_null(reused.mac);
    void *ctx = reused.mac;
    assert_int_equal(tsr_netkey_prepare(&reused), 0);
    assert_ptr_equal(reused.mac, ctx); /* keyed once */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < json_array_size(toks); i++) {
            json_t *v = json_array_get(toks, i),
                   *r = json_array_get(recs, i % json_array_size(recs));
            const char *kind = json_string_value(json_object_get(v, "kind"));
            const char *canonical = json_string_value(json_object_get(v, "canonical"));
            uint8_t tok[TSR_TOKEN_LEN], fresh_tok[TSR_TOKEN_LEN], rid[TSR_RECORD_ID_LEN];
            char hex[65];
            assert_int_equal(tsr_token_compute(tok, &reused, kind, canonical), 0);
            assert_string_equal(tsr_hex_encode(hex, tok, sizeof tok),
                                json_string_value(json_object_get(v, "token")));
            tsr_netkey_t fresh;
            assert_int_equal(tsr_netkey_from_bytes(&fresh, kb), 0);
            assert_int_equal(tsr_token_compute(fresh_tok, &fresh, kind, canonical), 0);
            assert_non_null(fresh.mac); /* made on first use */
            tsr_netkey_clear(&fresh);
            assert_memory_equal(tok, fresh_tok, sizeof tok);
            assert_int_equal(tsr_record_id_compute(
                                 rid, &reused, json_string_value(json_object_get(r, "agency_id")),
                                 json_string_value(json_object_get(r, "case_ref"))),
                             0);
            assert_string_equal(tsr_hex_encode(hex, rid, sizeof rid),
                                json_string_value(json_object_get(r, "record_id")));
        }
    }
    /* a message longer than the stack buffer goes in pieces: same HMAC as
     * a key that never saw a short one */
    char long_ref[2000];
    memset(long_ref, 'x', sizeof long_ref - 1);
    long_ref[sizeof long_ref - 1] = '\0';
    uint8_t a[TSR_TOKEN_LEN], b[TSR_TOKEN_LEN];
    assert_int_equal(tsr_token_compute(a, &reused, "url", long_ref), 0);
    tsr_netkey_t other;
    assert_int_equal(tsr_netkey_from_bytes(&other, kb), 0);
    assert_int_equal(tsr_token_compute(b, &other, "url", long_ref), 0);
    assert_memory_equal(a, b, sizeof a);
    long_ref[100] = '\0'; /* and a short one after it is still right */
    assert_int_equal(tsr_token_compute(a, &reused, "url", long_ref), 0);
    assert_int_equal(tsr_token_compute(b, &other, "url", long_ref), 0);
    assert_memory_equal(a, b, sizeof a);
    tsr_netkey_clear(&other);

    tsr_netkey_clear(&reused);
    static const uint8_t zero[sizeof reused] = {0};
    assert_memory_equal(&reused, zero, sizeof reused); /* key bytes, id and context */
    tsr_netkey_clear(&reused);                         /* twice is harmless */
    tsr_netkey_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_id),
        cmocka_unit_test(test_token_vectors),
        cmocka_unit_test(test_record_id_vectors),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_context_reuse),
    };
    return cmocka_run_group_tests_name("token", tests, s_setup, s_teardown);
}
