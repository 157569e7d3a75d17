/* answer.c - what a query gets (daemon.h): who may ask what (access
 * table, daily budget), the audit text of a query, and the answers
 * themselves: the reads the query thread makes and the ones the loop
 * thread makes (stats, purge, audit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "backup.h"
#include "budget.h"
#include "daemon.h"
#include "histo.h"
#include "refusals.h"
#include "store.h"
#include "upstream.h"
#include "tessera/auth.h"
#include "tessera/ckm.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/log.h"
#include "tessera/netkeys.h"
#include "tessera/wire.h"

/* --- queries ------------------------------------------------------------------- */

static void s_add_counter(void *ctx, const char *name, uint64_t value)
{
    tsr_daemon_counters_t *cs = ctx;
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 32;
        tsr_counter_t *v = realloc(cs->v, cap * sizeof *v);
        if (!v)
            return;
        cs->v = v;
        cs->cap = cap;
    }
    snprintf(cs->v[cs->n].name, sizeof cs->v[cs->n].name, "%s", name);
    cs->v[cs->n++].value = value;
}

/* Which alerts a caller may have: the kinds the access table gives the
 * role (linkage: liaison and admin; spike and cross-area: analysts), and
 * analysts only those of series within their areas. */
typedef struct {
    const tsr_client_t *who;
    int kind; /* 0 = every kind the role may see */
} s_alert_filter_t;

