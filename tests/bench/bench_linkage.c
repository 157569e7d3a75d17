/* bench_linkage.c - linkage figures for docs/PERFORMANCE.md (issue 6).
 *
 *   bench_linkage ingest DIR RECORDS
 *       stores RECORDS records of 3 tokens each, in 1000-record transactions,
 *       twice through the collector's store: linkage off (DIR/off) and on
 *       (DIR/on/db, left for the next steps); records/s of each, and the
 *       lookup latency in-process on the result.
 *   bench_linkage live ENDPOINT QUERY ALERTS SERVER.pub AGENT.key LIAISON.key N
 *       against a running collector: N times, an agent submits two records
 *       in two areas sharing a fresh token (one alert each time) while a
 *       liaison subscriber waits, the next as soon as the alert came, then N
 *       more 20 ms apart; prints Ack latency and alert latency (Ack received
 *       -> alert received, and batch sent -> alert received) of each run,
 *       then the latency of N lookups over the query socket.
 *   bench_linkage split DIR RECORDS
 *       the cost of the split walk: RECORDS records in a chain (record i
 *       carries tokens i and i+1: one cluster), then three retractions,
 *       each in the middle of a piece the last one left (N/2, N/4, N/8),
 *       so each splits a cluster of N, N/2, N/4 records; the time of each
 *       apply (one transaction, however long: a walk is not bounded by
 *       apply_step_ms).
 *
 * Token mix: 95% of tokens are unique to their record; 5% come from a pool
 * of RECORDS/50 offender accounts, so clusters of a few records form, as a
 * real network of campaigns would make them.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "store.h"
#include "tessera/client.h"
#include "tessera/err.h"
#include "tessera/log.h"
#include "tessera/wire.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void s_pct(const char *what, double *v, size_t n)
{
    if (n == 0) {
        printf("%-40s n=0\n", what);
        return;
    }
    qsort(v, n, sizeof *v, s_cmp);
    printf("%-40s n=%-6zu p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms\n", what, n, v[n / 2] * 1e3,
           v[(size_t)((double)n * 0.99)] * 1e3, v[n - 1] * 1e3);
    fflush(stdout);
}

static uint64_t s_rng = 88172645463325252ull;

static uint64_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static const char *const s_areas[] = {"E08000035", "E08000032", "E06000014", "E06000065",
                                      "E08000034", "E08000036", "E08000033", "E06000010"};

/* The network key id every token claims: one network, and not 0 (a token
 * without a key id, which collectors refuse). */
#define S_KEY_ID 1

/* Token t (a number) as 32 bytes. */
static void s_token(uint8_t out[TSR_TOKEN_LEN], uint64_t t)
{
    for (int i = 0; i < TSR_TOKEN_LEN; i += 8) {
        uint64_t x = (t + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)i * 0xBF58476D1CE4E5B9ull;
        memcpy(out + i, &x, 8);
    }
}

static void s_record(tsr_incident_t *inc, uint64_t id, uint64_t pool)
{
    memset(inc, 0, sizeof *inc);
    memcpy(inc->record_id, &id, sizeof id);
    inc->version = 1;
    inc->agency_type = 1;
    snprintf(inc->area_code, sizeof inc->area_code, "%s", s_areas[id % 8]);
    inc->reported_day = tsr_day_today() - 1 - (int32_t)(id % 700); /* inside retention */
    inc->date_precision = 1;
    inc->age_band = 3;
    inc->gender = 1;
    inc->contact_platforms = 1u << 1;
    inc->demands = 1u << 1;
    inc->amount_demanded_band = 5;
    inc->amount_paid_band = 9;
    inc->paid = 3;
    inc->n_tokens = 3;
    static const char *const kinds[] = {"handle:instagram", "phone", "bank:uk"};
    for (int t = 0; t < 3; t++) {
        snprintf(inc->tokens[t].kind, TSR_KIND_MAX, "%s", kinds[t]);
        inc->tokens[t].key_id = S_KEY_ID;
        uint64_t tok = s_rand() % 100 < 5 ? s_rand() % pool : (1ull << 40) + id * 3 + (uint64_t)t;
        s_token(inc->tokens[t].token, tok * 3 + (uint64_t)t); /* kinds never share a token */
    }
}

