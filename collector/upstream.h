/* upstream.h - federation (issue 19, docs/FEDERATION.md): the sender that
 * forwards the store's upstream queue (store.h, tsr_store_upstream_*) to
 * the collector upstream, as a relay.
 *
 * It runs in the collector's loop without ever blocking it: one batch in
 * flight at a time, sent without waiting, its Ack taken when the socket is
 * readable (the loop polls tsr_upstream_socket()). Acknowledgements to the
 * collector's own agents never wait for the upstream. Retries follow the
 * agent's Lazy Pirate pattern (lib/client.c): no Ack within timeout_ms, the
 * socket is closed and reopened and the same batch sent again after a
 * back-off with jitter, for ever; entries are deleted only once an OK Ack
 * names their batch. Upstream a resent change is a duplicate (same record
 * id and version), so a crash anywhere neither loses nor doubles.
 *
 * A batch the collector upstream refuses as a whole (DENIED, MALFORMED,
 * RETRY_LATER), or whose records it refuses because this collector's key
 * may not relay (NOT_PERMITTED: listed as an agent) or for the network key
 * (WRONG_NETWORK_KEY), stays queued: the cause is a setting, and the log
 * says which to fix. Other per-record rejections (an area outside the
 * relay's line, a stale version) are logged with the record id, counted
 * ("upstream_rejected") and leave the queue, as an agent's rejected
 * records leave its outbox. */
#ifndef TESSERA_UPSTREAM_H
#define TESSERA_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct tsr_error;

typedef struct tsr_upstream tsr_upstream_t;

typedef struct tsr_upstream_opts {
    const char *endpoint;   /* the collector upstream's ingest endpoint */
    const char *server_key; /* its collector.pub */
    const char *client_key; /* this collector's relay secret key file */
    bool linkage_only;      /* forward = linkage */
    int timeout_ms;         /* an Ack not in by then: Lazy Pirate retry */
    size_t max_batch;       /* queue entries per batch */
} tsr_upstream_opts_t;

/* Counters since start-up, for stats. */
typedef struct tsr_upstream_stats {
    uint64_t batches_sent, batches_acked, forwarded, duplicates, rejected, retries;
    bool held; /* the last answer asked for a setting to be fixed */
} tsr_upstream_stats_t;

/* Loads the keys (err names the file) and makes the sender; it connects
 * at its first step. The caller keeps store and ctx alive longer. */
int tsr_upstream_new(tsr_upstream_t **out, void *zmq_ctx, tsr_store_t *store,
                     const tsr_upstream_opts_t *opts, struct tsr_error *err);
void tsr_upstream_destroy(tsr_upstream_t **u_p);

/* The socket to poll for ZMQ_POLLIN, NULL while none is open. */
void *tsr_upstream_socket(tsr_upstream_t *u);

/* Says that the queue may have grown (after a drain or a purge), so the
 * next step looks at once. */
void tsr_upstream_kick(tsr_upstream_t *u);

/* Does what is due now: takes an Ack, deletes what it acknowledged, times
 * out a batch, sends the next. Returns how many ms until it wants to run
 * again (for the loop's poll timeout; at most 500). */
int tsr_upstream_step(tsr_upstream_t *u);

void tsr_upstream_stats(const tsr_upstream_t *u, tsr_upstream_stats_t *out);

#endif
