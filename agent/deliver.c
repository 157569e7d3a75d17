/* deliver.c - `tessera-agent init|submit|retract|resolve|status`: the
 * agency's side of the network. Records go to the LMDB outbox first and
 * leave it only when the collector's Ack says what became of them; delivery
 * follows the zguide's Lazy Pirate pattern (time out, close and reopen the
 * socket, back off with jitter, never drop a stored record). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
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
#include "tessera/fsmode.h"
#include "tessera/token.h"

/* 0 ok, 1 failure, 2 usage; 3 to 7 are the collector's (TSR_EXIT_*,
 * client.h): unreachable, wrong server key, key not authorised, timed out,
 * wrong network key. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Set by SIGTERM/SIGINT in `run`: delivery stops between batches. */
static volatile sig_atomic_t s_stop;
/* `run`: a message the same as the last one is not repeated every round. */
static bool s_daemon;

/* Prints "tessera-agent: MESSAGE" on stderr (in `run`, unless it is the
 * message printed last). */
static void s_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_say(const char *fmt, ...)
{
    static char last[2048];
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (s_daemon && !strcmp(text, last))
        return;
    snprintf(last, sizeof last, "%s", text);
    fprintf(stderr, "tessera-agent: %s\n", text);
}

/* Refuses root unless --allow-root (issue 15): files an agent run as root
 * creates belong to root, and a bug in it would be root's. */
static bool s_root_refused(bool allow_root)
{
    char why[TSR_FSMODE_WHY_MAX];
    if (tsr_fsmode_refuse_root("tessera-agent", allow_root, why, sizeof why) == 0)
        return false;
    fprintf(stderr, "tessera-agent: %s\n", why);
    return true;
}

/* What every outbox command starts with: --config/--allow-root/--help, at
 * least min_args operands, the config (its files checked), and the outbox.
 * Returns -1 to go on (then the caller owns conf and ob: s_finish them), or
 * the exit code to return at once. */
static int s_start(int argc, char **argv, const char *usage, int min_args, agent_conf_t *conf,
                   agent_outbox_t **ob)
{
    int r = agent_conf_args(argc, argv, usage, min_args, conf);
    if (r >= 0)
        return r;
    if (outbox_open(ob, conf->data_dir) != 0) {
        agent_conf_free(conf);
        return EXIT_FAIL;
    }
    return -1;
}

static void s_print_problem(void *ctx, const char *problem)
{
    (void)ctx;
    fprintf(stderr, "tessera-agent init: %s\n", problem);
}

static int s_finish(agent_conf_t *conf, agent_outbox_t **ob, int rc)
{
    outbox_close(ob);
    agent_conf_free(conf);
    return rc;
}

/* The collector as one delivery session sees it: a connection that
 * answered the liveness probe (an empty batch), and the network keys it
 * accepts, which every Ack carries. */
typedef struct {
    agent_conf_t *conf;
    agent_outbox_t *ob;
    void *ctx;
    tsr_conn_t *conn;
    outbox_keys_t keys;
    bool answered;              /* the probe got an OK Ack */
    bool own_accepted;          /* the agent's key is one the collector accepts (or it has none) */
    double ms;                  /* the probe's round trip */
    tsr_conn_failure_t failure; /* why not answered */
    int exit_code;              /* why not, as an exit code (TSR_EXIT_*, or EXIT_FAIL) */
    char why[1536];             /* why not, and what to do */
} s_session_t;

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
    for (long t = 0; t < ms && !s_stop; t += 50)
        usleep(50000);
}

/* Explains a connection failure of s with what happens to the records
 * (`after`), naming the lines of agent.conf to fix. */
static void s_explain(s_session_t *s, const char *after)
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

static void s_session_close(s_session_t *s)
{
    tsr_conn_close(&s->conn);
    if (s->ctx)
        zmq_ctx_term(s->ctx);
    s->ctx = NULL;
}

