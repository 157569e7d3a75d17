/* testclient.c - drives the collector in integration tests until the agent
 * (issue 5) does it for real:
 *
 *   testclient submit ENDPOINT SERVER.pub CLIENT.key NETWORK.key AGENCY_ID BATCH_ID FILE
 *       [retract:CASE_REF:VERSION ...]
 *       one batch of every record of FILE (and retractions); prints
 *       "status=S accepted=A duplicates=D replaced=R retracted=T rejected=J"
 *       and one "rejected index reason detail" line per rejection.
 *       Exit 0 with an Ack, 3 without one (5 s).
 *   testclient stream ENDPOINT SERVER.pub CLIENT.key AGENCY_ID FIRST COUNT LOG
 *       [BATCH INTERVAL_MS TIMEOUT_MS]
 *       sends COUNT synthetic records (record ids FIRST..) in batches of BATCH
 *       (1), a new batch every INTERVAL_MS (0: as soon as the last is
 *       acknowledged; never a burst to catch up), each request waited on for
 *       TIMEOUT_MS (1000) and sent again on a new socket after a time-out. For
 *       each acknowledged batch it appends "FIRST_ID ACCEPTED LATENCY_US TRIES
 *       ACK_UNIX_MS" to LOG (fsync'd): the latency of the request that got
 *       the Ack, taken as tests/bench/bench_ingest.c takes it (monotonic
 *       clock around tsr_conn_request), and the wall-clock time it came.
 *       The durability test kills the collector meanwhile; the soak test's
 *       paced probe agent is this command.
 *   testclient flood ENDPOINT SERVER.pub CLIENT.key SECONDS
 *       an analyst asking the query socket as fast as it is answered, for
 *       SECONDS: trends by area, trends by week and spike alerts in turn, one
 *       request outstanding, a new socket after a 5 s time-out. Prints
 *       "t=S queries=Q ok=O denied=D other=X timeouts=T" every 10 s and at
 *       the end.
 *   testclient check DATA_DIR NETWORK.key EXPECTED
 *       checks a stopped collector's store against EXPECTED, lines of
 *       "AGENCY_ID VERSION case:CASE_REF" (record id from the network key) or
 *       "AGENCY_ID VERSION stream:FIRST:COUNT" (the records `stream` makes);
 *       a record listed twice must hold the higher version. Every record must
 *       be stored once, with that version and agency, and nothing else;
 *       the counters "records", "accepted", "replaced" and "agency:ID" must
 *       count each exactly once. Prints "agency ID expected=N stored=N
 *       accepted=N" per agency and "check: ..." totals; exit 0 when all
 *       agree, 1 otherwise.
 *   testclient fuzz ENDPOINT SERVER.pub CLIENT.key COUNT
 *       COUNT random or truncated frames, then an empty batch, whose Ack
 *       says the collector has read every frame before it (a ROUTER reads
 *       a connection in order; the collector's receive high-water mark
 *       holds the rest back in TCP meanwhile). Other answers (MALFORMED,
 *       for junk whose batch id could be read) are skipped. Exit 3 when
 *       that Ack does not come within 60 s.
 *   testclient raw ENDPOINT SERVER.pub CLIENT.key SHAPE SIZE BATCH_ID COUNT
 *       COUNT hand-made SubmitBatch frames of exactly SIZE bytes (padded with
 *       an unknown Envelope field), each waited on for its answer (15 s):
 *       SHAPE "empty" = as many empty incidents as fit; "one" = one valid
 *       synthetic incident; "many:N" = N valid incidents (SIZE 0: no padding).
 *       Prints the Ack line as submit does, plus "error=..."; exit 3 when a
 *       frame got no answer.
 *   testclient pipeline ENDPOINT SERVER.pub CLIENT.key FIRST COUNT SIZE WINDOW PROGRESS
 *       a peer that pipelines: COUNT batches of SIZE synthetic records
 *       (record ids FIRST..) on one socket, up to WINDOW of them waiting
 *       for their Ack; after each Ack rewrites PROGRESS with the number of
 *       batches acknowledged so far. Exit 0 when every batch was
 *       acknowledged OK, 1 on another status, 3 when none came for 30 s.
 *   testclient watch ENDPOINT SERVER.pub CLIENT.key FIRST COUNT WATCHED LOG
 *       an agent beside a flood: on one socket (connected first with an
 *       empty batch), COUNT one-record batches, each sent once the last
 *       was acknowledged; for each appends to LOG the number in the file
 *       WATCHED (a pipeline's PROGRESS) read just before the send and just
 *       after the Ack, and the milliseconds between. Exit 0 when all were acknowledged OK, 3 when one
 *       got no Ack for 30 s.
 *   testclient mute ENDPOINT SERVER.key AUTHORIZED_CLIENTS
 *       a collector that authenticates its clients (the real ZAP handler)
 *       and never answers, until SIGTERM: "timed out while connected".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "tessera/auth.h"
#include "tessera/client.h"
#include "tessera/curve.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/record.h"
#include "tessera/token.h"
#include "tessera/wire.h"
#include "store.h"

#include "../hostile_frame.h"

static int s_die(const char *what, const tsr_error_t *err)
{
    char msg[768];
    fprintf(stderr, "testclient: %s: %s\n", what, tsr_error_format(err, msg, sizeof msg));
    return 1;
}

static void s_print_ack(const tsr_ack_t *a)
{
    printf("status=%d accepted=%u duplicates=%u replaced=%u retracted=%u rejected=%zu\n", a->status,
           a->accepted, a->duplicates, a->replaced, a->retracted, a->n_rejections);
    for (size_t i = 0; i < a->n_rejections; i++)
        printf("rejected %s%u %d %s\n", a->rejections[i].retraction ? "r" : "", a->rejections[i].index,
               a->rejections[i].reason, a->rejections[i].detail);
}

static int s_submit(void *ctx, char **argv, int argc)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    tsr_netkey_t key;
    if (tsr_netkey_load(&key, argv[3], &err) != 0)
        return s_die("network key", &err);
    tsr_record_ctx_t rctx = {.agency_id = argv[4], .agency_type = 1, .keys = {&key}, .n_keys = 1};
    tsr_reader_t *r;
    if (tsr_reader_open(&r, argv[6], &err) != 0) {
        tsr_netkey_clear(&key);
        return s_die("input", &err);
    }
    static tsr_incident_t incs[1000];
    size_t n = 0;
    char ref[TSR_CASE_REF_MAX];
    int rc;
    while (n < 1000 && (rc = tsr_reader_next(r, &rctx, &incs[n], ref, &err)) != 0)
        if (rc > 0) {
            n++;
        } else {
            tsr_netkey_clear(&key);
            return s_die("record", &err);
        }
    tsr_reader_destroy(&r);
    tsr_retraction_t rets[64] = {0}; /* agency_id empty: only a relay names one */
    size_t nr = 0;
    for (int i = 7; i < argc && nr < 64; i++) {
        char cref[TSR_CASE_REF_MAX];
        unsigned v;
        if (sscanf(argv[i], "retract:%127[^:]:%u", cref, &v) != 2) {
            tsr_netkey_clear(&key);
            return fprintf(stderr, "testclient: bad %s\n", argv[i]), 2;
        }
        tsr_record_id_compute(rets[nr].record_id, &key, argv[4], cref);
        rets[nr++].version = v;
    }
    tsr_netkey_clear(&key); /* frees its MAC context */
    tsr_conn_t *c;
    if (tsr_conn_open(&c, ctx, argv[0], argv[1], argv[2], &err) != 0)
        return s_die("connect", &err);
    tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
    req.u.submit = (tsr_batch_t){.batch_id = strtoull(argv[5], NULL, 10), .incidents = incs,
                                 .n_incidents = n, .retractions = rets, .n_retractions = nr};
    rc = tsr_conn_request(c, &req, &reply, 5000, &err);
    tsr_conn_close(&c);
    if (rc != 0) {
        s_die("request", &err);
        return 3;
    }
    if (reply.kind != TSR_MSG_ACK)
        return fprintf(stderr, "testclient: not an Ack\n"), 1;
    s_print_ack(&reply.u.ack);
    tsr_msg_clear(&reply);
    return 0;
}

