/* query.c - queries from arrival to answer (daemon.h): read and refused
 * or queued, answered once the log is applied up to their target, sent
 * once their audit entry is durable; refusals' aggregates for the audit
 * log. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "access.h"
#include "applier.h"
#include "budget.h"
#include "daemon.h"
#include "querier.h"
#include "ratelimit.h"
#include "refusals.h"
#include "store.h"
#include "tessera/auth.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/log.h"
#include "tessera/wire.h"

static uint64_t s_result_size(const tsr_response_t *r)
{
    return r->n_counters + r->n_alerts + r->n_cells + r->n_records + r->n_record_ids + r->n_audit +
           (r->known ? 1 : 0);
}

static const char *s_status_name(int status)
{
    switch (status) {
    case TSR_QSTATUS_OK: return "ok";
    case TSR_QSTATUS_DENIED: return "denied";
    case TSR_QSTATUS_BAD_REQUEST: return "bad request";
    case TSR_QSTATUS_NOT_FOUND: return "not found";
    case TSR_QSTATUS_RATE_LIMITED: return "rate limited";
    case TSR_QSTATUS_WRONG_NETWORK_KEY: return "wrong network key";
    default: return "error";
    }
}

/* The kind of a query in an aggregate of refusals (refusals.h): a closed
 * set, so a peer cannot make a new aggregate per request by varying it. */
static const char *s_kind_name(int kind)
{
    switch (kind) {
    case TSR_QUERY_STATS: return "stats";
    case TSR_QUERY_ALERTS: return "alerts";
    case TSR_QUERY_AUDIT: return "audit";
    case TSR_QUERY_TRENDS: return "trends";
    case TSR_QUERY_CLUSTER: return "cluster";
    case TSR_QUERY_LOOKUP: return "lookup";
    case TSR_QUERY_PURGE: return "purge";
    default: return "other";
    }
}

/* An aggregate of refusals, written by the loop thread (about once a
 * minute at most). The audit environment is not the apply thread's, so
 * nothing is paused; the audit thread's commits take turns with it. */
static int s_audit_write(void *ctx, const tsr_audit_entry_t *e)
{
    tsr_daemon_t *c = ctx;
    return tsr_store_audit(c->store, e);
}

/* Writes the aggregates of refusals whose minute has passed (all when
 * all: at a clean stop), at most once a second. */
void tsr_daemon_refusals_flush(tsr_daemon_t *c, bool all)
{
    int64_t now = (int64_t)time(NULL);
    if (!all && now == c->refusals_flushed)
        return;
    c->refusals_flushed = now;
    if (tsr_refusals_flush(c->refusals, now, all, s_audit_write, c) != 0)
        tsr_warn("audit", "an aggregate of refused queries is not written yet; tried again later");
}

void tsr_daemon_job_destroy(tsr_daemon_job_t **j_p)
{
    tsr_daemon_job_t *j = *j_p;
    free(j->cs.v);
    tsr_msg_clear(&j->m);
    tsr_msg_clear(&j->req);
    tsr_client_clear(&j->client);
    zmq_msg_close(&j->ident);
    free(j);
    *j_p = NULL;
}

/* The read of j's answer, on the query thread (querier.h). */
static void s_job_read(void *arg)
{
    tsr_daemon_job_t *j = arg;
    tsr_daemon_answer_read(j->c, &j->client, &j->req.u.query, &j->m.u.response);
}

/* Whether another query of j's client that counts in its daily budget is
 * being read: j waits for that one's note (s_job_finish), so the budget is
 * checked against every answer made before it, as one thread would. */
static bool s_budget_busy(const tsr_daemon_t *c, const tsr_daemon_job_t *j)
{
    for (const tsr_daemon_job_t *k = c->jobs; k; k = k->next)
        if (k != j && k->reading && k->counted && !strcmp(k->client.id, j->client.id))
            return true;
    return false;
}

/* Starts j's answer, if it is not refused: the budget again, now (queries
 * of one analyst waiting together all passed it on arrival, and each
 * answer spends it before the next), then the read: handed to the query
 * thread for the kinds that scan, made here for the rest. Returns true
 * when the answer is made (s_job_finish next), false when it is read. */
static bool s_job_start(tsr_daemon_t *c, tsr_daemon_job_t *j)
{
    tsr_response_t *resp = &j->m.u.response;
    const tsr_query_t *q = &j->req.u.query;
    if (j->answer && j->counted)
        j->answer = tsr_daemon_allowed(c, &j->client, q, resp, j->what, &j->counted);
    if (!j->answer)
        return true;
    if (!tsr_daemon_read_off_loop(q->kind)) {
        tsr_daemon_answer(c, q, resp, &j->cs);
        return true;
    }
    if (q->kind == TSR_QUERY_LOOKUP && !tsr_daemon_lookup_keys_ok(c, q, resp))
        return true; /* the loop thread's state: checked here */
    j->c = c;
    j->read.run = s_job_read;
    j->read.arg = j;
    j->reading = true;
    tsr_querier_put(c->querier, &j->read);
    return false;
}

