/* conf.c - the collector's settings (daemon.h): the table of config keys,
 * the checks the table cannot make (endpoints, methods, the perturbation,
 * [network] key_ids, [upstream]), each naming FILE:LINE: FIELD. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "settings.h"
#include "store.h"
#include "tessera/ckm.h"
#include "tessera/config.h"
#include "tessera/curve.h"
#include "tessera/err.h"
#include "tessera/log.h"
#include "tessera/netkeys.h"

tsr_daemon_config_t C;
/* log_level is debug: worth composing debug lines that cost something */
bool tsr_daemon_debug;
/* The perturbation every count an analyst sees goes through (ckm.h). */
tsr_ckm_table_t tsr_daemon_ckm;
/* Below this variance a handful of averaged queries would pin a count. */
#define S_MIN_VARIANCE 2.0

const tsr_config_key_t tsr_daemon_keys[TSR_DAEMON_KEYS_MAX] = {
    {"collector", "data_dir", TSR_CONFIG_STRING, &C.data_dir, NULL, 0, 0, false,
     "directory for the LMDB environment, keys and authorized_clients (required unless --data "
     "names it)"},
    {"collector", "ingest_endpoint", TSR_CONFIG_STRING, &C.ingest_endpoint, "tcp://127.0.0.1:7701",
     0, 0, false, "where agents submit (ROUTER, CURVE)"},
    {"collector", "query_endpoint", TSR_CONFIG_STRING, &C.query_endpoint, "tcp://127.0.0.1:7702", 0,
     0, false, "where analysts, liaison and admins query (ROUTER, CURVE)"},
    {"collector", "alerts_endpoint", TSR_CONFIG_STRING, &C.alerts_endpoint, "tcp://127.0.0.1:7703",
     0, 0, false,
     "where linkage alerts are published after commit (PUB, CURVE; liaison and admin only)"},
    {"collector", "authorized_clients", TSR_CONFIG_STRING, &C.authorized_clients, "", 0, 0, false,
     "client list (default DATA_DIR/authorized_clients)"},
    {"collector", "server_key", TSR_CONFIG_STRING, &C.server_key, "", 0, 0, false,
     "secret key file (default DATA_DIR/collector.key, created if missing)"},
    {"collector", "log_level", TSR_CONFIG_STRING, &C.log_level, "info", 0, 0, false,
     "debug, info, warn or error"},
    {"collector", "syslog", TSR_CONFIG_BOOL, &C.syslog, "false", 0, 0, false,
     "log to syslog (daemon facility) instead of stderr"},
    {"collector", "max_frame_mib", TSR_CONFIG_INT, &C.max_frame_mib, "4", 1, 256, false,
     "largest message payload; a batch over it is answered MALFORMED"},
    {"storage", "map_size_mib", TSR_CONFIG_INT, &C.map_size_mib, "64", 1, 1 << 20, false,
     "initial LMDB map size"},
    {"storage", "map_step_mib", TSR_CONFIG_INT, &C.map_step_mib, "64", 1, 1 << 20, false,
     "growth step when the map is full"},
    {"storage", "map_max_mib", TSR_CONFIG_INT, &C.map_max_mib, "65536", 1, 1 << 24, false,
     "largest map; past it batches get RETRY_LATER"},
    {"ingest", "max_batches", TSR_CONFIG_INT, &C.max_batches, "64", 1, 10000, false,
     "batches logged in one transaction at most (group commit), and read ahead at most"},
    {"ingest", "max_items", TSR_CONFIG_INT, &C.max_items, "10000", 1, 10000000, false,
     "items (incidents and retractions) in one group commit, about: each peer with a batch "
     "waiting has one in it, and no peer more than its share (fair.h)"},
    {"ingest", "apply_quiet_ms", TSR_CONFIG_INT, &C.apply_quiet_ms, "2", 1, 3600000, false,
     "the ingest log is applied once ingest has been quiet this long..."},
    {"ingest", "apply_quiet_max", TSR_CONFIG_INT, &C.apply_quiet_max, "64", 0, TSR_STORE_DRAIN_MAX,
     false,
     "... while at most this many entries wait (more wait for the delay or apply_batch; 0: never); "
     "while so few wait, a record that shares a token with another is applied at once"},
    {"ingest", "apply_delay_ms", TSR_CONFIG_INT, &C.apply_delay_ms, "300", 1, 3600000, false,
     "... and at least this often while batches keep coming"},
    {"ingest", "apply_batch", TSR_CONFIG_INT, &C.apply_batch, "10000", 1, TSR_STORE_DRAIN_MAX,
     false, "... and as soon as this many entries wait"},
    {"ingest", "apply_step_ms", TSR_CONFIG_INT, &C.apply_step_ms, "50", 0, 3600000, false,
     "one transaction applying the log stops taking entries after this long (0: no bound)"},
    {"ingest", "apply_yield", TSR_CONFIG_BOOL, &C.apply_yield, "true", 0, 0, false,
     "a step applying the log that nothing waits for runs in the background (idle I/O class, "
     "SCHED_IDLE): the Acks get the disk and the CPU first (the disk only under the bfq "
     "scheduler; docs/DEPLOYING.md)"},
    {"spikes", "daily_methods", TSR_CONFIG_STRING, &C.daily_methods, "c1,c2,c3", 0, 0, false,
     "EARS methods run on the daily series: any of c1, c2, c3 (comma-separated), or none"},
    {"spikes", "farrington", TSR_CONFIG_BOOL, &C.farrington, "true", 0, 0, false,
     "run Farrington flexible on the weekly series"},
    {"spikes", "recent_days", TSR_CONFIG_INT, &C.recent_days, "14", 1, 366, false,
     "daily periods older than this are counted but not evaluated (late reports)"},
    {"spikes", "recent_weeks", TSR_CONFIG_INT, &C.recent_weeks, "4", 1, 104, false,
     "weekly periods older than this are counted but not evaluated"},
    {"spikes", "min_cases", TSR_CONFIG_INT, &C.min_cases, "3", 1, 1000, false,
     "an alarm becomes an alert only when the period has at least this many cases"},
    {"spikes", "cross_region", TSR_CONFIG_STRING, &C.cross_region, "auto", 0, 0, false,
     "the national series and cross-region rule: auto (on when authorized_clients lists a "
     "relay: the national tier), on or off"},
    {"disclosure", "k", TSR_CONFIG_INT, &C.k, "5", 3, TSR_CKM_MAX_JS + 1, false,
     "analysts never see a count from 1 to k-1 (at least 3)"},
    {"disclosure", "max_deviation", TSR_CONFIG_INT, &C.max_deviation, "5", 1, TSR_CKM_MAX_D, false,
     "a released count differs from the true one by at most this (at least k-1)"},
    {"disclosure", "variance", TSR_CONFIG_STRING, &C.variance, "5", 0, 0, false,
     "the perturbation's variance for counts of k or more (at least 2)"},
    {"disclosure", "daily_query_budget", TSR_CONFIG_INT, &C.daily_query_budget, "60", 1, 100000,
     false,
     "distinct trends queries each analyst may have answered per UTC day (a repeat is free)"},
    {"retention", "months", TSR_CONFIG_INT, &C.retention_months, "24", 1, 600, false,
     "records reported longer ago than this are refused, and purged every day"},
    {"retention", "audit_months", TSR_CONFIG_INT, &C.audit_months, "0", 0, 600, false,
     "audit entries older than this are purged with the records (0: the same as months)"},
    {"limits", "queries_per_minute", TSR_CONFIG_INT, &C.queries_per_minute, "600", 1, 1000000,
     false, "queries each client key may ask a minute; more are refused RATE_LIMITED"},
    {"limits", "query_burst", TSR_CONFIG_INT, &C.query_burst, "60", 1, 1000000, false,
     "... of which this many at once (the token bucket's size)"},
    {"limits", "audit_refusals_per_minute", TSR_CONFIG_INT, &C.audit_refusals_per_minute, "10", 0,
     100000, false,
     "refused queries audited one by one per key and kind of refusal a minute; the rest are "
     "counted in one entry"},
    {"limits", "query_thread_nice", TSR_CONFIG_INT, &C.query_thread_nice, "10", 0, 19, false,
     "how many steps nicer than the rest of the collector the query thread runs (0: the same): "
     "with the CPU busy, analysts' scans yield to the Acks, and take longer"},
    {"limits", "receive_hwm", TSR_CONFIG_INT, &C.receive_hwm, "8", 1, 100000, false,
     "messages queued per peer connection on each socket before the collector stops reading it "
     "(ZMQ_RCVHWM)"},
    {"limits", "send_hwm", TSR_CONFIG_INT, &C.send_hwm, "1000", 1, 1000000, false,
     "messages queued per peer connection for sending (ZMQ_SNDHWM); past it ROUTER drops "
     "answers (agents resend) and PUB drops alerts (subscribers catch up from the log)"},
    {"network", "key_ids", TSR_CONFIG_STRING, &C.key_ids, NULL, 0, 0, false,
     "the network key ids whose tokens are accepted (ID or ID until YYYY-MM-DD, "
     "comma-separated); unset: the first one a record brings is pinned"},
    {"upstream", "endpoint", TSR_CONFIG_STRING, &C.up_endpoint, NULL, 0, 0, false,
     "the national (upstream) collector's ingest endpoint; unset: no upstream"},
    {"upstream", "server_key", TSR_CONFIG_STRING, &C.up_server_key, NULL, 0, 0, false,
     "the upstream collector's public key file (its collector.pub)"},
    {"upstream", "client_key", TSR_CONFIG_STRING, &C.up_client_key, NULL, 0, 0, false,
     "this collector's own secret key file for the upstream (tessera keygen --curve), "
     "listed there as: KEY relay ID AREAS"},
    {"upstream", "forward", TSR_CONFIG_STRING, &C.up_forward, "records", 0, 0, false,
     "records (every applied record) or linkage (tokens, area, day and record id only)"},
    {"upstream", "timeout_ms", TSR_CONFIG_INT, &C.up_timeout_ms, "5000", 100, 3600000, false,
     "an Ack from the upstream not in by then: the batch is sent again (Lazy Pirate)"},
    {"upstream", "max_batch", TSR_CONFIG_INT, &C.up_max_batch, "500", 1, 1000, false,
     "changes forwarded in one batch at most"},
    {NULL, NULL, 0, NULL, NULL, 0, 0, false, NULL},
};
/* The parsed [network] key_ids (n = 0: not set). */
tsr_netkeys_t tsr_daemon_netkeys;

