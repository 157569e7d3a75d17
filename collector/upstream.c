/* upstream.c - the relay's sender: the store's upstream queue to the
 * collector upstream, one batch in flight, Lazy Pirate retries (upstream.h). */
#include "upstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "tessera/client.h"
#include "tessera/curve.h"
#include "tessera/err.h"
#include "tessera/log.h"
#include "tessera/wire.h"

/* A held batch or an unanswered one is reported at most this often. */
#define S_REPORT_MS 60000
/* How often an idle sender looks at the queue without a kick. */
#define S_IDLE_MS 200

struct tsr_upstream {
    void *ctx;
    tsr_store_t *store;
    tsr_upstream_opts_t o;
    char endpoint[256], server_key[4096], client_key[4096];
    tsr_conn_t *conn;
    bool inflight, kicked;
    uint64_t batch_id, last;    /* the batch in flight: its id, its last queue entry */
    size_t n_inflight, n_inc;
    uint8_t (*rids)[TSR_RECORD_ID_LEN]; /* in flight: incidents', then retractions' */
    int64_t sent_at, retry_at, last_look, reported_at;
    int failures;
    tsr_upstream_stats_t st;
};

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tsr_upstream_new(tsr_upstream_t **out, void *zmq_ctx, tsr_store_t *store,
                     const tsr_upstream_opts_t *opts, tsr_error_t *err)
{
    char pub[41], sec[41], mine[41];
    *out = NULL;
    int rc = tsr_curve_load_public(opts->server_key, pub, err);
    if (rc == 0)
        rc = tsr_curve_load_secret(opts->client_key, sec, mine, err);
    explicit_bzero(sec, sizeof sec);
    if (rc != 0)
        return rc;
    tsr_upstream_t *u = calloc(1, sizeof *u);
    if (!u)
        return TSR_ENOMEM;
    u->ctx = zmq_ctx;
    u->store = store;
    u->o = *opts;
    snprintf(u->endpoint, sizeof u->endpoint, "%s", opts->endpoint);
    snprintf(u->server_key, sizeof u->server_key, "%s", opts->server_key);
    snprintf(u->client_key, sizeof u->client_key, "%s", opts->client_key);
    u->o.endpoint = u->endpoint;
    u->o.server_key = u->server_key;
    u->o.client_key = u->client_key;
    u->kicked = true;
    u->rids = calloc(opts->max_batch + 1, sizeof *u->rids);
    if (!u->rids) {
        free(u);
        return TSR_ENOMEM;
    }
    *out = u;
    tsr_info("upstream", "forwarding %s to %s as relay key %s", opts->linkage_only ? "linkage "
             "tokens (forward = linkage)" : "records", u->endpoint, mine);
    return 0;
}

void tsr_upstream_destroy(tsr_upstream_t **u_p)
{
    if (!u_p || !*u_p)
        return;
    tsr_conn_close(&(*u_p)->conn);
    free((*u_p)->rids);
    free(*u_p);
    *u_p = NULL;
}

void *tsr_upstream_socket(tsr_upstream_t *u)
{
    return u && u->conn ? tsr_conn_socket(u->conn) : NULL;
}

void tsr_upstream_kick(tsr_upstream_t *u)
{
    if (u)
        u->kicked = true;
}

void tsr_upstream_stats(const tsr_upstream_t *u, tsr_upstream_stats_t *out)
{
    *out = u->st;
}

/* Exponential back-off with jitter after `failures` failed tries, capped
 * at 30 s (the agent's, agent/deliver.c). */
static int64_t s_backoff_ms(int failures)
{
    long ms = 250L << (failures < 7 ? failures : 7);
    ms = ms > 30000 ? 30000 : ms;
    return ms / 2 + rand() % (ms / 2 + 1);
}

/* Whether a report may be logged now (one every S_REPORT_MS, and always
 * the first of a run of failures). */
static bool s_report_due(tsr_upstream_t *u, int64_t now)
{
    if (u->failures > 1 && now - u->reported_at < S_REPORT_MS)
        return false;
    u->reported_at = now;
    return true;
}