/* Opens the store at dir (logdir, auditdir: NULL for the defaults, inside
 * dir); NULL, said on stderr, when it cannot. */
static tsr_store_t *s_store_open(const char *dir, const char *logdir, const char *auditdir)
{
    tsr_store_opts_t o = {.kv = {.dir = dir, .map_size = 1ull << 30, .map_step = 1ull << 30},
                          .log_kv = {.dir = logdir},
                          .audit_kv = {.dir = auditdir}};
    tsr_store_t *s;
    tsr_error_t err;
    tsr_error_clear(&err);
    if (tsr_store_open(&s, &o, &err) != 0) {
        fprintf(stderr, "bench_linkage: cannot open %s\n", dir);
        return NULL;
    }
    return s;
}

/* Record i of a run; arg is the run's own (the token pool, say). */
typedef void (*s_maker_t)(tsr_incident_t *inc, uint64_t i, uint64_t arg);

/* Stores records 0..n-1 that make makes, in 1000-record transactions, as
 * one agency; 0, or 1 said on stderr. */
static int s_store_many(tsr_store_t *s, long n, s_maker_t make, uint64_t arg)
{
    tsr_client_t c = {.role = TSR_ROLE_AGENT, .all_areas = true};
    snprintf(c.id, sizeof c.id, "bench-agency");
    enum { B = 1000 };
    tsr_incident_t *incs = malloc(B * sizeof *incs);
    tsr_store_item_t *items = calloc(B, sizeof *items);
    int rc = incs && items ? 0 : 1;
    for (long done = 0; rc == 0 && done < n; done += B) {
        size_t k = (size_t)(n - done < B ? n - done : B);
        for (size_t i = 0; i < k; i++) {
            make(&incs[i], (uint64_t)(done + (long)i), arg);
            items[i] = (tsr_store_item_t){.incident = &incs[i]};
        }
        tsr_store_batch_t b = {&c, items, k};
        rc = tsr_store_apply(s, &b, 1, 1800000000) != 0;
        size_t np; /* as the collector publishes them: the store keeps them until then */
        tsr_store_published(s, &np);
    }
    if (rc != 0)
        fprintf(stderr, "bench_linkage: apply failed\n");
    free(incs);
    free(items);
    return rc;
}

static int s_ingest_run(const char *dir, const char *logdir, const char *auditdir, bool linkage,
                        long n, double *secs)
{
    tsr_store_t *s = s_store_open(dir, logdir, auditdir);
    if (!s)
        return 1;
    tsr_store_set_linkage(s, linkage);
    s_rng = 88172645463325252ull; /* both runs store the same records */
    long pool = n / 50 > 0 ? n / 50 : 1;
    double t0 = s_now();
    if (s_store_many(s, n, s_record, (uint64_t)pool) != 0) {
        tsr_store_close(&s);
        return 1;
    }
    *secs = s_now() - t0;
    printf("ingest linkage %-3s records=%ld tokens=%ld  %9.0f rec/s  (%.1f s)\n", linkage ? "on" : "off",
           n, n * 3, (double)n / *secs, *secs);
    if (linkage) {
        tsr_response_t al;
        memset(&al, 0, sizeof al);
        tsr_store_alerts(s, 0, 0, NULL, NULL, &al);
        printf("  linkage alerts raised: %llu\n", (unsigned long long)al.last_seq);
        /* lookups in-process: half tokens from the shared pool, half unknown */
        enum { L = 20000 };
        double *lat = malloc(L * sizeof *lat);
        size_t known = 0;
        for (size_t i = 0; i < L; i++) {
            tsr_token_t t = {.kind = "phone", .key_id = S_KEY_ID};
            s_token(t.token, (i % 2 ? s_rand() % (uint64_t)pool : (1ull << 50) + i) * 3 + 1);
            tsr_response_t r;
            memset(&r, 0, sizeof r);
            double a = s_now();
            tsr_store_lookup(s, &t, 1, &r);
            lat[i] = s_now() - a;
            known += r.known;
            tsr_msg_t m = {.kind = TSR_MSG_RESPONSE};
            m.u.response = r;
            tsr_msg_clear(&m);
        }
        printf("  (%zu of %d lookups known)\n", known, L);
        s_pct("lookup in-process (store)", lat, L);
        free(lat);
    }
    tsr_store_close(&s);
    return 0;
}

