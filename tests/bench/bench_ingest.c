/* bench_ingest.c - ingest figures for docs/PERFORMANCE.md (issue 4).
 *
 *   bench_ingest raw DIR TOTAL [SYNC [BATCH]]
 *       raw-LMDB baseline: the puts one record's ingest makes (record,
 *       area/day index, token index entries), one commit per batch, no network;
 *       TOTAL records for batch sizes 10, 100 and 1000, 1,000 for batch 1.
 *       SYNC (docs/STORAGE.md, "How many flushes an Ack needs"): "sync"
 *       (default: LMDB's durable commit, data flushed, then the meta page),
 *       "nometasync" (MDB_NOMETASYNC: the meta page not flushed) or "nosync"
 *       (MDB_NOSYNC, then one mdb_env_sync per commit). BATCH: that size only.
 *   bench_ingest e2e ENDPOINT SERVER.pub KEYDIR AGENTS BATCH TOTAL
 *       AGENTS threads (keys KEYDIR/agent-N.key) each submit BATCH-record
 *       batches over CURVE and wait for each Ack; records/s and Ack latency.
 *   bench_ingest paced ENDPOINT SERVER.pub KEYDIR RATE SECONDS
 *       one agent offering RATE records/s in 10-record batches; Ack latency.
 */
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "tessera/client.h"
#include "tessera/err.h"
#include "tessera/record.h"
#include "tessera/wire.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void s_record(tsr_incident_t *inc, uint32_t id, uint32_t salt)
{
    memset(inc, 0, sizeof *inc);
    memcpy(inc->record_id, &id, 4);
    memcpy(inc->record_id + 4, &salt, 4);
    inc->version = 1;
    inc->agency_type = 1;
    snprintf(inc->area_code, sizeof inc->area_code, "E08000035");
    inc->reported_day = tsr_day_today() - (int32_t)(id % 700);
    inc->date_precision = 1;
    inc->age_band = 3;
    inc->gender = 1;
    inc->contact_platforms = 1u << 1;
    inc->moved_to_platforms = 1u << 2;
    inc->demands = 1u << 1;
    inc->amount_demanded_band = 5;
    inc->amount_paid_band = 9;
    inc->paid = 3;
    inc->tactics = 1u << 1 | 1u << 9;
    inc->n_tokens = 3; /* three identifiers, like a typical case */
    for (int t = 0; t < 3; t++) {
        snprintf(inc->tokens[t].kind, TSR_KIND_MAX, t == 0 ? "handle:instagram" : t == 1 ? "phone" : "bank:uk");
        inc->tokens[t].key_id = 1; /* the collector refuses key id 0 (issue 16) */
        /* distinct per record and kind (the collector refuses a record that
         * carries the same token twice) */
        for (int b = 0; b < TSR_TOKEN_LEN; b += 8) {
            uint64_t x = ((uint64_t)id << 32 | salt) * 0x9E3779B97F4A7C15ull ^
                         ((uint64_t)t << 8 | (uint64_t)b) * 0xBF58476D1CE4E5B9ull;
            x ^= x >> 31;
            x *= 0x94D049BB133111EBull;
            x ^= x >> 29;
            memcpy(inc->tokens[t].token + b, &x, 8);
        }
    }
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void s_report(const char *what, int agents, int batch, long records, double secs, double *lat,
                     size_t nlat)
{
    qsort(lat, nlat, sizeof *lat, s_cmp);
    printf("%-6s agents=%d batch=%-4d records=%-6ld %9.0f rec/s  ack p50 %7.2f ms  p99 %7.2f ms\n",
           what, agents, batch, records, (double)records / secs, nlat ? lat[nlat / 2] * 1e3 : 0,
           nlat ? lat[(size_t)((double)nlat * 0.99)] * 1e3 : 0);
    fflush(stdout);
}

/* --- raw baseline ---------------------------------------------------------- */

static int s_raw(const char *dir, long records, const char *sync, int only)
{
    static const int sizes[] = {1, 10, 100, 1000};
    unsigned flags = !strcmp(sync, "nometasync") ? MDB_NOMETASYNC
                     : !strcmp(sync, "nosync")   ? MDB_NOSYNC
                                                 : 0;
    if (!flags && strcmp(sync, "sync") != 0) {
        fprintf(stderr, "raw: SYNC is sync, nometasync or nosync, not %s\n", sync);
        return 2;
    }
    for (int s = 0; s < 4; s++) {
        if (only && sizes[s] != only)
            continue;
        char path[512], cmd[1100];
        snprintf(path, sizeof path, "%s/raw-%d", dir, sizes[s]);
        snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", path, path);
        if (system(cmd) != 0)
            return 1;
        MDB_env *env;
        MDB_dbi rec, area, tok;
        MDB_txn *txn;
        mdb_env_create(&env);
        mdb_env_set_maxdbs(env, 8);
        mdb_env_set_mapsize(env, (size_t)1 << 30);
        if (mdb_env_open(env, path, flags, 0600) != 0)
            return 1;
        mdb_txn_begin(env, NULL, 0, &txn);
        mdb_dbi_open(txn, "records", MDB_CREATE, &rec);
        mdb_dbi_open(txn, "by_area_day", MDB_CREATE, &area);
        mdb_dbi_open(txn, "by_token", MDB_CREATE, &tok);
        mdb_txn_commit(txn);
        long total = sizes[s] == 1 ? 1000 : records;
        static tsr_incident_t inc;
        double *lat = calloc((size_t)(total / sizes[s]) + 1, sizeof *lat);
        size_t nlat = 0;
        double t0 = s_now();
        for (long done = 0; done < total;) {
            double b0 = s_now();
            int rc = mdb_txn_begin(env, NULL, 0, &txn);
            for (int i = 0; rc == 0 && i < sizes[s]; i++, done++) {
                s_record(&inc, (uint32_t)done, 0);
                uint8_t val[300], ak[29], tk[48];
                memset(val, 0x5a, sizeof val);
                MDB_val k = {16, inc.record_id}, v = {180, val};
                rc = mdb_put(txn, rec, &k, &v, 0);
                memcpy(ak, inc.area_code, 9);
                memcpy(ak + 9, &inc.reported_day, 4);
                memcpy(ak + 13, inc.record_id, 16);
                MDB_val kk = {29, ak}, e = {0, ""};
                rc = rc ? rc : mdb_put(txn, area, &kk, &e, 0);
                for (size_t t = 0; rc == 0 && t < inc.n_tokens; t++) {
                    memcpy(tk, inc.tokens[t].token, 32);
                    memcpy(tk + 32, inc.record_id, 16);
                    MDB_val tkk = {48, tk}, tv = {strlen(inc.tokens[t].kind), inc.tokens[t].kind};
                    rc = mdb_put(txn, tok, &tkk, &tv, 0);
                }
            }
            if (rc == 0)
                rc = mdb_txn_commit(txn);
            if (rc == 0 && flags == MDB_NOSYNC) /* one flush of data and meta together */
                rc = mdb_env_sync(env, 1);
            if (rc != 0) { /* the map is 1 GiB: a run of millions of records fills it */
                fprintf(stderr, "raw: %s\n", mdb_strerror(rc));
                return 1;
            }
            lat[nlat++] = s_now() - b0;
        }
        s_report(flags ? sync : "raw", 1, sizes[s], total, s_now() - t0, lat, nlat);
        free(lat);
        mdb_env_close(env);
    }
    return 0;
}

/* --- end to end ------------------------------------------------------------- */

typedef struct {
    const char *endpoint, *server, *keydir;
    int index, batch;
    long records;
    double pace; /* seconds between batches; 0 = as fast as Acks come */
    double *lat;
    size_t nlat;
    int failed;
    long retries; /* RETRY_LATER answers */
} s_agent_t;

static void *s_agent(void *arg)
{
    s_agent_t *a = arg;
    void *ctx = zmq_ctx_new();
    char key[512];
    snprintf(key, sizeof key, "%s/agent-%d.key", a->keydir, a->index);
    tsr_conn_t *c;
    tsr_error_t err;
    tsr_error_clear(&err);
    if (tsr_conn_open(&c, ctx, a->endpoint, a->server, key, &err) != 0) {
        fprintf(stderr, "bench: %s\n", err.reason);
        a->failed = 1;
        zmq_ctx_term(ctx);
        return NULL;
    }
    tsr_incident_t *incs = calloc((size_t)a->batch, sizeof *incs);
    a->lat = calloc((size_t)(a->records / a->batch) + 2, sizeof *a->lat);
    double next = s_now();
    for (long done = 0; done < a->records; done += a->batch) {
        for (int i = 0; i < a->batch; i++)
            s_record(&incs[i], (uint32_t)(done + i), (uint32_t)a->index + 1);
        tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
        req.u.submit = (tsr_batch_t){.batch_id = (uint64_t)done, .incidents = incs,
                                     .n_incidents = (size_t)a->batch};
        if (a->pace > 0) {
            double w = next - s_now();
            if (w > 0)
                usleep((useconds_t)(w * 1e6));
            next += a->pace;
        }
        double t0 = s_now();
        int rc;
        /* RETRY_LATER (the collector's back-pressure while its apply catches
         * up): the same batch again after a pause, as an agent does; the
         * Ack's latency counts the wait */
        while ((rc = tsr_conn_request(c, &req, &reply, 30000, &err)) == 0 &&
               reply.kind == TSR_MSG_ACK && reply.u.ack.status == TSR_ACK_RETRY_LATER) {
            tsr_msg_clear(&reply);
            a->retries++;
            usleep(50000);
        }
        if (rc != 0 || reply.kind != TSR_MSG_ACK || reply.u.ack.accepted != (uint32_t)a->batch) {
            a->failed = 1;
            tsr_msg_clear(&reply);
            break;
        }
        a->lat[a->nlat++] = s_now() - t0;
        tsr_msg_clear(&reply);
    }
    free(incs);
    tsr_conn_close(&c);
    zmq_ctx_term(ctx);
    return NULL;
}

static int s_run(char **argv, int agents, int batch, long total, double pace, const char *label)
{
    s_agent_t *a = calloc((size_t)agents, sizeof *a);
    pthread_t *th = calloc((size_t)agents, sizeof *th);
    double t0 = s_now();
    for (int i = 0; i < agents; i++) {
        a[i] = (s_agent_t){argv[0], argv[1], argv[2], i, batch, total / agents, pace, NULL, 0, 0, 0};
        pthread_create(&th[i], NULL, s_agent, &a[i]);
    }
    size_t nlat = 0;
    for (int i = 0; i < agents; i++) {
        pthread_join(th[i], NULL);
        nlat += a[i].nlat;
    }
    double secs = s_now() - t0;
    double *lat = calloc(nlat + 1, sizeof *lat);
    size_t k = 0;
    int failed = 0;
    long retries = 0;
    for (int i = 0; i < agents; i++) {
        memcpy(lat + k, a[i].lat, a[i].nlat * sizeof *lat);
        k += a[i].nlat;
        failed |= a[i].failed;
        retries += a[i].retries;
        free(a[i].lat);
    }
    s_report(label, agents, batch, total, secs, lat, nlat);
    if (retries > 0)
        printf("  (%ld RETRY_LATER answers, each batch sent again after 50 ms)\n", retries);
    if (failed)
        fprintf(stderr, "bench: a batch was refused, not fully accepted, or not answered in 30 s\n");
    free(lat);
    free(a);
    free(th);
    return failed;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && argc <= 6 && !strcmp(argv[1], "raw"))
        return s_raw(argv[2], atol(argv[3]), argc > 4 ? argv[4] : "sync",
                     argc > 5 ? atoi(argv[5]) : 0);
    if (argc == 8 && !strcmp(argv[1], "e2e"))
        return s_run(argv + 2, atoi(argv[5]), atoi(argv[6]), atol(argv[7]), 0, "e2e");
    if (argc == 7 && !strcmp(argv[1], "paced")) {
        double rate = atof(argv[5]), secs = atof(argv[6]);
        return s_run(argv + 2, 1, 10, (long)(rate * secs), 10.0 / rate, "paced");
    }
    fprintf(stderr, "usage: see the comment at the top of bench_ingest.c\n");
    return 2;
}
