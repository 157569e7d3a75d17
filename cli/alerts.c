/* alerts.c - `tessera alerts`: the alert log, and with --follow the live
 * stream, for police liaison (linkage) and analysts (spikes).
 *
 * The zguide's Clone pattern: subscribe to the stream first, then fetch
 * from the query socket everything after the last sequence seen, then print
 * what the stream brings in sequence order. A gap in the sequence, or a
 * heartbeat announcing a higher sequence than the last seen, sends the
 * client back to the query socket for what it missed. The last sequence
 * printed is kept in a state file (written after each alert), so a restarted
 * client shows every alert once, in order (a crash between printing an
 * alert and saving its number shows that one alert again: at least once,
 * never skipped). Each --kind has its own state file. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cli.h"
#include "table.h"
#include "tessera/client.h"
#include "tessera/err.h"
#include "tessera/fsmode.h"
#include "tessera/token.h"

static const char s_usage[] =
    "usage: tessera alerts --server-key COLLECTOR.pub --key NAME.key [--follow]\n"
    "                      [--since SEQ] [--state FILE] [--kind linkage|spike|cross-area|all]\n"
    "                      [--format text|csv|json] [--collector ENDPOINT] [--alerts ENDPOINT]\n"
    "\n"
    "Prints the alerts raised since the last one you saw, then exits; with\n"
    "--follow keeps printing new ones as the collector raises them, reconnecting\n"
    "by itself. Spike alerts (EARS, Farrington) and cross-area alerts (several areas\n"
    "of a region at once) are for the analyst role only. Linkage alerts (the same\n"
    "offender identifiers reported by different areas or agencies) are for the\n"
    "liaison and admin roles, and only they are on the live stream; record ids\n"
    "in them are resolved only by the reporting agency (tessera-agent resolve).\n"
    "\n"
    "  --since SEQ           start after alert SEQ (0: from the first) instead of\n"
    "                        the state file\n"
    "  --state FILE          where the last alert seen is kept (default: the key\n"
    "                        file's name with .alerts-seq, e.g. liaison.alerts-seq)\n"
    "  --kind K              linkage, spike, cross-area or all (default: all you may\n"
    "                        see). Analysts see spike and cross-area alerts of their\n"
    "                        areas, with counts below the disclosure threshold hidden\n"
    "  --format F            text (default; table is the same), csv (a header, then\n"
    "                        one row per alert) or json (one alert per line)\n"
    "  --alerts ENDPOINT     the alert stream (default tcp://127.0.0.1:7703)\n" CLI_CONN_USAGE;

#define S_PAGE 500 /* alerts per query */

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

typedef struct {
    cli_conn_opts_t co;
    const char *state_path;
    bool json, csv;
    bool csv_header; /* written */
    int kind; /* 0 all */
    uint64_t last;
    void *ctx;
    tsr_conn_t *query;
    unsigned shown;
    bool warned_behind;
    bool following; /* --follow */
    int conn_exit; /* the exit code of the last connection failure (3 or 6) */
} s_alerts_t;

/* --- state file ------------------------------------------------------------------ */

static int s_state_load(const char *path, uint64_t *last)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        if (errno == ENOENT) {
            *last = 0;
            return 0;
        }
        fprintf(stderr, "tessera alerts: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[64] = "";
    char *end = NULL;
    bool ok = fgets(line, sizeof line, fp) != NULL;
    fclose(fp);
    unsigned long long v = ok ? strtoull(line, &end, 10) : 0;
    if (!ok || end == line || (*end != '\n' && *end != '\0')) {
        fprintf(stderr, "tessera alerts: %s:1: not a sequence number (delete it, or use --since)\n",
                path);
        return -1;
    }
    *last = v;
    return 0;
}

/* Written to a new temporary file, flushed to disk and renamed over the
 * old (tsr_fsmode_write): a crash leaves the old or the new number, never
 * half of one, and a symlink in its place is replaced, not followed. */
