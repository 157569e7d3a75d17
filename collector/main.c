/* tessera-collector - the regional collector: authenticates every peer over
 * CURVE, stores minimised records in LMDB and acknowledges each batch only
 * after the transaction that holds it has committed (DESIGN sections 5, 6).
 *
 * One thread runs the loop below (the ZAP handler has its own): read the
 * batches waiting on the ingest socket, log them in one transaction (group
 * commit), then send every Ack; between groups, take queries. The apply
 * thread (applier.h) turns the log into records, indexes, clusters and
 * series; the audit thread beside it commits the queries' audit entries
 * in their own environment; the query thread
 * (querier.h) makes the reads that scan (trends, alerts, clusters,
 * lookups).
 *
 * This file holds the loop and main(); the rest of the daemon is in the
 * files daemon.h names. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "access.h"
#include "daemon.h"
#include "iosched.h"
#include "tessera/auth.h"
#include "tessera/curve.h"
#include "tessera/err.h"
#include "tessera/log.h"
#include "tessera/notify.h"
#include "tessera/wire.h"

/* How long after an apply step the loop deletes the applied entries from
 * the log in a transaction of its own, when no batch came meanwhile
 * (docs/STORAGE.md, "Two environments, one writer each": Trim). */
#define S_TRIM_DELAY_MS 100

static volatile sig_atomic_t s_stop, s_reload;

static void s_on_signal(int sig)
{
    if (sig == SIGHUP)
        s_reload = 1;
    else
        s_stop = 1;
}

static const char s_usage[] =
    "usage: tessera-collector (--config FILE | --data DIR | both) [-n]\n"
    "                         [--log-level LEVEL] [--allow-root]\n"
    "       tessera-collector backup|restore ... (see tessera-collector backup --help)\n"
    "       tessera-collector upstream-resend ... (see its --help)\n"
    "\n"
    "Runs the regional collector. It needs --data or --config (one of them names\n"
    "the data directory; without either it refuses). Unset settings take local\n"
    "defaults: agents on tcp://127.0.0.1:7701, queries on :7702, linkage alerts\n"
    "published on :7703. A new data directory gets the server key pair\n"
    "(collector.key, collector.pub) and an empty authorized_clients.\n"
    "\n"
    "  --config FILE  INI config (see deploy/collector.conf)\n"
    "  --data DIR     data directory (overrides data_dir)\n"
    "  -n             check the config (every value start checks: endpoints,\n"
    "                 methods, log level, ...), the files' modes and the\n"
    "                 client list, then exit, creating nothing\n"
    "  --log-level L  debug, info, warn or error\n"
    "  --allow-root   run even as root (for tests and demos only: run it as a\n"
    "                 dedicated unprivileged user)\n"
    "  --print-access-table\n"
    "                 print which role may ask which query (the table of\n"
    "                 docs/PRIVACY.md, \"Who sees what\") and exit\n"
    "\n"
    "Signals: SIGTERM/SIGINT finish the current transaction and exit; SIGHUP\n"
    "reloads authorized_clients (a bad file keeps the previous one); when a\n"
    "liaison or admin key was removed it restarts the alert stream, so that key\n"
    "loses it.\n"
    "\n"
    "Like sshd's StrictModes, it refuses to start (and -n reports) when the\n"
    "data directory, the config, authorized_clients, the server key or the\n"
    "LMDB files could be changed by another user, naming the chown/chmod that\n"
    "fixes each.\n";

/* -n: the config and the files are checked (tsr_daemon_config_start,
 * tsr_daemon_check_files); the client list is read when it exists, and
 * what a start would use is printed, creating nothing. Returns the exit
 * code. */