/* Takes the network keys from an OK Ack: which queued items may go. */
static void s_session_keys(s_session_t *s, const tsr_ack_t *a)
{
    s->keys.accepted = a->network_keys;
    s->keys.own = s->conf->key.key_id;
    s->keys.day = tsr_day_today();
    s->own_accepted = outbox_keys_sendable(&s->keys, s->keys.own);
}

static void s_session_init(s_session_t *s, agent_conf_t *conf, agent_outbox_t *ob)
{
    memset(s, 0, sizeof *s);
    s->conf = conf;
    s->ob = ob;
    s->keys.own = conf->key.key_id;
    s->keys.day = tsr_day_today();
    s->own_accepted = true; /* until the collector says otherwise */
    s->ctx = zmq_ctx_new();
}

/* (Re)connects and probes the collector, up to `attempts` times while it
 * is unreachable or silent (a refused key or handshake is not tried
 * again). after: what becomes of the records if it never answers. Returns
 * s->answered; when false, s->failure, s->why and s->exit_code say why. */
static bool s_session_probe(s_session_t *s, long attempts, const char *after)
{
    agent_conf_t *conf = s->conf;
    s->answered = false;
    s->why[0] = '\0';
    s->failure = TSR_CONN_ANSWERED;
    for (long tries = 0; tries < attempts && !s_stop; tries++) {
        tsr_error_t err;
        tsr_error_clear(&err);
        if (tries > 0)
            s_backoff((int)tries);
        tsr_conn_close(&s->conn);
        if (tsr_conn_open(&s->conn, s->ctx, conf->endpoint, conf->server_key, conf->client_key,
                          &err) != 0) {
            char msg[768];
            snprintf(s->why, sizeof s->why, "%s", tsr_error_format(&err, msg, sizeof msg));
            s->exit_code = EXIT_FAIL; /* a key file: trying again will not help */
            break;
        }
        tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
        double t0 = s_ms();
        int rc = tsr_conn_request(s->conn, &req, &reply, (int)conf->timeout_ms, &err);
        if (rc == 0 && reply.kind == TSR_MSG_ACK && reply.u.ack.status == TSR_ACK_OK) {
            s->ms = s_ms() - t0;
            s->answered = true;
            s_session_keys(s, &reply.u.ack);
            tsr_msg_clear(&reply);
            return true;
        }
        if (rc == 0) {
            snprintf(s->why, sizeof s->why, "the collector at %s answered the probe with status "
                     "%d%s%s", conf->endpoint, reply.kind == TSR_MSG_ACK ? reply.u.ack.status : 0,
                     reply.kind == TSR_MSG_ACK && reply.u.ack.error[0] ? ": " : "",
                     reply.kind == TSR_MSG_ACK ? reply.u.ack.error : "");
            s->exit_code = EXIT_FAIL;
            tsr_msg_clear(&reply);
            break;
        }
        s->failure = tsr_conn_failure(s->conn);
        s_explain(s, after);
        if (s->failure == TSR_CONN_SERVER_KEY || s->failure == TSR_CONN_NOT_AUTHORISED)
            break;
    }
    if (!s->why[0]) { /* stopped by a signal before the first try */
        snprintf(s->why, sizeof s->why, "stopped before the collector answered");
        s->exit_code = EXIT_FAIL;
    }
    return false; /* the connection stays for tsr_conn_explain until the next try or close */
}

/* "this agent's network key FILE (WHERE) has key id N, but the collector
 * at E accepts only M" */
static void s_wrong_key_text(const s_session_t *s, char *out, size_t cap)
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
static void s_say_wrong_key(const s_session_t *s, const char *what)
{
    char text[1024], ids[96];
    s_wrong_key_text(s, text, sizeof text);
    tsr_netkeys_format_ids(&s->keys.accepted, ids, sizeof ids);
    s_say("%s. Records under it would never link with other agencies' records, so %s. "
          "Install the network's key (key id %s) as %s, then run this again.",
          text, what, ids, s->conf->network_key);
}

