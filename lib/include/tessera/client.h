/* client.h - a CURVE client socket and one request/reply over it, for the
 * programs that talk to the collector (tessera, tessera-agent, tests).
 * Follows the zguide's Lazy Pirate advice: a request that times out closes
 * the socket (the caller opens a new one before retrying).
 *
 * Every socket is watched through libzmq's socket monitor, so a request
 * that gets no answer says why, and the four operator mistakes that used
 * to look alike ("no answer after 3 tries") are told apart:
 *
 *   unreachable      no TCP connection (CONNECT_RETRIED / nothing at all)
 *   server key       connected, the CURVE handshake failed before ZAP
 *                    (HANDSHAKE_FAILED_NO_DETAIL or _PROTOCOL): the
 *                    collector could not read our HELLO, made for another
 *                    server key
 *   not authorised   the collector's ZAP handler answered 400
 *                    (HANDSHAKE_FAILED_AUTH): our key is not listed
 *   timed out        HANDSHAKE_SUCCEEDED, then no answer in time
 *
 * These events are in libzmq's stable API since 4.3 (Debian 12 ships
 * 4.3.4); the draft v2 monitor (peer addresses) is not needed. A refusal
 * by ZAP or a failed handshake ends the wait at once (twice in a row for a
 * handshake, which a collector restarting mid-handshake can also cause
 * once); unreachable and timed out wait the whole timeout.
 */
#ifndef TESSERA_CLIENT_H
#define TESSERA_CLIENT_H

#include "tessera/wire.h"

struct tsr_error;

typedef struct tsr_conn tsr_conn_t;

/* Why the last wait got no answer. */
typedef enum {
    TSR_CONN_ANSWERED = 0,
    TSR_CONN_UNREACHABLE,    /* nothing accepted a connection at the endpoint */
    TSR_CONN_SERVER_KEY,     /* the CURVE handshake failed: not the collector's public key */
    TSR_CONN_NOT_AUTHORISED, /* the collector's ZAP handler refused our key (400) */
    TSR_CONN_TIMEOUT,        /* connected (and, mostly, authenticated); no answer in time */
} tsr_conn_failure_t;

/* The exit codes every client program (tessera-agent, tessera) gives for
 * these failures, so scripts and operators can tell them apart too. */
enum {
    TSR_EXIT_UNREACHABLE = 3,
    TSR_EXIT_SERVER_KEY = 4,
    TSR_EXIT_NOT_AUTHORISED = 5,
    TSR_EXIT_TIMEOUT = 6,
    TSR_EXIT_WRONG_NETWORK_KEY = 7, /* the collector accepts another network key */
};

/* Opens a DEALER socket to endpoint, authenticating with the secret key file
 * key_path against the server public key file server_pub_path. */
int tsr_conn_open(tsr_conn_t **out, void *zmq_ctx, const char *endpoint,
                  const char *server_pub_path, const char *key_path, struct tsr_error *err);

/* Sends req and waits up to timeout_ms for one reply, decoded into reply
 * (tsr_msg_clear() it). On no answer returns TSR_EAGAIN (unreachable, timed
 * out) or TSR_ENET (server key, not authorised: retrying will not help),
 * with err saying which in one line; tsr_conn_failure() tells the kind and
 * tsr_conn_explain() what to do. The socket is then dead: close it.
 * TSR_EPROTO for an undecodable reply. */
int tsr_conn_request(tsr_conn_t *c, const tsr_msg_t *req, tsr_msg_t *reply, int timeout_ms,
                     struct tsr_error *err);

/* Opens a SUB socket to the collector's alert stream, subscribed to
 * everything; reconnects by itself (backing off up to 30 s). */
int tsr_conn_subscribe(tsr_conn_t **out, void *zmq_ctx, const char *endpoint,
                       const char *server_pub_path, const char *key_path, struct tsr_error *err);

/* Waits up to timeout_ms for one message and decodes it into reply.
 * TSR_EAGAIN when nothing came, TSR_ENET as tsr_conn_request. */
int tsr_conn_recv(tsr_conn_t *c, tsr_msg_t *reply, int timeout_ms, struct tsr_error *err);

/* Encodes m and sends it as one frame without waiting for an answer: for
 * a caller that polls tsr_conn_socket() itself and then takes the reply
 * with tsr_conn_recv(c, reply, 0, err) (the collector's upstream sender). */
int tsr_conn_send(tsr_conn_t *c, const tsr_msg_t *m);

/* The ZeroMQ socket, to poll for ZMQ_POLLIN; owned by c. */
void *tsr_conn_socket(tsr_conn_t *c);

/* Sends raw bytes as one frame (tests use it for junk). */
int tsr_conn_send_raw(tsr_conn_t *c, const void *buf, size_t len);

/* Why the last request or recv got nothing (TSR_CONN_ANSWERED if it did). */
tsr_conn_failure_t tsr_conn_failure(const tsr_conn_t *c);

/* The exit code for a failure (0 for TSR_CONN_ANSWERED). */
int tsr_conn_exit_code(tsr_conn_failure_t f);

/* What the caller knows of where its settings came from, so a message can
 * name the file or line to fix. Every field may be NULL. */
typedef struct tsr_conn_hint {
    const char *who;             /* whose key: "this agent's", "your" (default "this client's") */
    const char *endpoint_from;   /* e.g. "[collector] endpoint in /srv/tessera/agent.conf" */
    const char *server_key_from; /* e.g. "[collector] server_key in ...": where the path is set */
    const char *client_line;     /* what follows the key on its authorized_clients line,
                                  * e.g. "agent leeds-01 E08000035" (default "ROLE ID AREAS") */
    const char *timeout_from;    /* e.g. "timeout_ms in [agent] of ...": what to raise */
    const char *after;           /* what became of the work, e.g. "1 record stays queued" */
} tsr_conn_hint_t;

/* The failure of the last wait in a few sentences: what happened, the file
 * or line to fix and how (for TSR_CONN_ANSWERED, ""). Returns buf. */
const char *tsr_conn_explain(const tsr_conn_t *c, const tsr_conn_hint_t *hint, char *buf,
                             size_t cap);

/* This side's public key (z85, from the secret key file). */
const char *tsr_conn_public_key(const tsr_conn_t *c);

void tsr_conn_close(tsr_conn_t **c_p);

#endif