static int s_netkeys_load(const char *config, const long *lines, tsr_error_t *err);
static int s_upstream_load(const char *config, const long *lines, tsr_error_t *err);

/* The line of config the key whose value is at dest was set on (0: its
 * default stands, or there is no file). */
static long s_key_line(const long *lines, const void *dest)
{
    for (size_t i = 0; tsr_daemon_keys[i].name; i++)
        if (tsr_daemon_keys[i].dest == dest)
            return lines[i];
    return 0;
}

/* Fills err with "FILE:LINE: FIELD: why" for the key at dest (FILE is
 * "defaults" without a config) and returns TSR_EINVAL. */
static int s_key_error(tsr_error_t *err, const char *config, const long *lines, const void *dest,
                       const char *why)
{
    for (size_t i = 0; tsr_daemon_keys[i].name; i++)
        if (tsr_daemon_keys[i].dest == dest) {
            char field[64];
            snprintf(field, sizeof field, "%s.%s", tsr_daemon_keys[i].section,
                     tsr_daemon_keys[i].name);
            tsr_error_at(err, config ? config : "defaults", lines[i]);
            return tsr_error_set(err, field, "%s", why);
        }
    return tsr_error_set(err, "", "%s", why);
}

/* Builds the perturbation table from [disclosure], refusing unsafe values
 * into err (FILE:LINE of the value at fault, or of the last of the three
 * set when it is their combination). */
