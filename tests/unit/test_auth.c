/* test_auth.c - authorized_clients parsing and a real ZAP handshake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "tessera/auth.h"
#include "tessera/codes.h"
#include "tessera/curve.h"
#include "tessera/err.h"
#include "tessera/log.h"

static char s_pub[3][41], s_sec[3][41];
static char s_endpoint[64]; /* CURVE needs a real transport: inproc skips ZMTP */

static int s_setup(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        if (zmq_curve_keypair(s_pub[i], s_sec[i]) != 0)
            return -1;
    return tsr_test_dir_make("auth");
}

static const char *s_file(const char *name, const char *text)
{
    static char path[160];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void test_parse_good_file(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text,
             "# key role id areas\n\n"
             "%s agent leeds-cs-01 E08000035,E08000032\n"
             "   %s\tanalyst yh-analyst-1 E12000003\n"
             "%s liaison nerocu-liaison *\n",
             s_pub[0], s_pub[1], s_pub[2]);
    tsr_authlist_t *l;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_authlist_load(&l, s_file("ok", text), &err), 0);
    assert_int_equal(tsr_authlist_count(l), 3);
    const tsr_client_t *a = tsr_authlist_by_key(l, s_pub[0]);
    assert_non_null(a);
    assert_string_equal(a->id, "leeds-cs-01");
    assert_int_equal(a->role, TSR_ROLE_AGENT);
    assert_int_equal(a->n_areas, 2);
    assert_true(tsr_client_area_allowed(a, "E08000035"));
    assert_true(tsr_client_area_allowed(a, "E08000032"));
    assert_false(tsr_client_area_allowed(a, "E06000014"));
    /* a region code means every area of the region */
    const tsr_client_t *an = tsr_authlist_by_id(l, "yh-analyst-1");
    int in_region = 0;
    for (int i = 0; i < tsr_area_count(); i++)
        in_region += strcmp(tsr_area_at(i)->region_code, "E12000003") == 0;
    assert_int_equal(in_region, 15);
    assert_int_equal(an->n_areas, 15);
    assert_true(tsr_client_area_allowed(an, "E06000014"));
    assert_false(tsr_client_area_allowed(an, "E09000001"));
    const tsr_client_t *li = tsr_authlist_by_id(l, "nerocu-liaison");
    assert_true(li->all_areas);
    assert_true(tsr_client_area_allowed(li, "S12000033"));
    assert_null(tsr_authlist_by_id(l, "nobody"));
    assert_string_equal(tsr_role_name(TSR_ROLE_LIAISON), "liaison");
    /* federation (issue 19): a regional collector relays as its own role */
    assert_int_equal(tsr_role_parse("relay"), TSR_ROLE_RELAY);
    assert_string_equal(tsr_role_name(TSR_ROLE_RELAY), "relay");
    assert_int_equal(tsr_role_parse("relays"), TSR_ROLE_NONE);
    tsr_authlist_destroy(&l);
    assert_null(l);
}

static void test_bad_lines(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *reason;
    } cases[] = {
        {" agnet a1 E08000035\n", "'agnet' is not one of agent, analyst, liaison, admin, relay"},
        {" agent a1\n", "expected 4 columns: key role id areas"},
        {" agent a1 E08000035 extra\n", "too many columns (expected: key role id areas)"},
        {" agent a/1 E08000035\n", "'a/1' must be 1-63 characters of A-Z a-z 0-9 . _ -"},
        {" agent a1 E10000023\n", "area code E10000023 was retired by a reorganisation; use E06000065"},
        {" agent a1 E99999999\n", "'E99999999' is not a current"},
        {" agent a1 ,\n", "no area given"},
        {" agent a2 E08000035\n", "'a2' listed twice"},
    };
    char text[1024];
    tsr_error_t err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* line 2 is the bad one: the first line is fine */
        snprintf(text, sizeof text, "%s agent a2 E08000035\n", s_pub[1]);
        size_t n = strlen(text);
        snprintf(text + n, sizeof text - n, "%s%s", s_pub[0], cases[i].line);
        tsr_authlist_t *l = (tsr_authlist_t *)1;
        tsr_error_clear(&err);
        const char *path = s_file("bad", text);
        assert_int_equal(tsr_authlist_load(&l, path, &err), TSR_EINVAL);
        assert_null(l);
        assert_int_equal(err.line, 2);
        assert_string_equal(err.file, path);
        if (!strstr(err.reason, cases[i].reason))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.reason, cases[i].reason);
    }
    snprintf(text, sizeof text, "%s agent a1 *\nnot-a-key agent a2 *\n", s_pub[0]);
    tsr_authlist_t *l;
    assert_int_equal(tsr_authlist_load(&l, s_file("badkey", text), &err), TSR_EINVAL);
    assert_string_equal(err.field, "key");
    snprintf(text, sizeof text, "%s agent a1 *\n%s admin a2 *\n", s_pub[0], s_pub[0]);
    assert_int_equal(tsr_authlist_load(&l, s_file("dupkey", text), &err), TSR_EINVAL);
    assert_string_equal(err.reason, "listed twice");
    assert_int_equal(tsr_authlist_load(&l, "/nonexistent/ac", &err), TSR_EIO);
}

