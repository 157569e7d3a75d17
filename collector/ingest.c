/* ingest.c - the collector's ingest path (daemon.h): per-peer log limits,
 * receiving and sending on a ROUTER socket, the ingest queue, the group
 * commit of the ingest log and its Acks; the publish path, the clocks, the
 * applier's pause, the day boundary and the heartbeat the loop calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "access.h"
#include "applier.h"
#include "daemon.h"
#include "fair.h"
#include "histo.h"
#include "store.h"
#include "upstream.h"
#include "tessera/auth.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/log.h"
#include "tessera/netkeys.h"
#include "tessera/wire.h"

/* The slot of peer `who` in a per-peer log table: its own, or the place
 * of the peer quiet longest. */
static tsr_daemon_peer_log_t *s_peer_slot(tsr_daemon_peer_log_t *tab, const char *who)
{
    tsr_daemon_peer_log_t *oldest = &tab[0];
    for (size_t i = 0; i < S_PEER_LOG; i++) {
        if (!strcmp(tab[i].id, who) && tab[i].id[0])
            return &tab[i];
        if (tab[i].last_ms < oldest->last_ms)
            oldest = &tab[i];
    }
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->id, sizeof oldest->id, "%s", who);
    oldest->last_ms = INT64_MIN;
    return oldest;
}

/* Whether a line about `who` may be logged now: at most one per peer every
 * S_PEER_LOG_MS, so a flood cannot flood the log and one noisy peer cannot
 * hide another. When it may, *more says how many were not logged since. */
static bool s_peer_log_due(tsr_daemon_peer_log_t *tab, const char *who, char *more, size_t cap)
{
    int64_t now = tsr_daemon_now_ms();
    tsr_daemon_peer_log_t *slot = s_peer_slot(tab, who);
    if (slot->last_ms != INT64_MIN && now - slot->last_ms < S_PEER_LOG_MS) {
        slot->suppressed++;
        return false;
    }
    more[0] = '\0';
    if (slot->suppressed)
        snprintf(more, cap, "; %llu more from it not logged",
                 (unsigned long long)slot->suppressed);
    slot->last_ms = now;
    slot->suppressed = 0;
    return true;
}

/* Counts a frame that was refused as malformed and logs it (rate-limited
 * per peer, s_peer_log_due). peer is the ZAP id, or NULL for a key no
 * longer listed. */
void tsr_daemon_count_malformed(tsr_daemon_t *c, const char *sock, const char *peer,
                                const char *why, bool answered)
{
    c->malformed++;
    if (answered)
        c->malformed_batches++;
    const char *who = peer ? peer : "(no longer listed)";
    char more[64];
    if (!s_peer_log_due(c->peer_log, who, more, sizeof more))
        return;
    tsr_warn(sock, "%s: malformed frame %s (%s)%s; %llu so far event=%s status=malformed id=%s",
             who, answered ? "answered MALFORMED" : "dropped", why, more,
             (unsigned long long)c->malformed, answered ? "batch_rejected" : "frame_dropped",
             peer ? peer : "-");
}

/* Receives one ROUTER message: identity + one body frame. Returns 0 and
 * fills both (caller closes), or -1 when the message had another shape. */
int tsr_daemon_recv(void *sock, zmq_msg_t *ident, zmq_msg_t *body)
{
    zmq_msg_init(ident);
    zmq_msg_init(body);
    if (zmq_msg_recv(ident, sock, ZMQ_DONTWAIT) < 0)
        return -2;
    if (!zmq_msg_more(ident) || zmq_msg_recv(body, sock, 0) < 0)
        return -1;
    int extra = 0;
    while (zmq_msg_more(body)) { /* drain and refuse multi-frame messages */
        zmq_msg_t junk;
        zmq_msg_init(&junk);
        zmq_msg_recv(&junk, sock, 0);
        int more = zmq_msg_more(&junk);
        zmq_msg_close(&junk);
        extra = 1;
        if (!more)
            break;
    }
    return extra ? -1 : 0;
}

void tsr_daemon_send(void *sock, zmq_msg_t *ident, const tsr_msg_t *m)
{
    uint8_t *buf;
    size_t len;
    if (tsr_wire_encode(m, &buf, &len) != 0)
        return;
    zmq_msg_t id;
    zmq_msg_init(&id);
    zmq_msg_copy(&id, ident);
    zmq_msg_send(&id, sock, ZMQ_SNDMORE);
    zmq_send(sock, buf, len, 0);
    free(buf);
}