static int s_ingest(const char *dir, long n)
{
    char off[4096], on[4096], onlog[4096], onaudit[4096];
    snprintf(off, sizeof off, "%s/off", dir);
    snprintf(on, sizeof on, "%s/on/db", dir);
    snprintf(onlog, sizeof onlog, "%s/on/log", dir); /* the collector's layout */
    snprintf(onaudit, sizeof onaudit, "%s/on/audit", dir);
    double t_off, t_on;
    if (s_ingest_run(off, NULL, NULL, false, n, &t_off) != 0 ||
        s_ingest_run(on, onlog, onaudit, true, n, &t_on) != 0)
        return 1;
    printf("linkage share of ingest time: %.1f %%  (on %.1f s, off %.1f s)\n",
           100.0 * (t_on - t_off) / t_on, t_on, t_off);
    return 0;
}

/* --- commit: the yardstick of a lookup's latency ---------------------------- */

/* A fresh environment in dir (the disk the collector uses) for durable
 * LMDB commits of one put the size of an audit entry (an increasing key,
 * MDB_APPEND): what a lookup's audit commit costs at the least. */
typedef struct {
    MDB_env *env;
    MDB_dbi dbi;
    uint64_t next;
} s_yard_t;

/* Opens y (zeroed by the caller) in dir; on failure says why and leaves
 * y->env NULL. */
static int s_yard_open(s_yard_t *y, const char *dir)
{
    MDB_txn *txn;
    y->next = 1;
    int rc = mdb_env_create(&y->env);
    if (rc == 0 && (rc = mdb_env_set_mapsize(y->env, 64u << 20)) == 0 &&
        (rc = mdb_env_open(y->env, dir, 0, 0600)) == 0 &&
        (rc = mdb_txn_begin(y->env, NULL, 0, &txn)) == 0 &&
        (rc = mdb_dbi_open(txn, NULL, 0, &y->dbi)) == 0)
        rc = mdb_txn_commit(txn);
    if (rc != 0) {
        fprintf(stderr, "bench_linkage: commit: %s\n", mdb_strerror(rc));
        if (y->env)
            mdb_env_close(y->env); /* not open: closed here, not by the caller */
        y->env = NULL;
    }
    return rc;
}

/* One durable commit; its time in seconds, or -1. */
static double s_yard_commit(s_yard_t *y)
{
    uint8_t key[8], val[120] = {0};
    for (int b = 0; b < 8; b++)
        key[b] = (uint8_t)(y->next >> (56 - 8 * b));
    y->next++;
    MDB_val k = {sizeof key, key}, d = {sizeof val, val};
    MDB_txn *txn;
    double t0 = s_now();
    int rc = mdb_txn_begin(y->env, NULL, 0, &txn);
    if (rc == 0 && (rc = mdb_put(txn, y->dbi, &k, &d, MDB_APPEND)) == 0)
        rc = mdb_txn_commit(txn);
    else if (rc == 0)
        mdb_txn_abort(txn);
    if (rc != 0) {
        fprintf(stderr, "bench_linkage: commit: %s\n", mdb_strerror(rc));
        return -1;
    }
    return s_now() - t0;
}

