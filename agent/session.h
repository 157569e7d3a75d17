/* session.h - one delivery session with the collector: the liveness probe
 * (an empty batch, whose Ack says which network keys and what retention
 * the collector has), then the outbox, batch by batch (session.c). */
#ifndef TESSERA_AGENT_SESSION_H
#define TESSERA_AGENT_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "outbox.h"
#include "tessera/client.h"

typedef struct agent_session {
    agent_conf_t *conf;
    agent_outbox_t *ob;
    void *ctx;
    tsr_conn_t *conn;
    agent_outbox_keys_t keys;
    bool answered;              /* the probe got an OK Ack */
    bool own_accepted;          /* the agent's key is one the collector accepts (or it has none) */
    int retention_months;       /* the collector's, from its Ack; 0: it did not say */
    double ms;                  /* the probe's round trip */
    tsr_conn_failure_t failure; /* why not answered */
    int exit_code;              /* why not, as an exit code (TSR_EXIT_*, or AGENT_EXIT_FAIL) */
    char why[1536];             /* why not, and what to do */
} agent_session_t;

/* A session for conf and ob (both the caller's, outliving it), not yet
 * connected. *out is the caller's: agent_session_destroy. TSR_ENOMEM or
 * TSR_ENET (no ZeroMQ context). */
int agent_session_new(agent_session_t **out, agent_conf_t *conf, agent_outbox_t *ob);

/* Closes the connection and frees *s_p; sets it to NULL. */
void agent_session_destroy(agent_session_t **s_p);

/* (Re)connects and probes the collector, up to `attempts` times while it
 * is unreachable or silent (a refused key or handshake is not tried
 * again). after: what becomes of the records if it never answers. Returns
 * s->answered; when false, s->failure, s->why and s->exit_code say why. */
bool agent_session_probe(agent_session_t *s, long attempts, const char *after);

/* How many months the collector keeps records: what its Ack said (noted
 * in the outbox), else what it said last time, else [collector]
 * retention_months. Sets conf->retention_months to it. */
long agent_session_retention(agent_session_t *s);

/* Explains a connection failure of s in s->why with what happens to the
 * records (`after`), naming the lines of agent.conf to fix. */
void agent_session_explain(agent_session_t *s, const char *after);

/* Says, when the collector accepts another network key than the agent's,
 * that `what` (nothing new was queued...), and how to recover. */
void agent_session_say_wrong_key(const agent_session_t *s, const char *what);

/* Says how many queued records are held back under keys the collector does
 * not accept, and how to recover. Returns how many. */
size_t agent_session_say_held(agent_session_t *s);

/* Sends what the outbox holds under keys the collector accepts (progress:
 * "sent N of M" on stderr). Returns AGENT_EXIT_OK when it is all sent,
 * AGENT_EXIT_FAIL if records were rejected or the collector refused us,
 * TSR_EXIT_* when it stopped answering (records stay queued),
 * TSR_EXIT_WRONG_NETWORK_KEY when records are held back. */
int agent_session_deliver(agent_session_t *s, bool progress);

#endif