static void s_synthetic(tsr_incident_t *inc, uint32_t id)
{
    memset(inc, 0, sizeof *inc);
    memcpy(inc->record_id, &id, sizeof id);
    inc->record_id[15] = 0x5a;
    inc->version = 1;
    inc->agency_type = 1;
    snprintf(inc->area_code, sizeof inc->area_code, "E08000035");
    inc->reported_day = tsr_day_today() - (int32_t)(id % 300);
    inc->date_precision = 1;
    inc->age_band = 3;
    inc->gender = 1;
    inc->contact_platforms = 1u << 1;
    inc->amount_demanded_band = 9;
    inc->amount_paid_band = 9;
    inc->paid = 3;
    inc->n_tokens = 1;
    snprintf(inc->tokens[0].kind, TSR_KIND_MAX, "phone");
    memcpy(inc->tokens[0].token, &id, sizeof id);
    /* the network key id the tokens claim: TSR_TEST_KEY_ID when a test
     * runs real agents beside this client (their collector accepts one id
     * only), else 1 (0 is a token without one, which collectors refuse) */
    const char *kid = getenv("TSR_TEST_KEY_ID");
    inc->tokens[0].key_id = kid ? (uint32_t)strtoul(kid, NULL, 10) : 1;
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int s_stream(void *ctx, char **argv, int argc)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    uint32_t first = (uint32_t)strtoul(argv[4], NULL, 10),
             count = (uint32_t)strtoul(argv[5], NULL, 10);
    uint32_t batch = argc > 7 ? (uint32_t)strtoul(argv[7], NULL, 10) : 1;
    double interval = argc > 8 ? atof(argv[8]) / 1e3 : 0;
    int timeout_ms = argc > 9 ? atoi(argv[9]) : 1000;
    if (batch < 1 || batch > 1000 || timeout_ms < 1)
        return fprintf(stderr, "testclient: bad BATCH or TIMEOUT_MS\n"), 2;
    FILE *log = fopen(argv[6], "a");
    tsr_incident_t *incs = calloc(batch, sizeof *incs);
    if (!log || !incs)
        return fprintf(stderr, "testclient: cannot open %s\n", argv[6]), 1;
    tsr_conn_t *c = NULL;
    uint32_t id = first;
    unsigned tries = 0;
    double next = s_now();
    while (id < first + count) {
        if (!c && tsr_conn_open(&c, ctx, argv[0], argv[1], argv[2], &err) != 0)
            return s_die("connect", &err);
        uint32_t n = first + count - id < batch ? first + count - id : batch;
        for (uint32_t i = 0; i < n; i++)
            s_synthetic(&incs[i], id + i);
        if (tries == 0 && interval > 0) { /* paced: wait for this batch's turn */
            double w = next - s_now();
            if (w > 0)
                usleep((useconds_t)(w * 1e6));
            next += interval;
            if (next < s_now())
                next = s_now();
        }
        tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
        req.u.submit = (tsr_batch_t){.batch_id = id, .incidents = incs, .n_incidents = n};
        tries++;
        double t0 = s_now();
        int rc = tsr_conn_request(c, &req, &reply, timeout_ms, &err);
        double lat = s_now() - t0;
        if (rc != 0) { /* Lazy Pirate: a new socket, then the same batch again */
            tsr_conn_close(&c);
            usleep(50000);
            continue;
        }
        if (reply.kind == TSR_MSG_ACK && reply.u.ack.status == TSR_ACK_OK) {
            struct timespec wall;
            clock_gettime(CLOCK_REALTIME, &wall);
            fprintf(log, "%u %u %.0f %u %lld\n", id, reply.u.ack.accepted, lat * 1e6, tries,
                    (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000);
            fflush(log);
            fsync(fileno(log));
            id += n;
            tries = 0;
        }
        tsr_msg_clear(&reply);
    }
    tsr_conn_close(&c);
    free(incs);
    fclose(log);
    return 0;
}

static int s_pipeline(void *ctx, char **argv)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    uint32_t first = (uint32_t)strtoul(argv[3], NULL, 10);
    int count = atoi(argv[4]), size = atoi(argv[5]), window = atoi(argv[6]);
    if (count < 1 || size < 1 || size > 1000 || window < 1)
        return fprintf(stderr, "testclient: bad pipeline arguments\n"), 2;
    tsr_incident_t *incs = calloc((size_t)size, sizeof *incs);
    tsr_conn_t *c;
    if (!incs)
        return 1;
    if (tsr_conn_open(&c, ctx, argv[0], argv[1], argv[2], &err) != 0)
        return s_die("connect", &err);
    int sent = 0, acked = 0, rc = 0;
    while (acked < count && rc == 0) {
        while (sent < count && sent - acked < window) {
            for (int i = 0; i < size; i++)
                s_synthetic(&incs[i], first + (uint32_t)(sent * size + i));
            tsr_msg_t m = {.kind = TSR_MSG_SUBMIT};
            m.u.submit = (tsr_batch_t){.batch_id = (uint64_t)sent + 1, .incidents = incs,
                                       .n_incidents = (size_t)size};
            uint8_t *buf;
            size_t len;
            if (tsr_wire_encode(&m, &buf, &len) != 0 || tsr_conn_send_raw(c, buf, len) != 0)
                return fprintf(stderr, "testclient: cannot send\n"), 1;
            free(buf);
            sent++;
        }
        tsr_msg_t reply;
        if (tsr_conn_recv(c, &reply, 30000, &err) != 0) {
            s_die("pipeline", &err);
            rc = 3;
            break;
        }
        if (reply.kind != TSR_MSG_ACK || reply.u.ack.status != TSR_ACK_OK ||
            reply.u.ack.accepted != (uint32_t)size) {
            fprintf(stderr, "testclient: pipeline: batch %llu: status %d, %u accepted\n",
                    (unsigned long long)reply.u.ack.batch_id, reply.u.ack.status,
                    reply.u.ack.accepted);
            rc = 1;
        }
        tsr_msg_clear(&reply);
        acked++;
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", argv[7]);
        FILE *fp = fopen(tmp, "w");
        if (fp) { /* whole or not at all for a reader: renamed into place */
            fprintf(fp, "%d\n", acked);
            fclose(fp);
            rename(tmp, argv[7]);
        }
    }
    tsr_conn_close(&c);
    free(incs);
    return rc;
}

