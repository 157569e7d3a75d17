/* deliver.c - `tessera-agent init|submit|retract|resolve|status`: the
 * agency's side of the network. Records go to the LMDB outbox first and
 * leave it only when the collector's Ack says what became of them; delivery
 * follows the zguide's Lazy Pirate pattern (time out, close and reopen the
 * socket, back off with jitter, never drop a stored record). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "agent.h"
#include "agentconf.h"
#include "outbox.h"
#include "tessera/client.h"
#include "tessera/codes.h"
#include "tessera/curve.h"
#include "tessera/err.h"
#include "tessera/token.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

/* Set by SIGTERM/SIGINT in `run`: delivery stops between batches. */
static volatile sig_atomic_t s_stop;

/* What every outbox command starts with: --config/--help, at least min_args
 * operands, the config, and the outbox. Returns -1 to go on (then the caller
 * owns conf and ob: s_finish them), or the exit code to return at once. */
static int s_start(int argc, char **argv, const char *usage, int min_args, agent_conf_t *conf,
                   agent_outbox_t **ob)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *config = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'c') {
            config = optarg;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return EXIT_OK;
        } else {
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (argc - optind < min_args) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    if (agent_conf_load(conf, agent_conf_path(config)) != 0)
        return EXIT_FAIL;
    if (outbox_open(ob, conf->data_dir) != 0) {
        agent_conf_free(conf);
        return EXIT_FAIL;
    }
    return -1;
}

static int s_finish(agent_conf_t *conf, agent_outbox_t **ob, int rc)
{
    outbox_close(ob);
    agent_conf_free(conf);
    return rc;
}

/* Sends what the outbox holds, batch by batch. Returns EXIT_OK when it is
 * empty, EXIT_FAIL if records were rejected or the collector refused us,
 * EXIT_UNREACHABLE when the collector did not answer (records stay queued). */