/* --- ingest ------------------------------------------------------------------- */

struct tsr_daemon_pending {
    zmq_msg_t ident;
    int64_t read_us; /* monotonic microseconds when it was read (Ack latency) */
    tsr_msg_t msg;
    tsr_client_t client;
    tsr_store_item_t *items;
    size_t n_items;
};

static void s_pending_clear(tsr_daemon_pending_t *p)
{
    zmq_msg_close(&p->ident);
    tsr_msg_clear(&p->msg);
    tsr_client_clear(&p->client);
    free(p->items);
}

static void s_pending_destroy(tsr_daemon_pending_t **p_p)
{
    if (!*p_p)
        return;
    s_pending_clear(*p_p);
    free(*p_p);
    *p_p = NULL;
}

/* Builds the store items of a decoded batch. */
static int s_items(tsr_daemon_pending_t *p)
{
    tsr_batch_t *b = &p->msg.u.submit;
    p->n_items = b->n_incidents + b->n_retractions;
    p->items = calloc(p->n_items + 1, sizeof *p->items);
    if (!p->items)
        return TSR_ENOMEM;
    for (size_t i = 0; i < b->n_incidents; i++) {
        tsr_store_item_t *it = &p->items[i];
        it->incident = &b->incidents[i];
        it->forward = b->forward;
        it->pre_reason = b->incident_verdicts[i].reason;
        memcpy(it->pre_detail, b->incident_verdicts[i].detail, sizeof it->pre_detail);
    }
    for (size_t i = 0; i < b->n_retractions; i++) {
        tsr_store_item_t *it = &p->items[b->n_incidents + i];
        memcpy(it->record_id, b->retractions[i].record_id, TSR_RECORD_ID_LEN);
        it->version = b->retractions[i].version;
        memcpy(it->agency_id, b->retractions[i].agency_id, sizeof it->agency_id);
        it->forward = b->forward;
        it->pre_reason = b->retraction_verdicts[i].reason;
        memcpy(it->pre_detail, b->retraction_verdicts[i].detail, sizeof it->pre_detail);
    }
    return TSR_OK;
}

/* Logs (rate-limited per agency) that records of a batch were refused for
 * their network key: the agency holds a key that is not this network's,
 * and its cases would not link. */
static void s_log_wrong_keys(tsr_daemon_t *c, const tsr_daemon_pending_t *p, const tsr_ack_t *a)
{
    size_t n = 0;
    const char *first = NULL;
    for (size_t i = 0; i < a->n_rejections; i++)
        if (a->rejections[i].reason == TSR_REJECT_WRONG_NETWORK_KEY && n++ == 0)
            first = a->rejections[i].detail;
    char more[64];
    if (n == 0 || !s_peer_log_due(c->key_log, p->client.id, more, sizeof more))
        return;
    tsr_warn("ingest", "%s: %zu record(s) refused (WRONG_NETWORK_KEY): %s. The agency's "
             "network.key is not this network's%s", p->client.id, n, first, more);
}

/* The Ack for a pending batch after the store answered rc. */
static void s_ack(tsr_daemon_t *c, tsr_daemon_pending_t *p, int rc)
{
    tsr_msg_t m = {.kind = TSR_MSG_ACK};
    tsr_ack_t *a = &m.u.ack;
    a->batch_id = p->msg.u.submit.batch_id;
    a->status = rc == 0 ? TSR_ACK_OK : TSR_ACK_RETRY_LATER;
    tsr_rejection_t *rj = calloc(p->n_items + 1, sizeof *rj);
    if (!rj)
        a->status = TSR_ACK_RETRY_LATER;
    size_t n_inc = p->msg.u.submit.n_incidents;
    for (size_t i = 0; rc == 0 && rj && i < p->n_items; i++) {
        tsr_store_item_t *it = &p->items[i];
        switch (it->outcome) {
        case TSR_OUTCOME_ACCEPTED: a->accepted++; break;
        case TSR_OUTCOME_DUPLICATE: a->duplicates++; break;
        case TSR_OUTCOME_REPLACED: a->replaced++; break;
        case TSR_OUTCOME_RETRACTED: a->retracted++; break;
        default: {
            tsr_rejection_t *r = &rj[a->n_rejections++];
            r->retraction = i >= n_inc;
            r->index = (uint32_t)(i >= n_inc ? i - n_inc : i);
            r->reason = it->reason;
            snprintf(r->detail, sizeof r->detail, "%s", it->detail);
        }
        }
    }
    a->rejections = rj;
    tsr_store_network_keys(c->store, tsr_day_today(), &a->network_keys, NULL);
    a->retention_months = (int32_t)C.retention_months;
    s_log_wrong_keys(c, p, a);
    tsr_daemon_send(c->ingest, &p->ident, &m);
    c->acks_sent++;
    int64_t waited = tsr_daemon_now_us() - p->read_us;
    tsr_histo_observe(&c->ack_latency, waited > 0 ? (uint64_t)waited : 0);
    if (a->n_rejections > 0)
        tsr_info("ingest", "%s: batch %llu: %zu of %zu record(s) rejected, the first: %s "
                 "event=batch_rejected agency=%s batch=%llu records=%zu rejected=%zu",
                 p->client.id, (unsigned long long)a->batch_id, a->n_rejections, p->n_items,
                 rj[0].detail, p->client.id, (unsigned long long)a->batch_id, p->n_items,
                 a->n_rejections);
    free(rj);
}

