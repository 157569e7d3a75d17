/* startup.c - what the collector starts with (daemon.h): its files (data
 * directory, server key, client list, StrictModes), its sockets and their
 * handshake monitors, the client list's reload, the alert stream, the
 * start every command shares, and the backup and restore commands. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "backup.h"
#include "budget.h"
#include "daemon.h"
#include "settings.h"
#include "store.h"
#include "tessera/auth.h"
#include "tessera/config.h"
#include "tessera/curve.h"
#include "tessera/err.h"
#include "tessera/fsmode.h"
#include "tessera/log.h"
#include "tessera/notify.h"
#include "tessera/wire.h"

int tsr_daemon_budget_replay(void *ctx, const tsr_audit_entry_t *e)
{
    return tsr_budget_replay(ctx, e);
}

void tsr_daemon_path(char *out, size_t cap, const char *set, const char *dir, const char *name)
{
    if (set && *set)
        snprintf(out, cap, "%s", set);
    else
        snprintf(out, cap, "%s/%s", dir, name);
}

/* True when something (a file, or a symlink even dangling) is at path. */
bool tsr_daemon_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Creates what a first run needs: data dir, server key pair, empty client list. */
int tsr_daemon_bootstrap(char *key_path, size_t cap)
{
    char msg[768];
    tsr_error_t err;
    tsr_error_clear(&err);
    if (mkdir(C.data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tessera-collector: cannot create %s: %s\n", C.data_dir, strerror(errno));
        return -1;
    }
    tsr_daemon_path(key_path, cap, C.server_key, C.data_dir, "collector.key");
    if (!tsr_daemon_exists(key_path)) {
        char stem[4096];
        snprintf(stem, sizeof stem, "%.*s", (int)(strlen(key_path) - 4), key_path);
        if (strlen(key_path) < 5 || strcmp(key_path + strlen(key_path) - 4, ".key") != 0 ||
            tsr_curve_keygen(stem, false, NULL, NULL, &err) != 0) {
            fprintf(stderr, "tessera-collector: cannot create the server key %s: %s\n", key_path,
                    tsr_error_format(&err, msg, sizeof msg));
            return -1;
        }
        tsr_info("collector", "created the server key pair: secret key %s, public key %s.pub "
                 "(give the .pub file to agents and clients)", key_path, stem);
    }
    return 0;
}

int tsr_daemon_ensure_clients_file(const char *path)
{
    static const char text[] =
        "# Tessera authorized_clients: one client per line\n"
        "# z85 public key (40 chars)                role     id              areas\n"
        "# (make keys with: tessera keygen --curve NAME; areas: codes, region codes or *)\n";
    if (tsr_daemon_exists(path))
        return 0;
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    /* 0600 from the start: whoever can write it can make themselves admin */
    if (tsr_fsmode_write(path, text, sizeof text - 1, 0600, false, &err) != 0) {
        fprintf(stderr, "tessera-collector: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return -1;
    }
    tsr_info("collector", "created an empty client list %s", path);
    return 0;
}

static void s_print_problem(void *ctx, const char *problem)
{
    (void)ctx;
    fprintf(stderr, "tessera-collector: %s\n", problem);
}

/* StrictModes (issue 15): every file the collector trusts that exists now,
 * and the directory each is in; what is missing is created safely later.
 * Prints each problem; returns how many (or a TSR_E* code). */
int tsr_daemon_check_files(const char *config, const char *key_path, const char *auth_path,
                           const char *envdir, const char *logdir, const char *auditdir)
{
    char data_mdb[4200], lock_mdb[4200], log_mdb[4200], log_lock[4200], audit_mdb[4200],
        audit_lock[4200];
    snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", envdir);
    snprintf(lock_mdb, sizeof lock_mdb, "%s/lock.mdb", envdir);
    snprintf(log_mdb, sizeof log_mdb, "%s/data.mdb", logdir);
    snprintf(log_lock, sizeof log_lock, "%s/lock.mdb", logdir);
    snprintf(audit_mdb, sizeof audit_mdb, "%s/data.mdb", auditdir);
    snprintf(audit_lock, sizeof audit_lock, "%s/lock.mdb", auditdir);
    const tsr_fsmode_item_t items[] = {
        {C.data_dir, TSR_FSMODE_DIR},
        {envdir, TSR_FSMODE_DIR},
        {config, TSR_FSMODE_FILE},
        {auth_path, TSR_FSMODE_FILE},
        {key_path, TSR_FSMODE_SECRET}, /* the server's identity */
        {data_mdb, TSR_FSMODE_SECRET}, /* records, tokens, the cell-key secret */
        {lock_mdb, TSR_FSMODE_FILE},
        {logdir, TSR_FSMODE_DIR},
        {log_mdb, TSR_FSMODE_SECRET}, /* acknowledged records not yet applied */
        {log_lock, TSR_FSMODE_FILE},
        {auditdir, TSR_FSMODE_DIR},
        {audit_mdb, TSR_FSMODE_SECRET}, /* who asked what, when */
        {audit_lock, TSR_FSMODE_FILE},
        {C.up_client_key, TSR_FSMODE_SECRET}, /* this collector's identity upstream */
        {C.up_server_key, TSR_FSMODE_FILE},
    };
    int n = tsr_fsmode_check_all(items, sizeof items / sizeof items[0], s_print_problem, NULL);
    if (n < 0)
        fprintf(stderr, "tessera-collector: cannot check the files: %s\n", tsr_strerror(n));
    return n;
}

/* What the socket's ZMQ_MAXMSGSIZE allows above the payload limit.
 * libzmq applies the limit to the frame as it arrives, which under CURVE is
 * the MESSAGE command wrapping the payload (RFC 26: "\x07MESSAGE", an
 * 8-byte nonce, the 16-byte Poly1305 tag and a flags byte: 33 bytes,
 * measured by tests/integration/hostile.sh). Without this allowance a
 * payload within 33 bytes of the limit was dropped by the socket, silently,
 * and the peer reconnected in a loop (issue 15). The payload limit itself
 * is checked in s_ingest_check, with an answer. */
#define S_CURVE_SLACK 1024

void *tsr_daemon_server_socket(void *ctx, int type, const char *domain, const char *endpoint,
                               const char *secret, int64_t payload_max, bool report)
{
    int64_t maxmsg = payload_max + S_CURVE_SLACK;
    void *s = zmq_socket(ctx, type);
    int one = 1, linger = 0, rcvhwm = (int)C.receive_hwm, sndhwm = (int)C.send_hwm;
    /* before the bind: the high-water marks apply to each connection's
     * pipe as it is made. A peer past receive_hwm is not read from until
     * the collector has taken its messages (TCP pushes back), so one
     * peer's backlog costs at most receive_hwm frames of memory. */
    if (!s || zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret, 40) ||
        zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm) ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) || zmq_bind(s, endpoint) != 0) {
        if (report)
            fprintf(stderr, "tessera-collector: cannot listen on %s: %s\n", endpoint,
                    zmq_strerror(zmq_errno()));
        if (s)
            zmq_close(s);
        return NULL;
    }
    return s;
}