/* n commits back to back. */
static int s_commit(const char *dir, int n)
{
    s_yard_t y = {0};
    double *v = malloc((size_t)n * sizeof *v);
    int rc = v ? s_yard_open(&y, dir) : ENOMEM;
    for (int i = 0; rc == 0 && i < n; i++)
        rc = (v[i] = s_yard_commit(&y)) < 0 ? 1 : 0;
    if (rc == 0)
        s_pct("one durable LMDB commit (120-byte put)", v, (size_t)n);
    if (y.env)
        mdb_env_close(y.env);
    free(v);
    return rc == 0 ? 0 : 1;
}

/* --- live: alert and lookup latency through a running collector ------------ */

/* N batches of two records in two areas sharing a fresh token, numbered
 * from first, gap_ms after each one's alert: Ack and alert latency. */
static int s_alerts(tsr_conn_t *agent, tsr_conn_t *sub, int n, int first, int gap_ms,
                    const char *label)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    tsr_msg_t m;
    double *ack = malloc((size_t)n * sizeof *ack), *al = malloc((size_t)n * sizeof *al),
           *al2 = malloc((size_t)n * sizeof *al2);
    int got = 0;
    for (int j = 0; j < n; j++) {
        int i = first + j;
        struct timespec gap = {0, (long)gap_ms * 1000000L};
        nanosleep(&gap, NULL);
        tsr_incident_t inc[2];
        for (int k = 0; k < 2; k++) {
            s_record(&inc[k], (1ull << 60) + (uint64_t)i * 2 + (uint64_t)k, 1);
            snprintf(inc[k].area_code, sizeof inc[k].area_code, "%s", s_areas[k]);
            inc[k].n_tokens = 1;
            inc[k].tokens[0].key_id = S_KEY_ID;
            s_token(inc[k].tokens[0].token, (1ull << 55) + (uint64_t)i);
            inc[k].reported_day = tsr_day_today();
        }
        tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
        req.u.submit.batch_id = (uint64_t)i + 1;
        req.u.submit.incidents = inc;
        req.u.submit.n_incidents = 2;
        double t0 = s_now();
        int rc = tsr_conn_request(agent, &req, &reply, 5000, &err);
        double t_ack = s_now();
        bool ok = rc == 0 && reply.kind == TSR_MSG_ACK && reply.u.ack.accepted == 2;
        if (rc == 0)
            tsr_msg_clear(&reply);
        if (!ok) {
            fprintf(stderr, "bench_linkage: batch %d not accepted\n", i);
            break;
        }
        for (;;) {
            if (tsr_conn_recv(sub, &m, 2000, &err) != 0) {
                fprintf(stderr, "bench_linkage: no alert for batch %d\n", i);
                break;
            }
            /* this batch's alert: a linkage alert naming its first record
             * (a spike alert, or another batch's, is not it) */
            bool alert = false;
            if (m.kind == TSR_MSG_ALERT && m.u.alert.kind == TSR_ALERT_LINKAGE)
                for (size_t r = 0; r < m.u.alert.n_record_ids; r++)
                    alert |= !memcmp(m.u.alert.record_ids[r], inc[0].record_id, TSR_RECORD_ID_LEN);
            tsr_msg_clear(&m);
            if (alert) {
                double t = s_now();
                ack[got] = t_ack - t0;
                al[got] = t - t_ack;
                al2[got++] = t - t0;
                break;
            }
        }
    }
    printf("reports %s:\n", label);
    s_pct("  Ack (batch sent -> Ack received)", ack, (size_t)got);
    s_pct("  alert (Ack received -> alert received)", al, (size_t)got);
    s_pct("  alert (batch sent -> alert received)", al2, (size_t)got);
    free(ack);
    free(al);
    free(al2);
    return got == n ? 0 : 1;
}

/* Lookup i (half known tokens, half unknown) on q; *secs its round trip.
 * 1 unless answered with status want. */