/* The batch in flight failed: Lazy Pirate, a new socket and the same
 * entries again after the back-off. */
static void s_retry(tsr_upstream_t *u, int64_t now)
{
    tsr_conn_close(&u->conn);
    u->inflight = false;
    u->failures++;
    u->st.retries++;
    u->retry_at = now + s_backoff_ms(u->failures);
}

static void s_hold(tsr_upstream_t *u, int64_t now, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The batch is refused for a setting: kept, reported, tried again later. */
static void s_hold(tsr_upstream_t *u, int64_t now, const char *fmt, ...)
{
    u->st.held = true;
    s_retry(u, now);
    if (!s_report_due(u, now))
        return;
    char why[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    size_t waiting = 0;
    tsr_store_upstream_waiting(u->store, &waiting);
    tsr_error("upstream", "%s; %zu change(s) stay queued and are sent again once it is fixed "
              "event=upstream_held waiting=%zu", why, waiting, waiting);
}

static void s_hex(char *out, const uint8_t *rid)
{
    for (int i = 0; i < TSR_RECORD_ID_LEN; i++)
        sprintf(out + 2 * i, "%02x", rid[i]);
}

/* An OK Ack: entries refused for a setting hold the batch; others are
 * logged and leave with the rest. */
static void s_acked(tsr_upstream_t *u, const tsr_ack_t *a, int64_t now)
{
    for (size_t i = 0; i < a->n_rejections; i++) {
        int r = a->rejections[i].reason;
        if (r == TSR_REJECT_NOT_PERMITTED) {
            s_hold(u, now, "the collector upstream at %s refused the records: %s. List this "
                   "collector's key there with the relay role (KEY relay ID AREAS), not as an "
                   "agent, and send it SIGHUP", u->endpoint, a->rejections[i].detail);
            return;
        }
        if (r == TSR_REJECT_WRONG_NETWORK_KEY) {
            s_hold(u, now, "the collector upstream at %s refused a record for its network key "
                   "(%s): the network key is national, and both collectors' [network] key_ids "
                   "must name it", u->endpoint, a->rejections[i].detail);
            return;
        }
    }
    size_t removed = 0;
    if (tsr_store_upstream_done(u->store, u->last, &removed) != 0) {
        /* sent again later: upstream they are duplicates */
        s_retry(u, now);
        return;
    }
    for (size_t i = 0; i < a->n_rejections; i++) {
        const tsr_rejection_t *r = &a->rejections[i];
        size_t at = r->retraction ? u->n_inc + r->index : r->index;
        char hex[2 * TSR_RECORD_ID_LEN + 1] = "?";
        if (at < u->n_inflight)
            s_hex(hex, u->rids[at]);
        tsr_warn("upstream", "the collector upstream rejected the %s of record %s: %s; it "
                 "leaves the queue (fix the cause upstream, then have the agency send it again) "
                 "event=upstream_rejected record=%s reason=%d",
                 r->retraction ? "retraction" : "change", hex, r->detail, hex, r->reason);
    }
    u->st.batches_acked++;
    u->st.forwarded += a->accepted + a->replaced + a->retracted;
    u->st.duplicates += a->duplicates;
    u->st.rejected += a->n_rejections;
    if (u->st.held || u->failures > 0)
        tsr_info("upstream", "the collector upstream at %s acknowledges again", u->endpoint);
    u->st.held = false;
    u->failures = 0;
    u->inflight = false;
    u->kicked = true; /* more may wait */
    tsr_debug("upstream", "batch %llu acknowledged: %zu entries removed", (unsigned long long)a->batch_id,
              removed);
}

/* Takes what the socket holds for the batch in flight. */
static void s_take(tsr_upstream_t *u, int64_t now)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    tsr_msg_t reply;
    int rc = tsr_conn_recv(u->conn, &reply, 0, &err);
    if (rc == TSR_EAGAIN) {
        if (now - u->sent_at < u->o.timeout_ms)
            return;
        if (s_report_due(u, now))
            tsr_warn("upstream", "no Ack from the collector upstream at %s within %d ms (%s); "
                     "trying again event=upstream_retry", u->endpoint, u->o.timeout_ms,
                     err.reason);
        s_retry(u, now);
        return;
    }
    if (rc == TSR_ENET) { /* not authorised, or the wrong server key: a setting */
        char why[1024];
        tsr_conn_hint_t h = {.who = "this collector's relay",
                             .server_key_from = "[upstream] server_key",
                             .client_line = "relay ID AREAS",
                             .endpoint_from = "[upstream] endpoint"};
        tsr_conn_explain(u->conn, &h, why, sizeof why);
        s_hold(u, now, "%s", why[0] ? why : err.reason);
        return;
    }
    if (rc != 0) {
        s_retry(u, now);
        return;
    }
    if (reply.kind != TSR_MSG_ACK || reply.u.ack.batch_id != u->batch_id) {
        tsr_msg_clear(&reply); /* a late answer to a batch given up on */
        return;
    }
    tsr_ack_t *a = &reply.u.ack;
    if (a->status == TSR_ACK_OK)
        s_acked(u, a, now);
    else if (a->status == TSR_ACK_RETRY_LATER)
        s_retry(u, now);
    else if (a->status == TSR_ACK_DENIED)
        s_hold(u, now, "the collector upstream at %s refused this collector (%s): list its key "
               "there with the relay role (KEY relay ID AREAS)", u->endpoint, a->error);
    else
        s_hold(u, now, "the collector upstream at %s refused a batch of %zu change(s) as "
               "malformed (%s): is it older than this collector?", u->endpoint, u->n_inflight,
               a->error);
    tsr_msg_clear(&reply);
}

/* Sends the next batch when entries wait. */
static void s_send_next(tsr_upstream_t *u, int64_t now)
{
    if (!u->kicked && now - u->last_look < S_IDLE_MS)
        return;
    u->kicked = false;
    u->last_look = now;
    tsr_msg_t m = {.kind = TSR_MSG_SUBMIT};
    uint64_t last = 0;
    if (tsr_store_upstream_peek(u->store, u->o.max_batch, u->o.linkage_only, &m.u.submit, &last) !=
            0 ||
        last == 0) {
        tsr_msg_clear(&m);
        return;
    }
    tsr_error_t err;
    tsr_error_clear(&err);
    if (!u->conn &&
        tsr_conn_open(&u->conn, u->ctx, u->endpoint, u->server_key, u->client_key, &err) != 0) {
        tsr_msg_clear(&m);
        s_hold(u, now, "cannot connect to the collector upstream: %s", err.reason);
        return;
    }
    u->batch_id = m.u.submit.batch_id;
    u->n_inc = m.u.submit.n_incidents;
    u->n_inflight = m.u.submit.n_incidents + m.u.submit.n_retractions;
    for (size_t i = 0; i < u->n_inflight; i++)
        memcpy(u->rids[i], i < u->n_inc ? m.u.submit.incidents[i].record_id
                                        : m.u.submit.retractions[i - u->n_inc].record_id,
               TSR_RECORD_ID_LEN);
    u->last = last;
    if (tsr_conn_send(u->conn, &m) != 0) {
        tsr_msg_clear(&m);
        s_retry(u, now);
        return;
    }
    tsr_msg_clear(&m);
    u->inflight = true;
    u->sent_at = now;
    u->st.batches_sent++;
}

int tsr_upstream_step(tsr_upstream_t *u)
{
    int64_t now = s_now_ms();
    if (u->inflight)
        s_take(u, now);
    if (!u->inflight && now >= u->retry_at)
        s_send_next(u, now);
    int64_t at = u->inflight ? u->sent_at + u->o.timeout_ms
                 : now < u->retry_at ? u->retry_at
                                     : now + S_IDLE_MS;
    int64_t wait = at - s_now_ms();
    return wait < 0 ? 0 : wait > 500 ? 500 : (int)wait;
}