static int s_deliver(agent_conf_t *conf, agent_outbox_t *ob, bool progress)
{
    void *ctx = zmq_ctx_new();
    tsr_conn_t *conn = NULL;
    tsr_error_t err;
    char msg[768];
    int result = EXIT_OK, failures = 0;
    size_t sent = 0, rejected = 0;
    unsigned long accepted = 0, duplicates = 0, replaced = 0, retracted = 0;
    uint64_t *seqs = calloc((size_t)conf->max_batch, sizeof *seqs);
    outbox_status_t st;
    outbox_status(ob, &st);
    size_t total = st.depth;
    bool tty = progress && isatty(fileno(stderr));
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    size_t max_batch = (size_t)conf->max_batch; /* halved when the collector says too big */
    while (seqs && !s_stop) {
        tsr_batch_t b;
        if (outbox_peek(ob, max_batch, &b, seqs) != 0) {
            result = EXIT_FAIL;
            break;
        }
        if (b.n_incidents + b.n_retractions == 0) {
            outbox_batch_free(&b);
            break;
        }
        tsr_error_clear(&err);
        if (!conn && tsr_conn_open(&conn, ctx, conf->endpoint, conf->server_key, conf->client_key,
                                   &err) != 0) {
            fprintf(stderr, "tessera-agent: %s\n", tsr_error_format(&err, msg, sizeof msg));
            outbox_batch_free(&b);
            result = EXIT_FAIL;
            break;
        }
        tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
        req.u.submit = b;
        int rc = tsr_conn_request(conn, &req, &reply, (int)conf->timeout_ms, &err);
        if (rc != 0 || reply.kind != TSR_MSG_ACK || reply.u.ack.status == TSR_ACK_RETRY_LATER) {
            /* Lazy Pirate: the socket may hold a late reply; start afresh */
            tsr_conn_close(&conn);
            if (rc == 0)
                tsr_msg_clear(&reply);
            outbox_batch_free(&b);
            if (++failures >= conf->attempts) {
                fprintf(stderr, "tessera-agent: the collector at %s did not accept the batch after "
                                "%d tries; %zu record(s) stay queued and go next time\n",
                        conf->endpoint, failures, total - sent);
                result = EXIT_UNREACHABLE;
                break;
            }
            /* exponential back-off with jitter, capped at 30 s */
            long ms = 250L << (failures < 7 ? failures : 7);
            ms = (ms > 30000 ? 30000 : ms) / 2 + rand() % (ms / 2 + 1);
            usleep((useconds_t)ms * 1000);
            continue;
        }
        failures = 0;
        size_t n = b.n_incidents + b.n_retractions;
        if (reply.u.ack.status == TSR_ACK_MALFORMED && n > 1) {
            /* The collector could not take this batch, most likely a limit
             * lower than ours: halve it (at most log2(max_batch) times; the
             * records stay queued meanwhile) rather than send it again. */
            max_batch = n / 2;
            fprintf(stderr, "tessera-agent: WARNING: the collector refused a batch of %zu records "
                            "as malformed (%s); trying batches of %zu\n",
                    n, reply.u.ack.error[0] ? reply.u.ack.error : "no reason given", max_batch);
            tsr_msg_clear(&reply);
            outbox_batch_free(&b);
            continue;
        }
        if (reply.u.ack.status == TSR_ACK_MALFORMED) {
            /* one record the collector cannot decode: sending it again would
             * get the same answer, so stop here and keep it (and all after it) */
            fprintf(stderr, "tessera-agent: ERROR: the collector refused a record as malformed "
                            "(%s); it and %zu record(s) after it stay queued. Is the agent older "
                            "or newer than the collector?\n",
                    reply.u.ack.error[0] ? reply.u.ack.error : "no reason given",
                    total > sent + 1 ? total - sent - 1 : 0);
            tsr_msg_clear(&reply);
            outbox_batch_free(&b);
            result = EXIT_FAIL;
            break;
        }
        if (reply.u.ack.status != TSR_ACK_OK) {
            fprintf(stderr, "tessera-agent: the collector refused this agent (status %d%s%s): is "
                            "its key in authorized_clients with the agent role?\n",
                    reply.u.ack.status, reply.u.ack.error[0] ? ", " : "", reply.u.ack.error);
            tsr_msg_clear(&reply);
            outbox_batch_free(&b);
            result = EXIT_FAIL;
            break;
        }
        int nrej = outbox_done(ob, &b, seqs, &reply.u.ack);
        accepted += reply.u.ack.accepted;
        duplicates += reply.u.ack.duplicates;
        replaced += reply.u.ack.replaced;
        retracted += reply.u.ack.retracted;
        for (size_t i = 0; i < reply.u.ack.n_rejections; i++)
            fprintf(stderr, "rejected: %s\n", reply.u.ack.rejections[i].detail);
        if (nrej > 0) {
            rejected += (size_t)nrej;
            result = EXIT_FAIL;
        }
        sent += b.n_incidents + b.n_retractions;
        if (tty)
            fprintf(stderr, "\rsent %zu of %zu", sent, total);
        else if (progress)
            fprintf(stderr, "sent %zu of %zu\n", sent, total);
        tsr_msg_clear(&reply);
        outbox_batch_free(&b);
    }
    if (tty)
        fputc('\n', stderr);
    if (sent)
        fprintf(stderr, "delivered: %lu accepted, %lu already there, %lu updated, %lu withdrawn, "
                        "%zu rejected\n", accepted, duplicates, replaced, retracted, rejected);
    if (rejected)
        fprintf(stderr, "tessera-agent: %zu record(s) rejected; see 'tessera-agent status "
                        "--rejections'\n", rejected);
    free(seqs);
    tsr_conn_close(&conn);
    zmq_ctx_term(ctx);
    return result;
}

/* Records queued per outbox transaction: the agent holds at most this many
 * minimised records (4.5 KB each) in memory, whatever the size of the file,
 * and a 100,000-record file takes about 400 commits. */
#define S_QUEUE_CHUNK 256