static long s_read_number(const char *path)
{
    FILE *fp = fopen(path, "r");
    long v = 0;
    if (fp) {
        if (fscanf(fp, "%ld", &v) != 1)
            v = 0;
        fclose(fp);
    }
    return v;
}

static int s_watch(void *ctx, char **argv)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    uint32_t first = (uint32_t)strtoul(argv[3], NULL, 10);
    int count = atoi(argv[4]);
    FILE *log = fopen(argv[6], "a");
    tsr_conn_t *c;
    if (!log)
        return fprintf(stderr, "testclient: cannot open %s\n", argv[6]), 1;
    if (tsr_conn_open(&c, ctx, argv[0], argv[1], argv[2], &err) != 0)
        return s_die("connect", &err);
    static tsr_incident_t inc;
    int rc = 0;
    for (int i = -1; i < count && rc == 0; i++) {
        tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
        /* i = -1: an empty batch, answered at once, so the handshake is
         * done before anything is watched */
        s_synthetic(&inc, first + (uint32_t)(i < 0 ? 0 : i));
        req.u.submit = (tsr_batch_t){.batch_id = (uint64_t)(i + 2), .incidents = &inc,
                                     .n_incidents = i < 0 ? 0 : 1};
        long before = s_read_number(argv[5]);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (tsr_conn_request(c, &req, &reply, 30000, &err) != 0) {
            s_die("watch", &err);
            rc = 3;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long after = s_read_number(argv[5]);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (reply.kind != TSR_MSG_ACK || reply.u.ack.status != TSR_ACK_OK)
            rc = 1;
        else if (i >= 0)
            fprintf(log, "%ld %ld %.1f\n", before, after, ms);
        tsr_msg_clear(&reply);
    }
    tsr_conn_close(&c);
    fclose(log);
    return rc;
}

