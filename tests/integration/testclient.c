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
 *       sends COUNT synthetic one-record batches (record ids FIRST..), and
 *       appends the id of each acknowledged record to LOG (fsync'd) — the
 *       durability test kills the collector meanwhile.
 *   testclient fuzz ENDPOINT SERVER.pub CLIENT.key COUNT
 *       COUNT random or truncated frames; expects no answer to any.
 *   testclient raw ENDPOINT SERVER.pub CLIENT.key SHAPE SIZE BATCH_ID COUNT
 *       COUNT hand-made SubmitBatch frames of exactly SIZE bytes (padded with
 *       an unknown Envelope field), each waited on for its answer (15 s):
 *       SHAPE "empty" = as many empty incidents as fit; "one" = one valid
 *       synthetic incident; "many:N" = N valid incidents (SIZE 0: no padding).
 *       Prints the Ack line as submit does, plus "error=..."; exit 3 when a
 *       frame got no answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "tessera/client.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/record.h"
#include "tessera/token.h"
#include "tessera/wire.h"

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
    tsr_retraction_t rets[64];
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
}

static int s_stream(void *ctx, char **argv)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    uint32_t first = (uint32_t)strtoul(argv[4], NULL, 10), count = (uint32_t)strtoul(argv[5], NULL, 10);
    FILE *log = fopen(argv[6], "a");
    if (!log)
        return fprintf(stderr, "testclient: cannot open %s\n", argv[6]), 1;
    tsr_conn_t *c = NULL;
    uint32_t id = first;
    while (id < first + count) {
        if (!c && tsr_conn_open(&c, ctx, argv[0], argv[1], argv[2], &err) != 0)
            return s_die("connect", &err);
        static tsr_incident_t inc;
        s_synthetic(&inc, id);
        tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
        req.u.submit = (tsr_batch_t){.batch_id = id, .incidents = &inc, .n_incidents = 1};
        int rc = tsr_conn_request(c, &req, &reply, 1000, &err);
        if (rc != 0) { /* Lazy Pirate: a new socket, then the same batch again */
            tsr_conn_close(&c);
            usleep(50000);
            continue;
        }
        if (reply.kind == TSR_MSG_ACK && reply.u.ack.status == TSR_ACK_OK) {
            fprintf(log, "%u %u\n", id, reply.u.ack.accepted);
            fflush(log);
            fsync(fileno(log));
            id++;
        }
        tsr_msg_clear(&reply);
    }
    tsr_conn_close(&c);
    fclose(log);
    return 0;
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
    usleep(200000);
    tsr_conn_close(&c);
    return 0;
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

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *ctx = zmq_ctx_new();
    int rc = 2;
    if (!strcmp(argv[1], "submit") && argc >= 9)
        rc = s_submit(ctx, argv + 2, argc - 2);
    else if (!strcmp(argv[1], "stream") && argc == 9)
        rc = s_stream(ctx, argv + 2);
    else if (!strcmp(argv[1], "fuzz") && argc == 6)
        rc = s_fuzz(ctx, argv + 2);
    else if (!strcmp(argv[1], "raw") && argc == 9)
        rc = s_raw(ctx, argv + 2);
    else
        fprintf(stderr, "testclient: bad arguments (see the file comment)\n");
    zmq_ctx_term(ctx);
    return rc;
}
