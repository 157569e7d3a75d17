/* session.c - delivery: one session with the collector (the liveness
 * probe, then the outbox batch by batch). Records go to the LMDB outbox
 * first and leave it only when the collector's Ack says what became of
 * them; delivery follows the zguide's Lazy Pirate pattern (time out, close
 * and reopen the socket, back off with jitter, never drop a stored
 * record). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "agent.h"
#include "session.h"
#include "tessera/client.h"
#include "tessera/err.h"

/* Monotonic time in milliseconds, with the fraction (a probe's round trip
 * on one machine is well under one). */
static double s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Exponential back-off with jitter before try number `failures` + 1,
 * capped at 30 s. */
static void s_backoff(int failures)
{
    long ms = 250L << (failures < 7 ? failures : 7);
    ms = (ms > 30000 ? 30000 : ms) / 2 + rand() % (ms / 2 + 1);
    for (long t = 0; t < ms && !agent_cmd_stop; t += 50)
        usleep(50000);
}

/* Explains a connection failure of s with what happens to the records
 * (`after`), naming the lines of agent.conf to fix. */
void agent_session_explain(agent_session_t *s, const char *after)
{
    agent_conf_t *c = s->conf;
    char ep[600], sk[600], to[600], line[160];
    tsr_conn_hint_t h = {
        .who = "this agent's",
        .endpoint_from = agent_conf_where(c, "collector", "endpoint", ep, sizeof ep),
        .server_key_from = agent_conf_where(c, "collector", "server_key", sk, sizeof sk),
        .client_line = line,
        .timeout_from = agent_conf_where(c, "agent", "timeout_ms", to, sizeof to),
        .after = after,
    };
    snprintf(line, sizeof line, "agent %s %s", c->agency_id, c->area ? c->area : "AREAS");
    tsr_conn_explain(s->conn, &h, s->why, sizeof s->why);
    s->exit_code = tsr_conn_exit_code(s->failure);
}

void agent_session_destroy(agent_session_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    agent_session_t *s = *s_p;
    tsr_conn_close(&s->conn);
    if (s->ctx)
        zmq_ctx_term(s->ctx);
    free(s);
    *s_p = NULL;
}

/* Takes the network keys from an OK Ack: which queued items may go. */
static void s_keys(agent_session_t *s, const tsr_ack_t *a)
{
    s->keys.accepted = a->network_keys;
    s->keys.own = s->conf->key.key_id;
    s->keys.day = tsr_day_today();
    s->own_accepted = agent_outbox_keys_sendable(&s->keys, s->keys.own);
    s->retention_months = a->retention_months;
}

long agent_session_retention(agent_session_t *s)
{
    long months = 0;
    if (s->retention_months > 0) {
        months = s->retention_months;
        /* remembered for when the collector cannot be asked */
        int rc = agent_outbox_retention_put(s->ob, months);
        if (rc != 0)
            agent_cmd_say("could not note the collector's retention (%ld months) in the outbox: %s",
                      months, tsr_strerror(rc));
    } else if (agent_outbox_retention_get(s->ob, &months) != 0 || months <= 0) {
        months = s->conf->retention_months;
    }
    s->conf->retention_months = months; /* what messages name */
    return months;
}

int agent_session_new(agent_session_t **out, agent_conf_t *conf, agent_outbox_t *ob)
{
    agent_session_t *s = calloc(1, sizeof *s);
    *out = s;
    if (!s)
        return TSR_ENOMEM;
    s->conf = conf;
    s->ob = ob;
    s->keys.own = conf->key.key_id;
    s->keys.day = tsr_day_today();
    s->own_accepted = true; /* until the collector says otherwise */
    s->ctx = zmq_ctx_new();
    if (!s->ctx) {
        agent_session_destroy(out);
        return TSR_ENET;
    }
    return TSR_OK;
}

/* (Re)connects and probes the collector, up to `attempts` times while it
 * is unreachable or silent (a refused key or handshake is not tried
 * again). after: what becomes of the records if it never answers. Returns
 * s->answered; when false, s->failure, s->why and s->exit_code say why. */