/* Validates, minimises and queues one file, S_QUEUE_CHUNK records per
 * transaction. Returns 0, 1 if a record was invalid or the file unreadable,
 * or -1 if valid records could not be queued: the file must then be queued
 * again, which completes it (records already waiting are not queued twice),
 * so `run` does not mark it done. */
static int s_queue_file(agent_conf_t *conf, agent_outbox_t *ob, const char *path)
{
    int result = 0;
    char msg[768];
    tsr_error_t err;
    tsr_error_clear(&err);
    tsr_reader_t *rd;
    if (tsr_reader_open(&rd, path, &err) != 0) {
        fprintf(stderr, "%s\n", tsr_error_format(&err, msg, sizeof msg));
        return 1;
    }
    tsr_incident_t *incs = malloc(S_QUEUE_CHUNK * sizeof *incs);
    char(*refs)[TSR_CASE_REF_MAX] = malloc(S_QUEUE_CHUNK * sizeof *refs);
    size_t n = 0, queued = 0, waiting = 0;
    long first_line = 0; /* of the records not yet queued */
    bool tty = isatty(fileno(stderr));
    if (!incs || !refs) {
        fprintf(stderr, "tessera-agent: %s: out of memory\n", path);
        result = -1;
    }
    for (int rc = 1; result >= 0 && rc != 0;) {
        rc = tsr_reader_next(rd, &conf->ctx, &incs[n], refs[n], &err);
        if (rc < 0) {
            fprintf(stderr, "%s\n", tsr_error_format(&err, msg, sizeof msg));
            tsr_error_clear(&err);
            result = 1;
            continue;
        }
        if (rc > 0 && n == 0)
            first_line = tsr_reader_line(rd);
        if (rc > 0 && ++n < S_QUEUE_CHUNK)
            continue;
        if (n == 0)
            break;
        size_t w = 0;
        int qrc = outbox_put_incidents(ob, incs, refs, n, &w);
        if (qrc != 0) {
            fprintf(stderr,
                    "tessera-agent: %s:%ld: could not queue the records from this line on (%s); "
                    "the %zu before it are queued. Run the same command again to queue the "
                    "rest: what is already queued is not queued twice\n",
                    path, first_line, tsr_strerror(qrc < 0 ? qrc : TSR_ESTORE), queued + waiting);
            result = -1;
            break;
        }
        queued += n - w;
        waiting += w;
        n = 0;
        if (tty)
            fprintf(stderr, "\r%s: %zu record(s) read", path, queued + waiting);
    }
    tsr_reader_destroy(&rd);
    if (tty && queued + waiting > 0)
        fputc('\n', stderr);
    if (waiting > 0)
        fprintf(stderr, "%s: %zu record(s) queued, %zu already waiting in the outbox\n", path,
                queued, waiting);
    else if (queued > 0)
        fprintf(stderr, "%s: %zu record(s) queued\n", path, queued);
    free(incs);
    free(refs);
    return result;
}

static const char s_submit_usage[] =
    "usage: tessera-agent submit [--config FILE] FILE...\n"
    "\n"
    "Validates and minimises incident files (JSON Lines or CSV), queues every\n"
    "valid record in the outbox, then delivers the outbox to the collector.\n"
    "Invalid records are listed as FILE:LINE: FIELD: reason; the rest still go.\n"
    "A case submitted again with changes is sent as a new version. If submit is\n"
    "stopped part way through a file, run it again on the same file: it queues\n"
    "the rest, and records still waiting in the outbox are not queued twice.\n"
    "Exit: 0 all acknowledged, 1 some records invalid or rejected, 2 usage,\n"
    "3 collector unreachable (records stay queued and go next time).\n";

int agent_cmd_submit(int argc, char **argv)
{
    agent_conf_t conf;
    agent_outbox_t *ob;
    int r = s_start(argc, argv, s_submit_usage, 0, &conf, &ob);
    if (r >= 0)
        return r;
    int invalid = 0;
    for (int f = optind; f < argc; f++)
        invalid |= s_queue_file(&conf, ob, argv[f]) != 0;
    int rc = s_deliver(&conf, ob, true);
    return s_finish(&conf, &ob, rc == EXIT_OK && invalid ? EXIT_FAIL : rc);
}

