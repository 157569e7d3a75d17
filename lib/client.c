/* client.c - CURVE DEALER/SUB sockets, a timed request/reply, and why a
 * request got no answer (the socket's monitor events; client.h). */
#include "tessera/client.h"
#include "tessera/curve.h"
#include "tessera/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

struct tsr_conn {
    void *sock, *monitor; /* monitor: PAIR fed by zmq_socket_monitor (NULL if unavailable) */
    char endpoint[256];
    char server_path[512];
    char public_key[41];
    int timeout_ms; /* of the last wait */
    /* what the monitor said: how the latest connection attempt ended */
    enum { S_NONE, S_REFUSED, S_CONNECTED, S_HANDSHAKE_FAILED, S_AUTHENTICATED } state;
    int handshake_failures; /* in a row */
    int auth_status;        /* ZAP status of a refusal (400), 0 = none */
    tsr_conn_failure_t failure;
};

/* Events that tell the failures apart (client.h). */
#define S_EVENTS                                                                                   \
    (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CLOSED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |                      \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

/* Watches c->sock: must run before zmq_connect, so the connection's own
 * events are seen. Without a monitor the client still works; its failures
 * are then all "unreachable or timed out". */
static void s_monitor_start(tsr_conn_t *c, void *ctx)
{
    /* a name never used before: a closed socket's monitor endpoint may
     * still be registered while a new one is opened at the same address */
    static unsigned seq;
    char ep[80];
    snprintf(ep, sizeof ep, "inproc://tessera-conn-%p-%u", (void *)c,
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    if (zmq_socket_monitor(c->sock, ep, S_EVENTS) != 0)
        return;
    int linger = 0;
    c->monitor = zmq_socket(ctx, ZMQ_PAIR);
    if (c->monitor && (zmq_setsockopt(c->monitor, ZMQ_LINGER, &linger, sizeof linger) ||
                       zmq_connect(c->monitor, ep) != 0)) {
        zmq_close(c->monitor);
        c->monitor = NULL;
    }
    if (!c->monitor)
        zmq_socket_monitor(c->sock, NULL, 0);
}

/* Reads every waiting monitor event into c's state. */
static void s_monitor_drain(tsr_conn_t *c)
{
    while (c->monitor) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        zmq_msg_init(&addr);
        if (zmq_msg_recv(&ev, c->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            zmq_msg_close(&addr);
            return;
        }
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, c->monitor, 0);
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
        switch (event) {
        /* a connect attempt's socket closed before it connected: refused */
        case ZMQ_EVENT_CLOSED: c->state = S_REFUSED; break;
        case ZMQ_EVENT_CONNECTED: c->state = S_CONNECTED; break;
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            c->state = S_AUTHENTICATED;
            c->handshake_failures = 0;
            c->auth_status = 0; /* listed since (a SIGHUP) */
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            c->state = S_HANDSHAKE_FAILED;
            c->handshake_failures++;
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: c->auth_status = value ? (int)value : 400; break;
        default: break;
        }
    }
}

/* The failure the monitor's events point to once no answer came: how the
 * latest connection attempt ended (a collector that went away during the
 * wait is unreachable now, whatever came before). */
static tsr_conn_failure_t s_classify(const tsr_conn_t *c)
{
    if (c->auth_status)
        return TSR_CONN_NOT_AUTHORISED;
    switch (c->state) {
    case S_HANDSHAKE_FAILED: return TSR_CONN_SERVER_KEY;
    /* connected, but the handshake neither succeeded nor failed: the peer
     * holds the connection and says nothing */
    case S_CONNECTED:
    case S_AUTHENTICATED: return TSR_CONN_TIMEOUT;
    default: return TSR_CONN_UNREACHABLE;
    }
}

/* A failure that waiting longer will not mend: ZAP said no, or the
 * handshake failed twice in a row (once can be a collector restarting). */
static bool s_hopeless(const tsr_conn_t *c)
{
    return c->auth_status != 0 || (c->state == S_HANDSHAKE_FAILED && c->handshake_failures >= 2);
}

static int s_open(tsr_conn_t **out, void *ctx, int type, const char *endpoint,
                  const char *server_pub_path, const char *key_path, tsr_error_t *err)
{
    char server[41], secret[41], public[41];
    *out = NULL;
    int rc = tsr_curve_load_public(server_pub_path, server, err);
    if (rc == 0)
        rc = tsr_curve_load_secret(key_path, secret, public, err);
    if (rc != 0)
        return rc;
    tsr_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        explicit_bzero(secret, sizeof secret);
        return TSR_ENOMEM;
    }
    c->sock = zmq_socket(ctx, type);
    /* a subscriber comes back quickly after the stream restarts; a request
     * socket backs off further (its caller retries anyway) */
    int linger = 0, ivl_max = type == ZMQ_SUB ? 5000 : 30000;
    if (!c->sock || zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, server, 40) ||
        zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, public, 40) ||
        zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, secret, 40) ||
        zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) ||
        (type == ZMQ_SUB && zmq_setsockopt(c->sock, ZMQ_SUBSCRIBE, "", 0)) ||
        (s_monitor_start(c, ctx), zmq_connect(c->sock, endpoint) != 0)) {
        tsr_error_set(err, "endpoint", "cannot connect to %s: %s", endpoint,
                      zmq_strerror(zmq_errno()));
        explicit_bzero(secret, sizeof secret);
        if (c->monitor) {
            zmq_socket_monitor(c->sock, NULL, 0);
            zmq_close(c->monitor);
        }
        if (c->sock)
            zmq_close(c->sock);
        free(c);
        return TSR_ENET;
    }
    explicit_bzero(secret, sizeof secret);
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    snprintf(c->server_path, sizeof c->server_path, "%s", server_pub_path);
    memcpy(c->public_key, public, sizeof c->public_key);
    *out = c;
    return TSR_OK;
}