static int s_fuzz(void *ctx, char **argv)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    tsr_conn_t *c;
    if (tsr_conn_open(&c, ctx, argv[0], argv[1], argv[2], &err) != 0)
        return s_die("connect", &err);
    static tsr_incident_t inc;
    s_synthetic(&inc, 1);
    tsr_msg_t m = {.kind = TSR_MSG_SUBMIT};
    m.u.submit = (tsr_batch_t){.batch_id = 1, .incidents = &inc, .n_incidents = 1};
    uint8_t *good, buf[2048];
    size_t len;
    tsr_wire_encode(&m, &good, &len);
    srand(4242);
    int count = atoi(argv[3]);
    for (int i = 0; i < count; i++) {
        size_t n;
        if (i % 2) {
            n = (size_t)rand() % sizeof buf;
            for (size_t k = 0; k < n; k++)
                buf[k] = (uint8_t)rand();
        } else {
            n = (size_t)rand() % len; /* truncated: never the whole valid frame */
            memcpy(buf, good, n);
        }
        tsr_conn_send_raw(c, buf, n);
    }
    free(good);
    tsr_msg_t ping = {.kind = TSR_MSG_SUBMIT}, reply;
    ping.u.submit.batch_id = 0x7e57;
    int rc = tsr_conn_request(c, &ping, &reply, 60000, &err);
    while (rc == 0 && !(reply.kind == TSR_MSG_ACK && reply.u.ack.batch_id == 0x7e57)) {
        tsr_msg_clear(&reply);
        rc = tsr_conn_recv(c, &reply, 60000, &err);
    }
    tsr_msg_clear(&reply);
    tsr_conn_close(&c);
    if (rc != 0) {
        s_die("fuzz: no Ack to the empty batch after the junk", &err);
        return 3;
    }
    return 0;
}