/* The keys allowed on the alert stream, as "key role" lines, for noticing
 * when a reload takes one away. */
char *tsr_daemon_stream_keys(const tsr_authlist_t *l)
{
    size_t n = tsr_authlist_count(l);
    char *out = calloc(n * 64 + 1, 1);
    for (size_t i = 0; out && i < n; i++) {
        const tsr_client_t *cl = tsr_authlist_at(l, i);
        if (cl->role == TSR_ROLE_LIAISON || cl->role == TSR_ROLE_ADMIN)
            snprintf(out + strlen(out), 64, "%s %d\n", cl->public_key, (int)cl->role);
    }
    return out;
}

/* True when every line of old is in new. */
static bool s_keys_kept(const char *old, const char *new_keys)
{
    for (const char *p = old; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p + 1) : strlen(p);
        char line[64];
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        if (!new_keys || !strstr(new_keys, line))
            return false;
        p += len;
    }
    return true;
}

void tsr_daemon_cross_region(tsr_store_t *store, const tsr_authlist_t *l)
{
    size_t relays;
    bool on = tsr_settings_cross_region_on(C.cross_mode, l, &relays);
    char why[96];
    snprintf(why, sizeof why, "%s, %zu relay(s) listed", C.cross_region, relays);
    if (!store) {
        printf("cross-region spike rule: %s (%s)\n", on ? "on" : "off", why);
        return;
    }
    tsr_store_cross_region(store, on);
    tsr_info("spikes", "cross-region spike rule: %s (%s)", on ? "on" : "off", why);
}

static void s_log_problem(void *ctx, const char *problem)
{
    (void)ctx;
    tsr_error("collector", "SIGHUP: keeping the previous client list: %s", problem);
}