int tsr_conn_open(tsr_conn_t **out, void *ctx, const char *endpoint, const char *server_pub_path,
                  const char *key_path, tsr_error_t *err)
{
    return s_open(out, ctx, ZMQ_DEALER, endpoint, server_pub_path, key_path, err);
}

int tsr_conn_subscribe(tsr_conn_t **out, void *ctx, const char *endpoint,
                       const char *server_pub_path, const char *key_path, tsr_error_t *err)
{
    return s_open(out, ctx, ZMQ_SUB, endpoint, server_pub_path, key_path, err);
}

int tsr_conn_send_raw(tsr_conn_t *c, const void *buf, size_t len)
{
    return zmq_send(c->sock, buf, len, 0) < 0 ? TSR_ENET : TSR_OK;
}

int tsr_conn_send(tsr_conn_t *c, const tsr_msg_t *m)
{
    uint8_t *buf;
    size_t len;
    int rc = tsr_wire_encode(m, &buf, &len);
    if (rc != 0)
        return rc;
    rc = tsr_conn_send_raw(c, buf, len);
    free(buf);
    return rc;
}

void *tsr_conn_socket(tsr_conn_t *c)
{
    return c->sock;
}

int tsr_conn_request(tsr_conn_t *c, const tsr_msg_t *req, tsr_msg_t *reply, int timeout_ms,
                     tsr_error_t *err)
{
    memset(reply, 0, sizeof *reply);
    int rc = tsr_conn_send(c, req);
    return rc != 0 ? rc : tsr_conn_recv(c, reply, timeout_ms, err);
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The failure in one line, for err (tsr_conn_explain says what to do). */
static void s_failure_line(const tsr_conn_t *c, tsr_error_t *err)
{
    switch (c->failure) {
    case TSR_CONN_UNREACHABLE:
        tsr_error_set(err, "", "cannot reach the collector at %s (%s)", c->endpoint,
                      c->state == S_REFUSED ? "connection refused" : "no connection within the time");
        break;
    case TSR_CONN_SERVER_KEY:
        tsr_error_set(err, "", "wrong collector public key in %s: the collector at %s refused "
                               "the CURVE handshake", c->server_path, c->endpoint);
        break;
    case TSR_CONN_NOT_AUTHORISED:
        tsr_error_set(err, "", "the collector at %s refused this key (%s): it is not in its "
                               "authorized_clients", c->endpoint, c->public_key);
        break;
    default:
        tsr_error_set(err, "", "no answer from the collector at %s within %d ms", c->endpoint,
                      c->timeout_ms);
        break;
    }
}

int tsr_conn_recv(tsr_conn_t *c, tsr_msg_t *reply, int timeout_ms, tsr_error_t *err)
{
    int rc;
    memset(reply, 0, sizeof *reply);
    c->timeout_ms = timeout_ms;
    c->failure = TSR_CONN_ANSWERED;
    zmq_pollitem_t it[2] = {{c->sock, 0, ZMQ_POLLIN, 0}, {c->monitor, 0, ZMQ_POLLIN, 0}};
    int n_it = c->monitor ? 2 : 1;
    int64_t end = s_now_ms() + timeout_ms;
    bool ready = false;
    for (;;) {
        s_monitor_drain(c);
        if (s_hopeless(c))
            break;
        int64_t left = end - s_now_ms();
        if (left < 0)
            left = 0;
        int n = zmq_poll(it, n_it, (long)left);
        if (n > 0 && (it[0].revents & ZMQ_POLLIN)) {
            ready = true;
            break;
        }
        if (n < 0 && zmq_errno() != EINTR)
            break;
        if (left == 0)
            break;
    }
    if (!ready) {
        s_monitor_drain(c);
        c->failure = s_classify(c);
        s_failure_line(c, err);
        return c->failure == TSR_CONN_SERVER_KEY || c->failure == TSR_CONN_NOT_AUTHORISED
                   ? TSR_ENET
                   : TSR_EAGAIN;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, c->sock, 0) < 0) {
        zmq_msg_close(&m);
        return TSR_ENET;
    }
    rc = tsr_wire_decode(reply, zmq_msg_data(&m), zmq_msg_size(&m), NULL, err);
    zmq_msg_close(&m);
    return rc;
}