/* Whether the alert stream carries alerts of kind: the stream is for the
 * liaison and admin roles (the ZAP handler lets no other subscribe), so it
 * carries what the access table gives both: linkage alerts. Spike and
 * cross-area alerts, with their exact counts, are the analyst's (issue 14)
 * and stay in the log, where analysts ask for them. */
static bool s_streamed(int kind)
{
    return tsr_access_alert_allowed(TSR_ROLE_LIAISON, kind) &&
           tsr_access_alert_allowed(TSR_ROLE_ADMIN, kind);
}

/* Publishes alerts p[0..n) once committed. A subscriber that misses one
 * (not connected, or the stream restarting) finds it in the log through the
 * query socket: nothing is lost by a dropped message. The sequence numbers
 * of alerts not streamed leave gaps, which subscribers fill from the log
 * (where they are not theirs either). */
static void s_publish_list(tsr_daemon_t *c, const tsr_link_published_t *p, size_t n)
{
    tsr_upstream_kick(c->upstream); /* an apply step or purge may have queued changes */
    for (size_t i = 0; i < n; i++) {
        if (p[i].seq > c->last_alert)
            c->last_alert = p[i].seq;
        if (c->pub && s_streamed(p[i].kind) &&
            zmq_send(c->pub, p[i].buf, p[i].len, ZMQ_DONTWAIT) < 0)
            tsr_warn("alerts", "alert %llu not published: %s", (unsigned long long)p[i].seq,
                     zmq_strerror(zmq_errno()));
    }
}

/* Publishes what the apply thread committed, then what the loop thread's
 * own store calls committed (with the applier paused, or after it
 * stopped). */
void tsr_daemon_publish(tsr_daemon_t *c)
{
    size_t n = 0;
    tsr_link_published_t *p = c->applier ? tsr_applier_alerts(c->applier, &n) : NULL;
    s_publish_list(c, p, n);
    for (size_t i = 0; i < n; i++)
        free(p[i].buf);
    free(p);
}

void tsr_daemon_publish_store(tsr_daemon_t *c)
{
    tsr_daemon_publish(c); /* the apply thread's first: they are older, and in order */
    size_t n;
    const tsr_link_published_t *p = tsr_store_published(c->store, &n);
    s_publish_list(c, p, n);
}

int64_t tsr_daemon_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tsr_daemon_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Applies the whole log in the loop thread, step after bounded step, once
 * the apply thread has stopped: at a clean stop (after a crash the next
 * start applies it). */
void tsr_daemon_apply_all(tsr_daemon_t *c)
{
    if (tsr_store_logged(c->store) > 0)
        tsr_store_drain_all(c->store, (int64_t)time(NULL)); /* a failure is logged */
    tsr_daemon_publish_store(c);
}

/* How long the loop may wait for a message: not at all while batches wait
 * for the next commit or queries ready to answer wait for their turn;
 * otherwise until a message, the apply thread's news or half a second. */
int tsr_daemon_poll_timeout(const tsr_daemon_t *c)
{
    if (c->n_queued > 0 || c->jobs_ready)
        return 0;
    int64_t trim = c->trim_at ? c->trim_at - tsr_daemon_now_ms() : 500;
    return trim < 0 ? 0 : trim < 500 ? (int)trim : 500;
}