static int s_ckm_build(const char *config, const long *lines, tsr_error_t *err)
{
    char *end = NULL, why[256] = "", what[512];
    double v = strtod(C.variance, &end);
    if (end == C.variance || *end != '\0' || !(v >= S_MIN_VARIANCE)) {
        snprintf(why, sizeof why, "'%s' must be a number of at least %.0f (less lets a few "
                 "averaged queries pin a small count)", C.variance, S_MIN_VARIANCE);
        return s_key_error(err, config, lines, &C.variance, why);
    }
    if (tsr_ckm_table_build(&tsr_daemon_ckm, (unsigned)C.max_deviation, v, (unsigned)C.k - 1, why,
                            sizeof why) == 0)
        return 0;
    long line = s_key_line(lines, &C.k);
    const void *last = &C.k;
    if (s_key_line(lines, &C.max_deviation) > line) {
        line = s_key_line(lines, &C.max_deviation);
        last = &C.max_deviation;
    }
    if (s_key_line(lines, &C.variance) > line)
        last = &C.variance;
    snprintf(what, sizeof what, "k = %ld, max_deviation = %ld, variance = %s: %s", C.k,
             C.max_deviation, C.variance, why);
    return s_key_error(err, config, lines, last, what);
}

/* Every check of the configured values that the key table cannot make, so
 * that -n refuses what start would, before anything is created: the three
 * endpoints (bindable, and not the same twice), [spikes] daily_methods,
 * log_level (and --log-level, `level`), the server key's name, the
 * perturbation's parameters and [network] key_ids. Fills *methods.
 * Returns 0, or TSR_EINVAL with err = FILE:LINE: FIELD: why. */