bool agent_session_probe(agent_session_t *s, long attempts, const char *after)
{
    agent_conf_t *conf = s->conf;
    s->answered = false;
    s->why[0] = '\0';
    s->failure = TSR_CONN_ANSWERED;
    for (long tries = 0; tries < attempts && !agent_cmd_stop; tries++) {
        tsr_error_t err;
        tsr_error_clear(&err);
        if (tries > 0)
            s_backoff((int)tries);
        tsr_conn_close(&s->conn);
        if (tsr_conn_open(&s->conn, s->ctx, conf->endpoint, conf->server_key, conf->client_key,
                          &err) != 0) {
            char msg[768];
            snprintf(s->why, sizeof s->why, "%s", tsr_error_format(&err, msg, sizeof msg));
            s->exit_code = AGENT_EXIT_FAIL; /* a key file: trying again will not help */
            break;
        }
        tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
        double t0 = s_ms();
        int rc = tsr_conn_request(s->conn, &req, &reply, (int)conf->timeout_ms, &err);
        if (rc == 0 && reply.kind == TSR_MSG_ACK && reply.u.ack.status == TSR_ACK_OK) {
            s->ms = s_ms() - t0;
            s->answered = true;
            s_keys(s, &reply.u.ack);
            tsr_msg_clear(&reply);
            return true;
        }
        if (rc == 0) {
            snprintf(s->why, sizeof s->why, "the collector at %s answered the probe with status "
                     "%d%s%s", conf->endpoint, reply.kind == TSR_MSG_ACK ? reply.u.ack.status : 0,
                     reply.kind == TSR_MSG_ACK && reply.u.ack.error[0] ? ": " : "",
                     reply.kind == TSR_MSG_ACK ? reply.u.ack.error : "");
            s->exit_code = AGENT_EXIT_FAIL;
            tsr_msg_clear(&reply);
            break;
        }
        s->failure = tsr_conn_failure(s->conn);
        agent_session_explain(s, after);
        if (s->failure == TSR_CONN_SERVER_KEY || s->failure == TSR_CONN_NOT_AUTHORISED)
            break;
    }
    if (!s->why[0]) { /* stopped by a signal before the first try */
        snprintf(s->why, sizeof s->why, "stopped before the collector answered");
        s->exit_code = AGENT_EXIT_FAIL;
    }
    return false; /* the connection stays for tsr_conn_explain until the next try or close */
}

/* "this agent's network key FILE (WHERE) has key id N, but the collector
 * at E accepts only M" */
static void s_wrong_key_text(const agent_session_t *s, char *out, size_t cap)
{
    char ids[96], where[600];
    tsr_netkeys_format_ids(&s->keys.accepted, ids, sizeof ids);
    snprintf(out, cap,
             "wrong network key: this agent's network key %s (%s) has key id %u, but the "
             "collector at %s accepts only %s",
             s->conf->network_key, agent_conf_where(s->conf, "keys", "network_key", where,
                                                    sizeof where),
             s->conf->key.key_id, s->conf->endpoint, ids);
}

/* Says, when the collector accepts another network key than the agent's,
 * that nothing new was queued, and how to recover. */
void agent_session_say_wrong_key(const agent_session_t *s, const char *what)
{
    char text[1024], ids[96];
    s_wrong_key_text(s, text, sizeof text);
    tsr_netkeys_format_ids(&s->keys.accepted, ids, sizeof ids);
    agent_cmd_say("%s. Records under it would never link with other agencies' records, so %s. "
                  "Install the network's key (key id %s) as %s, then run this again.",
                  text, what, ids, s->conf->network_key);
}

/* Says how many queued records are held back under keys the collector does
 * not accept, and how to recover. Returns how many. */
size_t agent_session_say_held(agent_session_t *s)
{
    agent_outbox_held_t held;
    if (agent_outbox_held(s->ob, &s->keys, &held) != 0 || held.n == 0)
        return 0;
    char ids[96];
    if (s->keys.accepted.n)
        tsr_netkeys_format_ids(&s->keys.accepted, ids, sizeof ids);
    else
        snprintf(ids, sizeof ids, "%u (this agent's)", s->keys.own);
    agent_cmd_say("%zu record(s) queued under network key id %u are held back, not sent: the "
                  "collector accepts only %s. Install the network's key as %s, then submit the "
                  "same exports again (tessera-agent submit FILE...): their new versions replace "
                  "the held records.",
                  held.n, held.key_id, ids, s->conf->network_key);
    return held.n;
}

/* What one delivery has done so far, and how it shows progress. */
typedef struct {
    size_t total, sent, rejected; /* records: to send, sent, rejected by the collector */
    unsigned long accepted, duplicates, replaced, retracted;
    bool progress, tty; /* "sent N of M" on stderr; on one line rewritten */
} s_tally_t;