/* The loop thread's calls of the apply thread's kind, between these. */
void tsr_daemon_pause(tsr_daemon_t *c)
{
    if (c->applier)
        tsr_applier_pause(c->applier);
}

void tsr_daemon_resume(tsr_daemon_t *c)
{
    if (c->applier)
        tsr_applier_resume(c->applier);
}

/* Purges what retention no longer allows (daily, and at start-up): the
 * records, then the audit log (tsr_daemon_audit_retention). A failure of either is
 * logged by the store and tried again the next day or start. */
static void s_retention(tsr_daemon_t *c, int64_t now)
{
    uint64_t purged = 0, audit = 0;
    int32_t before = tsr_store_retention_cutoff((int)C.retention_months, now);
    tsr_daemon_pause(c);
    tsr_store_purge(c->store, before, now, &purged);
    tsr_daemon_publish_store(c);
    tsr_daemon_audit_retention(c, now, &audit);
    tsr_daemon_resume(c);
}

/* When the UTC day changes, the day just closed (and on Sundays its week)
 * is evaluated again: its counts were incomplete while it ran. */
void tsr_daemon_day_boundary(tsr_daemon_t *c)
{
    int64_t now = (int64_t)time(NULL);
    int32_t today = (int32_t)(now / 86400);
    if (today == c->today)
        return;
    /* the closed day counts every record acknowledged by now: the apply
     * thread applies them (the loop goes on meanwhile, and comes back on
     * its news), then it is paused for the evaluation, which waits for at
     * most the step under way. After a failure the boundary is tried again
     * a second later (evaluating a day twice alerts nothing twice). */
    if (tsr_daemon_now_ms() < c->drain_retry_at)
        return;
    if (c->day_target == 0)
        c->day_target = tsr_store_last_logged(c->store) + 1; /* + 1: 0 means unset */
    if (tsr_store_applied(c->store) + 1 < c->day_target && !tsr_applier_failing(c->applier)) {
        tsr_applier_want(c->applier, c->day_target - 1);
        return;
    }
    c->day_target = 0;
    tsr_daemon_pause(c);
    bool applied = true;
    for (int32_t d = c->today; applied && d < today + (c->starting ? 1 : 0); d++) {
        applied = tsr_store_day_closed(c->store, d, now) == 0;
        tsr_daemon_publish_store(c);
        if (!applied)
            c->drain_retry_at = tsr_daemon_now_ms() + 1000;
    }
    tsr_daemon_resume(c);
    if (!applied)
        return;
    for (size_t i = 0; i < tsr_daemon_netkeys.n && !c->starting; i++)
        if (tsr_daemon_netkeys.ids[i].until_day &&
            tsr_daemon_netkeys.ids[i].until_day >= c->today &&
            tsr_daemon_netkeys.ids[i].until_day < today) {
            char d[11];
            tsr_warn("collector",
                     "network key id %u ended on %s ([network] key_ids): records "
                     "under it are refused from now on",
                     tsr_daemon_netkeys.ids[i].key_id,
                     tsr_day_format(d, tsr_daemon_netkeys.ids[i].until_day));
        }
    c->today = today;
    c->starting = false;
    s_retention(c, now);
}

/* About once a second, the highest seq on the stream: a subscriber that is
 * behind knows it missed something even when no new alert follows. */
void tsr_daemon_heartbeat(tsr_daemon_t *c)
{
    int64_t now = tsr_daemon_now_ms();
    if (!c->pub || now - c->last_heartbeat < 1000)
        return;
    c->last_heartbeat = now;
    tsr_msg_t m = {.kind = TSR_MSG_HEARTBEAT};
    m.u.last_seq = c->last_alert;
    uint8_t *buf;
    size_t len;
    if (tsr_wire_encode(&m, &buf, &len) == 0) {
        zmq_send(c->pub, buf, len, ZMQ_DONTWAIT);
        free(buf);
    }
}

/* Answers a batch that will not be stored with status and why, when its
 * batch id can be read; the caller has counted or logged it. */
static void s_ack_refusal(tsr_daemon_t *c, tsr_daemon_pending_t *p, const tsr_wire_peek_t *pk,
                          int status, const char *why)
{
    tsr_msg_t m = {.kind = TSR_MSG_ACK};
    m.u.ack.batch_id = pk->batch_id;
    m.u.ack.status = status;
    snprintf(m.u.ack.error, sizeof m.u.ack.error, "%s", why);
    tsr_daemon_send(c->ingest, &p->ident, &m);
    c->acks_sent++;
}

