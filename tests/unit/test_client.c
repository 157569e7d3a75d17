/* test_client.c - a client that gets no answer says why: a real CURVE
 * server with the real ZAP handler in this process, and a client that is
 * unreachable, holds a wrong server key, is not listed, or is listed and
 * left unanswered; each told apart, with its message and exit code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "tessera/auth.h"
#include "tessera/client.h"
#include "tessera/curve.h"
#include "tessera/err.h"
#include "tessera/log.h"

static void *s_ctx, *s_server;
static tsr_zap_t *s_zap;
static char s_endpoint[64], s_path[4][200];
static char s_listed_pub[41];
static volatile int s_answer; /* the server answers requests with an Ack */
static volatile int s_stop;
static pthread_t s_thread;

enum { SERVER_PUB, OTHER_PUB, LISTED_KEY, UNLISTED_KEY };

static const char *s_stem(int i)
{
    static const char *const names[] = {"server", "other", "listed", "unlisted"};
    static char stem[4][160];
    snprintf(stem[i], sizeof stem[i], "%s/%s", s_dir, names[i]);
    return stem[i];
}

/* The server's loop: answers every request with an OK Ack while s_answer. */
static void *s_serve(void *arg)
{
    (void)arg;
    zmq_pollitem_t it = {s_server, 0, ZMQ_POLLIN, 0};
    while (!s_stop) {
        if (zmq_poll(&it, 1, 50) <= 0)
            continue;
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        zmq_msg_recv(&id, s_server, 0);
        zmq_msg_recv(&body, s_server, 0);
        if (s_answer) {
            tsr_msg_t m = {.kind = TSR_MSG_ACK};
            m.u.ack.status = TSR_ACK_OK;
            uint8_t *buf;
            size_t len;
            if (tsr_wire_encode(&m, &buf, &len) == 0) {
                zmq_msg_send(&id, s_server, ZMQ_SNDMORE);
                zmq_send(s_server, buf, len, 0);
                free(buf);
            }
        }
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
    return NULL;
}

static int s_setup(void **state)
{
    (void)state;
    if (tsr_test_dir_make("client") != 0)
        return -1;
    char pub[4][41], sec[4][41];
    for (int i = 0; i < 4; i++)
        if (tsr_curve_keygen(s_stem(i), false, pub[i], sec[i], NULL) != 0)
            return -1;
    memcpy(s_listed_pub, pub[LISTED_KEY], sizeof s_listed_pub);
    snprintf(s_path[SERVER_PUB], sizeof s_path[0], "%s.pub", s_stem(SERVER_PUB));
    snprintf(s_path[OTHER_PUB], sizeof s_path[0], "%s.pub", s_stem(OTHER_PUB));
    snprintf(s_path[LISTED_KEY], sizeof s_path[0], "%s.key", s_stem(LISTED_KEY));
    snprintf(s_path[UNLISTED_KEY], sizeof s_path[0], "%s.key", s_stem(UNLISTED_KEY));
    char ac[160], line[128];
    snprintf(ac, sizeof ac, "%s/authorized_clients", s_dir);
    FILE *fp = fopen(ac, "w");
    snprintf(line, sizeof line, "%s agent leeds-01 E08000035\n", pub[LISTED_KEY]);
    fputs(line, fp);
    fclose(fp);
    tsr_authlist_t *l;
    s_ctx = zmq_ctx_new();
    if (tsr_authlist_load(&l, ac, NULL) != 0 || tsr_zap_start(&s_zap, s_ctx, l) != 0)
        return -1;
    s_server = zmq_socket(s_ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    size_t n = sizeof s_endpoint;
    if (zmq_setsockopt(s_server, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(s_server, ZMQ_CURVE_SECRETKEY, sec[SERVER_PUB], 40) ||
        zmq_setsockopt(s_server, ZMQ_ZAP_DOMAIN, TSR_ZAP_DOMAIN, strlen(TSR_ZAP_DOMAIN)) ||
        zmq_setsockopt(s_server, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(s_server, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(s_server, ZMQ_LAST_ENDPOINT, s_endpoint, &n) != 0)
        return -1;
    return pthread_create(&s_thread, NULL, s_serve, NULL) == 0 ? 0 : -1;
}

static int s_teardown(void **state)
{
    s_stop = 1;
    pthread_join(s_thread, NULL);
    zmq_close(s_server);
    tsr_zap_destroy(&s_zap);
    zmq_ctx_term(s_ctx);
    return tsr_test_dir_remove(state);
}

static int64_t s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One probe from a client with server key file pub and secret key file
 * key to endpoint; returns the failure, its time in *ms, its explanation
 * (hint h) in why and the request's return code in *rc. */
static tsr_conn_failure_t s_probe(const char *endpoint, const char *pub, const char *key,
                                  int timeout_ms, const tsr_conn_hint_t *h, int64_t *ms,
                                  char *why, size_t cap, int *rc)
{
    void *ctx = zmq_ctx_new();
    tsr_conn_t *c;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_conn_open(&c, ctx, endpoint, pub, key, &err), 0);
    tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
    int64_t t0 = s_ms();
    *rc = tsr_conn_request(c, &req, &reply, timeout_ms, &err);
    *ms = s_ms() - t0;
    if (*rc == 0)
        tsr_msg_clear(&reply);
    tsr_conn_failure_t f = tsr_conn_failure(c);
    tsr_conn_explain(c, h, why, cap);
    tsr_conn_close(&c);
    zmq_ctx_term(ctx);
    return f;
}

static const tsr_conn_hint_t s_hint = {
    .who = "this agent's",
    .endpoint_from = "[collector] endpoint in /srv/agent.conf",
    .server_key_from = "[collector] server_key in /srv/agent.conf",
    .client_line = "agent leeds-01 E08000035",
    .timeout_from = "timeout_ms in [agent] of /srv/agent.conf",
    .after = "2 records stay queued and go next time",
};

static void test_answered(void **state)
{
    (void)state;
    int64_t ms;
    int rc;
    char why[1024];
    s_answer = 1;
    assert_int_equal(s_probe(s_endpoint, s_path[SERVER_PUB], s_path[LISTED_KEY], 3000, &s_hint,
                             &ms, why, sizeof why, &rc),
                     TSR_CONN_ANSWERED);
    assert_int_equal(rc, 0);
    assert_string_equal(why, "");
    assert_int_equal(tsr_conn_exit_code(TSR_CONN_ANSWERED), 0);
}

static void test_unreachable(void **state)
{
    (void)state;
    int64_t ms;
    int rc;
    char why[1024], want[1024];
    /* a port nothing listens on: one the kernel gave a plain socket, closed
     * at once. (A zmq socket's close is asynchronous: under load its
     * listener was still there and the probe met a handshake instead.) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    assert_int_equal(s_probe(ep, s_path[SERVER_PUB], s_path[LISTED_KEY], 500, &s_hint, &ms, why,
                             sizeof why, &rc),
                     TSR_CONN_UNREACHABLE);
    assert_int_equal(rc, TSR_EAGAIN);
    assert_true(ms >= 450);
    snprintf(want, sizeof want,
             "cannot reach the collector at %s: nothing is listening there (connection "
             "refused). Is tessera-collector running there, and is the endpoint ([collector] "
             "endpoint in /srv/agent.conf) right? 2 records stay queued and go next time.",
             ep);
    assert_string_equal(why, want);
    assert_int_equal(tsr_conn_exit_code(TSR_CONN_UNREACHABLE), 3);
}

static void test_wrong_server_key(void **state)
{
    (void)state;
    int64_t ms;
    int rc;
    char why[1024], want[1024];
    assert_int_equal(s_probe(s_endpoint, s_path[OTHER_PUB], s_path[LISTED_KEY], 5000, &s_hint,
                             &ms, why, sizeof why, &rc),
                     TSR_CONN_SERVER_KEY);
    assert_int_equal(rc, TSR_ENET);
    assert_true(ms < 4000); /* it does not wait the whole time */
    snprintf(want, sizeof want,
             "wrong collector public key in %s: the collector at %s refused the CURVE "
             "handshake, so that key is not its key. Copy collector.pub from the collector's "
             "data directory to %s ([collector] server_key in /srv/agent.conf). 2 records stay "
             "queued and go next time.",
             s_path[OTHER_PUB], s_endpoint, s_path[OTHER_PUB]);
    assert_string_equal(why, want);
    assert_int_equal(tsr_conn_exit_code(TSR_CONN_SERVER_KEY), 4);
}

static void test_not_authorised(void **state)
{
    (void)state;
    int64_t ms;
    int rc;
    char why[1024], want[1024], pub[41];
    assert_int_equal(s_probe(s_endpoint, s_path[SERVER_PUB], s_path[UNLISTED_KEY], 5000, &s_hint,
                             &ms, why, sizeof why, &rc),
                     TSR_CONN_NOT_AUTHORISED);
    assert_int_equal(rc, TSR_ENET);
    assert_true(ms < 2000);
    char sec[41];
    assert_int_equal(tsr_curve_load_secret(s_path[UNLISTED_KEY], sec, pub, NULL), 0);
    snprintf(want, sizeof want,
             "the collector at %s refused this agent's key: add the line `%s agent leeds-01 "
             "E08000035` to the collector's authorized_clients and send the collector SIGHUP (a "
             "line added without SIGHUP is not in force). 2 records stay queued and go next "
             "time.",
             s_endpoint, pub);
    assert_string_equal(why, want);
    assert_int_equal(tsr_conn_exit_code(TSR_CONN_NOT_AUTHORISED), 5);
}

static void test_timed_out(void **state)
{
    (void)state;
    int64_t ms;
    int rc;
    char why[1024], want[1024];
    s_answer = 0;
    assert_int_equal(s_probe(s_endpoint, s_path[SERVER_PUB], s_path[LISTED_KEY], 600, &s_hint,
                             &ms, why, sizeof why, &rc),
                     TSR_CONN_TIMEOUT);
    s_answer = 1;
    assert_int_equal(rc, TSR_EAGAIN);
    assert_true(ms >= 550);
    snprintf(want, sizeof want,
             "the collector at %s accepted the connection and this agent's key but did not "
             "answer within 600 ms: it may be busy or stopping. 2 records stay queued and go "
             "next time. If it keeps happening, look at the collector's log, or raise "
             "timeout_ms in [agent] of /srv/agent.conf.",
             s_endpoint);
    assert_string_equal(why, want);
    assert_int_equal(tsr_conn_exit_code(TSR_CONN_TIMEOUT), 6);
    /* without a hint the message still names the key file and the line */
    assert_int_equal(s_probe(s_endpoint, s_path[SERVER_PUB], s_path[UNLISTED_KEY], 3000, NULL,
                             &ms, why, sizeof why, &rc),
                     TSR_CONN_NOT_AUTHORISED);
    assert_non_null(strstr(why, "refused this client's key: add the line `"));
    assert_non_null(strstr(why, " ROLE ID AREAS` to the collector's authorized_clients"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answered),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_wrong_server_key),
        cmocka_unit_test(test_not_authorised),
        cmocka_unit_test(test_timed_out),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