/* After a batch got no Ack to act on (rc: the request's; when rc is 0,
 * reply is what came instead, cleared here): says why in ss, closes the
 * connection and waits before the next try. Returns -1 to try again, else
 * the exit code to stop with (the records stay queued). */
static int s_no_ack(agent_session_t *ss, int rc, tsr_msg_t *reply, const char *after,
                    int *failures)
{
    bool later = rc == 0 && reply->kind == TSR_MSG_ACK;
    ss->failure = rc != 0 ? tsr_conn_failure(ss->conn) : TSR_CONN_TIMEOUT;
    if (rc != 0)
        agent_session_explain(ss, after);
    else
        snprintf(ss->why, sizeof ss->why,
                 "the collector at %s %s; %s", ss->conf->endpoint,
                 later ? "asks to send again later (RETRY_LATER: its storage is full, or "
                         "its ingest log waits to be applied; see its log)"
                       : "answered with something other than an Ack",
                 after);
    /* Lazy Pirate: the socket may hold a late reply; start afresh */
    tsr_conn_close(&ss->conn);
    if (rc == 0)
        tsr_msg_clear(reply);
    bool hopeless = ss->failure == TSR_CONN_SERVER_KEY || ss->failure == TSR_CONN_NOT_AUTHORISED;
    if (hopeless || ++*failures >= ss->conf->attempts) {
        agent_cmd_say("%s", ss->why);
        return tsr_conn_exit_code(ss->failure);
    }
    s_backoff(*failures);
    return -1;
}

/* What an Ack's status means for the delivery. */
typedef enum { S_ACK_OK, S_ACK_SMALLER, S_ACK_STOP } s_ack_next_t;

/* Reads the status of the Ack a of a batch of n records: OK; MALFORMED for
 * several records halves *max_batch; MALFORMED for one record, or a
 * refusal, stops the delivery. Says what went wrong on stderr. */
static s_ack_next_t s_ack_status(const tsr_ack_t *a, size_t n, const s_tally_t *t,
                                 size_t *max_batch)
{
    if (a->status == TSR_ACK_MALFORMED && n > 1) {
        /* The collector could not take this batch, most likely a limit
         * lower than ours: halve it (at most log2(max_batch) times; the
         * records stay queued meanwhile) rather than send it again. */
        *max_batch = n / 2;
        fprintf(stderr, "tessera-agent: WARNING: the collector refused a batch of %zu records "
                        "as malformed (%s); trying batches of %zu\n",
                n, a->error[0] ? a->error : "no reason given", *max_batch);
        return S_ACK_SMALLER;
    }
    if (a->status == TSR_ACK_MALFORMED) {
        /* one record the collector cannot decode: sending it again would
         * get the same answer, so stop here and keep it (and all after it) */
        fprintf(stderr, "tessera-agent: ERROR: the collector refused a record as malformed "
                        "(%s); it and %zu record(s) after it stay queued. Is the agent older "
                        "or newer than the collector?\n",
                a->error[0] ? a->error : "no reason given",
                t->total > t->sent + 1 ? t->total - t->sent - 1 : 0);
        return S_ACK_STOP;
    }
    if (a->status != TSR_ACK_OK) {
        fprintf(stderr, "tessera-agent: the collector refused this agent (status %d%s%s): is "
                        "its key in authorized_clients with the agent role?\n",
                a->status, a->error[0] ? ", " : "", a->error);
        return S_ACK_STOP;
    }
    return S_ACK_OK;
}

/* Takes an OK Ack a of batch b (outbox sequences seqs): the outbox lets go
 * of the records, t counts them. Returns whether any was rejected. */
static bool s_done(agent_session_t *ss, tsr_batch_t *b, const uint64_t *seqs, const tsr_ack_t *a,
                   s_tally_t *t)
{
    int nrej = agent_outbox_done(ss->ob, b, seqs, a);
    t->accepted += a->accepted;
    t->duplicates += a->duplicates;
    t->replaced += a->replaced;
    t->retracted += a->retracted;
    for (size_t i = 0; i < a->n_rejections; i++)
        fprintf(stderr, "rejected: %s\n", a->rejections[i].detail);
    if (nrej > 0)
        t->rejected += (size_t)nrej;
    /* the keys the collector accepts now (a rotation may end meanwhile) */
    s_keys(ss, a);
    t->sent += b->n_incidents + b->n_retractions;
    if (t->tty)
        fprintf(stderr, "\rsent %zu of %zu", t->sent, t->total);
    else if (t->progress)
        fprintf(stderr, "sent %zu of %zu\n", t->sent, t->total);
    return nrej > 0;
}