/* An agent's batch that cannot be decoded or is over a limit: answered
 * MALFORMED with the reason where its batch id can be found in the frame
 * (the agent then keeps its records and says why), else counted and logged. */
static void s_refuse_batch(tsr_daemon_t *c, tsr_daemon_pending_t *p, zmq_msg_t *body,
                           const char *field, const char *reason)
{
    char why[sizeof ((tsr_ack_t *)0)->error];
    snprintf(why, sizeof why, "%s%s%s", field ? field : "", field && *field ? ": " : "", reason);
    tsr_wire_peek_t pk;
    tsr_wire_peek(&pk, zmq_msg_data(body), zmq_msg_size(body));
    bool answer = (p->client.role == TSR_ROLE_AGENT || p->client.role == TSR_ROLE_RELAY) &&
                  pk.kind == TSR_MSG_SUBMIT && pk.has_batch_id;
    if (answer)
        s_ack_refusal(c, p, &pk, TSR_ACK_MALFORMED, why);
    tsr_daemon_count_malformed(c, "ingest", p->client.id, why, answer);
}

/* Checks what can be checked before a frame is decoded: its size against
 * max_frame_mib (the socket allows the CURVE overhead above it, so the
 * check and its answer are ours) and whether the peer's role may send what
 * the frame holds. Returns true when the frame may be decoded. */
static bool s_ingest_check(tsr_daemon_t *c, tsr_daemon_pending_t *p, zmq_msg_t *body)
{
    size_t size = zmq_msg_size(body);
    if (size > c->lim.max_frame) {
        char why[160];
        snprintf(why, sizeof why, "frame of %zu bytes is over the limit of %zu (max_frame_mib = %ld)",
                 size, c->lim.max_frame, C.max_frame_mib);
        s_refuse_batch(c, p, body, "", why);
        return false;
    }
    tsr_wire_peek_t pk;
    tsr_wire_peek(&pk, zmq_msg_data(body), size);
    if (pk.kind == TSR_MSG_SUBMIT && p->client.role != TSR_ROLE_AGENT &&
        p->client.role != TSR_ROLE_RELAY) {
        /* refused on what it is, before a decode is spent on it */
        char why[96];
        snprintf(why, sizeof why, "%ss may not submit", tsr_role_name(p->client.role));
        s_ack_refusal(c, p, &pk, TSR_ACK_DENIED, why);
        tsr_warn("ingest", "%s (%s) may not submit event=batch_rejected status=denied id=%s",
                 p->client.id, tsr_role_name(p->client.role), p->client.id);
        return false;
    }
    return true;
}

/* Reads what waits on the ingest socket into the queue, until the queue
 * holds max_batches batches or nothing more waits. Frames that are refused
 * are answered (or counted) here and never queued. */
static void s_ingest_read(tsr_daemon_t *c)
{
    while (c->n_queued < (size_t)C.max_batches) {
        tsr_daemon_pending_t *p = calloc(1, sizeof *p);
        if (!p)
            return;
        zmq_msg_t body;
        int r = tsr_daemon_recv(c->ingest, &p->ident, &body);
        p->read_us = tsr_daemon_now_us();
        if (r == -2) {
            zmq_msg_close(&p->ident);
            zmq_msg_close(&body);
            free(p);
            return;
        }
        char id[TSR_CLIENT_ID_MAX], key[41];
        bool known = tsr_zap_peer(&body, id, key) && tsr_zap_lookup(c->zap, id, key, &p->client);
        tsr_error_t err;
        tsr_error_clear(&err);
        int drop = 1;
        if (!known) {
            c->unauthorised++;
            tsr_warn("ingest", "message from a client no longer authorised dropped");
        } else if (r != 0) {
            tsr_daemon_count_malformed(c, "ingest", p->client.id, "not one frame", false);
        } else if (!s_ingest_check(c, p, &body)) {
            /* refused and, where it could be, answered */
        } else if (tsr_wire_decode(&p->msg, zmq_msg_data(&body), zmq_msg_size(&body), &c->lim,
                                   &err) != 0) {
            s_refuse_batch(c, p, &body, err.field, err.reason);
        } else if (p->msg.kind != TSR_MSG_SUBMIT) {
            tsr_daemon_count_malformed(c, "ingest", p->client.id, "not a SubmitBatch", false);
        } else if (p->msg.u.submit.n_incidents + p->msg.u.submit.n_retractions == 0) {
            /* an empty batch is an agent asking whether we are there: answer
             * at once, touching nothing */
            tsr_msg_t m = {.kind = TSR_MSG_ACK};
            m.u.ack.batch_id = p->msg.u.submit.batch_id;
            m.u.ack.status = TSR_ACK_OK;
            /* with the network keys it accepts: the agent checks its own */
            tsr_store_network_keys(c->store, tsr_day_today(), &m.u.ack.network_keys, NULL);
            m.u.ack.retention_months = (int32_t)C.retention_months;
            tsr_daemon_send(c->ingest, &p->ident, &m);
        } else if (s_items(p) == 0) {
            drop = 0;
        }
        zmq_msg_close(&body);
        if (drop) {
            s_pending_destroy(&p);
            continue;
        }
        c->queue[c->n_queued++] = p;
    }
}