static int s_state_save(const char *path, uint64_t last)
{
    char text[32], msg[768];
    tsr_error_t err;
    tsr_error_clear(&err);
    int n = snprintf(text, sizeof text, "%" PRIu64 "\n", last);
    if (tsr_fsmode_write(path, text, (size_t)n, 0600, true, &err) != 0) {
        fprintf(stderr, "tessera alerts: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return -1;
    }
    return 0;
}

/* --- printing ------------------------------------------------------------------ */

static const char *s_kind_name(int kind)
{
    switch (kind) {
    case TSR_ALERT_LINKAGE: return "linkage";
    case TSR_ALERT_SPIKE: return "spike";
    case TSR_ALERT_CROSS_AREA: return "cross-area";
    default: return "unknown";
    }
}

static void s_time(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm);
}

static void s_print_text(const tsr_alert_t *a)
{
    char when[32], d1[11], d2[11];
    s_time(when, a->created_at);
    printf("alert %" PRIu64 "  %s  %s", a->seq, s_kind_name(a->kind), when);
    if (a->kind == TSR_ALERT_LINKAGE)
        printf("  cluster %" PRIu64, a->cluster_id);
    printf("\n  %s\n", a->summary);
    if (a->kind == TSR_ALERT_LINKAGE) {
        printf("  why now:   %s\n  areas:     ", a->trigger);
        cli_print_areas(stdout, a->areas, a->n_areas);
        printf("\n  agencies:  ");
        for (size_t i = 0; i < a->n_agencies; i++)
            printf("%s%s", i ? ", " : "", a->agencies[i]);
        printf("\n  linked by: ");
        for (size_t i = 0; i < a->n_token_kinds; i++)
            printf("%s%s", i ? ", " : "", a->token_kinds[i]);
        printf("\n  reported:  %s to %s\n", cli_day(d1, a->first_day), cli_day(d2, a->last_day));
        printf("  records:   ");
        cli_print_ids(stdout, "             ", a->record_ids, a->n_record_ids);
        printf("  (each record id is resolved to a case only by its agency: "
               "tessera-agent resolve ID)\n");
    } else {
        char obs[48];
        if (a->observed_suppressed)
            snprintf(obs, sizeof obs, "below the disclosure threshold");
        else
            snprintf(obs, sizeof obs, "%" PRIu64, a->observed);
        if (a->kind == TSR_ALERT_CROSS_AREA) {
            printf("  areas:     ");
            cli_print_areas(stdout, a->areas, a->n_areas);
            putchar('\n');
        }
        printf("  series:    %s (%s, %s %s)\n", a->series, a->method,
               !strcmp(a->method, "farrington") ? "week of" : "day", cli_day(d1, a->period_day));
        bool weekly = !strcmp(a->method, "farrington");
        if (a->observed_suppressed)
            printf("  observed:  %s\n", obs);
        else if (a->upperbound == 0) /* an analyst's: released counts, no bound */
            printf("  observed:  %s; %.4g a %s in the four weeks before\n", obs, a->expected,
                   weekly ? "week" : "day");
        else
            printf("  observed:  %s; expected %.4g, threshold %.4g\n", obs, a->expected,
                   a->upperbound);
    }
    putchar('\n');
}

static json_t *s_strings(const char (*v)[64], size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(v[i]));
    return arr;
}

