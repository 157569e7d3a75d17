/* client.c - CURVE DEALER socket and a timed request/reply. */
#include "tessera/client.h"
#include "tessera/curve.h"
#include "tessera/err.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct tsr_conn {
    void *sock;
    char endpoint[256];
};

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
    if (!c)
        return TSR_ENOMEM;
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
        zmq_connect(c->sock, endpoint) != 0) {
        tsr_error_set(err, "endpoint", "cannot connect to %s: %s", endpoint,
                      zmq_strerror(zmq_errno()));
        explicit_bzero(secret, sizeof secret);
        if (c->sock)
            zmq_close(c->sock);
        free(c);
        return TSR_ENET;
    }
    explicit_bzero(secret, sizeof secret);
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
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

int tsr_conn_request(tsr_conn_t *c, const tsr_msg_t *req, tsr_msg_t *reply, int timeout_ms,
                     tsr_error_t *err)
{
    uint8_t *buf;
    size_t len;
    memset(reply, 0, sizeof *reply);
    int rc = tsr_wire_encode(req, &buf, &len);
    if (rc != 0)
        return rc;
    rc = tsr_conn_send_raw(c, buf, len);
    free(buf);
    if (rc != 0)
        return rc;
    return tsr_conn_recv(c, reply, timeout_ms, err);
}

int tsr_conn_recv(tsr_conn_t *c, tsr_msg_t *reply, int timeout_ms, tsr_error_t *err)
{
    int rc;
    memset(reply, 0, sizeof *reply);
    zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0) {
        tsr_error_set(err, "", "no answer from the collector at %s within %d ms", c->endpoint,
                      timeout_ms);
        return TSR_EAGAIN;
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

void tsr_conn_close(tsr_conn_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    zmq_close((*c_p)->sock);
    free(*c_p);
    *c_p = NULL;
}