void tsr_daemon_reload_clients(tsr_daemon_t *c)
{
    tsr_authlist_t *l;
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    /* the list is checked again as at start: a file others could have
     * written since is not loaded (issue 15) */
    const tsr_fsmode_item_t item = {c->auth_path, TSR_FSMODE_FILE};
    if (tsr_fsmode_check_all(&item, 1, s_log_problem, NULL) != 0)
        return;
    if (tsr_authlist_load(&l, c->auth_path, &err) != 0) {
        tsr_error("collector", "SIGHUP: keeping the previous client list: %s",
                  tsr_error_format(&err, msg, sizeof msg));
        return;
    }
    tsr_info("collector", "SIGHUP: %zu clients loaded from %s", tsr_authlist_count(l), c->auth_path);
    tsr_daemon_cross_region(c->store, l);
    char *keys = tsr_daemon_stream_keys(l);
    bool kept = s_keys_kept(c->stream_keys, keys);
    free(c->stream_keys);
    c->stream_keys = keys;
    tsr_zap_replace(c->zap, l);
    /* A PUB socket cannot drop one subscriber: when a key that could follow
     * the stream was removed (or lost its role), restart the stream so every
     * subscriber authenticates again against the new list. Subscribers
     * reconnect by themselves and fetch what they missed from the log. */
    if (c->pub && !kept) {
        tsr_info("alerts", "a stream key was removed: restarting the alert stream");
        zmq_unbind(c->pub, C.alerts_endpoint);
        zmq_close(c->pub);
        c->pub = NULL;
    }
}

/* Watches a server socket for handshakes that fail before the ZAP handler
 * sees them: a client holding another collector's public key (its HELLO
 * cannot be decrypted), or one not speaking CURVE. Without this the
 * collector said nothing while such a client retried for ever. libzmq
 * 4.3's stable monitor events carry the socket's own endpoint, not the
 * peer's address (that needs the draft v2 monitor), so the line names the
 * endpoint. Returns the PAIR socket to poll, or NULL. */