/* Says how many queued records are held back under keys the collector does
 * not accept, and how to recover. Returns how many. */
static size_t s_say_held(s_session_t *s)
{
    outbox_held_t held;
    if (outbox_held(s->ob, &s->keys, &held) != 0 || held.n == 0)
        return 0;
    char ids[96];
    if (s->keys.accepted.n)
        tsr_netkeys_format_ids(&s->keys.accepted, ids, sizeof ids);
    else
        snprintf(ids, sizeof ids, "%u (this agent's)", s->keys.own);
    s_say("%zu record(s) queued under network key id %u are held back, not sent: the collector "
          "accepts only %s. Install the network's key as %s, then submit the same exports "
          "again (tessera-agent submit FILE...): their new versions replace the held records.",
          held.n, held.key_id, ids, s->conf->network_key);
    return held.n;
}

/* Sends what the outbox holds under keys the collector accepts, batch by
 * batch, over the session's connection (reopened and probed again after a
 * time-out). Returns EXIT_OK when it is all sent, EXIT_FAIL if records were
 * rejected or the collector refused us, TSR_EXIT_* when it stopped
 * answering (records stay queued), TSR_EXIT_WRONG_NETWORK_KEY when records
 * are held back. */
static int s_deliver(s_session_t *ss, bool progress)
{
    agent_conf_t *conf = ss->conf;
    agent_outbox_t *ob = ss->ob;
    tsr_error_t err;
    int result = EXIT_OK, failures = 0;
    size_t sent = 0, rejected = 0;
    unsigned long accepted = 0, duplicates = 0, replaced = 0, retracted = 0;
    uint64_t *seqs = calloc((size_t)conf->max_batch, sizeof *seqs);
    outbox_status_t st;
    outbox_status(ob, &st);
    outbox_held_t held;
    outbox_held(ob, &ss->keys, &held);
    size_t total = st.depth - held.n;
    bool tty = progress && isatty(fileno(stderr));
    size_t max_batch = (size_t)conf->max_batch; /* halved when the collector says too big */
    while (seqs && !s_stop) {
        tsr_batch_t b;
        int prc = outbox_peek(ob, max_batch, &ss->keys, &b, seqs);
        if (prc != 0) {
            fprintf(stderr, "tessera-agent: the outbox cannot be read: %s\n", tsr_strerror(prc));
            outbox_batch_free(&b);
            result = EXIT_FAIL;
            break;
        }
        if (b.n_incidents + b.n_retractions == 0) {
            outbox_batch_free(&b);
            break;
        }
        tsr_error_clear(&err);
        char after[128];
        snprintf(after, sizeof after, "%zu record(s) stay queued and go next time", total - sent);
        if (!ss->conn && !s_session_probe(ss, 1, after)) {
            /* reopened after a time-out: one attempt of the batch */
            tsr_conn_close(&ss->conn);
            outbox_batch_free(&b);
            if (ss->exit_code == EXIT_FAIL || ss->failure == TSR_CONN_SERVER_KEY ||
                ss->failure == TSR_CONN_NOT_AUTHORISED || ++failures >= conf->attempts) {
                s_say("%s", ss->why);
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
            bool later = rc == 0 && reply.kind == TSR_MSG_ACK;
            ss->failure = rc != 0 ? tsr_conn_failure(ss->conn) : TSR_CONN_TIMEOUT;
            if (rc != 0)
                s_explain(ss, after);
            else
                snprintf(ss->why, sizeof ss->why,
                         "the collector at %s %s; %s", conf->endpoint,
                         later ? "asks to send again later (RETRY_LATER: its storage is full, or "
                                 "its ingest log waits to be applied; see its log)"
                               : "answered with something other than an Ack",
                         after);
            /* Lazy Pirate: the socket may hold a late reply; start afresh */
            tsr_conn_close(&ss->conn);
            if (rc == 0)
                tsr_msg_clear(&reply);
            outbox_batch_free(&b);
            bool hopeless = ss->failure == TSR_CONN_SERVER_KEY ||
                            ss->failure == TSR_CONN_NOT_AUTHORISED;
            if (hopeless || ++failures >= conf->attempts) {
                s_say("%s", ss->why);
                result = tsr_conn_exit_code(ss->failure);
                break;
            }
            s_backoff(failures);
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
        /* the keys the collector accepts now (a rotation may end meanwhile) */
        s_session_keys(ss, &reply.u.ack);
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
    if (s_say_held(ss) > 0 && result == EXIT_OK)
        result = TSR_EXIT_WRONG_NETWORK_KEY;
    free(seqs);
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
    size_t n = 0, queued = 0, waiting = 0, replaced = 0;
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
        size_t w = 0, r = 0;
        int qrc = outbox_put_incidents(ob, incs, refs, n, conf->key.key_id, &r, &w);
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
        replaced += r;
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
    if (replaced)
        fprintf(stderr, "%s: %zu record(s) held under another network key replaced by these "
                        "new versions\n", path, replaced);
    free(incs);
    free(refs);
    return result;
}

#define S_EXIT_CODES                                                                               \
    "Exit: 0 all acknowledged, 1 some records invalid or rejected, 2 usage,\n"                     \
    "3 collector unreachable, 4 wrong collector public key (server_key),\n"                        \
    "5 this agent's key not in the collector's authorized_clients, 6 timed out\n"                  \
    "(connected, no answer), 7 wrong network key (the collector accepts another;\n"                \
    "nothing new is queued, and records queued under it are held back).\n"                         \
    "With 3 to 6 the records stay queued and go next time.\n"

static const char s_submit_usage[] =
    "usage: tessera-agent submit [--config FILE] [--allow-root] [FILE...]\n"
    "\n"
    "Validates and minimises incident files (JSON Lines or CSV), queues every\n"
    "valid record in the outbox, then delivers the outbox to the collector\n"
    "(without FILE, only what the outbox holds). It asks the collector first\n"
    "which network key it accepts: under another one, nothing is queued.\n"
    "Invalid records are listed as FILE:LINE: FIELD: reason; the rest still go.\n"
    "A case submitted again with changes is sent as a new version. If submit is\n"
    "stopped part way through a file, run it again on the same file: it queues\n"
    "the rest, and records still waiting in the outbox are not queued twice.\n" S_EXIT_CODES;

/* What submit and retract share once the outbox is open: ask the collector
 * first; under a network key it does not accept, queue nothing (what is
 * queued under one it accepts still goes); else queue() and deliver.
 * Returns the exit code. */
static int s_queue_and_deliver(agent_conf_t *conf, agent_outbox_t *ob, bool progress,
                               int (*queue)(agent_conf_t *, agent_outbox_t *, void *), void *arg)
{
    s_session_t ss;
    s_session_init(&ss, conf, ob);
    bool up = s_session_probe(&ss, conf->attempts, NULL);
    int rc;
    if (up && !ss.own_accepted) {
        s_say_wrong_key(&ss, "nothing new was queued or sent");
        rc = s_deliver(&ss, progress);
        if (rc == EXIT_OK || rc == EXIT_FAIL)
            rc = TSR_EXIT_WRONG_NETWORK_KEY;
    } else {
        int bad = queue(conf, ob, arg);
        if (up) {
            rc = s_deliver(&ss, progress);
        } else {
            outbox_status_t st;
            outbox_status(ob, &st);
            char after[128];
            snprintf(after, sizeof after, "%zu record(s) stay queued and go next time", st.depth);
            if (ss.conn)
                s_explain(&ss, after);
            fprintf(stderr, "tessera-agent: %s\n", ss.why);
            rc = ss.exit_code;
        }
        if (rc == EXIT_OK && bad)
            rc = EXIT_FAIL;
    }
    s_session_close(&ss);
    return rc;
}

typedef struct {
    int argc;
    char **argv;
} s_args_t;

static int s_queue_files(agent_conf_t *conf, agent_outbox_t *ob, void *arg)
{
    s_args_t *a = arg;
    int invalid = 0;
    for (int f = optind; f < a->argc; f++)
        invalid |= s_queue_file(conf, ob, a->argv[f]) != 0;
    return invalid;
}

int agent_cmd_submit(int argc, char **argv)
{
    agent_conf_t conf;
    agent_outbox_t *ob;
    int r = s_start(argc, argv, s_submit_usage, 0, &conf, &ob);
    if (r >= 0)
        return r;
    s_args_t a = {argc, argv};
    return s_finish(&conf, &ob, s_queue_and_deliver(&conf, ob, true, s_queue_files, &a));
}

static const char s_retract_usage[] =
    "usage: tessera-agent retract [--config FILE] [--allow-root] CASE_REF...\n"
    "\n"
    "Withdraws cases already sent (wrong entry, erasure): the collector removes\n"
    "the record and everything derived from it. Exit codes as for submit.\n";

static int s_queue_retractions(agent_conf_t *conf, agent_outbox_t *ob, void *arg)
{
    s_args_t *a = arg;
    int bad = 0;
    for (int i = optind; i < a->argc; i++) {
        uint8_t rid[TSR_RECORD_ID_LEN];
        tsr_record_id_compute(rid, &conf->key, conf->agency_id, a->argv[i]);
        if (outbox_put_retraction(ob, rid, conf->key.key_id) != 0) {
            fprintf(stderr, "tessera-agent: case '%s' was never submitted by this agent\n",
                    a->argv[i]);
            bad = 1;
        }
    }
    return bad;
}

int agent_cmd_retract(int argc, char **argv)
{
    agent_conf_t conf;
    agent_outbox_t *ob;
    int r = s_start(argc, argv, s_retract_usage, 1, &conf, &ob);
    if (r >= 0)
        return r;
    s_args_t a = {argc, argv};
    return s_finish(&conf, &ob, s_queue_and_deliver(&conf, ob, false, s_queue_retractions, &a));
}

static const char s_resolve_usage[] =
    "usage: tessera-agent resolve [--config FILE] [--allow-root] RECORD_ID\n"
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

static void s_print_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("  %s\n", line);
}

static const char s_status_usage[] =
    "usage: tessera-agent status [--config FILE] [--allow-root] [--rejections]\n"
    "\n"
    "Outbox depth, oldest queued record, last acknowledgement, rejection count;\n"
    "--rejections lists them (time, case reference, record id, reason). Asks the\n"
    "collector whether it answers this agent and accepts its network key.\n"
    "Exit: 0 all well; 3 to 7 as for submit (the collector unreachable, a wrong\n"
    "collector public key, this agent's key not listed, timed out, a wrong\n"
    "network key or records held back under one); 1, 2 failure, usage.\n";

/* The collector line of `status`, and its exit code. */
static int s_status_collector(s_session_t *ss, char *text, size_t cap)
{
    char ids[96];
    tsr_netkeys_format_ids(&ss->keys.accepted, ids, sizeof ids);
    if (ss->answered && ss->keys.accepted.n == 0) {
        snprintf(text, cap, "reachable (answered in %.1f ms); no network key id pinned yet (the "
                 "first record's is)", ss->ms);
        return EXIT_OK;
    }
    if (ss->answered) {
        snprintf(text, cap, "reachable (answered in %.1f ms); accepts network key id %s%s",
                 ss->ms, ids, ss->own_accepted ? "" : ", not this agent's");
        return ss->own_accepted ? EXIT_OK : TSR_EXIT_WRONG_NETWORK_KEY;
    }
    switch (ss->failure) {
    case TSR_CONN_UNREACHABLE:
        snprintf(text, cap, "not answering at %s", ss->conf->endpoint);
        break;
    case TSR_CONN_SERVER_KEY:
        snprintf(text, cap, "refused the handshake: wrong collector public key");
        break;
    case TSR_CONN_NOT_AUTHORISED:
        snprintf(text, cap, "refuses this agent's key (not in its authorized_clients)");
        break;
    case TSR_CONN_TIMEOUT:
        snprintf(text, cap, "connected at %s, but no answer within %ld ms", ss->conf->endpoint,
                 ss->conf->timeout_ms);
        break;
    default: snprintf(text, cap, "not asked"); break;
    }
    return ss->exit_code ? ss->exit_code : EXIT_FAIL;
}

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
    s_session_t ss;
    s_session_init(&ss, &conf, ob);
    s_session_probe(&ss, 1, "Records stay queued until it answers");
    char coll[256];
    int rc = s_status_collector(&ss, coll, sizeof coll);
    outbox_held_t held = {0};
    if (ss.answered)
        outbox_held(ob, &ss.keys, &held);
    printf("agency          %s (%s)\n", conf.agency_id, conf.agency_type);
    printf("endpoint        %s\n", conf.endpoint);
    printf("network key id  %u (%s)\n", conf.key.key_id, conf.network_key);
    printf("queued          %zu\n", st.depth);
    if (held.n)
        printf("held back       %zu (under network key id %u, which the collector does not "
               "accept)\n", held.n, held.key_id);
    printf("oldest queued   %s\n", oldest);
    printf("last ack        %s\n", when);
    printf("rejections      %zu\n", st.rejections);
    printf("collector       %s\n", coll);
    if (list)
        outbox_rejections(ob, s_print_line, NULL);
    fflush(stdout);
    if (!ss.answered)
        fprintf(stderr, "tessera-agent: %s\n", ss.why);
    else if (!ss.own_accepted)
        s_say_wrong_key(&ss, "nothing can be queued or sent");
    if (ss.answered && s_say_held(&ss) > 0)
        rc = TSR_EXIT_WRONG_NETWORK_KEY;
    s_session_close(&ss);
    return s_finish(&conf, &ob, rc);
}

static const char s_init_usage[] =
    "usage: tessera-agent init --dir DIR --agency-id ID --agency-type TYPE --area CODE\n"
    "                          --network-key FILE --server-key COLLECTOR.pub\n"
    "                          [--collector ENDPOINT] [--allow-root]\n"
    "\n"
    "Sets up a new agency: DIR/agent.conf, a CURVE key pair DIR/agent.key and\n"
    "DIR/agent.pub, and the outbox directory, then prints the line to add to the\n"
    "collector's authorized_clients (the last line of its output).\n"
    "\n"
    "It first asks the collector whether COLLECTOR.pub is its key, and refuses\n"
    "(writing nothing) when it is not. The collector answers only listed keys,\n"
    "so the network key's id is checked once the line is in authorized_clients:\n"
    "run 'tessera-agent status' then. A collector not reachable yet is only noted.\n"
    "Run it as the user that will run the agent.\n"
    "Exit: 0 set up, 1 failure, 2 usage, 4 wrong collector public key, 7 wrong\n"
    "network key (when the collector already knows this key).\n";

/* Asks the collector with the new key pair, before agent.conf is written.
 * Returns -1 to go on, or the exit code to refuse with. */
static int s_init_check(const char *endpoint, const char *sk, const char *key_path,
                        const char *nk, const char *id, const char *area)
{
    tsr_netkey_t key;
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    if (tsr_netkey_load(&key, nk, &err) != 0) {
        fprintf(stderr, "tessera-agent init: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return EXIT_FAIL;
    }
    uint32_t own = key.key_id;
    explicit_bzero(&key, sizeof key);
    void *ctx = zmq_ctx_new();
    tsr_conn_t *conn = NULL;
    int rc = -1;
    if (tsr_conn_open(&conn, ctx, endpoint, sk, key_path, &err) != 0) {
        fprintf(stderr, "tessera-agent init: %s\n", tsr_error_format(&err, msg, sizeof msg));
        zmq_ctx_term(ctx);
        return EXIT_FAIL;
    }
    tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
    char line[160], why[1536];
    snprintf(line, sizeof line, "agent %s %s", id, area);
    tsr_conn_hint_t h = {.who = "this agent's", .endpoint_from = "--collector",
                         .server_key_from = "--server-key", .client_line = line,
                         .after = "Nothing was written"};
    if (tsr_conn_request(conn, &req, &reply, 3000, &err) == 0) {
        /* a key the collector lists already: its network key can be checked */
        outbox_keys_t k = {.own = own, .day = tsr_day_today()};
        if (reply.kind == TSR_MSG_ACK)
            k.accepted = reply.u.ack.network_keys;
        char ids[96];
        tsr_netkeys_format_ids(&k.accepted, ids, sizeof ids);
        if (!outbox_keys_sendable(&k, own)) {
            fprintf(stderr, "tessera-agent init: wrong network key: %s has key id %u, but the "
                            "collector at %s accepts only %s. Records under it would never link "
                            "with other agencies' records. Use the network's key (key id %s). "
                            "Nothing was written.\n", nk, own, endpoint, ids, ids);
            rc = TSR_EXIT_WRONG_NETWORK_KEY;
        } else {
            printf("collector       %s: reachable; it accepts network key id %s\n", endpoint,
                   k.accepted.n ? ids : "(none pinned yet)");
        }
        tsr_msg_clear(&reply);
    } else {
        switch (tsr_conn_failure(conn)) {
        case TSR_CONN_NOT_AUTHORISED: /* the new key, as expected */
            printf("collector       %s: reachable, and %s is its public key\n", endpoint, sk);
            printf("network key id  %u: checked by 'tessera-agent status' once the line below "
                   "is in the collector's authorized_clients\n", own);
            break;
        case TSR_CONN_SERVER_KEY:
            h.after = "Nothing was written";
            fprintf(stderr, "tessera-agent init: %s\n", tsr_conn_explain(conn, &h, why, sizeof why));
            rc = TSR_EXIT_SERVER_KEY;
            break;
        default:
            h.after = "agent.conf is written all the same; run 'tessera-agent status' once the "
                      "collector is reachable";
            fprintf(stderr, "tessera-agent init: note: %s\n",
                    tsr_conn_explain(conn, &h, why, sizeof why));
            break;
        }
    }
    tsr_conn_close(&conn);
    zmq_ctx_term(ctx);
    return rc;
}

int agent_cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},        {"agency-id", required_argument, NULL, 'i'},
        {"agency-type", required_argument, NULL, 't'}, {"area", required_argument, NULL, 'a'},
        {"network-key", required_argument, NULL, 'k'}, {"server-key", required_argument, NULL, 's'},
        {"collector", required_argument, NULL, 'e'},  {"help", no_argument, NULL, 'h'},
        {"allow-root", no_argument, NULL, 'R'},
        {0},
    };
    bool allow_root = false;
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
        case 'R': allow_root = true; break;
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
    if (s_root_refused(allow_root))
        return EXIT_FAIL;
    /* the agency directory (if it is there already) and the keys it will
     * trust, before anything is written (issue 15) */
    const tsr_fsmode_item_t items[] = {
        {dir, TSR_FSMODE_DIR}, {nk, TSR_FSMODE_SECRET}, {sk, TSR_FSMODE_FILE}};
    int problems = tsr_fsmode_check_all(items, 3, s_print_problem, NULL);
    if (problems != 0) {
        fprintf(stderr,
                "tessera-agent init: refusing to set up: %d file(s) other users could "
                "change or read (like sshd's StrictModes); fix them as shown\n",
                problems);
        return EXIT_FAIL;
    }
    char nk_abs[4096], sk_abs[4096];
    if (!realpath(nk, nk_abs) || !realpath(sk, sk_abs)) {
        fprintf(stderr, "tessera-agent init: cannot find %s\n", realpath(nk, nk_abs) ? sk : nk);
        return EXIT_FAIL;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tessera-agent init: cannot create %s: %s\n", dir, strerror(errno));
        return EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/agent.conf", dir);
    struct stat st;
    if (lstat(path, &st) == 0) {
        fprintf(stderr, "tessera-agent init: %s exists; refusing to overwrite\n", path);
        return EXIT_FAIL;
    }
    char stem[4096];
    snprintf(stem, sizeof stem, "%s/agent", dir);
    if (tsr_curve_keygen(stem, false, pub, NULL, &err) != 0) {
        fprintf(stderr, "tessera-agent init: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return EXIT_FAIL;
    }
    char key_path[4200];
    snprintf(key_path, sizeof key_path, "%s.key", stem);
    int refuse = s_init_check(endpoint, sk_abs, key_path, nk_abs, id, area);
    if (refuse >= 0) { /* the key pair was made for this agent.conf: not left behind */
        unlink(key_path);
        snprintf(key_path, sizeof key_path, "%s.pub", stem);
        unlink(key_path);
        return refuse;
    }
    static const char fmt[] =
        "# tessera-agent configuration (see deploy/agent.conf for every key)\n"
        "[agency]\nid = %s\ntype = %s\narea = %s\n\n"
        "[collector]\nendpoint = %s\nserver_key = %s\n\n"
        "[keys]\nclient_key = agent.key\nnetwork_key = %s\n\n"
        "[minimise]\nweek_coarsening = false\ncountry_code = 44\n\n"
        "[agent]\ndata_dir = data\n";
    int len = snprintf(NULL, 0, fmt, id, type, area, endpoint, sk_abs, nk_abs);
    char *text = len < 0 ? NULL : malloc((size_t)len + 1);
    if (text)
        snprintf(text, (size_t)len + 1, fmt, id, type, area, endpoint, sk_abs, nk_abs);
    /* 0600 from the first byte, never through a symlink (issue 15) */
    int rc = !text ? TSR_ENOMEM : tsr_fsmode_write(path, text, (size_t)len, 0600, false, &err);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "tessera-agent init: %s\n",
                rc == TSR_ENOMEM ? "out of memory" : tsr_error_format(&err, msg, sizeof msg));
        return EXIT_FAIL;
    }
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
    "usage: tessera-agent run [--config FILE] [--allow-root]\n"
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
    s_daemon = true;
    bool was_down = false;
    while (!s_stop) {
        /* each round asks the collector first: under a network key it does
         * not accept, the inbox is not read (its files stay new, and are
         * queued once the right key is in place) */
        s_session_t ss;
        s_session_init(&ss, &conf, ob);
        bool up = s_session_probe(&ss, conf.attempts, "records stay queued and go next time");
        if (up && was_down)
            s_say("the collector at %s answers again", conf.endpoint);
        was_down = !up;
        if (up && !ss.own_accepted) {
            s_say_wrong_key(&ss, "no export in the inbox is queued until then");
        } else {
            s_scan(&conf, ob);
            if (!up && !s_stop)
                s_say("%s", ss.why);
        }
        if (up)
            s_deliver(&ss, false); /* records stay queued on failure: next round */
        s_session_close(&ss);
        for (long i = 0; i < conf.interval_s * 10 && !s_stop; i++)
            usleep(100000);
    }
    fprintf(stderr, "tessera-agent run: stopping\n");
    return s_finish(&conf, &ob, EXIT_OK);
}