/* Sends "hello" from a client with key i; returns true when the server got
 * it, filling the peer's id and key. */
static bool s_exchange(void *ctx, void *server, int i, char *id, char *key)
{
    void *c = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(c, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(c, ZMQ_CURVE_SERVERKEY, s_pub[2], 40);
    zmq_setsockopt(c, ZMQ_CURVE_PUBLICKEY, s_pub[i], 40);
    zmq_setsockopt(c, ZMQ_CURVE_SECRETKEY, s_sec[i], 40);
    assert_int_equal(zmq_connect(c, s_endpoint), 0);
    zmq_send(c, "hello", 5, 0);
    zmq_pollitem_t it = {server, 0, ZMQ_POLLIN, 0};
    bool got = false;
    if (zmq_poll(&it, 1, 1000) == 1) {
        zmq_msg_t ident, body;
        zmq_msg_init(&ident);
        zmq_msg_init(&body);
        zmq_msg_recv(&ident, server, 0);
        zmq_msg_recv(&body, server, 0);
        got = tsr_zap_peer(&body, id, key);
        zmq_msg_close(&ident);
        zmq_msg_close(&body);
    }
    zmq_close(c);
    return got;
}

static void test_zap_round_trip(void **state)
{
    (void)state;
    char text[512];
    snprintf(text, sizeof text, "%s agent leeds-cs-01 E08000035\n", s_pub[0]);
    tsr_authlist_t *l;
    tsr_error_t err;
    assert_int_equal(tsr_authlist_load(&l, s_file("zap", text), &err), 0);
    void *ctx = zmq_ctx_new();
    tsr_zap_t *zap;
    assert_int_equal(tsr_zap_start(&zap, ctx, l), 0);
    void *server = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt(server, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(server, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(server, ZMQ_CURVE_SECRETKEY, s_sec[2], 40);
    zmq_setsockopt(server, ZMQ_ZAP_DOMAIN, "tessera", 7);
    assert_int_equal(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    size_t elen = sizeof s_endpoint;
    zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, s_endpoint, &elen);

    char id[TSR_CLIENT_ID_MAX], key[41];
    assert_true(s_exchange(ctx, server, 0, id, key));
    assert_string_equal(id, "leeds-cs-01");
    assert_string_equal(key, s_pub[0]);
    /* an unlisted key never gets a message through */
    assert_false(s_exchange(ctx, server, 1, id, key));

    tsr_client_t c;
    assert_true(tsr_zap_lookup(zap, "leeds-cs-01", s_pub[0], &c));
    assert_int_equal(c.n_areas, 1);
    assert_string_equal(c.areas[0], "E08000035");
    tsr_client_clear(&c);
    assert_false(tsr_zap_lookup(zap, "leeds-cs-01", s_pub[1], &c)); /* wrong key */

    /* after a reload without the client it is refused */
    snprintf(text, sizeof text, "%s analyst other *\n", s_pub[1]);
    tsr_authlist_t *l2;
    assert_int_equal(tsr_authlist_load(&l2, s_file("zap2", text), &err), 0);
    tsr_zap_replace(zap, l2);
    assert_false(tsr_zap_lookup(zap, "leeds-cs-01", s_pub[0], &c));
    assert_false(s_exchange(ctx, server, 0, id, key));
    assert_true(s_exchange(ctx, server, 1, id, key));
    assert_string_equal(id, "other");

    zmq_close(server);
    tsr_zap_destroy(&zap);
    assert_null(zap);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good_file),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_zap_round_trip),
    };
    return cmocka_run_group_tests_name("auth", tests, s_setup, tsr_test_dir_remove);
}