void *tsr_daemon_monitor_open(tsr_daemon_t *c, void *sock, int which)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://tessera-handshakes-%d", which);
    if (zmq_socket_monitor(sock, ep, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
        return NULL;
    void *m = zmq_socket(c->ctx, ZMQ_PAIR);
    int linger = 0;
    if (m && (zmq_setsockopt(m, ZMQ_LINGER, &linger, sizeof linger) || zmq_connect(m, ep))) {
        zmq_close(m);
        m = NULL;
    }
    if (!m)
        zmq_socket_monitor(sock, NULL, 0);
    return m;
}

/* Reads one monitor event and logs a refused handshake: at most one line
 * per socket every S_PEER_LOG_MS, with how many were not logged since. A
 * connection closed during the handshake (a port scan, a health check) is
 * only a debug line. */
void tsr_daemon_monitor_event(tsr_daemon_t *c, int which)
{
    zmq_msg_t ev, addr;
    zmq_msg_init(&ev);
    zmq_msg_init(&addr);
    if (zmq_msg_recv(&ev, c->monitor[which], ZMQ_DONTWAIT) < 0 || !zmq_msg_more(&ev) ||
        zmq_msg_recv(&addr, c->monitor[which], 0) < 0 || zmq_msg_size(&ev) < 6) {
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
        return;
    }
    uint16_t event;
    uint32_t value;
    memcpy(&event, zmq_msg_data(&ev), 2);
    memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
    const char *sock = which == 0 ? "ingest" : "query";
    const char *endpoint = which == 0 ? C.ingest_endpoint : C.query_endpoint;
    const char *why = NULL;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
        why = "its CURVE HELLO cannot be decrypted: it holds another collector's public key. "
              "Give it this collector's collector.pub";
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
             value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        why = "it does not use CURVE (not a Tessera client?)";
    zmq_msg_close(&ev);
    zmq_msg_close(&addr);
    if (!why) {
        tsr_debug(sock, "a handshake on %s failed (event 0x%x, 0x%x)", endpoint, event, value);
        return;
    }
    c->failed_handshakes++;
    int64_t now = tsr_daemon_now_ms();
    if (c->handshake_logged[which] && now - c->handshake_logged[which] < S_PEER_LOG_MS) {
        c->handshake_unlogged[which]++;
        return;
    }
    char more[64] = "";
    if (c->handshake_unlogged[which])
        snprintf(more, sizeof more, " (%llu more since the last line)",
                 (unsigned long long)c->handshake_unlogged[which]);
    tsr_warn(sock, "refused a handshake on %s%s: %s", endpoint, more, why);
    c->handshake_logged[which] = now;
    c->handshake_unlogged[which] = 0;
}

/* (Re)opens the alert stream; while it cannot bind (tried every 200 ms, the
 * first failure reported), alerts wait in the log, where clients find them. */
void tsr_daemon_pub_open(tsr_daemon_t *c)
{
    static int64_t last_try;
    static bool failing;
    int64_t now = tsr_daemon_now_ms();
    if (c->pub || (last_try && now - last_try < 200))
        return;
    last_try = now;
    c->pub = tsr_daemon_server_socket(c->ctx, ZMQ_PUB, TSR_ZAP_DOMAIN_ALERTS, C.alerts_endpoint,
                                      c->secret, (int64_t)c->lim.max_frame, !failing);
    failing = c->pub == NULL;
    if (c->pub)
        last_try = 0;
}

/* Tells systemd (Type=notify) that the sockets are bound and the collector
 * serves; `systemctl status` shows the endpoints. A no-op outside systemd. */
void tsr_daemon_service_ready(const tsr_authlist_t *list)
{
    char status[512];
    snprintf(status, sizeof status, "listening: ingest %s, query %s, alerts %s; %zu clients",
             C.ingest_endpoint, C.query_endpoint, C.alerts_endpoint, tsr_authlist_count(list));
    tsr_notify_ready(status);
    if (tsr_notify_watchdog_ms() > 0)
        tsr_info("collector", "systemd watchdog every %lld ms", (long long)tsr_notify_watchdog_ms());
}

/* What every start (the daemon, -n, backup, restore) does first: refuse
 * root and a bare start, load the config (or the defaults) into C and
 * check every value a start uses (tsr_daemon_config_check), naming the
 * file and line of a bad one; --data goes over data_dir. Fills *methods.
 * 0, or 1/2 (the exit code) after saying why on stderr. */
int tsr_daemon_config_start(const char *config, const char *data, bool allow_root,
                            const char *level, tsr_settings_methods_t *methods)
{
    long lines[TSR_DAEMON_KEYS_MAX] = {0}; /* the line each key was set on */
    if (!config && !data) {
        /* no data directory made in whatever directory this was started from */
        fprintf(stderr, "tessera-collector: say where the collector keeps its data: --data DIR "
                        "(for example --data /var/lib/tessera), or --config FILE whose [collector] "
                        "data_dir names it (see deploy/collector.conf); nothing was started\n");
        return 2;
    }
    tsr_error_t err;
    char msg[768], why[TSR_FSMODE_WHY_MAX];
    if (tsr_fsmode_refuse_root("tessera-collector", allow_root, why, sizeof why) != 0) {
        fprintf(stderr, "tessera-collector: %s\n", why);
        return 1;
    }
    tsr_error_clear(&err);
    int rc = config ? tsr_config_load_lines(tsr_daemon_keys, config, lines, &err)
                    : tsr_config_defaults(tsr_daemon_keys, &err);
    if (rc == 0)
        rc = tsr_daemon_config_check(config, lines, level, methods, &err);
    if (rc == 0 && !data && !C.data_dir) {
        tsr_error_at(&err, config, 0);
        rc = tsr_error_set(&err, "collector.data_dir",
                           "not set: name the data directory ([collector] data_dir = "
                           "/var/lib/tessera-collector) or pass --data DIR");
    }
    if (rc != 0) {
        fprintf(stderr, "tessera-collector: %s\n", tsr_error_format(&err, msg, sizeof msg));
        tsr_config_free(tsr_daemon_keys);
        return 1;
    }
    if (data) {
        free(C.data_dir);
        C.data_dir = strdup(data);
    }
    return 0;
}

static const char s_backup_usage[] =
    "usage: tessera-collector backup [--config FILE] [--data DIR] [--allow-root] OUT\n"
    "       tessera-collector restore [--config FILE] [--data DIR] [--allow-root]\n"
    "                                 [--alerts-after N] BACKUP\n"
    "\n"
    "backup copies the store while the collector runs (LMDB's compacting hot\n"
    "copy: the store as one commit left it), with the server key pair and\n"
    "authorized_clients, into the new directory OUT, and writes OUT/manifest.json\n"
    "(time, store format, records, last alert sequence). Run it as the\n"
    "collector's user.\n"
    "restore puts BACKUP into the data directory: it refuses one that holds a\n"
    "store (stop the collector and move it aside first), checks the copy against\n"
    "its manifest, and keeps key and client files already there. Then start the\n"
    "collector: what the backup's ingest log held is applied, and alert\n"
    "sequences go on from the backup's last.\n"
    "  --alerts-after N  number new alerts after N: the last alert the old\n"
    "                    collector raised (tessera_last_alert_sequence in its\n"
    "                    metrics) or a liaison saw, when it went on alerting after\n"
    "                    the backup. Those alerts are lost with it; their numbers\n"
    "                    are never given to other alerts.\n";

/* What the commands beside the daemon (backup, restore, upstream-resend)
 * take first: --config, --data, --allow-root, --help, and with alerts (for
 * backup and restore; restore's only) --alerts-after into *alerts_after;
 * then exactly `operands` operands, from argv[optind]; then the config, as
 * every start loads it. -1 to go on, or the exit code (after the usage or
 * the reason on stderr). */
static int s_offline_start(int argc, char **argv, const char *usage, int operands, bool alerts,
                           uint64_t *alerts_after)
{
    static const struct option opts[] = {
        {"alerts-after", required_argument, NULL, 'a'}, /* first: left out without alerts */
        {"config", required_argument, NULL, 'c'},       {"data", required_argument, NULL, 'd'},
        {"allow-root", no_argument, NULL, 'R'},         {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config = NULL, *data = NULL;
    char *end;
    bool allow_root = false, restore = !strcmp(argv[0], "restore");
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", alerts ? opts : opts + 1, NULL)) != -1) {
        switch (o) {
        case 'c':
            config = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'R':
            allow_root = true;
            break;
        case 'a':
            errno = 0;
            *alerts_after = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' || !restore) {
                fprintf(stderr, "tessera-collector: --alerts-after '%s': %s\n", optarg,
                        restore ? "not an alert sequence number" : "for restore only");
                return 2;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind != argc - operands) {
        fputs(usage, stderr);
        return 2;
    }
    tsr_settings_methods_t methods;
    int started = tsr_daemon_config_start(config, data, allow_root, NULL, &methods);
    return started != 0 ? started : -1;
}

/* `backup` and `restore`: the config (for data_dir and the key and client
 * paths), then backup.c. */
int tsr_daemon_cmd_backup(int argc, char **argv)
{
    uint64_t alerts_after = 0;
    bool backup = !strcmp(argv[0], "backup");
    int started = s_offline_start(argc, argv, s_backup_usage, 1, true, &alerts_after);
    if (started != -1)
        return started;
    tsr_error_t err;
    char msg[768], key[4096], pub[4096], auth[4096];
    tsr_error_clear(&err);
    tsr_daemon_path(key, sizeof key, C.server_key, C.data_dir, "collector.key");
    snprintf(pub, sizeof pub, "%.*s.pub", (int)(strlen(key) > 4 ? strlen(key) - 4 : 0), key);
    tsr_daemon_path(auth, sizeof auth, C.authorized_clients, C.data_dir, "authorized_clients");
    const tsr_collector_file_t files[] = {
        {key, "collector.key"}, {pub, "collector.pub"}, {auth, "authorized_clients"}};
    int rc = backup ? tsr_collector_backup(C.data_dir, argv[optind], files, 3, &err)
                    : tsr_collector_restore(argv[optind], C.data_dir, files, 3, alerts_after, &err);
    if (rc != 0)
        fprintf(stderr, "tessera-collector %s: %s\n", argv[0],
                tsr_error_format(&err, msg, sizeof msg));
    tsr_config_free(tsr_daemon_keys);
    return rc == 0 ? 0 : 1;
}

static const char s_resend_usage[] =
    "usage: tessera-collector upstream-resend [--config FILE] [--data DIR] [--allow-root]\n"
    "\n"
    "Makes this regional collector send every record it holds to the collector\n"
    "upstream again, at its next start with an [upstream] (docs/FEDERATION.md,\n"
    "\"Backfill\"): after [upstream] was removed and set again, or when it now\n"
    "points at another national collector. A record the collector upstream\n"
    "already holds arrives as a duplicate there, nothing more. The collector may\n"
    "be running; restart it for the resend to start. Run it as the collector's\n"
    "user.\n";

int tsr_daemon_cmd_resend(int argc, char **argv)
{
    int started = s_offline_start(argc, argv, s_resend_usage, 0, false, NULL);
    if (started != -1)
        return started;
    char envdir[4096], msg[768];
    tsr_error_t err;
    tsr_error_clear(&err);
    size_t records = 0;
    snprintf(envdir, sizeof envdir, "%s/db", C.data_dir);
    int rc = access(envdir, F_OK) == 0 ? tsr_store_upstream_resend(envdir, &records, &err) : -1;
    if (rc == -1)
        fprintf(stderr, "tessera-collector upstream-resend: %s: no store here (is --data or "
                "the config's data_dir the collector's data directory?)\n", envdir);
    else if (rc != 0)
        fprintf(stderr, "tessera-collector upstream-resend: %s\n",
                tsr_error_format(&err, msg, sizeof msg));
    else
        printf("the next start with an [upstream] sends the %zu records held now (and any "
               "since) to the collector upstream\n", records);
    tsr_config_free(tsr_daemon_keys);
    return rc == 0 ? 0 : 1;
}