static void s_print_json(const tsr_alert_t *a)
{
    char d1[11], d2[11], hex[2 * TSR_RECORD_ID_LEN + 1];
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)a->seq));
    json_object_set_new(o, "kind", json_string(s_kind_name(a->kind)));
    json_object_set_new(o, "created_at", json_integer(a->created_at));
    json_object_set_new(o, "summary", json_string(a->summary));
    if (a->kind == TSR_ALERT_LINKAGE) {
        json_object_set_new(o, "cluster_id", json_integer((json_int_t)a->cluster_id));
        json_object_set_new(o, "trigger", json_string(a->trigger));
        json_t *areas = json_array();
        for (size_t i = 0; i < a->n_areas; i++)
            json_array_append_new(areas, json_string(a->areas[i]));
        json_object_set_new(o, "areas", areas);
        json_object_set_new(o, "agencies", s_strings((const char(*)[64])a->agencies, a->n_agencies));
        json_t *ids = json_array();
        for (size_t i = 0; i < a->n_record_ids; i++)
            json_array_append_new(ids, json_string(tsr_hex_encode(hex, a->record_ids[i],
                                                                  TSR_RECORD_ID_LEN)));
        json_object_set_new(o, "record_ids", ids);
        json_object_set_new(o, "token_kinds",
                            s_strings((const char(*)[64])a->token_kinds, a->n_token_kinds));
        json_object_set_new(o, "first_day", json_string(cli_day(d1, a->first_day)));
        json_object_set_new(o, "last_day", json_string(cli_day(d2, a->last_day)));
    } else {
        json_object_set_new(o, "series", json_string(a->series));
        json_object_set_new(o, "method", json_string(a->method));
        json_object_set_new(o, "period", json_string(cli_day(d1, a->period_day)));
        json_object_set_new(o, "observed", a->observed_suppressed
                                               ? json_null()
                                               : json_integer((json_int_t)a->observed));
        json_object_set_new(o, "observed_suppressed", json_boolean(a->observed_suppressed));
        if (a->kind == TSR_ALERT_CROSS_AREA) {
            json_t *areas = json_array();
            for (size_t i = 0; i < a->n_areas; i++)
                json_array_append_new(areas, json_string(a->areas[i]));
            json_object_set_new(o, "areas", areas);
            json_object_set_new(o, "trigger", json_string(a->trigger));
        }
        json_object_set_new(o, "expected",
                            a->observed_suppressed ? json_null() : json_real(a->expected));
        json_object_set_new(o, "upperbound", a->observed_suppressed || a->upperbound == 0
                                                 ? json_null()
                                                 : json_real(a->upperbound));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    if (text)
        puts(text);
    free(text);
    json_decref(o);
}

/* One alert as a CSV row (the header before the first): lists
 * comma-separated inside their field, empty where a kind has no value. */
static void s_print_csv(s_alerts_t *s, const tsr_alert_t *a)
{
    static const char header[] = "seq,kind,created_at,cluster_id,series,method,period,observed,"
                                 "expected,threshold,areas,agencies,linked_by,record_ids,"
                                 "first_day,last_day,trigger,summary";
    if (!s->csv_header) {
        puts(header);
        s->csv_header = true;
    }
    char *buf = NULL, *lists[4] = {NULL, NULL, NULL, NULL};
    size_t len;
    bool linkage = a->kind == TSR_ALERT_LINKAGE, shown = !linkage && !a->observed_suppressed;
    char hex[2 * TSR_RECORD_ID_LEN + 1], when[32], cid[24] = "", period[11] = "", obs[24] = "",
         exp[32] = "", thr[32] = "", d1[11] = "", d2[11] = "";
    for (int l = 0; l < 4; l++) {
        FILE *fp = open_memstream(&lists[l], &len);
        if (!fp)
            goto out;
        size_t n = l == 0 ? a->n_areas : l == 1 ? a->n_agencies : l == 2 ? a->n_token_kinds
                                                                        : a->n_record_ids;
        for (size_t i = 0; i < n; i++)
            fprintf(fp, "%s%s", i ? "," : "",
                    l == 0   ? a->areas[i]
                    : l == 1 ? a->agencies[i]
                    : l == 2 ? a->token_kinds[i]
                             : tsr_hex_encode(hex, a->record_ids[i], TSR_RECORD_ID_LEN));
        fclose(fp);
    }
    s_time(when, a->created_at);
    if (linkage) {
        snprintf(cid, sizeof cid, "%" PRIu64, a->cluster_id);
        cli_day(d1, a->first_day);
        cli_day(d2, a->last_day);
    } else {
        cli_day(period, a->period_day);
    }
    if (shown) {
        snprintf(obs, sizeof obs, "%" PRIu64, a->observed);
        snprintf(exp, sizeof exp, "%.4g", a->expected);
        if (a->upperbound != 0)
            snprintf(thr, sizeof thr, "%.4g", a->upperbound);
    }
    FILE *row = open_memstream(&buf, &len);
    if (!row)
        goto out;
    const char *cells[] = {NULL, s_kind_name(a->kind), when, cid,
                           linkage ? "" : a->series, linkage ? "" : a->method, period, obs, exp,
                           thr, lists[0], lists[1], lists[2], lists[3], d1, d2,
                           a->kind == TSR_ALERT_SPIKE ? "" : a->trigger, a->summary};
    fprintf(row, "%" PRIu64, a->seq);
    for (size_t i = 1; i < sizeof cells / sizeof cells[0]; i++) {
        fputc(',', row);
        cli_csv_field(row, cells[i], false);
    }
    fclose(row);
    puts(buf);
out:
    free(buf);
    for (int l = 0; l < 4; l++)
        free(lists[l]);
}