static void s_flood_line(double t, const unsigned long *n)
{
    printf("t=%.0f queries=%lu ok=%lu denied=%lu other=%lu timeouts=%lu\n", t, n[0], n[1], n[2],
           n[3], n[4]);
    fflush(stdout);
}

static int s_flood(void *ctx, char **argv)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    double t0 = s_now(), secs = atof(argv[3]), shown = t0;
    unsigned long n[5] = {0}; /* queries, ok, denied, other, timeouts */
    tsr_conn_t *c = NULL;
    for (uint64_t i = 0; s_now() - t0 < secs; i++) {
        if (!c && tsr_conn_open(&c, ctx, argv[0], argv[1], argv[2], &err) != 0)
            return s_die("connect", &err);
        tsr_msg_t req = {.kind = TSR_MSG_QUERY}, reply;
        tsr_query_t *q = &req.u.query;
        q->request_id = i + 1;
        if (i % 3 == 2) { /* spike alerts: not in the budget */
            q->kind = TSR_QUERY_ALERTS;
            q->max = 100;
        } else { /* the same two tables again and again: free after the first */
            q->kind = TSR_QUERY_TRENDS;
            q->by[0] = tsr_dimension_parse(i % 3 ? "week" : "area");
            q->n_by = 1;
        }
        n[0]++;
        if (tsr_conn_request(c, &req, &reply, 5000, &err) != 0) {
            n[4]++;
            tsr_conn_close(&c);
            usleep(50000);
        } else {
            int st = reply.kind == TSR_MSG_RESPONSE ? reply.u.response.status : 0;
            int k = st == TSR_QSTATUS_OK ? 1 : st == TSR_QSTATUS_DENIED ? 2 : 3;
            if (k > 1 && n[k]++ < 5) /* the first few of each, to say why */
                fprintf(stderr, "testclient flood: %s: %s\n", k == 2 ? "denied" : "other",
                        reply.kind == TSR_MSG_RESPONSE ? reply.u.response.error : "not a response");
            if (k == 1)
                n[1]++;
            tsr_msg_clear(&reply);
        }
        if (s_now() - shown >= 10) {
            shown = s_now();
            s_flood_line(shown - t0, n);
        }
    }
    s_flood_line(s_now() - t0, n);
    tsr_conn_close(&c);
    return 0;
}

/* --- check: a stopped collector's store against what was acknowledged --- */

typedef struct {
    uint8_t rid[TSR_RECORD_ID_LEN];
    uint32_t version;
    uint32_t agency; /* index into the agency table */
} s_expect_t;

#define S_MAX_AGENCIES 64

typedef struct {
    char id[TSR_CLIENT_ID_MAX];
    unsigned long expected, stored;
} s_agency_t;

static int s_expect_cmp(const void *a, const void *b)
{
    const s_expect_t *x = a, *y = b;
    int c = memcmp(x->rid, y->rid, TSR_RECORD_ID_LEN);
    if (c)
        return c;
    return (x->version < y->version) - (x->version > y->version); /* highest first */
}

static int s_expect_add(s_expect_t **v, size_t *n, size_t *cap, const s_expect_t *e)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        s_expect_t *nv = realloc(*v, nc * sizeof **v);
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = *e;
    return 0;
}

/* Reads EXPECTED (see the file comment) into a sorted, de-duplicated array:
 * one entry per record id, the highest version listed. */