/* At debug level, what a commit took of each peer's queued batches:
 * "flooder-1 2/34, leeds-cs-01 1/1" (taken/queued, by first arrival; the
 * first 8 peers). tests/integration/fairness.sh reads it. */
typedef struct {
    const char *id;
    size_t taken, queued;
} s_share_t;

static void s_commit_shares(const tsr_daemon_t *c, char *out, size_t cap)
{
    s_share_t p[8];
    size_t np = 0, more = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->n_queued; i++) {
        size_t k = 0;
        while (k < np && strcmp(p[k].id, c->queue[i]->client.id) != 0)
            k++;
        if (k == np) {
            if (np == sizeof p / sizeof p[0]) {
                more++;
                continue;
            }
            p[np++] = (s_share_t){c->queue[i]->client.id, 0, 0};
        }
        p[k].queued++;
        p[k].taken += c->fair[i].take;
    }
    for (size_t k = 0; k < np; k++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s %zu/%zu", k ? ", " : "", p[k].id,
                 p[k].taken, p[k].queued);
    if (more)
        snprintf(out + strlen(out), cap - strlen(out), " (and batches of more peers)");
}

/* Logs the next group of queued batches in one transaction, each peer its
 * share (fair.h), then acknowledges them; the rest stay queued, in order,
 * for the next call. */
void tsr_daemon_ingest_commit(tsr_daemon_t *c)
{
    size_t n = c->n_queued, left = 0, k = 0;
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        c->fair[i] = (tsr_fair_batch_t){.peer = c->queue[i]->client.public_key,
                                        .n_items = c->queue[i]->n_items};
    size_t taken = tsr_fair_select(c->fair, n, (size_t)C.max_batches, (size_t)C.max_items, &left);
    for (size_t i = 0; i < n; i++)
        if (c->fair[i].take)
            c->sb[k++] = (tsr_store_batch_t){&c->queue[i]->client, c->queue[i]->items,
                                             c->queue[i]->n_items};
    char shares[768] = "";
    if (tsr_daemon_debug)
        s_commit_shares(c, shares, sizeof shares);
    bool was_empty = tsr_store_logged(c->store) == 0;
    int rc = tsr_store_submit(c->store, c->sb, taken, (int64_t)time(NULL));
    c->group_commits++;
    c->deferrals += left;
    /* Acks only now: the transaction has committed (or nothing was written). */
    k = 0;
    for (size_t i = 0; i < n; i++) {
        if (c->fair[i].take) {
            s_ack(c, c->queue[i], rc);
            s_pending_destroy(&c->queue[i]);
        } else {
            c->queue[k++] = c->queue[i];
        }
    }
    c->n_queued = k;
    /* quiet is counted from here: the commit's own time is not quiet */
    if (rc == 0 && c->applier)
        tsr_applier_logged(c->applier, was_empty);
    tsr_debug("ingest", "commit of %zu batch(es), %zu left for the next: %s; taken/queued: %s",
              taken, left, tsr_strerror(rc), shares);
}

/* Reads what waits on the ingest socket, logs a group of it in one
 * transaction, then acknowledges. */
void tsr_daemon_ingest(tsr_daemon_t *c)
{
    s_ingest_read(c);
    tsr_daemon_ingest_commit(c);
}