/* Finishes j's answer: notes it in the budget and queues its audit entry. */
static void s_job_finish(tsr_daemon_t *c, tsr_daemon_job_t *j)
{
    tsr_response_t *resp = &j->m.u.response;
    const tsr_query_t *q = &j->req.u.query;
    j->reading = false;
    if (j->counted && resp->status != TSR_QSTATUS_DENIED && resp->status != TSR_QSTATUS_ERROR &&
        tsr_budget_note(c->budget, j->client.id, tsr_day_today(), j->what) != 0)
        /* counted in the audit log all the same: the next start counts it */
        tsr_warn("query", "%s: query not counted in the budget until restart: out of memory",
                 j->client.id);
    /* Every query is audited, refused ones too, and no answer leaves
     * unaudited; repeated refusals of one kind by one key are audited one
     * by one up to [limits] audit_refusals_per_minute and then counted
     * into one entry a minute (refusals.h), so a peer cannot fill the log. */
    tsr_audit_entry_t *e = &j->audit.entry;
    *e = (tsr_audit_entry_t){.time = (int64_t)time(NULL), .result_size = s_result_size(resp)};
    snprintf(e->id, sizeof e->id, "%s", j->client.id);
    snprintf(e->role, sizeof e->role, "%s", tsr_role_name(j->client.role));
    snprintf(e->request, sizeof e->request, "%s -> %s", j->what, s_status_name(resp->status));
    j->single = true;
    if (resp->status == TSR_QSTATUS_DENIED || resp->status == TSR_QSTATUS_RATE_LIMITED) {
        char kind[64];
        snprintf(kind, sizeof kind, "%s -> %s", j->may ? s_kind_name(q->kind) : "query",
                 s_status_name(resp->status));
        tsr_daemon_refusals_flush(c, false); /* a window that has passed is closed first */
        j->single = tsr_refusals_note(c->refusals, e->id, e->role, kind, e->time);
    }
    j->answered = true;
    if (j->single)
        tsr_applier_audit(c->applier, &j->audit);
}

/* Sends j's answer, its audit entry durable (or the audit error). */
static void s_job_send(tsr_daemon_t *c, tsr_daemon_job_t *j)
{
    tsr_response_t *resp = &j->m.u.response;
    const tsr_audit_entry_t *e = &j->audit.entry;
    if (j->single && j->audit.rc != 0) {
        tsr_response_t keep = {.request_id = resp->request_id};
        tsr_msg_clear(&j->m);
        j->m.kind = TSR_MSG_RESPONSE;
        *resp = keep;
        tsr_daemon_refuse(resp, TSR_QSTATUS_ERROR,
                          "the audit log cannot be written; try again later");
    }
    if (!j->single) /* counted, not logged one by one either */
        tsr_debug("query", "%s (%s): %s", j->client.id, tsr_role_name(j->client.role), e->request);
    else
        tsr_info("query", "%s (%s): %s", j->client.id, tsr_role_name(j->client.role), e->request);
    tsr_daemon_send(c->query, &j->ident, &j->m);
}

/* Answers made in one pass of tsr_daemon_jobs_run stop after this long (at least
 * one is made): queries parked behind one apply step all become ready
 * with its commit, and answering them back to back (the loop's own
 * answers: stats, audit listings, purges) would keep the loop from the
 * Acks for as long. The rest follow after the next ingest turn. */
#define S_ANSWER_SLICE_MS 2

/* Moves every query on whose turn has come: answered once the log is
 * applied up to its target, and an alerts query once spikes are
 * evaluated up to it too (or the apply fails: then from what is
 * applied, as the log says), on the query thread for the reads that scan;
 * sent once its audit entry is durable. In arrival order; the answers of
 * one pass share one audit commit. */