static int s_check_only(const char *auth_path)
{
    tsr_authlist_t *list = NULL;
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    if (access(auth_path, F_OK) == 0 && tsr_authlist_load(&list, auth_path, &err) != 0) {
        fprintf(stderr, "tessera-collector: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return 1;
    }
    printf("config ok: data %s, ingest %s, query %s, alerts %s, %zu clients\n", C.data_dir,
           C.ingest_endpoint, C.query_endpoint, C.alerts_endpoint, tsr_authlist_count(list));
    tsr_daemon_cross_region(NULL, list);
    tsr_daemon_netkeys_report(stdout, NULL);
    if (C.up_endpoint && *C.up_endpoint)
        printf("upstream: forwards %s to %s (listed there as relay)\n",
               strcmp(C.up_forward, "linkage") ? "records" : "linkage tokens only",
               C.up_endpoint);
    tsr_authlist_destroy(&list);
    tsr_config_free(tsr_daemon_keys);
    return 0;
}

/* The server key pair (made on a first run) into c->secret and public, and
 * the client list (an empty one made on a first run) into *list. Says why
 * not on stderr and returns -1, or 0. */
static int s_load_keys(tsr_daemon_t *c, char *key_path, size_t cap, char *public,
                       tsr_authlist_t **list)
{
    char secret[41], msg[768];
    tsr_error_t err;
    tsr_error_clear(&err);
    if (tsr_daemon_bootstrap(key_path, cap) != 0 ||
        tsr_daemon_ensure_clients_file(c->auth_path) != 0)
        return -1;
    if (tsr_curve_load_secret(key_path, secret, public, &err) != 0 ||
        tsr_authlist_load(list, c->auth_path, &err) != 0) {
        explicit_bzero(secret, sizeof secret);
        fprintf(stderr, "tessera-collector: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return -1;
    }
    /* one copy of the server's secret, wiped on every way out */
    memcpy(c->secret, secret, sizeof c->secret);
    explicit_bzero(secret, sizeof secret);
    return 0;
}

/* Says when [ingest] apply_yield cannot yield the disk: the disk under
 * the store is served by a scheduler that ignores I/O classes. */
static void s_io_class_report(const char *envdir)
{
    char sched[32];
    if (!C.apply_yield || tsr_iosched_of(envdir, sched, sizeof sched) != 0)
        return; /* not a block device (tmpfs, overlay...): nothing to say */
    if (strcmp(sched, "bfq") == 0) {
        tsr_debug("apply", "%s is on a disk scheduled by bfq: background steps yield to the "
                  "Acks' flushes", envdir);
        return;
    }
    tsr_info("apply", "[ingest] apply_yield cannot yield the disk here: %s is on a disk whose "
             "I/O scheduler is %s, which does not order requests by I/O class, so the apply's "
             "background writes delay the Acks' flushes. Use bfq for that disk "
             "(docs/DEPLOYING.md, \"The disk's I/O scheduler\").", envdir, sched);
}

/* Opens the store (its environments in envdir, logdir and auditdir) with the
 * settings, and counts the daily budget already spent from its audit log.
 * Says why not on stderr and returns -1, or 0. */
static int s_open_store(tsr_daemon_t *c, const char *envdir, const char *logdir,
                        const char *auditdir, const tsr_settings_methods_t *methods)
{
    tsr_error_t err;
    char msg[768];
    int rc = 0;
    tsr_error_clear(&err);
    tsr_store_opts_t so = {.spikes_set = true,
                           .drain_ms = (int)C.apply_step_ms,
                           .kv = {.dir = envdir,
                                  .map_size = (size_t)C.map_size_mib * MIB,
                                  .map_step = (size_t)C.map_step_mib * MIB,
                                  .map_max = (size_t)C.map_max_mib * MIB},
                           /* these two take main's map settings */
                           .log_kv = {.dir = logdir},
                           .audit_kv = {.dir = auditdir}};
    tsr_spikes_defaults(&so.spikes);
    so.spikes.c1 = methods->c1;
    so.spikes.c2 = methods->c2;
    so.spikes.c3 = methods->c3;
    so.spikes.farrington = C.farrington;
    so.spikes.recent_days = (int)C.recent_days;
    so.spikes.recent_weeks = (int)C.recent_weeks;
    so.spikes.min_cases = (int)C.min_cases;
    so.retention_months = (int)C.retention_months;
    so.network_keys = tsr_daemon_netkeys;
    so.upstream = C.up_endpoint && *C.up_endpoint;
    if (tsr_store_open(&c->store, &so, &err) != 0) {
        fprintf(stderr, "tessera-collector: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return -1;
    }
    tsr_daemon_netkeys_report(NULL, c->store);
    s_io_class_report(envdir);
    /* the budget spent today, from the audit log: a restart resets nothing */
    int64_t midnight = time(NULL) / 86400 * 86400;
    if (tsr_budget_new(&c->budget, (unsigned)C.daily_query_budget) != 0 ||
        (rc = tsr_store_audit_each(c->store, midnight, tsr_daemon_budget_replay, c->budget)) != 0) {
        fprintf(stderr, "tessera-collector: cannot count today's queries from the audit log: %s\n",
                tsr_strerror(rc ? rc : TSR_ENOMEM));
        return -1;
    }
    return 0;
}

/* What the loop works with besides the store: the ingest queue, the rate
 * limit and the refusals, the upstream's sender, the ZAP handler (given
 * list), the three sockets, the last alert and the first turn's day. Says
 * why not on stderr and returns -1, or 0. */
static int s_open_loop(tsr_daemon_t *c, tsr_authlist_t *list)
{
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    tsr_daemon_cross_region(c->store, list);
    size_t qcap = (size_t)C.max_batches;
    c->queue = calloc(qcap, sizeof *c->queue);
    c->fair = calloc(qcap, sizeof *c->fair);
    c->sb = calloc(qcap, sizeof *c->sb);
    if (!c->queue || !c->fair || !c->sb ||
        tsr_ratelimit_new(&c->rate, (unsigned)C.queries_per_minute, (unsigned)C.query_burst) != 0 ||
        tsr_refusals_new(&c->refusals, (unsigned)C.audit_refusals_per_minute, 60) != 0) {
        fprintf(stderr, "tessera-collector: out of memory\n");
        return -1;
    }
    c->ctx = zmq_ctx_new();
    if (C.up_endpoint && *C.up_endpoint) {
        tsr_upstream_opts_t uo = {C.up_endpoint, C.up_server_key, C.up_client_key,
                                  !strcmp(C.up_forward, "linkage"), (int)C.up_timeout_ms,
                                  (size_t)C.up_max_batch};
        if (tsr_upstream_new(&c->upstream, c->ctx, c->store, &uo, &err) != 0) {
            fprintf(stderr, "tessera-collector: [upstream]: %s\n",
                    tsr_error_format(&err, msg, sizeof msg));
            return -1;
        }
    }
    c->stream_keys = tsr_daemon_stream_keys(list);
    if (tsr_zap_start(&c->zap, c->ctx, list) != 0) {
        fprintf(stderr, "tessera-collector: cannot start the ZAP handler\n");
        return -1;
    }
    c->ingest = tsr_daemon_server_socket(c->ctx, ZMQ_ROUTER, TSR_ZAP_DOMAIN, C.ingest_endpoint,
                                         c->secret, (int64_t)c->lim.max_frame, true);
    c->query = c->ingest ? tsr_daemon_server_socket(c->ctx, ZMQ_ROUTER, TSR_ZAP_DOMAIN,
                                                    C.query_endpoint, c->secret,
                                                    (int64_t)c->lim.max_frame, true)
                         : NULL;
    if (c->query)
        tsr_daemon_pub_open(c);
    tsr_response_t last = {0};
    if (tsr_store_alerts(c->store, 0, 0, NULL, NULL, &last) == 0)
        c->last_alert = last.last_seq;
    /* the first turn of the loop, once listening, catches up: it evaluates
     * yesterday and today again (evaluations pending at a crash were lost
     * with it; what was alerted stays alerted) and applies retention */
    c->today = (int32_t)(time(NULL) / 86400) - 1;
    c->starting = true;
    return !c->ingest || !c->query || !c->pub ? -1 : 0;
}

/* Once listening: the signals' handlers, the line and the notice that say
 * so, the handshake monitors, the apply thread and the query thread.
 * Returns -1 when a thread cannot start, or 0. */
static int s_serve(tsr_daemon_t *c, const tsr_authlist_t *list, const char *public)
{
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    tsr_info("collector",
             "listening: ingest %s, query %s, alerts %s; %zu clients; server public key %s",
             C.ingest_endpoint, C.query_endpoint, C.alerts_endpoint, tsr_authlist_count(list),
             public);
    printf("server public key: %s\n", public);
    fflush(stdout);
    tsr_daemon_service_ready(list);

    c->monitor[0] = tsr_daemon_monitor_open(c, c->ingest, 0);
    c->monitor[1] = tsr_daemon_monitor_open(c, c->query, 1);
    tsr_applier_opts_t ao = {(int)C.apply_quiet_ms, (int)C.apply_quiet_max, (int)C.apply_delay_ms,
                             (int)C.apply_batch, 200, C.apply_yield};
    c->jobs_tail = &c->jobs;
    /* what the store's open applied (a store from before the log env) */
    tsr_daemon_publish_store(c);
    if (tsr_applier_new(&c->applier, c->store, &ao) != 0 ||
        tsr_querier_new(&c->querier, (int)C.query_thread_nice) != 0)
        return -1;
    return 0;
}

/* The loop (the file's comment), until SIGTERM or SIGINT; then what was
 * read is logged and acknowledged, and the queries read are answered. */
static void s_loop(tsr_daemon_t *c)
{
    /* ingest, query, the applier, the query thread, two monitors and the
     * upstream socket */
    zmq_pollitem_t items[7] = {{c->ingest, 0, ZMQ_POLLIN, 0},
                               {c->query, 0, ZMQ_POLLIN, 0},
                               {NULL, tsr_applier_fd(c->applier), ZMQ_POLLIN, 0},
                               {NULL, tsr_querier_fd(c->querier), ZMQ_POLLIN, 0}};
    int n_items = 4, mon_at[2] = {-1, -1};
    for (int i = 0; i < 2; i++)
        if (c->monitor[i]) {
            mon_at[i] = n_items;
            items[n_items++] = (zmq_pollitem_t){c->monitor[i], 0, ZMQ_POLLIN, 0};
        }
    while (!s_stop) {
        if (s_reload) {
            s_reload = 0;
            tsr_notify_reloading();
            tsr_daemon_reload_clients(c);
            tsr_notify_ready(NULL);
        }
        tsr_notify_watchdog(tsr_daemon_now_ms()); /* the loop wakes at least every 500 ms */
        tsr_daemon_pub_open(c);
        tsr_daemon_heartbeat(c);
        tsr_daemon_day_boundary(c);
        /* the upstream's socket changes as it reconnects: the last item */
        int timeout = tsr_daemon_poll_timeout(c), n_poll = n_items;
        if (c->upstream) {
            int up = tsr_upstream_step(c->upstream);
            timeout = up < timeout ? up : timeout;
            if (tsr_upstream_socket(c->upstream))
                items[n_poll++] =
                    (zmq_pollitem_t){tsr_upstream_socket(c->upstream), 0, ZMQ_POLLIN, 0};
        }
        int n = zmq_poll(items, n_poll, timeout);
        if (n < 0 && zmq_errno() != EINTR) {
            tsr_error("collector", "poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        bool ingest = (n > 0 && (items[0].revents & ZMQ_POLLIN)) || c->n_queued > 0;
        bool news = n > 0 && (items[2].revents & ZMQ_POLLIN);
        if (news) { /* committed alerts leave before the log's next commit, not after it */
            tsr_applier_clear(c->applier);
            tsr_daemon_publish(c);
        }
        if (ingest)
            tsr_daemon_ingest(c);
        /* applied entries leave the log: under load submits delete them in
         * their own transactions; otherwise a trim of its own, a little
         * after the step, not at once: the next batch (a reply to the alert
         * the step raised, say) would wait for its flush */
        if (news && !c->trim_at && tsr_store_trim_due(c->store)) /* not after an audit commit */
            c->trim_at = tsr_daemon_now_ms() + S_TRIM_DELAY_MS;
        if (c->trim_at && !ingest && c->n_queued == 0 && tsr_daemon_now_ms() >= c->trim_at) {
            int rc = tsr_store_trim(c->store, 10000);
            /* more than one trim's worth, a backup copying, or a failure (logged) */
            c->trim_at = !tsr_store_trim_due(c->store) ? 0
                         : tsr_daemon_now_ms() + (rc == 0 ? S_TRIM_DELAY_MS : 1000);
        }
        if (news) {
            tsr_daemon_jobs_run(c);
        } else if (c->jobs_ready || (n > 0 && (items[3].revents & ZMQ_POLLIN))) {
            tsr_querier_clear(c->querier);
            tsr_daemon_jobs_run(c);
        }
        if (n > 0 && (items[1].revents & ZMQ_POLLIN))
            tsr_daemon_query(c);
        tsr_daemon_refusals_flush(c, false);
        for (int i = 0; n > 0 && i < 2; i++)
            if (mon_at[i] >= 0 && (items[mon_at[i]].revents & ZMQ_POLLIN))
                tsr_daemon_monitor_event(c, i);
    }
    tsr_info("collector", "stopping");
    tsr_notify_stopping();
    while (c->n_queued > 0) /* what was read is logged and acknowledged, nothing more read */
        tsr_daemon_ingest_commit(c);
    /* the queries read are answered (each waits at most for the steps
     * that apply what was acknowledged before it) */
    for (int64_t until = tsr_daemon_now_ms() + 10000; c->jobs && tsr_daemon_now_ms() < until;) {
        zmq_poll(&items[2], 2, 100);
        tsr_applier_clear(c->applier);
        tsr_querier_clear(c->querier);
        tsr_daemon_jobs_run(c);
    }
}

/* After the loop: the threads stopped, the log applied in full, and every
 * socket, thread and table closed, the secret wiped. */
static void s_close(tsr_daemon_t *c)
{
    tsr_querier_destroy(&c->querier); /* before the jobs it may still hold are freed */
    tsr_daemon_refusals_flush(c, true);
    tsr_applier_stop(c->applier);
    tsr_daemon_publish(c);
    tsr_applier_destroy(&c->applier);
    while (c->jobs) {
        tsr_daemon_job_t *j = c->jobs;
        c->jobs = j->next;
        tsr_daemon_job_destroy(&j);
    }
    tsr_daemon_apply_all(c);
    tsr_store_trim(c->store, 0);
    for (int i = 0; i < 2; i++)
        if (c->monitor[i]) {
            zmq_socket_monitor(i == 0 ? c->ingest : c->query, NULL, 0);
            zmq_close(c->monitor[i]);
        }
    tsr_upstream_destroy(&c->upstream); /* what was not acknowledged stays queued */
    zmq_close(c->ingest);
    zmq_close(c->query);
    if (c->pub)
        zmq_close(c->pub);
    explicit_bzero(c->secret, sizeof c->secret);
    free(c->stream_keys);
    tsr_zap_destroy(&c->zap);
    zmq_ctx_term(c->ctx);
    tsr_store_close(&c->store);
    tsr_budget_destroy(&c->budget);
    tsr_ratelimit_destroy(&c->rate);
    tsr_refusals_destroy(&c->refusals);
    free(c->queue);
    free(c->fair);
    free(c->sb);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"data", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"print-access-table", no_argument, NULL, 'A'},
        {"allow-root", no_argument, NULL, 'R'},
        {0},
    };
    const char *config = NULL, *data = NULL, *level = NULL;
    bool check_only = false, allow_root = false;
    int o;
    /* A decoded batch is an array of incidents of 4.4 KB each: 440 KB for
     * 100 records. By default glibc maps such blocks, then (once its
     * threshold has adapted) trims the heap under them as they are freed,
     * batch after batch, and the kernel faults and zeroes their pages in
     * again each time. Freed heap up to 64 MiB is kept for the next batches
     * instead; only blocks over 32 MiB are mapped. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    if (argc > 1 && (!strcmp(argv[1], "backup") || !strcmp(argv[1], "restore")))
        return tsr_daemon_cmd_backup(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "upstream-resend"))
        return tsr_daemon_cmd_resend(argc - 1, argv + 1);
    while ((o = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'd': data = optarg; break;
        case 'l': level = optarg; break;
        case 'n': check_only = true; break;
        case 'h': fputs(s_usage, stdout); return 0;
        case 'V': printf("tessera-collector %s\n", TSR_VERSION); return 0;
        case 'A': tsr_access_print_markdown(stdout); return 0;
        case 'R': allow_root = true; break;
        default: fputs(s_usage, stderr); return 2;
        }
    }
    if (optind != argc) {
        fputs(s_usage, stderr);
        return 2;
    }
    tsr_settings_methods_t methods;
    int started = tsr_daemon_config_start(config, data, allow_root, level, &methods);
    if (started != 0)
        return started;
    tsr_log_level_t lvl;
    tsr_log_parse_level(level ? level : C.log_level, &lvl); /* checked above */
    tsr_log_set_level(lvl);
    tsr_daemon_debug = lvl == TSR_LOG_DEBUG;
    if (C.syslog && !check_only)
        tsr_log_open_syslog("tessera-collector");

    tsr_daemon_t c = {0};
    tsr_wire_limits_default(&c.lim);
    c.lim.max_frame = (size_t)C.max_frame_mib * MIB;
    tsr_daemon_path(c.auth_path, sizeof c.auth_path, C.authorized_clients, C.data_dir,
                    "authorized_clients");
    char key_path[4096], public[41], envdir[4096], logdir[4096], auditdir[4096];
    tsr_authlist_t *list = NULL;
    tsr_daemon_path(key_path, sizeof key_path, C.server_key, C.data_dir, "collector.key");
    snprintf(envdir, sizeof envdir, "%s/db", C.data_dir);
    snprintf(logdir, sizeof logdir, "%s/log", C.data_dir);
    snprintf(auditdir, sizeof auditdir, "%s/audit", C.data_dir);
    /* before anything is created in or read from them; -n reports the same */
    int problems = tsr_daemon_check_files(config, key_path, c.auth_path, envdir, logdir,
                                          auditdir);
    if (problems != 0) {
        if (problems > 0)
            fprintf(
                stderr,
                "tessera-collector: %s: %d file(s) other users could change or read (like sshd's "
                "StrictModes); fix them as shown\n",
                check_only ? "config check failed" : "refusing to start", problems);
        tsr_config_free(tsr_daemon_keys);
        return 1;
    }
    if (check_only)
        return s_check_only(c.auth_path);
    if (s_load_keys(&c, key_path, sizeof key_path, public, &list) != 0 ||
        s_open_store(&c, envdir, logdir, auditdir, &methods) != 0 || s_open_loop(&c, list) != 0 ||
        s_serve(&c, list, public) != 0)
        goto fail;
    s_loop(&c);
    s_close(&c);
    tsr_config_free(tsr_daemon_keys);
    return 0;
fail: /* at start-up: the process ends here, but not with the key in memory */
    explicit_bzero(c.secret, sizeof c.secret);
    if (!c.zap) /* the ZAP handler owns the list once it started */
        tsr_authlist_destroy(&list);
    return 1;
}