int tsr_daemon_config_check(const char *config, const long *lines, const char *level,
                            tsr_settings_methods_t *methods, tsr_error_t *err)
{
    char why[512];
    char *const *eps[] = {&C.ingest_endpoint, &C.query_endpoint, &C.alerts_endpoint};
    for (size_t i = 0; i < 3; i++) {
        if (tsr_settings_endpoint_check(*eps[i], why, sizeof why) != 0)
            return s_key_error(err, config, lines, eps[i], why);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(*eps[i], *eps[j])) {
                snprintf(why, sizeof why, "'%s' is already the %s: each needs its own", *eps[i],
                         j == 0 ? "ingest_endpoint" : "query_endpoint");
                return s_key_error(err, config, lines, eps[i], why);
            }
    }
    if (tsr_settings_methods_parse(C.daily_methods, methods, why, sizeof why) != 0)
        return s_key_error(err, config, lines, &C.daily_methods, why);
    if (tsr_settings_cross_region_parse(C.cross_region, &C.cross_mode, why, sizeof why) != 0)
        return s_key_error(err, config, lines, &C.cross_region, why);
    tsr_log_level_t lvl;
    if (tsr_log_parse_level(C.log_level, &lvl) != 0) {
        snprintf(why, sizeof why, "'%s' is not a log level: write debug, info, warn or error",
                 C.log_level);
        return s_key_error(err, config, lines, &C.log_level, why);
    }
    if (level && tsr_log_parse_level(level, &lvl) != 0) {
        tsr_error_at(err, NULL, 0);
        return tsr_error_set(err, "--log-level",
                             "'%s' is not a log level: write debug, info, warn or error", level);
    }
    size_t n = strlen(C.server_key);
    if (n && (n < 5 || strcmp(C.server_key + n - 4, ".key") != 0) &&
        !tsr_daemon_exists(C.server_key)) {
        snprintf(why, sizeof why, "'%s' does not exist, and a key pair is made only for a name "
                 "ending in .key (NAME.key, with NAME.pub beside it)", C.server_key);
        return s_key_error(err, config, lines, &C.server_key, why);
    }
    if (s_ckm_build(config, lines, err) != 0)
        return TSR_EINVAL;
    if (C.key_ids && s_netkeys_load(config, lines, err) != 0)
        return TSR_EINVAL;
    if (s_upstream_load(config, config ? lines : NULL, err) != 0)
        return TSR_EINVAL;
    return 0;
}

/* Parses [network] key_ids (set in the file: config is not NULL), naming
 * FILE:LINE in err when it is wrong. */
static int s_netkeys_load(const char *config, const long *lines, tsr_error_t *err)
{
    int rc = tsr_netkeys_parse(&tsr_daemon_netkeys, C.key_ids, err);
    /* 0 is what a token without a key id carries (protobuf's default), so
     * accepting it would let such tokens in */
    for (size_t i = 0; rc == 0 && i < tsr_daemon_netkeys.n; i++)
        if (tsr_daemon_netkeys.ids[i].key_id == 0)
            rc = tsr_error_set(err, "", "0 is not a network key id: it is what a token without "
                                        "one carries; write the id 'tessera-agent keygen' printed");
    if (rc == 0)
        return 0;
    tsr_daemon_netkeys.n = 0;
    tsr_error_at(err, config, s_key_line(lines, &C.key_ids));
    snprintf(err->field, sizeof err->field, "network.key_ids");
    return TSR_EINVAL;
}

/* The line keys[i] of the table was set on (0: the default stands). */
static long s_line_of(const long *lines, const void *dest)
{
    size_t i = 0;
    while (tsr_daemon_keys[i].name && tsr_daemon_keys[i].dest != dest)
        i++;
    return lines && tsr_daemon_keys[i].name ? lines[i] : 0;
}

/* Checks [upstream] (federation) completely, naming FILE:LINE and the key
 * in err: a section without an endpoint, a missing or unreadable key file,
 * an unknown forward value, or this collector's own ingest endpoint. */