static int s_expect_load(const char *path, const tsr_netkey_t *key, s_agency_t *ag, size_t *n_ag,
                         s_expect_t **out, size_t *n_out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fprintf(stderr, "testclient: cannot open %s\n", path), -1;
    char line[512], agency[TSR_CLIENT_ID_MAX], what[300];
    unsigned version;
    size_t n = 0, cap = 0, lineno = 0;
    s_expect_t *v = NULL;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        if (sscanf(line, "%63s %u %299s", agency, &version, what) != 3 || version < 1) {
            fprintf(stderr,
                    "testclient: %s:%zu: want AGENCY_ID VERSION case:REF|stream:FIRST:COUNT\n",
                    path, lineno);
            rc = -1;
            break;
        }
        size_t a = 0;
        while (a < *n_ag && strcmp(ag[a].id, agency))
            a++;
        if (a == *n_ag) {
            if (a == S_MAX_AGENCIES) {
                rc = -1;
                break;
            }
            snprintf(ag[a].id, sizeof ag[a].id, "%s", agency);
            (*n_ag)++;
        }
        s_expect_t e = {.version = version, .agency = (uint32_t)a};
        unsigned long first, count;
        if (!strncmp(what, "case:", 5)) {
            tsr_record_id_compute(e.rid, key, agency, what + 5);
            rc = s_expect_add(&v, &n, &cap, &e);
        } else if (sscanf(what, "stream:%lu:%lu", &first, &count) == 2) {
            static tsr_incident_t inc;
            for (unsigned long i = 0; rc == 0 && i < count; i++) {
                s_synthetic(&inc, (uint32_t)(first + i));
                memcpy(e.rid, inc.record_id, TSR_RECORD_ID_LEN);
                rc = s_expect_add(&v, &n, &cap, &e);
            }
        } else {
            fprintf(stderr, "testclient: %s:%zu: unknown record '%s'\n", path, lineno, what);
            rc = -1;
        }
    }
    fclose(f);
    if (rc != 0) {
        free(v);
        return -1;
    }
    if (n)
        qsort(v, n, sizeof *v, s_expect_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || memcmp(v[u - 1].rid, v[i].rid, TSR_RECORD_ID_LEN))
            v[u++] = v[i];
    *out = v;
    *n_out = u;
    return 0;
}

typedef struct {
    s_agency_t *ag;
    size_t n_ag;
    unsigned long unexpected; /* records counted for an agency not expected */
} s_counted_t;

static void s_agency_counter(void *ctx, const char *name, uint64_t value)
{
    s_counted_t *c = ctx;
    if (strncmp(name, "agency:", 7) || value == 0)
        return;
    for (size_t a = 0; a < c->n_ag; a++)
        if (!strcmp(c->ag[a].id, name + 7))
            return;
    printf("agency %s expected=0 stored=0 accepted=%llu\n", name + 7, (unsigned long long)value);
    c->unexpected += value;
}

