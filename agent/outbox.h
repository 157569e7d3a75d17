/* outbox.h - the agent's durable outbox and local record map (LMDB).
 *
 * Every record is written here before anything is sent, a few hundred per
 * transaction (the agent holds no more than that in memory, whatever the
 * size of the file); it leaves only when an Ack says accepted, duplicate or
 * rejected (rejections go to the rejection log for the safeguarding lead).
 * A file cut short (a crash mid-file) is completed by queueing it again:
 * its records still waiting here are not queued a second time.
 * The map record id -> case reference never leaves this machine: it is how
 * `tessera-agent resolve` takes a linkage alert back to a child's case. */
#ifndef TESSERA_OUTBOX_H
#define TESSERA_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/netkeys.h"
#include "tessera/record.h"
#include "tessera/wire.h"

typedef struct agent_outbox agent_outbox_t;

/* Opens (creating) the outbox in data_dir; its map grows as needed up to
 * map_max bytes (0: LMDB's tsr_kv default, 64 GiB), then a queueing
 * transaction fails with TSR_EFULL. Prints why not on stderr. *out is the
 * caller's: agent_outbox_destroy. */
int agent_outbox_new(agent_outbox_t **out, const char *data_dir, size_t map_max);

/* Closes the outbox and frees *o_p; sets it to NULL. */
void agent_outbox_destroy(agent_outbox_t **o_p);

/* Every queued item notes the id of the network key its record id and
 * tokens were made with. Which may go to the collector: those under a key
 * it accepts; when it has none yet (it pins the first it sees), those
 * under the agent's own key. The others are held, never sent: records made
 * with a wrong key would link nothing and, once the right key is in place,
 * stand beside their own new versions under other record ids. Items of an
 * outbox older than this count as made under own. */
typedef struct {
    tsr_netkeys_t accepted; /* the collector's, from its Ack (n = 0: none yet) */
    uint32_t own;           /* the agent's key id */
    int32_t day;            /* today, for the accepted keys' end dates */
} agent_outbox_keys_t;

/* Whether an item made under key_id may be sent. */
bool agent_outbox_keys_sendable(const agent_outbox_keys_t *k, uint32_t key_id);

/* Queues n incidents with their case references, made under network key
 * key_id, in one transaction. A case already sent with the same content
 * keeps its version (the collector sees a duplicate); a changed one gets
 * the next version. Items of the same cases still queued under another key
 * are removed in the same transaction: the new versions replace them
 * (*replaced, may be NULL). A case whose item with the same content and
 * version still waits in the outbox is not queued again: *waiting (may be
 * NULL) counts those. */
int agent_outbox_put_incidents(agent_outbox_t *o, tsr_incident_t *incs, char (*refs)[TSR_CASE_REF_MAX],
                         size_t n, uint32_t key_id, size_t *replaced, size_t *waiting);

/* Queues the withdrawal of case_ref (its record id computed by the caller
 * with network key key_id). TSR_ENOTFOUND when this agent never queued
 * that case. */
int agent_outbox_put_retraction(agent_outbox_t *o, const uint8_t rid[TSR_RECORD_ID_LEN],
                          uint32_t key_id);

/* The oldest queued items that may be sent under keys (agent_outbox_keys_t) as
 * a batch (at most max): fills b (free with agent_outbox_batch_clear) and the
 * items' keys in seqs (max entries). */
int agent_outbox_peek(agent_outbox_t *o, size_t max, const agent_outbox_keys_t *keys, tsr_batch_t *b,
                uint64_t *seqs);

/* Queued items held back under keys: how many, and the key id of the
 * first (the oldest). */
typedef struct {
    size_t n;
    uint32_t key_id;
} agent_outbox_held_t;

int agent_outbox_held(agent_outbox_t *o, const agent_outbox_keys_t *keys, agent_outbox_held_t *out);
void agent_outbox_batch_clear(tsr_batch_t *b);

/* Applies an OK Ack for the batch from agent_outbox_peek: removes every item,
 * logging rejections. Returns the number of rejections logged. */
int agent_outbox_done(agent_outbox_t *o, const tsr_batch_t *b, const uint64_t *seqs, const tsr_ack_t *a);

/* The case reference of a record id; TSR_ENOTFOUND if it is not ours. */
int agent_outbox_resolve(agent_outbox_t *o, const uint8_t rid[TSR_RECORD_ID_LEN], char *case_ref);

typedef struct {
    size_t depth;
    int64_t oldest;    /* unix seconds of the oldest queued item; 0 = none */
    int64_t last_ack;  /* unix seconds; 0 = never */
    size_t rejections;
} agent_outbox_status_t;

int agent_outbox_status(agent_outbox_t *o, agent_outbox_status_t *st);

/* The collector's retention in months as it last said (TSR_ENOTFOUND: it
 * never did), and noting it. */
int agent_outbox_retention_get(agent_outbox_t *o, long *months);
int agent_outbox_retention_put(agent_outbox_t *o, long months);

/* Calls fn for every logged rejection (a text line each). */
int agent_outbox_rejections(agent_outbox_t *o, void (*fn)(void *, const char *), void *ctx);

#endif