static const char s_retract_usage[] =
    "usage: tessera-agent retract [--config FILE] CASE_REF...\n"
    "\n"
    "Withdraws cases already sent (wrong entry, erasure): the collector removes\n"
    "the record and everything derived from it. Exit codes as for submit.\n";

int agent_cmd_retract(int argc, char **argv)
{
    agent_conf_t conf;
    agent_outbox_t *ob;
    int r = s_start(argc, argv, s_retract_usage, 1, &conf, &ob);
    if (r >= 0)
        return r;
    int bad = 0;
    for (int i = optind; i < argc; i++) {
        uint8_t rid[TSR_RECORD_ID_LEN];
        tsr_record_id_compute(rid, &conf.key, conf.agency_id, argv[i]);
        if (outbox_put_retraction(ob, rid) != 0) {
            fprintf(stderr, "tessera-agent: case '%s' was never submitted by this agent\n", argv[i]);
            bad = 1;
        }
    }
    int rc = s_deliver(&conf, ob, false);
    return s_finish(&conf, &ob, rc == EXIT_OK && bad ? EXIT_FAIL : rc);
}

static const char s_resolve_usage[] =
    "usage: tessera-agent resolve [--config FILE] RECORD_ID\n"
    "\n"
    "Prints the case reference of a record id (32 hex digits) from a linkage\n"
    "alert: the only way back from an alert to a child's case, and only here.\n";

int agent_cmd_resolve(int argc, char **argv)
{
    agent_conf_t conf;
    agent_outbox_t *ob;
    int r = s_start(argc, argv, s_resolve_usage, 1, &conf, &ob);
    if (r >= 0)
        return r;
    uint8_t rid[TSR_RECORD_ID_LEN];
    char case_ref[TSR_CASE_REF_MAX];
    if (optind != argc - 1 || tsr_hex_decode(rid, sizeof rid, argv[optind]) != 0) {
        fputs(s_resolve_usage, stderr);
        return s_finish(&conf, &ob, EXIT_USAGE);
    }
    if (outbox_resolve(ob, rid, case_ref) != 0) {
        fprintf(stderr, "tessera-agent: record %s is not one of this agency's records\n",
                argv[optind]);
        return s_finish(&conf, &ob, EXIT_FAIL);
    }
    printf("%s\n", case_ref);
    return s_finish(&conf, &ob, EXIT_OK);
}

/* Asks the collector with an empty batch (which it answers without storing
 * anything) whether it is there. */
static const char *s_probe(agent_conf_t *conf)
{
    static char text[128];
    void *ctx = zmq_ctx_new();
    tsr_conn_t *conn = NULL;
    tsr_error_t err;
    tsr_error_clear(&err);
    snprintf(text, sizeof text, "not answering at %s", conf->endpoint);
    if (tsr_conn_open(&conn, ctx, conf->endpoint, conf->server_key, conf->client_key, &err) == 0) {
        tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (tsr_conn_request(conn, &req, &reply, (int)conf->timeout_ms, &err) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            if (reply.kind == TSR_MSG_ACK && reply.u.ack.status == TSR_ACK_OK)
                snprintf(text, sizeof text, "reachable (answered in %.1f ms)", ms);
            else
                snprintf(text, sizeof text, "answering but refusing this agent");
            tsr_msg_clear(&reply);
        }
        tsr_conn_close(&conn);
    }
    zmq_ctx_term(ctx);
    return text;
}

static void s_print_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("  %s\n", line);
}

static const char s_status_usage[] =
    "usage: tessera-agent status [--config FILE] [--rejections]\n"
    "\n"
    "Outbox depth, oldest queued record, last acknowledgement, rejection count;\n"
    "--rejections lists them (time, case reference, record id, reason).\n";