static int s_check(char **argv)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    tsr_netkey_t key;
    if (tsr_netkey_load(&key, argv[1], &err) != 0)
        return s_die("network key", &err);
    static s_agency_t ag[S_MAX_AGENCIES];
    size_t n_ag = 0, n = 0;
    s_expect_t *ex = NULL;
    int loaded = s_expect_load(argv[2], &key, ag, &n_ag, &ex, &n);
    tsr_netkey_clear(&key); /* the record ids are made: free its MAC context */
    if (loaded != 0)
        return 1;
    char dir[4096], logdir[4096], auditdir[4096];
    snprintf(dir, sizeof dir, "%s/db", argv[0]);
    snprintf(logdir, sizeof logdir, "%s/log", argv[0]);
    snprintf(auditdir, sizeof auditdir, "%s/audit", argv[0]);
    tsr_store_opts_t so = {
        .kv = {.dir = dir}, .log_kv = {.dir = logdir}, .audit_kv = {.dir = auditdir}};
    tsr_store_t *s;
    if (tsr_store_open(&s, &so, &err) != 0)
        return s_die("store", &err);
    unsigned long missing = 0, wrong_version = 0, wrong_agency = 0, versions = 0, shown = 0;
    for (size_t i = 0; i < n; i++) {
        static tsr_incident_t inc;
        char agency[TSR_CLIENT_ID_MAX], hex[2 * TSR_RECORD_ID_LEN + 1];
        int64_t at;
        s_agency_t *a = &ag[ex[i].agency];
        a->expected++;
        versions += ex[i].version - 1;
        int rc = tsr_store_get(s, ex[i].rid, &inc, agency, &at);
        const char *bad = rc == TSR_ENOTFOUND            ? "missing"
                          : rc != 0                      ? "unreadable"
                          : inc.version != ex[i].version ? "wrong version"
                          : strcmp(agency, a->id)        ? "wrong agency"
                                                         : NULL;
        if (!bad) {
            a->stored++;
            continue;
        }
        if (rc != 0)
            missing++;
        else if (inc.version != ex[i].version)
            wrong_version++;
        else
            wrong_agency++;
        if (shown++ < 10)
            printf("check: %s: record %s of %s, version %u (stored: version %u of %s)\n", bad,
                   tsr_hex_encode(hex, ex[i].rid, TSR_RECORD_ID_LEN), a->id, ex[i].version,
                   rc ? 0 : inc.version, rc ? "-" : agency);
    }
    /* entries of `records`: anything beyond the expected is a record stored
     * that no agent had acknowledged (or one stored twice under two ids) */
    MDB_env *env = tsr_kv_env(tsr_store_kv(s));
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st = {0};
    int mrc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (mrc == 0) {
        if ((mrc = mdb_dbi_open(txn, "records", 0, &dbi)) == 0)
            mrc = mdb_stat(txn, dbi, &st);
        mdb_txn_abort(txn);
    }
    s_counted_t counted = {ag, n_ag, 0};
    uint64_t c_records = tsr_store_counter(s, "records"),
             c_accepted = tsr_store_counter(s, "accepted"),
             c_replaced = tsr_store_counter(s, "replaced"),
             c_dup = tsr_store_counter(s, "duplicates");
    int bad = mrc != 0 || missing || wrong_version || wrong_agency || st.ms_entries != n ||
              c_records != st.ms_entries || c_accepted != n || c_replaced != versions ||
              tsr_store_logged(s) != 0;
    for (size_t a = 0; a < n_ag; a++) {
        char name[96];
        snprintf(name, sizeof name, "agency:%.63s", ag[a].id);
        uint64_t acc = tsr_store_counter(s, name);
        printf("agency %s expected=%lu stored=%lu accepted=%llu\n", ag[a].id, ag[a].expected,
               ag[a].stored, (unsigned long long)acc);
        bad |= acc != ag[a].expected;
    }
    tsr_store_counters(s, s_agency_counter, &counted);
    bad |= counted.unexpected != 0;
    printf("check: expected=%zu missing=%lu wrong_version=%lu wrong_agency=%lu stored_entries=%zu "
           "ingest_log=%zu\n",
           n, missing, wrong_version, wrong_agency, (size_t)st.ms_entries, tsr_store_logged(s));
    printf("check: counters records=%llu accepted=%llu replaced=%llu (want %lu) duplicates=%llu\n",
           (unsigned long long)c_records, (unsigned long long)c_accepted,
           (unsigned long long)c_replaced, versions, (unsigned long long)c_dup);
    printf("check: %s\n", bad ? "FAILED" : "every acknowledged record stored once, nothing else");
    tsr_store_close(&s);
    free(ex);
    return bad ? 1 : 0;
}

/* Appends an unknown Envelope field (15, bytes) so the frame is exactly
 * size bytes. Returns the new length, or 0 when size cannot be met. */
static size_t s_pad(uint8_t *buf, size_t len, size_t size)
{
    if (size == 0 || size == len)
        return len;
    uint8_t tmp[10];
    for (size_t vl = 1; vl <= 5; vl++) {
        if (size < len + 1 + vl)
            return 0;
        size_t l = size - len - 1 - vl;
        if (tsr_frame_varint(tmp, l) != vl)
            continue;
        buf[len++] = 0x7a; /* field 15, length-delimited */
        len += tsr_frame_varint(buf + len, l);
        memset(buf + len, 0, l);
        return len + l;
    }
    return 0;
}