static int s_lookup(tsr_conn_t *q, int i, int want, double *secs)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    tsr_token_t t = {.kind = "phone", .key_id = S_KEY_ID};
    s_token(t.token, i % 2 ? (1ull << 55) + (uint64_t)(i / 2) : (1ull << 58) + (uint64_t)i);
    tsr_msg_t req = {.kind = TSR_MSG_QUERY}, reply;
    req.u.query.request_id = (uint64_t)i + 1;
    req.u.query.kind = TSR_QUERY_LOOKUP;
    req.u.query.tokens = &t;
    req.u.query.n_tokens = 1;
    double t0 = s_now();
    if (tsr_conn_request(q, &req, &reply, 5000, &err) != 0) {
        fprintf(stderr, "bench_linkage: lookup %d failed: %s\n", i, err.reason);
        return 1;
    }
    *secs = s_now() - t0;
    /* another answer (a refusal by the rate limit, say) reads or commits
     * less than the one measured */
    int status = reply.kind == TSR_MSG_RESPONSE ? (int)reply.u.response.status : -1;
    tsr_msg_clear(&reply);
    if (status != want) {
        fprintf(stderr, "bench_linkage: lookup %d answered status %d, not %d\n", i, status, want);
        return 1;
    }
    return 0;
}

/* commit_dir: a directory for the yardstick's environment, on the disk
 * the collector uses: one commit after each lookup, so both meet the same
 * disk (its latency drifts by 2 to 3 times within minutes on this VM). */
static int s_live(char **argv, int n, const char *commit_dir)
{
    const char *ingest = argv[0], *query = argv[1], *alerts = argv[2], *server = argv[3],
               *agent_key = argv[4], *liaison_key = argv[5], *analyst_key = argv[6];
    s_yard_t y = {0};
    if (s_yard_open(&y, commit_dir) != 0)
        return 1;
    void *ctx = zmq_ctx_new();
    tsr_conn_t *agent, *sub, *q, *qa;
    tsr_error_t err;
    tsr_error_clear(&err);
    if (tsr_conn_open(&agent, ctx, ingest, server, agent_key, &err) ||
        tsr_conn_subscribe(&sub, ctx, alerts, server, liaison_key, &err) ||
        tsr_conn_open(&q, ctx, query, server, liaison_key, &err) ||
        tsr_conn_open(&qa, ctx, query, server, analyst_key, &err)) {
        fprintf(stderr, "bench_linkage: %s\n", err.reason);
        return 1;
    }
    /* wait until the subscription is live: a heartbeat arrives */
    tsr_msg_t m;
    for (int i = 0; i < 50; i++) {
        if (tsr_conn_recv(sub, &m, 200, &err) == 0 && m.kind == TSR_MSG_HEARTBEAT) {
            tsr_msg_clear(&m);
            break;
        }
        tsr_msg_clear(&m);
    }
    /* back to back (each sent as soon as the last alert came), then 20 ms
     * apart (each finds the collector idle); both wait for the quiet spell
     * after their Ack and a drain */
    if (s_alerts(agent, sub, n, 0, 0, "back to back") != 0 ||
        s_alerts(agent, sub, n, n, 20, "20 ms apart") != 0)
        return 1;
    /* lookups over CURVE: known and unknown tokens, each followed by one
     * yardstick commit; then the same asked by an analyst, refused DENIED
     * with no read and no commit of its own (the collector's
     * audit_refusals_per_minute = 0 counts them into one entry): the
     * round trip and the loop's own work, the floor under a lookup */
    double *lk = malloc((size_t)n * sizeof *lk), *cm = malloc((size_t)n * sizeof *cm),
           *fl = malloc((size_t)n * sizeof *fl);
    for (int i = 0; i < n; i++)
        if (s_lookup(q, i, TSR_QSTATUS_OK, &lk[i]) != 0 || (cm[i] = s_yard_commit(&y)) < 0)
            return 1;
    for (int i = 0; i < n; i++)
        if (s_lookup(qa, i, TSR_QSTATUS_DENIED, &fl[i]) != 0 || s_yard_commit(&y) < 0)
            return 1;
    s_pct("lookup over CURVE (incl. audit commit)", lk, (size_t)n);
    s_pct("one durable LMDB commit (120-byte put)", cm, (size_t)n);
    s_pct("refused lookup (no read, no commit)", fl, (size_t)n);
    size_t p99 = (size_t)((double)n * 0.99);
    printf("lookup p99 / commit p99: %.2f (target <= 1.5; each lookup followed by one commit)\n",
           lk[p99] / cm[p99]);
    mdb_env_close(y.env);
    free(cm);
    free(fl);
    tsr_conn_close(&agent);
    tsr_conn_close(&sub);
    tsr_conn_close(&q);
    tsr_conn_close(&qa);
    zmq_ctx_term(ctx);
    free(lk);
    return 0;
}