/* Remembers that everything up to seq has been dealt with. */
static int s_advance(s_alerts_t *s, uint64_t seq)
{
    if (seq <= s->last)
        return 0;
    s->last = seq;
    return s_state_save(s->state_path, s->last);
}

/* Shows one alert (unless seen already: the log and the stream overlap, or
 * of a kind not asked for) and remembers it. */
static int s_show(s_alerts_t *s, const tsr_alert_t *a)
{
    if (a->seq <= s->last)
        return 0;
    if (s->kind == 0 || s->kind == a->kind) {
        if (s->json)
            s_print_json(a);
        else if (s->csv)
            s_print_csv(s, a);
        else
            s_print_text(a);
        fflush(stdout);
        s->shown++;
    }
    return s_advance(s, a->seq);
}

/* --- fetching -------------------------------------------------------------------- */

static void s_sleep(int ms);

/* Fetches and shows every alert after s->last from the query socket.
 * Returns 0, 1 when the collector refused (permission; a rate limit stops
 * only a one-off query: a follower waits and asks again), 4 or 5 when it
 * refused the handshake or the key (cli_conn_failed), -1 when it could
 * not be reached or did not answer (the caller retries; s->conn_exit). */
static int s_catch_up(s_alerts_t *s)
{
    for (;;) {
        tsr_error_t err;
        char msg[768];
        tsr_error_clear(&err);
        if (!s->query && tsr_conn_open(&s->query, s->ctx, s->co.endpoint, s->co.server, s->co.key,
                                       &err) != 0) {
            fprintf(stderr, "tessera alerts: %s\n", tsr_error_format(&err, msg, sizeof msg));
            return 1; /* bad key files: retrying will not help */
        }
        tsr_msg_t req = {.kind = TSR_MSG_QUERY}, reply;
        req.u.query.request_id = s->last + 1;
        req.u.query.kind = TSR_QUERY_ALERTS;
        req.u.query.since_seq = s->last;
        req.u.query.alert_kind = s->kind;
        req.u.query.max = S_PAGE;
        int rc = tsr_conn_request(s->query, &req, &reply, 5000, &err);
        if (rc != 0) {
            tsr_conn_failure_t f = tsr_conn_failure(s->query);
            int code = f != TSR_CONN_ANSWERED
                           ? cli_conn_failed("alerts", &s->co, s->query)
                           : (fprintf(stderr, "tessera alerts: %s\n",
                                      tsr_error_format(&err, msg, sizeof msg)),
                              TSR_EXIT_TIMEOUT);
            /* Lazy Pirate: a socket that timed out is closed and reopened */
            tsr_conn_close(&s->query);
            tsr_msg_clear(&reply);
            if (f == TSR_CONN_SERVER_KEY || f == TSR_CONN_NOT_AUTHORISED)
                return code; /* waiting will not mend it */
            s->conn_exit = code;
            return -1;
        }
        const tsr_response_t *r = &reply.u.response;
        if (reply.kind == TSR_MSG_RESPONSE && r->status == TSR_QSTATUS_OK && r->last_seq < s->last &&
            !s->warned_behind) {
            fprintf(stderr,
                    "tessera alerts: the collector's log ends at alert %" PRIu64 ", before the last "
                    "one seen here (%" PRIu64 "): was it restored from a backup? Run with --since "
                    "%" PRIu64 " to see what it holds after that.\n",
                    r->last_seq, s->last, r->last_seq > 0 ? r->last_seq - 1 : 0);
            s->warned_behind = true;
        }
        if (reply.kind != TSR_MSG_RESPONSE || r->status != TSR_QSTATUS_OK) {
            char why[400];
            fprintf(stderr, "tessera alerts: %s\n",
                    reply.kind == TSR_MSG_RESPONSE ? cli_refusal_text(why, sizeof why, r)
                                                   : "unexpected reply");
            /* over the rate limit: a follower waits as long as it was told
             * and asks again; a one-off query stops here */
            int again = reply.kind == TSR_MSG_RESPONSE && r->status == TSR_QSTATUS_RATE_LIMITED &&
                        s->following;
            int wait = (int)(r->retry_after_ms ? r->retry_after_ms : 1000);
            tsr_msg_clear(&reply);
            if (!again)
                return 1;
            s_sleep(wait);
            if (s_stop)
                return 0;
            continue;
        }
        int out = 0;
        for (size_t i = 0; out == 0 && i < r->n_alerts; i++)
            out = s_show(s, &r->alerts[i]);
        /* fewer than a full page: nothing after them is for us, up to the
         * log's end (alerts of other kinds or roles) */
        bool more = r->n_alerts >= S_PAGE && s->last < r->last_seq;
        if (out == 0 && !more)
            out = s_advance(s, r->last_seq);
        tsr_msg_clear(&reply);
        if (out != 0)
            return 1;
        if (!more || s_stop)
            return 0;
    }
}