void tsr_daemon_jobs_run(tsr_daemon_t *c)
{
    uint64_t applied = tsr_store_applied(c->store);
    uint64_t evaluated = tsr_applier_evaluated(c->applier);
    bool failing = tsr_applier_failing(c->applier);
    int64_t until = tsr_daemon_now_ms() + S_ANSWER_SLICE_MS;
    c->jobs_ready = false;
    for (tsr_daemon_job_t *j = c->jobs; j; j = j->next) {
        if (j->reading) {
            if (atomic_load(&j->read.done))
                s_job_finish(c, j);
            continue;
        }
        bool alerts = j->req.u.query.kind == TSR_QUERY_ALERTS; /* spike alerts among them */
        bool caught_up = j->target <= applied && (!alerts || j->target <= evaluated);
        if (!j->answered && (!j->answer || caught_up || failing)) {
            if (j->answer && tsr_daemon_now_ms() >= until) {
                c->jobs_ready = true; /* the loop comes back at once */
                continue;
            }
            if (j->answer && j->counted && s_budget_busy(c, j))
                continue; /* the query thread's news brings it back */
            if (j->answer && j->target > applied)
                tsr_warn("query", "%s: answered from the records applied so far (%llu of %llu "
                         "log entries): the apply is failing, see above", j->client.id,
                         (unsigned long long)applied, (unsigned long long)j->target);
            if (s_job_start(c, j))
                s_job_finish(c, j);
        }
    }
    tsr_daemon_job_t **p = &c->jobs;
    while (*p) {
        tsr_daemon_job_t *j = *p;
        if (j->answered && (!j->single || atomic_load(&j->audit.done))) {
            s_job_send(c, j);
            *p = j->next;
            tsr_daemon_job_destroy(&j);
        } else {
            p = &j->next;
        }
    }
    c->jobs_tail = p;
}

/* Reads one query and decides what it gets: a refusal at once (it reads
 * nothing), or an answer once the log is applied up to what was
 * acknowledged when it arrived (tsr_daemon_jobs_run). */
void tsr_daemon_query(tsr_daemon_t *c)
{
    zmq_msg_t ident, body;
    int r = tsr_daemon_recv(c->query, &ident, &body);
    tsr_daemon_job_t *j = NULL;
    tsr_error_t err;
    tsr_error_clear(&err);
    char id[TSR_CLIENT_ID_MAX], key[41];
    if (r == -2 || !(j = calloc(1, sizeof *j)))
        goto out;
    if (!(tsr_zap_peer(&body, id, key) && tsr_zap_lookup(c->zap, id, key, &j->client))) {
        c->unauthorised++;
        goto out;
    }
    tsr_wire_peek_t pk;
    if (r != 0 || zmq_msg_size(&body) > c->lim.max_frame ||
        tsr_wire_peek(&pk, zmq_msg_data(&body), zmq_msg_size(&body)) != 0 ||
        pk.kind != TSR_MSG_QUERY ||
        tsr_wire_decode(&j->req, zmq_msg_data(&body), zmq_msg_size(&body), &c->lim, &err) != 0) {
        /* anything but a query is refused from its tags, before a decode */
        tsr_daemon_count_malformed(c, "query", j->client.id,
                                   err.reason[0] ? err.reason : "not a QueryRequest", false);
        goto out;
    }
    j->m.kind = TSR_MSG_RESPONSE;
    tsr_response_t *resp = &j->m.u.response;
    const tsr_query_t *q = &j->req.u.query;
    resp->request_id = q->request_id;
    j->may = tsr_access_may_query(j->client.role);
    if (j->may)
        tsr_daemon_describe(q, j->what, sizeof j->what);
    else
        snprintf(j->what, sizeof j->what, "query kind %d", q->kind);
    /* Refusals come first and read nothing: only a query that will be
     * answered waits for the apply. */
    int64_t wait_ms = tsr_ratelimit_take(c->rate, j->client.public_key, tsr_daemon_now_ms());
    if (wait_ms > 0) {
        char why[200];
        snprintf(why, sizeof why, "over the limit of %ld quer%s a minute for this key (bursts of "
                 "%ld; [limits] queries_per_minute)", C.queries_per_minute,
                 C.queries_per_minute == 1 ? "y" : "ies", C.query_burst);
        tsr_daemon_refuse(resp, TSR_QSTATUS_RATE_LIMITED, why);
        resp->retry_after_ms = wait_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)wait_ms;
        c->rate_limited++;
    } else if (!j->may) {
        char why[64];
        snprintf(why, sizeof why, "%ss may not query", tsr_role_name(j->client.role));
        tsr_daemon_refuse(resp, TSR_QSTATUS_DENIED, why);
    } else if (tsr_daemon_allowed(c, &j->client, q, resp, j->what, &j->counted)) {
        j->answer = true; /* every acknowledged record counts in the answer */
        j->target = tsr_store_last_logged(c->store);
        if (j->target > tsr_store_applied(c->store))
            tsr_applier_want(c->applier, j->target);
    }
    zmq_msg_init(&j->ident);
    zmq_msg_move(&j->ident, &ident);
    *c->jobs_tail = j;
    c->jobs_tail = &j->next;
    j = NULL;
    tsr_daemon_jobs_run(c);
out:
    if (j) {
        tsr_msg_clear(&j->req);
        tsr_client_clear(&j->client);
        free(j);
    }
    zmq_msg_close(&ident);
    zmq_msg_close(&body);
}