/* Record i of the chain: tokens i and i + 1 (phone), so it links to its
 * two neighbours only. */
static void s_chain_record(tsr_incident_t *inc, uint64_t i, uint64_t unused)
{
    (void)unused;
    s_record(inc, (1ull << 50) + i, 1);
    inc->n_tokens = 2;
    for (int t = 0; t < 2; t++) {
        snprintf(inc->tokens[t].kind, TSR_KIND_MAX, "phone");
        s_token(inc->tokens[t].token, (1ull << 45) + i + (uint64_t)t);
    }
}

static int s_split(const char *dir, long n)
{
    tsr_store_t *s = s_store_open(dir, NULL, NULL);
    if (!s)
        return 1;
    tsr_client_t c = {.role = TSR_ROLE_AGENT, .all_areas = true};
    snprintf(c.id, sizeof c.id, "bench-agency");
    double t0 = s_now();
    int rc = s_store_many(s, n, s_chain_record, 0);
    if (rc == 0)
        printf("chain of %ld records (one cluster) stored in %.1f s\n", n, s_now() - t0);
    /* the middle, then the middle of the larger piece twice */
    long at[3] = {n / 2, n / 4, n / 8};
    for (int r = 0; rc == 0 && r < 3; r++) {
        tsr_incident_t inc;
        s_chain_record(&inc, (uint64_t)at[r], 0);
        tsr_store_item_t x = {.version = 1};
        memcpy(x.record_id, inc.record_id, TSR_RECORD_ID_LEN);
        tsr_store_batch_t b = {&c, &x, 1};
        double t1 = s_now();
        rc = tsr_store_apply(s, &b, 1, 1800000000) != 0 || x.outcome != TSR_OUTCOME_RETRACTED;
        size_t np;
        tsr_store_published(s, &np);
        printf("retraction splitting a cluster of %ld records: %8.1f ms (one apply)\n",
               r == 0 ? n : n / (2L << (r - 1)), (s_now() - t1) * 1000);
    }
    if (rc != 0)
        fprintf(stderr, "bench_linkage: split run failed\n");
    tsr_store_close(&s);
    return rc;
}

int main(int argc, char **argv)
{
    tsr_log_set_level(TSR_LOG_WARN);
    if (argc == 4 && !strcmp(argv[1], "commit"))
        return s_commit(argv[2], atoi(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "ingest"))
        return s_ingest(argv[2], atol(argv[3]));
    if (argc == 11 && !strcmp(argv[1], "live"))
        return s_live(argv + 2, atoi(argv[9]), argv[10]);
    if (argc == 4 && !strcmp(argv[1], "split"))
        return s_split(argv[2], atol(argv[3]));
    fprintf(stderr, "usage: bench_linkage ingest DIR RECORDS\n"
                    "       bench_linkage split DIR RECORDS\n"
                    "       bench_linkage live INGEST QUERY ALERTS SERVER.pub AGENT.key "
                    "LIAISON.key ANALYST.key N COMMIT_DIR\n"
                    "       bench_linkage commit DIR N\n");
    return 2;
}