static int s_upstream_load(const char *config, const long *lines, tsr_error_t *err)
{
    const char *file = config ? config : "defaults";
    char pub[41], sec[41], mine[41];
    tsr_error_t kerr;
    tsr_error_clear(&kerr);
    if (strcmp(C.up_forward, "records") != 0 && strcmp(C.up_forward, "linkage") != 0) {
        tsr_error_at(err, file, s_line_of(lines, &C.up_forward));
        return tsr_error_set(err, "upstream.forward", "'%s' is not records or linkage",
                             C.up_forward);
    }
    if (!C.up_endpoint || !*C.up_endpoint) {
        void *set = C.up_server_key ? (void *)&C.up_server_key
                    : C.up_client_key ? (void *)&C.up_client_key : NULL;
        if (!set)
            return 0;
        tsr_error_at(err, file, s_line_of(lines, set));
        return tsr_error_set(err, set == &C.up_server_key ? "upstream.server_key"
                                                          : "upstream.client_key",
                             "set, but [upstream] endpoint is not: set the upstream collector's "
                             "ingest endpoint too, or remove the [upstream] section");
    }
    long at = s_line_of(lines, &C.up_endpoint);
    tsr_error_at(err, file, at);
    if (strncmp(C.up_endpoint, "tcp://", 6) != 0 && strncmp(C.up_endpoint, "ipc://", 6) != 0)
        return tsr_error_set(err, "upstream.endpoint", "'%s' is not tcp://HOST:PORT",
                             C.up_endpoint);
    if (!strcmp(C.up_endpoint, C.ingest_endpoint))
        return tsr_error_set(err, "upstream.endpoint", "%s is this collector's own "
                             "ingest_endpoint: set the national collector's", C.up_endpoint);
    if (!C.up_server_key || !*C.up_server_key)
        return tsr_error_set(err, "upstream.server_key", "required with [upstream] endpoint: "
                             "the path of the upstream collector's collector.pub");
    if (!C.up_client_key || !*C.up_client_key)
        return tsr_error_set(err, "upstream.client_key", "required with [upstream] endpoint: "
                             "a secret key file for this collector (tessera keygen --curve "
                             "FILE), its public key listed upstream as KEY relay ID AREAS");
    if (tsr_curve_load_public(C.up_server_key, pub, &kerr) != 0) {
        tsr_error_at(err, file, s_line_of(lines, &C.up_server_key));
        return tsr_error_set(err, "upstream.server_key", "%s: %s", C.up_server_key,
                             kerr.reason);
    }
    int rc = tsr_curve_load_secret(C.up_client_key, sec, mine, &kerr);
    explicit_bzero(sec, sizeof sec);
    if (rc != 0) {
        tsr_error_at(err, file, s_line_of(lines, &C.up_client_key));
        return tsr_error_set(err, "upstream.client_key", "%s: %s", C.up_client_key,
                             kerr.reason);
    }
    return 0;
}

/* Says at start (and for -n) which network key ids will be accepted, and
 * warns about ids already past their end. */
void tsr_daemon_netkeys_report(FILE *check, const tsr_store_t *store)
{
    char text[192], d[11];
    int32_t today = tsr_day_today();
    if (tsr_daemon_netkeys.n == 0) {
        tsr_netkeys_t pin;
        bool pinned = false;
        if (store)
            tsr_store_network_keys(store, today, &pin, &pinned);
        /* unset, the first agency to submit decides the network's key, even
         * one holding a wrong key: every other agency's records would then be
         * refused (issue 16) */
        if (check)
            fprintf(check, "warning: [network] key_ids is not set: the first network key id a "
                           "record brings will be pinned, and records under any other refused; "
                           "whichever agency submits first decides, even with a wrong key. Set "
                           "key_ids to the id 'tessera-agent keygen' printed\n");
        else if (!pinned)
            tsr_warn("collector", "[network] key_ids is not set: the first network key id a "
                     "record brings will be pinned, and records under any other refused; set "
                     "key_ids to the id 'tessera-agent keygen' printed to choose it yourself "
                     "(unset, whichever agency submits first decides, even with a wrong key)");
        return;
    }
    tsr_netkeys_format(&tsr_daemon_netkeys, text, sizeof text);
    if (check)
        fprintf(check, "network key ids: %s\n", text);
    else
        tsr_info("collector", "network key ids accepted: %s", text);
    for (size_t i = 0; i < tsr_daemon_netkeys.n; i++)
        if (tsr_daemon_netkeys.ids[i].until_day && tsr_daemon_netkeys.ids[i].until_day < today) {
            tsr_day_format(d, tsr_daemon_netkeys.ids[i].until_day);
            if (check)
                fprintf(check,
                        "warning: network key id %u ended on %s: its records are "
                        "refused\n",
                        tsr_daemon_netkeys.ids[i].key_id, d);
            else
                tsr_warn("collector",
                         "network key id %u ended on %s ([network] key_ids): "
                         "records under it are refused",
                         tsr_daemon_netkeys.ids[i].key_id, d);
        }
}