int agent_cmd_status(int argc, char **argv)
{
    bool list = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--rejections")) {
            list = true;
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof *argv);
            argc--;
            break;
        }
    agent_conf_t conf;
    agent_outbox_t *ob;
    int r = s_start(argc, argv, s_status_usage, 0, &conf, &ob);
    if (r >= 0)
        return r;
    outbox_status_t st;
    outbox_status(ob, &st);
    char when[32] = "never", oldest[32] = "-";
    if (st.last_ack) {
        time_t t = (time_t)st.last_ack;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
    }
    if (st.oldest) {
        time_t t = (time_t)st.oldest;
        strftime(oldest, sizeof oldest, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
    }
    printf("agency          %s (%s)\n", conf.agency_id, conf.agency_type);
    printf("endpoint        %s\n", conf.endpoint);
    printf("queued          %zu\n", st.depth);
    printf("oldest queued   %s\n", oldest);
    printf("last ack        %s\n", when);
    printf("rejections      %zu\n", st.rejections);
    printf("collector       %s\n", s_probe(&conf));
    if (list)
        outbox_rejections(ob, s_print_line, NULL);
    return s_finish(&conf, &ob, EXIT_OK);
}

static const char s_init_usage[] =
    "usage: tessera-agent init --dir DIR --agency-id ID --agency-type TYPE --area CODE\n"
    "                          --network-key FILE --server-key COLLECTOR.pub\n"
    "                          [--collector ENDPOINT]\n"
    "\n"
    "Sets up a new agency: DIR/agent.conf, a CURVE key pair DIR/agent.key and\n"
    "DIR/agent.pub, and the outbox directory, then prints the line to add to the\n"
    "collector's authorized_clients.\n";