static bool s_series_allowed(const tsr_client_t *who, const char *series)
{
    if (who->all_areas)
        return true;
    char code[16];
    const char *colon = strchr(series, ':');
    if (!colon)
        return false;
    snprintf(code, sizeof code, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    if (!strncmp(series, "area:", 5))
        return tsr_client_area_allowed(who, code);
    /* a region: one of its areas is theirs; the nation ("nation:all", the
     * cross-region rule) matches no region: only analysts of every area ('*') */
    for (size_t i = 0; i < who->n_areas; i++) {
        const tsr_area_t *a = tsr_area_find(who->areas[i]);
        if (a && !strcmp(a->region_code, code))
            return true;
    }
    return false;
}

static bool s_alert_allowed(void *ctx, const tsr_alert_t *a)
{
    const s_alert_filter_t *f = ctx;
    if ((f->kind && a->kind != f->kind) || !tsr_access_alert_allowed(f->who->role, a->kind))
        return false;
    return f->who->role != TSR_ROLE_ANALYST || s_series_allowed(f->who, a->series);
}

/* Sets a refusal on resp. */
void tsr_daemon_refuse(tsr_response_t *resp, int status, const char *why)
{
    resp->status = status;
    snprintf(resp->error, sizeof resp->error, "%s", why);
}

/* A spike or cross-area alert as an analyst sees it: its count replaced by
 * the released count of the same records now (its series' areas, period
 * and feature), so it agrees with the trend tables; its expectation by the
 * released count of the four whole weeks before, per day or week; no
 * bound. A released 0 shows as "<k" without an expectation. */
static int s_alert_release(tsr_daemon_t *c, tsr_alert_t *a)
{
    if (a->kind != TSR_ALERT_SPIKE && a->kind != TSR_ALERT_CROSS_AREA)
        return 0;
    char scope[sizeof a->series], code[16];
    snprintf(scope, sizeof scope, "%s", a->series);
    char *slash = strchr(scope, '/'), *colon = strchr(scope, ':');
    if (slash)
        *slash = '\0';
    if (!colon)
        return TSR_ECORRUPT; /* a stored alert's series has no scope */
    snprintf(code, sizeof code, "%s", colon + 1);
    const char *areas[512];
    size_t n = 0;
    for (int i = 0; i < tsr_area_count() && n < sizeof areas / sizeof areas[0]; i++) {
        const tsr_area_t *ar = tsr_area_at(i);
        if (!strncmp(scope, "nation:", 7) || /* the national series: every area */
            !strcmp(strncmp(scope, "area:", 5) ? ar->region_code : ar->code, code))
            areas[n++] = ar->code;
    }
    tsr_filter_t f = {0};
    size_t nf = 0;
    if (slash) { /* "/feature:value": a dimension and one of its code names */
        char *fv = strchr(slash + 1, ':');
        if (fv) {
            *fv = '\0';
            f.dimension = tsr_dimension_parse(slash + 1);
            snprintf(f.value, sizeof f.value, "%s", fv + 1);
            nf = f.dimension ? 1 : 0;
        }
    }
    bool weekly = !strcmp(a->method, "farrington");
    int32_t from = weekly ? tsr_day_week_monday(a->period_day) : a->period_day;
    int32_t before = tsr_day_week_monday(a->period_day) - 28;
    uint64_t released = 0, baseline = 0;
    int rc = tsr_store_released(c->store, areas, n, from, weekly ? from + 6 : from, &f, nf,
                                (unsigned)C.k, &tsr_daemon_ckm, &released);
    if (rc == 0)
        rc = tsr_store_released(c->store, areas, n, before, before + 27, &f, nf, (unsigned)C.k,
                                &tsr_daemon_ckm, &baseline);
    if (rc != 0)
        return rc;
    /* The method's own expectation and bound are made from exact daily
     * counts of days that are not whole weeks: rounded, "expected 0, bound
     * 1" still pinned a baseline of exactly one case (tests/privacy). An
     * analyst gets the four whole weeks before instead, released like any
     * count, and no bound. */
    a->observed = released;
    a->observed_suppressed = released == 0;
    a->expected = released == 0 ? 0 : (double)baseline / (weekly ? 4.0 : 28.0);
    a->upperbound = 0;
    tsr_spikes_summary_released(a, (unsigned)C.k, a->summary, sizeof a->summary);
    return 0;
}

static void s_answer_alerts(tsr_daemon_t *c, const tsr_client_t *who, const tsr_query_t *q,
                            tsr_response_t *resp)
{
    s_alert_filter_t f = {who, q->alert_kind};
    uint32_t max = q->max == 0 || q->max > 1000 ? 1000 : q->max;
    int rc = tsr_store_alerts(c->store, q->since_seq, max, s_alert_allowed, &f, resp);
    if (rc != 0) {
        tsr_daemon_refuse(resp, TSR_QSTATUS_ERROR, tsr_strerror(rc));
        return;
    }
    /* disclosure control: an analyst's alert counts go through the
     * cell-key method like every other count they see */
    for (size_t i = 0; rc == 0 && who->role == TSR_ROLE_ANALYST && i < resp->n_alerts; i++)
        rc = s_alert_release(c, &resp->alerts[i]);
    if (rc != 0) {
        tsr_daemon_refuse(resp, TSR_QSTATUS_ERROR, tsr_strerror(rc));
        return;
    }
    resp->status = TSR_QSTATUS_OK;
    resp->kind = TSR_QUERY_ALERTS;
}

/* Describes q for the audit log, into what (cap bytes, at most 200): the
 * same query always gets the same text, and two different queries get
 * different texts, since the text is also the query's fingerprint for the
 * daily budget (budget.h). A description too long for the log keeps its
 * start and ends with a hash of the whole. Control characters (which only
 * a bad request carries) become '?'. */
void tsr_daemon_describe(const tsr_query_t *q, char *what, size_t cap)
{
    char full[2048];
    switch (q->kind) {
    case TSR_QUERY_STATS:
        snprintf(full, sizeof full, "stats");
        break;
    case TSR_QUERY_ALERTS:
        snprintf(full, sizeof full, "alerts since=%llu max=%u kind=%d",
                 (unsigned long long)q->since_seq, q->max, q->alert_kind);
        break;
    case TSR_QUERY_CLUSTER:
        snprintf(full, sizeof full, "cluster %llu", (unsigned long long)q->cluster_id);
        break;
    case TSR_QUERY_LOOKUP:
        snprintf(full, sizeof full, "lookup %zu token(s)%s%s", q->n_tokens,
                 q->n_tokens ? " kind " : "", q->n_tokens ? q->tokens[0].kind : "");
        break;
    case TSR_QUERY_PURGE: {
        char d[11];
        int32_t before = q->before_day ? q->before_day
                                       : tsr_store_retention_cutoff((int)C.retention_months,
                                                                    (int64_t)time(NULL));
        snprintf(full, sizeof full, "purge before %s", tsr_day_format(d, before));
        break;
    }
    case TSR_QUERY_TRENDS: {
        char d1[11] = "-", d2[11] = "-", filt[1536] = "";
        if (q->since_day)
            tsr_day_format(d1, q->since_day);
        if (q->until_day)
            tsr_day_format(d2, q->until_day);
        for (size_t f = 0; f < q->n_filters; f++)
            snprintf(filt + strlen(filt), sizeof filt - strlen(filt), " %s=%s",
                     tsr_dimension_name(q->filters[f].dimension)
                         ? tsr_dimension_name(q->filters[f].dimension)
                         : "?",
                     q->filters[f].value);
        snprintf(full, sizeof full, "trends by %s%s%s %s..%s%s",
                 tsr_dimension_name(q->by[0]) ? tsr_dimension_name(q->by[0]) : "?",
                 q->n_by > 1 ? "," : "", q->n_by > 1 && tsr_dimension_name(q->by[1])
                                            ? tsr_dimension_name(q->by[1])
                                            : "",
                 d1, d2, filt);
        break;
    }
    case TSR_QUERY_AUDIT:
        snprintf(full, sizeof full, "audit since=%lld id=%s max=%u", (long long)q->since_time,
                 q->id[0] ? q->id : "*", q->max);
        break;
    default:
        snprintf(full, sizeof full, "query kind %d", q->kind);
        break;
    }
    if (cap > 200)
        cap = 200; /* with " -> STATUS" it fits the log's 255 bytes */
    if (strlen(full) < cap)
        snprintf(what, cap, "%s", full);
    else
        snprintf(what, cap, "%.*s... #%016llx", (int)(cap - 23), full,
                 (unsigned long long)tsr_budget_fingerprint(full));
    for (char *p = what; *p; p++) /* caller-supplied text: no control characters */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* A lookup's tokens must be under keys this collector accepts: a token
 * under another key cannot match anything, and "not known" would be a
 * wrong answer. Refuses with WRONG_NETWORK_KEY (and the keys accepted)
 * otherwise. Nothing pinned yet: nothing to compare with. */
bool tsr_daemon_lookup_keys_ok(tsr_daemon_t *c, const tsr_query_t *q, tsr_response_t *resp)
{
    tsr_netkeys_t acc;
    tsr_store_network_keys(c->store, tsr_day_today(), &acc, NULL);
    for (size_t i = 0; acc.n && i < q->n_tokens; i++) {
        if (tsr_netkeys_accepts(&acc, q->tokens[i].key_id, tsr_day_today()))
            continue;
        char ids[64], why[160];
        snprintf(why, sizeof why, "token under network key id %u; this collector accepts only %s",
                 q->tokens[i].key_id, tsr_netkeys_format_ids(&acc, ids, sizeof ids));
        tsr_daemon_refuse(resp, TSR_QSTATUS_WRONG_NETWORK_KEY, why);
        resp->network_keys = acc;
        return false;
    }
    return true;
}

/* Decides whether who may have q answered, before anything is read for
 * it: the access table (access.h), then, for a query that counts, the
 * daily budget. Returns false with resp refused; else true, with *counted
 * set when the query is new today and must be noted in the budget once its
 * audit entry is written. what is the query's audit text (tsr_daemon_describe). */
bool tsr_daemon_allowed(tsr_daemon_t *c, const tsr_client_t *who, const tsr_query_t *q,
                        tsr_response_t *resp, const char *what, bool *counted)
{
    *counted = false;
    const char *refusal = tsr_access_check(who->role, q->kind, q->alert_kind);
    if (refusal) {
        tsr_daemon_refuse(resp, TSR_QSTATUS_DENIED, refusal);
        return false;
    }
    if (tsr_budget_applies(who->role, q->kind)) {
        switch (tsr_budget_check(c->budget, who->id, (int32_t)(time(NULL) / 86400), what)) {
        case TSR_BUDGET_FREE: break;
        case TSR_BUDGET_NEW: *counted = true; break;
        case TSR_BUDGET_SPENT: {
            char why[256];
            snprintf(why, sizeof why,
                     "daily query budget of %u distinct queries spent (resets at 00:00 UTC); "
                     "ask an admin to raise [disclosure] daily_query_budget",
                     tsr_budget_limit(c->budget));
            tsr_daemon_refuse(resp, TSR_QSTATUS_DENIED, why);
            c->budget_refusals++;
            return false;
        }
        }
    }
    return true;
}

/* Purges the audit log to its retention ([retention] audit_months, or
 * months): at start-up, daily and with an admin's purge. The cutoff comes
 * from the configuration and the clock only, never from the purge an
 * admin asks for: whoever purges records cannot shorten the audit trail
 * of doing so. Returns the store's code; *purged = entries deleted. */
int tsr_daemon_audit_retention(tsr_daemon_t *c, int64_t now, uint64_t *purged)
{
    int months = (int)(C.audit_months ? C.audit_months : C.retention_months);
    int64_t before = (int64_t)tsr_store_retention_cutoff(months, now) * 86400;
    *purged = 0;
    int rc = tsr_store_audit_purge(c->store, before, purged);
    c->audit_purged += *purged;
    return rc;
}

/* Federation in stats: this collector's forwarding (its queue and what the
 * upstream acknowledged since start-up), under "upstream_"; the relays'
 * records are counted by the store ("relay:ID:records" ...). */
static void s_upstream_counters(tsr_daemon_t *c, tsr_daemon_counters_t *cs)
{
    if (!c->upstream)
        return;
    tsr_upstream_stats_t st;
    size_t waiting = 0;
    tsr_upstream_stats(c->upstream, &st);
    tsr_store_upstream_waiting(c->store, &waiting);
    s_add_counter(cs, "upstream_waiting", waiting);
    s_add_counter(cs, "upstream_forward_linkage_only", !strcmp(C.up_forward, "linkage"));
    s_add_counter(cs, "upstream_batches_sent", st.batches_sent);
    s_add_counter(cs, "upstream_batches_acked", st.batches_acked);
    s_add_counter(cs, "upstream_forwarded", st.forwarded);
    s_add_counter(cs, "upstream_duplicates", st.duplicates);
    s_add_counter(cs, "upstream_rejected", st.rejected);
    s_add_counter(cs, "upstream_retries", st.retries);
    s_add_counter(cs, "upstream_held", st.held);
}

/* Whether q's answer is read on the query thread (querier.h): the reads
 * that scan the store and need nothing of the loop thread's state. A
 * lookup's network keys are checked before (s_job_start). */
bool tsr_daemon_read_off_loop(int kind)
{
    return kind == TSR_QUERY_ALERTS || kind == TSR_QUERY_CLUSTER || kind == TSR_QUERY_LOOKUP ||
           kind == TSR_QUERY_TRENDS;
}

/* Refuses a query of a kind this version does not answer. */
static void s_unavailable(tsr_response_t *resp)
{
    tsr_daemon_refuse(resp, TSR_QSTATUS_BAD_REQUEST,
                      "this query is not available in this version");
}

/* Ends an answer the store made with rc: OK, or refused with the error. */
static void s_answered(tsr_response_t *resp, int rc)
{
    if (rc != 0)
        tsr_daemon_refuse(resp, TSR_QSTATUS_ERROR, tsr_strerror(rc));
    else
        resp->status = TSR_QSTATUS_OK;
}

/* Answers a query of a kind tsr_daemon_read_off_loop names into resp: on the query
 * thread, so it reads the store (c->store, in read transactions of its
 * own) and the settings, and nothing else of c. */
void tsr_daemon_answer_read(tsr_daemon_t *c, const tsr_client_t *who, const tsr_query_t *q,
                            tsr_response_t *resp)
{
    int rc = 0;
    switch (q->kind) {
    case TSR_QUERY_ALERTS: s_answer_alerts(c, who, q, resp); return;
    case TSR_QUERY_CLUSTER:
        rc = tsr_store_cluster(c->store, q->cluster_id, resp);
        if (rc == TSR_ENOTFOUND) {
            tsr_daemon_refuse(resp, TSR_QSTATUS_NOT_FOUND,
                              "no such cluster (it may have merged or split)");
            return;
        }
        resp->kind = TSR_QUERY_CLUSTER;
        break;
    case TSR_QUERY_LOOKUP:
        rc = tsr_store_lookup(c->store, q->tokens, q->n_tokens, resp);
        resp->kind = TSR_QUERY_LOOKUP;
        break;
    case TSR_QUERY_TRENDS: {
        char why[200] = "";
        rc = tsr_store_trends(c->store, q, who, (unsigned)C.k, &tsr_daemon_ckm, resp, why,
                              sizeof why);
        if (rc == TSR_EINVAL || rc == TSR_ERANGE) {
            tsr_daemon_refuse(resp, TSR_QSTATUS_BAD_REQUEST, why);
            return;
        }
        resp->kind = TSR_QUERY_TRENDS;
        break;
    }
    default: s_unavailable(resp); return;
    }
    s_answered(resp, rc);
}

/* The answer to stats: the store's counters, the map, and the loop's own
 * since start-up. */
static void s_answer_stats(tsr_daemon_t *c, tsr_response_t *resp, tsr_daemon_counters_t *cs)
{
    tsr_store_counters(c->store, s_add_counter, cs);
    size_t map = 0, used = 0;
    tsr_kv_usage(tsr_store_kv(c->store), &map, &used);
    s_add_counter(cs, "map_size_bytes", map);
    s_add_counter(cs, "map_used_bytes", used);
    /* the audit log's own environment grows with every query and, full,
     * refuses every answer: watched like main's map */
    map = used = 0;
    tsr_kv_usage(tsr_store_audit_kv(c->store), &map, &used);
    s_add_counter(cs, "audit_map_size_bytes", map);
    s_add_counter(cs, "audit_map_used_bytes", used);
    /* since start-up: how often the apply ran in the background, and how
     * often something waited for it ([ingest] apply_yield) */
    size_t background = 0, own = 0;
    tsr_applier_steps(c->applier, &background, &own);
    s_add_counter(cs, "apply_steps:background", background);
    s_add_counter(cs, "apply_steps:foreground", own);
    /* 0 after the drain before this answer, unless drains fail (map full) */
    s_add_counter(cs, "ingest_log_waiting", tsr_store_logged(c->store));
    s_add_counter(cs, "malformed_frames", c->malformed);
    s_add_counter(cs, "unauthorised_messages", c->unauthorised);
    s_add_counter(cs, "failed_handshakes", c->failed_handshakes);
    /* since start-up, as the two above */
    s_add_counter(cs, "budget_refusals", c->budget_refusals);
    s_add_counter(cs, "malformed_batches_answered", c->malformed_batches);
    s_add_counter(cs, "queries_rate_limited", c->rate_limited);
    s_add_counter(cs, "refusals_aggregated", tsr_refusals_aggregated(c->refusals));
    s_add_counter(cs, "refusal_aggregate_entries", tsr_refusals_entries(c->refusals));
    s_add_counter(cs, "group_commits", c->group_commits);
    s_add_counter(cs, "commit_share_deferrals", c->deferrals);
    s_add_counter(cs, "ingest_queue_waiting", c->n_queued);
    s_add_counter(cs, "audit_purged_since_start", c->audit_purged);
    uint64_t kinds[TSR_ALERT_KINDS + 1];
    if (tsr_store_alert_counts(c->store, kinds) == 0)
        for (int k = 1; k <= TSR_ALERT_KINDS; k++) {
            char name[32];
            snprintf(name, sizeof name, "alerts:%s", tsr_link_kind_name(k));
            s_add_counter(cs, name, kinds[k]);
        }
    s_add_counter(cs, "last_alert_seq", c->last_alert);
    s_add_counter(cs, "last_backup_unix", (uint64_t)tsr_collector_last_backup(C.data_dir));
    tsr_histo_counters(&c->ack_latency, "ack_latency_us", s_add_counter, cs);
    s_upstream_counters(c, cs);
    resp->status = TSR_QSTATUS_OK;
    resp->kind = TSR_QUERY_STATS;
    resp->counters = cs->v; /* the response owns them now */
    resp->n_counters = cs->n;
    cs->v = NULL;
}

/* The answer to an admin's purge: the records reported before its day (or
 * the retention's cutoff), then the audit log to its own retention, with
 * what each deleted. */
static void s_answer_purge(tsr_daemon_t *c, const tsr_query_t *q, tsr_response_t *resp,
                           tsr_daemon_counters_t *cs)
{
    int64_t now = (int64_t)time(NULL);
    int32_t cutoff = tsr_store_retention_cutoff((int)C.retention_months, now);
    int32_t before = q->before_day ? q->before_day : cutoff;
    if (before > (int32_t)(now / 86400)) {
        tsr_daemon_refuse(resp, TSR_QSTATUS_BAD_REQUEST,
                          "cannot purge records reported after today");
        return;
    }
    uint64_t purged = 0, audit = 0;
    tsr_daemon_pause(c);
    int rc = tsr_store_purge(c->store, before, now, &purged);
    tsr_daemon_publish_store(c);
    /* and the audit log to its own retention (tsr_daemon_audit_retention) */
    int arc = rc == 0 ? tsr_daemon_audit_retention(c, now, &audit) : 0;
    tsr_daemon_resume(c);
    if (rc != 0) {
        tsr_daemon_refuse(resp, TSR_QSTATUS_ERROR, tsr_strerror(rc));
        return;
    }
    if (arc != 0) {
        char why[200];
        snprintf(why, sizeof why, "%llu record(s) purged, but the audit log's purge stopped: "
                 "the collector's log says why", (unsigned long long)purged);
        tsr_daemon_refuse(resp, TSR_QSTATUS_ERROR, why);
        return;
    }
    s_add_counter(cs, "purged_records", purged);
    s_add_counter(cs, "before_day", (uint64_t)before);
    s_add_counter(cs, "purged_audit_entries", audit);
    resp->counters = cs->v;
    resp->n_counters = cs->n;
    cs->v = NULL;
    resp->kind = TSR_QUERY_STATS;
    resp->status = TSR_QSTATUS_OK;
}

/* Answers one query that tsr_daemon_allowed let through into resp, on the loop
 * thread: the kinds tsr_daemon_read_off_loop does not name (those are the
 * query thread's, tsr_daemon_answer_read). */
void tsr_daemon_answer(tsr_daemon_t *c, const tsr_query_t *q, tsr_response_t *resp,
                       tsr_daemon_counters_t *cs)
{
    int rc = 0;
    switch (q->kind) {
    case TSR_QUERY_STATS: s_answer_stats(c, resp, cs); return;
    case TSR_QUERY_PURGE: s_answer_purge(c, q, resp, cs); return;
    case TSR_QUERY_AUDIT: {
        /* fails closed: the admin reads which entry cannot be read, not a
         * list that looks whole without it */
        tsr_error_t err;
        char why[sizeof resp->error];
        tsr_error_clear(&err);
        rc = tsr_store_audit_list(c->store, q->since_time, q->id,
                                  q->max == 0 || q->max > 10000 ? 10000 : q->max, resp, &err);
        if (rc != 0) {
            tsr_daemon_refuse(resp, TSR_QSTATUS_ERROR, tsr_error_format(&err, why, sizeof why));
            return;
        }
        resp->kind = TSR_QUERY_AUDIT;
        break;
    }
    default: s_unavailable(resp); return;
    }
    s_answered(resp, rc);
}