/* Sleeps up to ms, waking early on a stop signal. */
static void s_sleep(int ms)
{
    for (int t = 0; t < ms && !s_stop; t += 100)
        usleep(100 * 1000);
}

/* Catches up, retrying with exponential backoff and jitter while the
 * collector cannot be reached. */
static int s_catch_up_retrying(s_alerts_t *s)
{
    int backoff = 1000;
    for (;;) {
        int rc = s_catch_up(s);
        if (rc >= 0 || s_stop)
            return rc < 0 ? 0 : rc;
        int wait = backoff / 2 + rand() % (backoff / 2 + 1);
        fprintf(stderr, "tessera alerts: retrying in %.1f s\n", wait / 1000.0);
        s_sleep(wait);
        if (backoff < 30000)
            backoff *= 2;
    }
}

static int s_follow(s_alerts_t *s)
{
    tsr_conn_t *sub = NULL;
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    /* Subscribe first, so nothing raised while catching up is lost. The
     * stream is for liaison and admins; spike and cross-area alerts (all an
     * analyst may have) are followed by asking the log every few seconds. */
    bool poll_only = s->kind == TSR_ALERT_SPIKE || s->kind == TSR_ALERT_CROSS_AREA;
    if (!poll_only &&
        tsr_conn_subscribe(&sub, s->ctx, s->co.alerts_endpoint, s->co.server, s->co.key, &err) !=
            0) {
        fprintf(stderr, "tessera alerts: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return 1;
    }
    int rc = s_catch_up_retrying(s);
    int64_t quiet_ms = 0;
    while (rc == 0 && !s_stop) {
        tsr_msg_t m;
        if (poll_only) {
            s_sleep(5000);
            rc = s_stop ? 0 : s_catch_up_retrying(s);
            continue;
        }
        int r = tsr_conn_recv(sub, &m, 1000, &err);
        if (r == TSR_ENET && (tsr_conn_failure(sub) == TSR_CONN_SERVER_KEY ||
                              tsr_conn_failure(sub) == TSR_CONN_NOT_AUTHORISED)) {
            /* the stream refuses this key (taken off the list, or not a
             * liaison or admin key): say so rather than wait for ever */
            rc = cli_conn_failed("alerts", &s->co, sub);
            break;
        }
        if (r == TSR_EAGAIN) {
            /* no heartbeat either: after 10 s of silence ask the log (the
             * stream may be restarting) */
            quiet_ms += 1000;
            if (quiet_ms >= 10000) {
                quiet_ms = 0;
                rc = s_catch_up_retrying(s);
            }
            continue;
        }
        quiet_ms = 0;
        if (r != 0) {
            tsr_msg_clear(&m);
            continue; /* not ours to judge: the log is the truth */
        }
        if (m.kind == TSR_MSG_ALERT && m.u.alert.seq == s->last + 1)
            rc = s_show(s, &m.u.alert) == 0 ? 0 : 1;
        else if ((m.kind == TSR_MSG_ALERT && m.u.alert.seq > s->last + 1) ||
                 (m.kind == TSR_MSG_HEARTBEAT && m.u.last_seq > s->last))
            rc = s_catch_up_retrying(s); /* missed something: the log has it */
        tsr_msg_clear(&m);
    }
    tsr_conn_close(&sub);
    return rc;
}

int cli_cmd_alerts(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"alerts", required_argument, NULL, CLI_OPT_ALERTS},
        {"follow", no_argument, NULL, 'F'},
        {"since", required_argument, NULL, 's'},
        {"state", required_argument, NULL, 'S'},
        {"kind", required_argument, NULL, 'k'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    s_alerts_t s = {0};
    cli_conn_defaults(&s.co);
    bool follow = false, since_set = false;
    const char *format = "text", *kind = "all";
    char state[4096];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_conn_option(&s.co, c, optarg))
            continue;
        switch (c) {
        case 'F': follow = true; break;
        case 's': {
            char *end;
            errno = 0;
            s.last = strtoull(optarg, &end, 10);
            if (errno || *end || !*optarg || *optarg == '-') {
                fprintf(stderr, "tessera alerts: --since '%s' is not a sequence number\n", optarg);
                return 2;
            }
            since_set = true;
            break;
        }
        case 'S': s.state_path = optarg; break;
        case 'k': kind = optarg; break;
        case 'f': format = optarg; break;
        case 'h': fputs(s_usage, stdout); return 0;
        default: fputs(s_usage, stderr); return 2;
        }
    }
    if (optind != argc || (strcmp(format, "text") && strcmp(format, "table") &&
                           strcmp(format, "csv") && strcmp(format, "json"))) {
        fputs(s_usage, stderr);
        return 2;
    }
    if (!strcmp(kind, "linkage"))
        s.kind = TSR_ALERT_LINKAGE;
    else if (!strcmp(kind, "spike"))
        s.kind = TSR_ALERT_SPIKE;
    else if (!strcmp(kind, "cross-area"))
        s.kind = TSR_ALERT_CROSS_AREA;
    else if (strcmp(kind, "all") != 0) {
        fprintf(stderr, "tessera alerts: --kind '%s' is not linkage, spike, cross-area or all\n",
                kind);
        return 2;
    }
    if (!cli_conn_complete(&s.co, "alerts"))
        return 2;
    s.json = !strcmp(format, "json");
    s.csv = !strcmp(format, "csv");
    if (!s.state_path) {
        size_t n = strlen(s.co.key);
        if (n > 4 && !strcmp(s.co.key + n - 4, ".key"))
            n -= 4;
        /* one file per kind: following only linkage must not skip the
         * spike alerts a later "all" run is owed */
        snprintf(state, sizeof state, "%.*s%s%s.alerts-seq", (int)n, s.co.key, s.kind ? "." : "",
                 s.kind ? kind : "");
        s.state_path = state;
    }
    if (!since_set && s_state_load(s.state_path, &s.last) != 0)
        return 1;
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    s.ctx = zmq_ctx_new();
    int rc;
    if (follow) {
        s.following = true;
        rc = s_follow(&s);
    } else {
        rc = s_catch_up(&s);
        if (rc < 0)
            rc = s.conn_exit; /* unreachable (3) or timed out (6), as tessera-agent */
        else if (rc == 0 && s.shown == 0 && !s.json)
            fprintf(stderr, "no new alerts after %" PRIu64 "\n", s.last);
    }
    tsr_conn_close(&s.query);
    zmq_ctx_term(s.ctx);
    return rc;
}