int agent_cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},        {"agency-id", required_argument, NULL, 'i'},
        {"agency-type", required_argument, NULL, 't'}, {"area", required_argument, NULL, 'a'},
        {"network-key", required_argument, NULL, 'k'}, {"server-key", required_argument, NULL, 's'},
        {"collector", required_argument, NULL, 'e'},  {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *dir = NULL, *id = NULL, *type = NULL, *area = NULL, *nk = NULL, *sk = NULL;
    const char *endpoint = "tcp://127.0.0.1:7701";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'i': id = optarg; break;
        case 't': type = optarg; break;
        case 'a': area = optarg; break;
        case 'k': nk = optarg; break;
        case 's': sk = optarg; break;
        case 'e': endpoint = optarg; break;
        case 'h': fputs(s_init_usage, stdout); return EXIT_OK;
        default: fputs(s_init_usage, stderr); return EXIT_USAGE;
        }
    }
    if (!dir || !id || !type || !area || !nk || !sk || optind != argc) {
        fputs(s_init_usage, stderr);
        return EXIT_USAGE;
    }
    tsr_error_t err;
    char msg[768], path[4096], pub[41];
    tsr_error_clear(&err);
    if (tsr_codes_value(TSR_CODES_AGENCY_TYPE, type) < 0 || tsr_area_check(area, "--area", &err)) {
        fprintf(stderr, "tessera-agent init: %s\n",
                err.reason[0] ? tsr_error_format(&err, msg, sizeof msg) : "unknown --agency-type");
        return EXIT_USAGE;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tessera-agent init: cannot create %s: %s\n", dir, strerror(errno));
        return EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/agent.conf", dir);
    if (access(path, F_OK) == 0) {
        fprintf(stderr, "tessera-agent init: %s exists; refusing to overwrite\n", path);
        return EXIT_FAIL;
    }
    char stem[4096];
    snprintf(stem, sizeof stem, "%s/agent", dir);
    if (tsr_curve_keygen(stem, false, pub, NULL, &err) != 0) {
        fprintf(stderr, "tessera-agent init: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return EXIT_FAIL;
    }
    char nk_abs[4096], sk_abs[4096];
    if (!realpath(nk, nk_abs) || !realpath(sk, sk_abs)) {
        fprintf(stderr, "tessera-agent init: cannot find %s\n", realpath(nk, nk_abs) ? sk : nk);
        return EXIT_FAIL;
    }
    FILE *fp = fopen(path, "w");
    if (!fp) {
        fprintf(stderr, "tessera-agent init: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    fprintf(fp,
            "# tessera-agent configuration (see deploy/agent.conf for every key)\n"
            "[agency]\nid = %s\ntype = %s\narea = %s\n\n"
            "[collector]\nendpoint = %s\nserver_key = %s\n\n"
            "[keys]\nclient_key = agent.key\nnetwork_key = %s\n\n"
            "[minimise]\nweek_coarsening = false\ncountry_code = 44\n\n"
            "[agent]\ndata_dir = data\n",
            id, type, area, endpoint, sk_abs, nk_abs);
    fclose(fp);
    chmod(path, 0600);
    snprintf(path, sizeof path, "%s/data", dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tessera-agent init: cannot create %s: %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/agent.conf", dir);
    printf("wrote %s, %s.key and %s.pub\n", path, stem, stem);
    printf("add this line to the collector's authorized_clients:\n%s agent %s %s\n", pub, id, area);
    return EXIT_OK;
}

static void s_on_stop(int sig)
{
    (void)sig;
    s_stop = 1;
}

static bool s_input_name(const char *name)
{
    size_t n = strlen(name);
    static const char *const ext[] = {".jsonl", ".json", ".ndjson", ".csv"};
    if (name[0] == '.')
        return false; /* a file still being written under a hidden name */
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (n > strlen(ext[i]) && !strcmp(name + n - strlen(ext[i]), ext[i]))
            return true;
    return false;
}

/* Queues every new or changed export in the inbox. */
static void s_scan(agent_conf_t *conf, agent_outbox_t *ob)
{
    DIR *d = opendir(conf->inbox);
    if (!d) {
        fprintf(stderr, "tessera-agent run: cannot read the inbox %s: %s\n", conf->inbox,
                strerror(errno));
        return;
    }
    struct dirent *e;
    time_t now = time(NULL);
    while ((e = readdir(d))) {
        if (!s_input_name(e->d_name))
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", conf->inbox, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_mtime > now - 1)
            continue; /* not a file, or written less than a second ago: next round */
        if (outbox_file_seen(ob, e->d_name, (uint64_t)st.st_size, (uint64_t)st.st_mtime))
            continue;
        /* marked done only once all of it is queued: a file cut short (by
         * a crash, a full disk) is read again and completed next round */
        if (s_queue_file(conf, ob, path) >= 0)
            outbox_file_done(ob, e->d_name, (uint64_t)st.st_size, (uint64_t)st.st_mtime);
    }
    closedir(d);
}

static const char s_run_usage[] =
    "usage: tessera-agent run [--config FILE]\n"
    "\n"
    "Runs as a daemon: every interval_s seconds it queues each new or changed\n"
    "export dropped into the inbox folder (agent.inbox; write files under a name\n"
    "starting with '.' and rename them when complete), then delivers the outbox,\n"
    "retrying with back-off for as long as it runs. SIGTERM or SIGINT stops it.\n";

int agent_cmd_run(int argc, char **argv)
{
    agent_conf_t conf;
    agent_outbox_t *ob;
    int r = s_start(argc, argv, s_run_usage, 0, &conf, &ob);
    if (r >= 0)
        return r;
    if (mkdir(conf.inbox, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tessera-agent run: cannot create %s: %s\n", conf.inbox, strerror(errno));
        return s_finish(&conf, &ob, EXIT_FAIL);
    }
    struct sigaction sa = {.sa_handler = s_on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    fprintf(stderr, "tessera-agent run: watching %s, delivering to %s\n", conf.inbox, conf.endpoint);
    while (!s_stop) {
        s_scan(&conf, ob);
        s_deliver(&conf, ob, false); /* records stay queued on failure: next round */
        for (long i = 0; i < conf.interval_s * 10 && !s_stop; i++)
            usleep(100000);
    }
    fprintf(stderr, "tessera-agent run: stopping\n");
    return s_finish(&conf, &ob, EXIT_OK);
}