static int s_raw(void *ctx, char **argv)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    const char *shape = argv[3];
    size_t size = strtoull(argv[4], NULL, 10);
    uint64_t batch_id = strtoull(argv[5], NULL, 10);
    int count = atoi(argv[6]);
    size_t cap = (size ? size : 0) + (4u << 20) + 64;
    uint8_t *frame = malloc(cap);
    size_t len = 0;
    if (!frame)
        return 1;
    if (!strcmp(shape, "empty")) {
        size_t k = size > 32 ? (size - 32) / 2 : 0;
        len = tsr_frame_empty_batch(frame, cap, batch_id, k, 0);
    } else {
        size_t n = !strcmp(shape, "one") ? 1 : !strncmp(shape, "many:", 5) ? strtoull(shape + 5, NULL, 10) : 0;
        if (n == 0)
            return fprintf(stderr, "testclient: unknown shape %s\n", shape), 2;
        tsr_incident_t *incs = calloc(n, sizeof *incs);
        for (size_t i = 0; incs && i < n; i++)
            s_synthetic(&incs[i], (uint32_t)(batch_id * 100000 + i));
        tsr_msg_t m = {.kind = TSR_MSG_SUBMIT};
        m.u.submit = (tsr_batch_t){.batch_id = batch_id, .incidents = incs, .n_incidents = n};
        uint8_t *enc;
        if (!incs || tsr_wire_encode(&m, &enc, &len) != 0 || len > cap)
            return fprintf(stderr, "testclient: cannot encode\n"), 1;
        memcpy(frame, enc, len);
        free(enc);
        free(incs);
    }
    if ((len = s_pad(frame, len, size)) == 0)
        return fprintf(stderr, "testclient: cannot make a frame of %zu bytes\n", size), 1;
    tsr_conn_t *c;
    if (tsr_conn_open(&c, ctx, argv[0], argv[1], argv[2], &err) != 0)
        return s_die("connect", &err);
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        tsr_msg_t reply;
        if (tsr_conn_send_raw(c, frame, len) != 0 || tsr_conn_recv(c, &reply, 15000, &err) != 0) {
            s_die("request", &err);
            rc = 3;
            break;
        }
        if (reply.kind != TSR_MSG_ACK) {
            rc = 1;
            break;
        }
        s_print_ack(&reply.u.ack);
        printf("error=%s\n", reply.u.ack.error);
        fflush(stdout);
        tsr_msg_clear(&reply);
    }
    tsr_conn_close(&c);
    free(frame);
    return rc;
}

static volatile sig_atomic_t s_stop;

static void s_on_term(int sig)
{
    (void)sig;
    s_stop = 1;
}

static int s_mute(void *ctx, char **argv)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    char secret[41], public[41];
    tsr_authlist_t *list;
    tsr_zap_t *zap;
    if (tsr_curve_load_secret(argv[1], secret, public, &err) != 0)
        return s_die("server key", &err);
    if (tsr_authlist_load(&list, argv[2], &err) != 0)
        return s_die("authorized_clients", &err);
    if (tsr_zap_start(&zap, ctx, list) != 0)
        return fprintf(stderr, "testclient: no ZAP handler\n"), 1;
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    if (zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret, 40) ||
        zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, TSR_ZAP_DOMAIN, strlen(TSR_ZAP_DOMAIN)) ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) || zmq_bind(s, argv[0]) != 0)
        return fprintf(stderr, "testclient: cannot listen on %s\n", argv[0]), 1;
    struct sigaction sa = {.sa_handler = s_on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    printf("listening\n");
    fflush(stdout);
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    while (!s_stop) {
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, s, 0); /* read, and never answered */
        zmq_msg_close(&m);
    }
    zmq_close(s);
    tsr_zap_destroy(&zap);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *ctx = zmq_ctx_new();
    int rc = 2;
    if (!strcmp(argv[1], "submit") && argc >= 9)
        rc = s_submit(ctx, argv + 2, argc - 2);
    else if (!strcmp(argv[1], "stream") && (argc == 9 || argc == 12))
        rc = s_stream(ctx, argv + 2, argc - 2);
    else if (!strcmp(argv[1], "fuzz") && argc == 6)
        rc = s_fuzz(ctx, argv + 2);
    else if (!strcmp(argv[1], "flood") && argc == 6)
        rc = s_flood(ctx, argv + 2);
    else if (!strcmp(argv[1], "check") && argc == 5)
        rc = s_check(argv + 2);
    else if (!strcmp(argv[1], "raw") && argc == 9)
        rc = s_raw(ctx, argv + 2);
    else if (!strcmp(argv[1], "pipeline") && argc == 10)
        rc = s_pipeline(ctx, argv + 2);
    else if (!strcmp(argv[1], "watch") && argc == 9)
        rc = s_watch(ctx, argv + 2);
    else if (!strcmp(argv[1], "mute") && argc == 5)
        rc = s_mute(ctx, argv + 2);
    else
        fprintf(stderr, "testclient: bad arguments (see the file comment)\n");
    zmq_ctx_term(ctx);
    return rc;
}