tsr_conn_failure_t tsr_conn_failure(const tsr_conn_t *c)
{
    return c ? c->failure : TSR_CONN_ANSWERED;
}

int tsr_conn_exit_code(tsr_conn_failure_t f)
{
    switch (f) {
    case TSR_CONN_UNREACHABLE: return TSR_EXIT_UNREACHABLE;
    case TSR_CONN_SERVER_KEY: return TSR_EXIT_SERVER_KEY;
    case TSR_CONN_NOT_AUTHORISED: return TSR_EXIT_NOT_AUTHORISED;
    case TSR_CONN_TIMEOUT: return TSR_EXIT_TIMEOUT;
    default: return 0;
    }
}

const char *tsr_conn_public_key(const tsr_conn_t *c)
{
    return c->public_key;
}

const char *tsr_conn_explain(const tsr_conn_t *c, const tsr_conn_hint_t *hint, char *buf,
                             size_t cap)
{
    static const tsr_conn_hint_t none = {0};
    const tsr_conn_hint_t *h = hint ? hint : &none;
    const char *who = h->who ? h->who : "this client's";
    char set_in[600] = "", after[300] = "";
    if (h->after)
        snprintf(after, sizeof after, " %s.", h->after);
    buf[0] = '\0';
    switch (c->failure) {
    case TSR_CONN_ANSWERED: break;
    case TSR_CONN_UNREACHABLE:
        if (h->endpoint_from)
            snprintf(set_in, sizeof set_in, " (%s)", h->endpoint_from);
        snprintf(buf, cap,
                 "cannot reach the collector at %s: %s. Is tessera-collector running there, and "
                 "is the endpoint%s right?%s",
                 c->endpoint,
                 c->state == S_REFUSED ? "nothing is listening there (connection refused)"
                            : "no connection could be made (a wrong address, or a firewall?)",
                 set_in, after);
        break;
    case TSR_CONN_SERVER_KEY:
        if (h->server_key_from)
            snprintf(set_in, sizeof set_in, " (%s)", h->server_key_from);
        snprintf(buf, cap,
                 "wrong collector public key in %s: the collector at %s refused the CURVE "
                 "handshake, so that key is not its key. Copy collector.pub from the collector's "
                 "data directory to %s%s.%s",
                 c->server_path, c->endpoint, c->server_path, set_in, after);
        break;
    case TSR_CONN_NOT_AUTHORISED:
        snprintf(buf, cap,
                 "the collector at %s refused %s key: add the line `%s %s` to the collector's "
                 "authorized_clients and send the collector SIGHUP (a line added without SIGHUP "
                 "is not in force).%s",
                 c->endpoint, who, c->public_key, h->client_line ? h->client_line : "ROLE ID AREAS",
                 after);
        break;
    case TSR_CONN_TIMEOUT:
        if (h->timeout_from)
            snprintf(set_in, sizeof set_in, ", or raise %s", h->timeout_from);
        if (c->state == S_AUTHENTICATED)
            snprintf(buf, cap,
                     "the collector at %s accepted the connection and %s key but did not answer "
                     "within %d ms: it may be busy or stopping.%s If it keeps happening, look at "
                     "the collector's log%s.",
                     c->endpoint, who, c->timeout_ms, after, set_in);
        else
            snprintf(buf, cap,
                     "the collector at %s took the connection but did not complete the handshake "
                     "within %d ms: it may be hung or overloaded, or not a Tessera collector.%s "
                     "If it keeps happening, look at the collector's log%s.",
                     c->endpoint, c->timeout_ms, after, set_in);
        break;
    }
    return buf;
}

void tsr_conn_close(tsr_conn_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    tsr_conn_t *c = *c_p;
    if (c->monitor) {
        zmq_socket_monitor(c->sock, NULL, 0);
        zmq_close(c->monitor);
    }
    zmq_close(c->sock);
    free(c);
    *c_p = NULL;
}
