/* client.h - a CURVE client socket and one request/reply over it, for the
 * programs that talk to the collector (tessera, tessera-agent, tests).
 * Follows the zguide's Lazy Pirate advice: a request that times out closes
 * the socket (the caller opens a new one before retrying). */
#ifndef TESSERA_CLIENT_H
#define TESSERA_CLIENT_H

#include "tessera/wire.h"

struct tsr_error;

typedef struct tsr_conn tsr_conn_t;

/* Opens a DEALER socket to endpoint, authenticating with the secret key file
 * key_path against the server public key file server_pub_path. */
int tsr_conn_open(tsr_conn_t **out, void *zmq_ctx, const char *endpoint,
                  const char *server_pub_path, const char *key_path, struct tsr_error *err);

/* Sends req and waits up to timeout_ms for one reply, decoded into reply
 * (tsr_msg_clear() it). TSR_EAGAIN on time-out (the socket is then dead:
 * close it), TSR_EPROTO for an undecodable reply. */
int tsr_conn_request(tsr_conn_t *c, const tsr_msg_t *req, tsr_msg_t *reply, int timeout_ms,
                     struct tsr_error *err);

/* Opens a SUB socket to the collector's alert stream, subscribed to
 * everything; reconnects by itself (backing off up to 30 s). */
int tsr_conn_subscribe(tsr_conn_t **out, void *zmq_ctx, const char *endpoint,
                       const char *server_pub_path, const char *key_path, struct tsr_error *err);

/* Waits up to timeout_ms for one message and decodes it into reply.
 * TSR_EAGAIN when nothing came. */
int tsr_conn_recv(tsr_conn_t *c, tsr_msg_t *reply, int timeout_ms, struct tsr_error *err);

/* Sends raw bytes as one frame (tests use it for junk). */
int tsr_conn_send_raw(tsr_conn_t *c, const void *buf, size_t len);

void tsr_conn_close(tsr_conn_t **c_p);

#endif