/* The delivery's summary on stderr. */
static void s_summary(const s_tally_t *t)
{
    if (t->tty)
        fputc('\n', stderr);
    if (t->sent)
        fprintf(stderr, "delivered: %lu accepted, %lu already there, %lu updated, %lu withdrawn, "
                        "%zu rejected\n", t->accepted, t->duplicates, t->replaced, t->retracted,
                t->rejected);
    if (t->rejected)
        fprintf(stderr, "tessera-agent: %zu record(s) rejected; see 'tessera-agent status "
                        "--rejections'\n", t->rejected);
}

/* Sends what the outbox holds under keys the collector accepts, batch by
 * batch, over the session's connection (reopened and probed again after a
 * time-out). Returns AGENT_EXIT_OK when it is all sent, AGENT_EXIT_FAIL if records were
 * rejected or the collector refused us, TSR_EXIT_* when it stopped
 * answering (records stay queued), TSR_EXIT_WRONG_NETWORK_KEY when records
 * are held back. */
int agent_session_deliver(agent_session_t *ss, bool progress)
{
    agent_conf_t *conf = ss->conf;
    agent_outbox_t *ob = ss->ob;
    tsr_error_t err;
    int result = AGENT_EXIT_OK, failures = 0;
    uint64_t *seqs = calloc((size_t)conf->max_batch, sizeof *seqs);
    agent_outbox_status_t st;
    agent_outbox_status(ob, &st);
    agent_outbox_held_t held;
    agent_outbox_held(ob, &ss->keys, &held);
    s_tally_t t = {.total = st.depth - held.n, .progress = progress};
    t.tty = progress && isatty(fileno(stderr));
    size_t max_batch = (size_t)conf->max_batch; /* halved when the collector says too big */
    while (seqs && !agent_cmd_stop) {
        tsr_batch_t b;
        int prc = agent_outbox_peek(ob, max_batch, &ss->keys, &b, seqs);
        if (prc != 0) {
            fprintf(stderr, "tessera-agent: the outbox cannot be read: %s\n", tsr_strerror(prc));
            agent_outbox_batch_clear(&b);
            result = AGENT_EXIT_FAIL;
            break;
        }
        if (b.n_incidents + b.n_retractions == 0) {
            agent_outbox_batch_clear(&b);
            break;
        }
        tsr_error_clear(&err);
        char after[128];
        snprintf(after, sizeof after, "%zu record(s) stay queued and go next time",
                 t.total - t.sent);
        if (!ss->conn && !agent_session_probe(ss, 1, after)) {
            /* reopened after a time-out: one attempt of the batch */
            tsr_conn_close(&ss->conn);
            agent_outbox_batch_clear(&b);
            if (ss->exit_code == AGENT_EXIT_FAIL || ss->failure == TSR_CONN_SERVER_KEY ||
                ss->failure == TSR_CONN_NOT_AUTHORISED || ++failures >= conf->attempts) {
                agent_cmd_say("%s", ss->why);
                result = ss->exit_code;
                break;
            }
            s_backoff(failures);
            continue;
        }
        tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
        req.u.submit = b;
        int rc = tsr_conn_request(ss->conn, &req, &reply, (int)conf->timeout_ms, &err);
        if (rc != 0 || reply.kind != TSR_MSG_ACK || reply.u.ack.status == TSR_ACK_RETRY_LATER) {
            agent_outbox_batch_clear(&b);
            int stop = s_no_ack(ss, rc, &reply, after, &failures);
            if (stop >= 0) {
                result = stop;
                break;
            }
            continue;
        }
        failures = 0;
        s_ack_next_t next = s_ack_status(&reply.u.ack, b.n_incidents + b.n_retractions, &t,
                                         &max_batch);
        if (next == S_ACK_OK && s_done(ss, &b, seqs, &reply.u.ack, &t))
            result = AGENT_EXIT_FAIL;
        tsr_msg_clear(&reply);
        agent_outbox_batch_clear(&b);
        if (next == S_ACK_STOP) {
            result = AGENT_EXIT_FAIL;
            break;
        }
    }
    s_summary(&t);
    if (agent_session_say_held(ss) > 0 && result == AGENT_EXIT_OK)
        result = TSR_EXIT_WRONG_NETWORK_KEY;
    free(seqs);
    return result;
}
