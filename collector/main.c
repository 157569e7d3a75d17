/* tessera-collector - the regional collector: authenticates every peer over
 * CURVE, stores minimised records in LMDB and acknowledges each batch only
 * after the transaction that holds it has committed (DESIGN sections 5, 6).
 *
 * One thread runs the loop below (the ZAP handler has its own): read the
 * batches waiting on the ingest socket, log them in one transaction (group
 * commit), then send every Ack; between groups, answer queries. The apply
 * thread (applier.h) turns the log into records, indexes, clusters and
 * series, and commits the queries' audit entries. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "access.h"
#include "backup.h"
#include "applier.h"
#include "budget.h"
#include "fair.h"
#include "histo.h"
#include "ratelimit.h"
#include "refusals.h"
#include "settings.h"
#include "store.h"
#include "upstream.h"
#include "tessera/auth.h"
#include "tessera/ckm.h"
#include "tessera/codes.h"
#include "tessera/config.h"
#include "tessera/curve.h"
#include "tessera/err.h"
#include "tessera/fsmode.h"
#include "tessera/log.h"
#include "tessera/netkeys.h"
#include "tessera/notify.h"
#include "tessera/wire.h"

#define MIB ((size_t)1 << 20)

typedef struct {
    char *data_dir, *ingest_endpoint, *query_endpoint, *alerts_endpoint, *authorized_clients,
        *server_key, *log_level;
    bool syslog;
    long max_frame_mib, map_size_mib, map_step_mib, map_max_mib, max_batches, retention_months;
    long apply_quiet_ms, apply_quiet_max, apply_delay_ms, apply_batch, apply_step_ms, max_items;
    long queries_per_minute, query_burst, audit_refusals_per_minute, receive_hwm, send_hwm;
    long audit_months;
    long k, max_deviation, recent_days, recent_weeks, min_cases, daily_query_budget;
    char *daily_methods, *variance;
    bool farrington;
    char *key_ids;
    /* [upstream] (federation, docs/FEDERATION.md) */
    char *up_endpoint, *up_server_key, *up_client_key, *up_forward;
    long up_timeout_ms, up_max_batch;
} s_config_t;

static s_config_t C;
/* log_level is debug: worth composing debug lines that cost something */
static bool s_debug;
/* The perturbation every count an analyst sees goes through (ckm.h). */
static tsr_ckm_table_t s_ckm;
/* Below this variance a handful of averaged queries would pin a count. */
#define S_MIN_VARIANCE 2.0

static const tsr_config_key_t s_keys[] = {
    {"collector", "data_dir", TSR_CONFIG_STRING, &C.data_dir, NULL, 0, 0, false,
     "directory for the LMDB environment, keys and authorized_clients (required unless --data "
     "names it)"},
    {"collector", "ingest_endpoint", TSR_CONFIG_STRING, &C.ingest_endpoint, "tcp://127.0.0.1:7701",
     0, 0, false, "where agents submit (ROUTER, CURVE)"},
    {"collector", "query_endpoint", TSR_CONFIG_STRING, &C.query_endpoint, "tcp://127.0.0.1:7702", 0,
     0, false, "where analysts, liaison and admins query (ROUTER, CURVE)"},
    {"collector", "alerts_endpoint", TSR_CONFIG_STRING, &C.alerts_endpoint,
     "tcp://127.0.0.1:7703", 0, 0, false,
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
     false, "... while at most this many entries wait (more wait for the delay or apply_batch; 0: never); "
     "while so few wait, a record that shares a token with another is applied at once"},
    {"ingest", "apply_delay_ms", TSR_CONFIG_INT, &C.apply_delay_ms, "300", 1, 3600000, false,
     "... and at least this often while batches keep coming"},
    {"ingest", "apply_batch", TSR_CONFIG_INT, &C.apply_batch, "10000", 1, TSR_STORE_DRAIN_MAX, false,
     "... and as soon as this many entries wait"},
    {"ingest", "apply_step_ms", TSR_CONFIG_INT, &C.apply_step_ms, "50", 0, 3600000, false,
     "one transaction applying the log stops taking entries after this long (0: no bound)"},
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
static tsr_netkeys_t s_netkeys;

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

/* --- runtime state ----------------------------------------------------------- */

/* Malformed-frame log lines, per peer (s_count_malformed). */
#define S_PEER_LOG 64
#define S_PEER_LOG_MS 10000
typedef struct {
    char id[TSR_CLIENT_ID_MAX];
    int64_t last_ms;     /* monotonic ms of its last line */
    uint64_t suppressed; /* lines not written since */
} s_peer_log_t;

typedef struct s_pending s_pending_t;
typedef struct s_query_job s_query_job_t;

typedef struct {
    void *ctx, *ingest, *query, *pub;
    char secret[41];
    char *stream_keys; /* liaison and admin keys now listed (s_stream_keys) */
    tsr_zap_t *zap;
    tsr_store_t *store;
    tsr_budget_t *budget; /* analysts' queries today (budget.h) */
    tsr_wire_limits_t lim;
    char auth_path[4096];
    uint64_t malformed, unauthorised, acks_sent, budget_refusals;
    tsr_histo_t ack_latency;    /* of the Acks of stored batches, since start-up */
    uint64_t malformed_batches; /* answered MALFORMED (counted in malformed too) */
    uint64_t rate_limited;      /* queries refused RATE_LIMITED */
    uint64_t deferrals;         /* batches left for a later commit, over their peer's share */
    uint64_t group_commits;     /* ingest transactions */
    uint64_t audit_purged;      /* since start-up (the store counts them for all time) */
    tsr_ratelimit_t *rate;      /* queries per key (ratelimit.h) */
    tsr_upstream_t *upstream;   /* federation: the relay's sender, or NULL (upstream.h) */
    tsr_refusals_t *refusals;   /* refused queries for the audit log (refusals.h) */
    int64_t refusals_flushed;   /* unix seconds of the last flush */
    /* The ingest queue (fair.h): batches read and decoded, oldest first, at
     * most max_batches; a commit takes each peer's share and the rest wait
     * for the next one. The arrays have max_batches entries. */
    s_pending_t **queue;
    size_t n_queued;
    tsr_fair_batch_t *fair;
    tsr_store_batch_t *sb;
    void *monitor[2];            /* handshake failures on ingest, query (s_monitor_open) */
    uint64_t failed_handshakes;  /* refused before ZAP: another server key, or not CURVE */
    int64_t handshake_logged[2]; /* monotonic ms of the last line, per socket */
    uint64_t handshake_unlogged[2];
    uint64_t last_alert;     /* highest alert seq in the log */
    int32_t today;           /* UTC day of the last boundary check */
    int64_t last_detect;     /* monotonic ms of the last spike evaluation */
    bool starting;           /* the first boundary check also evaluates today */
    int64_t last_heartbeat;  /* monotonic ms */
    s_peer_log_t peer_log[S_PEER_LOG];
    s_peer_log_t key_log[S_PEER_LOG]; /* records refused for their network key */
    int64_t drain_retry_at;  /* monotonic ms: after a failed drain or day boundary,
                              * neither again before */
    tsr_applier_t *applier;  /* the apply thread (applier.h) */
    uint64_t day_target;     /* the day boundary waits for the log applied to this - 1 */
    /* Queries between arrival and answer, oldest first: waiting for the
     * apply (their target sequence), then for their audit commit. */
    s_query_job_t *jobs, **jobs_tail;
    bool jobs_ready; /* queries ready to answer left for the next turn */
} s_collector_t;

static int64_t s_now_ms(void);
static int64_t s_now_us(void);

/* The slot of peer `who` in a per-peer log table: its own, or the place
 * of the peer quiet longest. */
static s_peer_log_t *s_peer_slot(s_peer_log_t *tab, const char *who)
{
    s_peer_log_t *oldest = &tab[0];
    for (size_t i = 0; i < S_PEER_LOG; i++) {
        if (!strcmp(tab[i].id, who) && tab[i].id[0])
            return &tab[i];
        if (tab[i].last_ms < oldest->last_ms)
            oldest = &tab[i];
    }
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->id, sizeof oldest->id, "%s", who);
    oldest->last_ms = INT64_MIN;
    return oldest;
}

/* Whether a line about `who` may be logged now: at most one per peer every
 * S_PEER_LOG_MS, so a flood cannot flood the log and one noisy peer cannot
 * hide another. When it may, *more says how many were not logged since. */
static bool s_peer_log_due(s_peer_log_t *tab, const char *who, char *more, size_t cap)
{
    int64_t now = s_now_ms();
    s_peer_log_t *slot = s_peer_slot(tab, who);
    if (slot->last_ms != INT64_MIN && now - slot->last_ms < S_PEER_LOG_MS) {
        slot->suppressed++;
        return false;
    }
    more[0] = '\0';
    if (slot->suppressed)
        snprintf(more, cap, "; %llu more from it not logged",
                 (unsigned long long)slot->suppressed);
    slot->last_ms = now;
    slot->suppressed = 0;
    return true;
}

/* Counts a frame that was refused as malformed and logs it (rate-limited
 * per peer, s_peer_log_due). peer is the ZAP id, or NULL for a key no
 * longer listed. */
static void s_count_malformed(s_collector_t *c, const char *sock, const char *peer,
                              const char *why, bool answered)
{
    c->malformed++;
    if (answered)
        c->malformed_batches++;
    const char *who = peer ? peer : "(no longer listed)";
    char more[64];
    if (!s_peer_log_due(c->peer_log, who, more, sizeof more))
        return;
    tsr_warn(sock, "%s: malformed frame %s (%s)%s; %llu so far event=%s status=malformed id=%s",
             who, answered ? "answered MALFORMED" : "dropped", why, more,
             (unsigned long long)c->malformed, answered ? "batch_rejected" : "frame_dropped",
             peer ? peer : "-");
}

/* Receives one ROUTER message: identity + one body frame. Returns 0 and
 * fills both (caller closes), or -1 when the message had another shape. */
static int s_recv(void *sock, zmq_msg_t *ident, zmq_msg_t *body)
{
    zmq_msg_init(ident);
    zmq_msg_init(body);
    if (zmq_msg_recv(ident, sock, ZMQ_DONTWAIT) < 0)
        return -2;
    if (!zmq_msg_more(ident) || zmq_msg_recv(body, sock, 0) < 0)
        return -1;
    int extra = 0;
    while (zmq_msg_more(body)) { /* drain and refuse multi-frame messages */
        zmq_msg_t junk;
        zmq_msg_init(&junk);
        zmq_msg_recv(&junk, sock, 0);
        int more = zmq_msg_more(&junk);
        zmq_msg_close(&junk);
        extra = 1;
        if (!more)
            break;
    }
    return extra ? -1 : 0;
}

static void s_send(void *sock, zmq_msg_t *ident, const tsr_msg_t *m)
{
    uint8_t *buf;
    size_t len;
    if (tsr_wire_encode(m, &buf, &len) != 0)
        return;
    zmq_msg_t id;
    zmq_msg_init(&id);
    zmq_msg_copy(&id, ident);
    zmq_msg_send(&id, sock, ZMQ_SNDMORE);
    zmq_send(sock, buf, len, 0);
    free(buf);
}

/* --- ingest ------------------------------------------------------------------- */

struct s_pending {
    zmq_msg_t ident;
    int64_t read_us; /* monotonic microseconds when it was read (Ack latency) */
    tsr_msg_t msg;
    tsr_client_t client;
    tsr_store_item_t *items;
    size_t n_items;
};

static void s_pending_clear(s_pending_t *p)
{
    zmq_msg_close(&p->ident);
    tsr_msg_clear(&p->msg);
    tsr_client_clear(&p->client);
    free(p->items);
}

static void s_pending_destroy(s_pending_t **p_p)
{
    if (!*p_p)
        return;
    s_pending_clear(*p_p);
    free(*p_p);
    *p_p = NULL;
}

/* Builds the store items of a decoded batch. */
static int s_items(s_pending_t *p)
{
    tsr_batch_t *b = &p->msg.u.submit;
    p->n_items = b->n_incidents + b->n_retractions;
    p->items = calloc(p->n_items + 1, sizeof *p->items);
    if (!p->items)
        return TSR_ENOMEM;
    for (size_t i = 0; i < b->n_incidents; i++) {
        tsr_store_item_t *it = &p->items[i];
        it->incident = &b->incidents[i];
        it->forward = b->forward;
        it->pre_reason = b->incident_verdicts[i].reason;
        memcpy(it->pre_detail, b->incident_verdicts[i].detail, sizeof it->pre_detail);
    }
    for (size_t i = 0; i < b->n_retractions; i++) {
        tsr_store_item_t *it = &p->items[b->n_incidents + i];
        memcpy(it->record_id, b->retractions[i].record_id, TSR_RECORD_ID_LEN);
        it->version = b->retractions[i].version;
        memcpy(it->agency_id, b->retractions[i].agency_id, sizeof it->agency_id);
        it->forward = b->forward;
        it->pre_reason = b->retraction_verdicts[i].reason;
        memcpy(it->pre_detail, b->retraction_verdicts[i].detail, sizeof it->pre_detail);
    }
    return TSR_OK;
}

/* Logs (rate-limited per agency) that records of a batch were refused for
 * their network key: the agency holds a key that is not this network's,
 * and its cases would not link. */
static void s_log_wrong_keys(s_collector_t *c, const s_pending_t *p, const tsr_ack_t *a)
{
    size_t n = 0;
    const char *first = NULL;
    for (size_t i = 0; i < a->n_rejections; i++)
        if (a->rejections[i].reason == TSR_REJECT_WRONG_NETWORK_KEY && n++ == 0)
            first = a->rejections[i].detail;
    char more[64];
    if (n == 0 || !s_peer_log_due(c->key_log, p->client.id, more, sizeof more))
        return;
    tsr_warn("ingest", "%s: %zu record(s) refused (WRONG_NETWORK_KEY): %s. The agency's "
             "network.key is not this network's%s", p->client.id, n, first, more);
}

/* The Ack for a pending batch after the store answered rc. */
static void s_ack(s_collector_t *c, s_pending_t *p, int rc)
{
    tsr_msg_t m = {.kind = TSR_MSG_ACK};
    tsr_ack_t *a = &m.u.ack;
    a->batch_id = p->msg.u.submit.batch_id;
    a->status = rc == 0 ? TSR_ACK_OK : TSR_ACK_RETRY_LATER;
    tsr_rejection_t *rj = calloc(p->n_items + 1, sizeof *rj);
    if (!rj)
        a->status = TSR_ACK_RETRY_LATER;
    size_t n_inc = p->msg.u.submit.n_incidents;
    for (size_t i = 0; rc == 0 && rj && i < p->n_items; i++) {
        tsr_store_item_t *it = &p->items[i];
        switch (it->outcome) {
        case TSR_OUTCOME_ACCEPTED: a->accepted++; break;
        case TSR_OUTCOME_DUPLICATE: a->duplicates++; break;
        case TSR_OUTCOME_REPLACED: a->replaced++; break;
        case TSR_OUTCOME_RETRACTED: a->retracted++; break;
        default: {
            tsr_rejection_t *r = &rj[a->n_rejections++];
            r->retraction = i >= n_inc;
            r->index = (uint32_t)(i >= n_inc ? i - n_inc : i);
            r->reason = it->reason;
            snprintf(r->detail, sizeof r->detail, "%s", it->detail);
        }
        }
    }
    a->rejections = rj;
    tsr_store_network_keys(c->store, tsr_day_today(), &a->network_keys, NULL);
    a->retention_months = (int32_t)C.retention_months;
    s_log_wrong_keys(c, p, a);
    s_send(c->ingest, &p->ident, &m);
    c->acks_sent++;
    int64_t waited = s_now_us() - p->read_us;
    tsr_histo_observe(&c->ack_latency, waited > 0 ? (uint64_t)waited : 0);
    if (a->n_rejections > 0)
        tsr_info("ingest", "%s: batch %llu: %zu of %zu record(s) rejected, the first: %s "
                 "event=batch_rejected agency=%s batch=%llu records=%zu rejected=%zu",
                 p->client.id, (unsigned long long)a->batch_id, a->n_rejections, p->n_items,
                 rj[0].detail, p->client.id, (unsigned long long)a->batch_id, p->n_items,
                 a->n_rejections);
    free(rj);
}

/* Whether the alert stream carries alerts of kind: the stream is for the
 * liaison and admin roles (the ZAP handler lets no other subscribe), so it
 * carries what the access table gives both: linkage alerts. Spike and
 * cross-area alerts, with their exact counts, are the analyst's (issue 14)
 * and stay in the log, where analysts ask for them. */
static bool s_streamed(int kind)
{
    return tsr_access_alert_allowed(TSR_ROLE_LIAISON, kind) &&
           tsr_access_alert_allowed(TSR_ROLE_ADMIN, kind);
}

/* Publishes alerts p[0..n) once committed. A subscriber that misses one
 * (not connected, or the stream restarting) finds it in the log through the
 * query socket: nothing is lost by a dropped message. The sequence numbers
 * of alerts not streamed leave gaps, which subscribers fill from the log
 * (where they are not theirs either). */
static void s_publish_list(s_collector_t *c, const tsr_link_published_t *p, size_t n)
{
    tsr_upstream_kick(c->upstream); /* an apply step or purge may have queued changes */
    for (size_t i = 0; i < n; i++) {
        if (p[i].seq > c->last_alert)
            c->last_alert = p[i].seq;
        if (c->pub && s_streamed(p[i].kind) &&
            zmq_send(c->pub, p[i].buf, p[i].len, ZMQ_DONTWAIT) < 0)
            tsr_warn("alerts", "alert %llu not published: %s", (unsigned long long)p[i].seq,
                     zmq_strerror(zmq_errno()));
    }
}

/* Publishes what the apply thread committed, then what the loop thread's
 * own store calls committed (with the applier paused, or after it
 * stopped). */
static void s_publish(s_collector_t *c)
{
    size_t n = 0;
    tsr_link_published_t *p = c->applier ? tsr_applier_alerts(c->applier, &n) : NULL;
    s_publish_list(c, p, n);
    for (size_t i = 0; i < n; i++)
        free(p[i].buf);
    free(p);
}

static void s_publish_store(s_collector_t *c)
{
    s_publish(c); /* the apply thread's first: they are older, and in order */
    size_t n;
    const tsr_link_published_t *p = tsr_store_published(c->store, &n);
    s_publish_list(c, p, n);
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Applies the whole log in the loop thread, step after bounded step, once
 * the apply thread has stopped: at a clean stop (after a crash the next
 * start applies it). */
static void s_apply_all(s_collector_t *c)
{
    if (tsr_store_logged(c->store) > 0)
        tsr_store_drain_all(c->store, (int64_t)time(NULL)); /* a failure is logged */
    s_publish_store(c);
}

/* How long the loop may wait for a message: not at all while batches wait
 * for the next commit or queries ready to answer wait for their turn;
 * otherwise until a message, the apply thread's news or half a second. */
static int s_poll_timeout(const s_collector_t *c)
{
    return c->n_queued > 0 || c->jobs_ready ? 0 : 500;
}

/* The loop thread's calls of the apply thread's kind, between these. */
static void s_pause(s_collector_t *c)
{
    if (c->applier)
        tsr_applier_pause(c->applier);
}

static void s_resume(s_collector_t *c)
{
    if (c->applier)
        tsr_applier_resume(c->applier);
}

static int s_audit_retention(s_collector_t *c, int64_t now, uint64_t *purged);

/* Purges what retention no longer allows (daily, and at start-up): the
 * records, then the audit log (s_audit_retention). A failure of either is
 * logged by the store and tried again the next day or start. */
static void s_retention(s_collector_t *c, int64_t now)
{
    uint64_t purged = 0, audit = 0;
    int32_t before = tsr_store_retention_cutoff((int)C.retention_months, now);
    s_pause(c);
    tsr_store_purge(c->store, before, now, &purged);
    s_publish_store(c);
    s_audit_retention(c, now, &audit);
    s_resume(c);
}

/* When the UTC day changes, the day just closed (and on Sundays its week)
 * is evaluated again: its counts were incomplete while it ran. */
static void s_day_boundary(s_collector_t *c)
{
    int64_t now = (int64_t)time(NULL);
    int32_t today = (int32_t)(now / 86400);
    if (today == c->today)
        return;
    /* the closed day counts every record acknowledged by now: the apply
     * thread applies them (the loop goes on meanwhile, and comes back on
     * its news), then it is paused for the evaluation, which waits for at
     * most the step under way. After a failure the boundary is tried again
     * a second later (evaluating a day twice alerts nothing twice). */
    if (s_now_ms() < c->drain_retry_at)
        return;
    if (c->day_target == 0)
        c->day_target = tsr_store_last_logged(c->store) + 1; /* + 1: 0 means unset */
    if (tsr_store_applied(c->store) + 1 < c->day_target && !tsr_applier_failing(c->applier)) {
        tsr_applier_want(c->applier, c->day_target - 1);
        return;
    }
    c->day_target = 0;
    s_pause(c);
    bool applied = true;
    for (int32_t d = c->today; applied && d < today + (c->starting ? 1 : 0); d++) {
        applied = tsr_store_day_closed(c->store, d, now) == 0;
        s_publish_store(c);
        if (!applied)
            c->drain_retry_at = s_now_ms() + 1000;
    }
    s_resume(c);
    if (!applied)
        return;
    for (size_t i = 0; i < s_netkeys.n && !c->starting; i++)
        if (s_netkeys.ids[i].until_day && s_netkeys.ids[i].until_day >= c->today &&
            s_netkeys.ids[i].until_day < today) {
            char d[11];
            tsr_warn("collector", "network key id %u ended on %s ([network] key_ids): records "
                     "under it are refused from now on", s_netkeys.ids[i].key_id,
                     tsr_day_format(d, s_netkeys.ids[i].until_day));
        }
    c->today = today;
    c->starting = false;
    s_retention(c, now);
}

/* About once a second, the highest seq on the stream: a subscriber that is
 * behind knows it missed something even when no new alert follows. */
static void s_heartbeat(s_collector_t *c)
{
    int64_t now = s_now_ms();
    if (!c->pub || now - c->last_heartbeat < 1000)
        return;
    c->last_heartbeat = now;
    tsr_msg_t m = {.kind = TSR_MSG_HEARTBEAT};
    m.u.last_seq = c->last_alert;
    uint8_t *buf;
    size_t len;
    if (tsr_wire_encode(&m, &buf, &len) == 0) {
        zmq_send(c->pub, buf, len, ZMQ_DONTWAIT);
        free(buf);
    }
}

/* Answers a batch that will not be stored with status and why, when its
 * batch id can be read; the caller has counted or logged it. */
static void s_ack_refusal(s_collector_t *c, s_pending_t *p, const tsr_wire_peek_t *pk, int status,
                          const char *why)
{
    tsr_msg_t m = {.kind = TSR_MSG_ACK};
    m.u.ack.batch_id = pk->batch_id;
    m.u.ack.status = status;
    snprintf(m.u.ack.error, sizeof m.u.ack.error, "%s", why);
    s_send(c->ingest, &p->ident, &m);
    c->acks_sent++;
}

/* An agent's batch that cannot be decoded or is over a limit: answered
 * MALFORMED with the reason where its batch id can be found in the frame
 * (the agent then keeps its records and says why), else counted and logged. */
static void s_refuse_batch(s_collector_t *c, s_pending_t *p, zmq_msg_t *body, const char *field,
                           const char *reason)
{
    char why[sizeof ((tsr_ack_t *)0)->error];
    snprintf(why, sizeof why, "%s%s%s", field ? field : "", field && *field ? ": " : "", reason);
    tsr_wire_peek_t pk;
    tsr_wire_peek(&pk, zmq_msg_data(body), zmq_msg_size(body));
    bool answer = (p->client.role == TSR_ROLE_AGENT || p->client.role == TSR_ROLE_RELAY) &&
                  pk.kind == TSR_MSG_SUBMIT && pk.has_batch_id;
    if (answer)
        s_ack_refusal(c, p, &pk, TSR_ACK_MALFORMED, why);
    s_count_malformed(c, "ingest", p->client.id, why, answer);
}

/* Checks what can be checked before a frame is decoded: its size against
 * max_frame_mib (the socket allows the CURVE overhead above it, so the
 * check and its answer are ours) and whether the peer's role may send what
 * the frame holds. Returns true when the frame may be decoded. */
static bool s_ingest_check(s_collector_t *c, s_pending_t *p, zmq_msg_t *body)
{
    size_t size = zmq_msg_size(body);
    if (size > c->lim.max_frame) {
        char why[160];
        snprintf(why, sizeof why, "frame of %zu bytes is over the limit of %zu (max_frame_mib = %ld)",
                 size, c->lim.max_frame, C.max_frame_mib);
        s_refuse_batch(c, p, body, "", why);
        return false;
    }
    tsr_wire_peek_t pk;
    tsr_wire_peek(&pk, zmq_msg_data(body), size);
    if (pk.kind == TSR_MSG_SUBMIT && p->client.role != TSR_ROLE_AGENT &&
        p->client.role != TSR_ROLE_RELAY) {
        /* refused on what it is, before a decode is spent on it */
        char why[96];
        snprintf(why, sizeof why, "%ss may not submit", tsr_role_name(p->client.role));
        s_ack_refusal(c, p, &pk, TSR_ACK_DENIED, why);
        tsr_warn("ingest", "%s (%s) may not submit event=batch_rejected status=denied id=%s",
                 p->client.id, tsr_role_name(p->client.role), p->client.id);
        return false;
    }
    return true;
}

/* Reads what waits on the ingest socket into the queue, until the queue
 * holds max_batches batches or nothing more waits. Frames that are refused
 * are answered (or counted) here and never queued. */
static void s_ingest_read(s_collector_t *c)
{
    while (c->n_queued < (size_t)C.max_batches) {
        s_pending_t *p = calloc(1, sizeof *p);
        if (!p)
            return;
        zmq_msg_t body;
        int r = s_recv(c->ingest, &p->ident, &body);
        p->read_us = s_now_us();
        if (r == -2) {
            zmq_msg_close(&p->ident);
            zmq_msg_close(&body);
            free(p);
            return;
        }
        char id[TSR_CLIENT_ID_MAX], key[41];
        bool known = tsr_zap_peer(&body, id, key) && tsr_zap_lookup(c->zap, id, key, &p->client);
        tsr_error_t err;
        tsr_error_clear(&err);
        int drop = 1;
        if (!known) {
            c->unauthorised++;
            tsr_warn("ingest", "message from a client no longer authorised dropped");
        } else if (r != 0) {
            s_count_malformed(c, "ingest", p->client.id, "not one frame", false);
        } else if (!s_ingest_check(c, p, &body)) {
            /* refused and, where it could be, answered */
        } else if (tsr_wire_decode(&p->msg, zmq_msg_data(&body), zmq_msg_size(&body), &c->lim,
                                   &err) != 0) {
            s_refuse_batch(c, p, &body, err.field, err.reason);
        } else if (p->msg.kind != TSR_MSG_SUBMIT) {
            s_count_malformed(c, "ingest", p->client.id, "not a SubmitBatch", false);
        } else if (p->msg.u.submit.n_incidents + p->msg.u.submit.n_retractions == 0) {
            /* an empty batch is an agent asking whether we are there: answer
             * at once, touching nothing */
            tsr_msg_t m = {.kind = TSR_MSG_ACK};
            m.u.ack.batch_id = p->msg.u.submit.batch_id;
            m.u.ack.status = TSR_ACK_OK;
            /* with the network keys it accepts: the agent checks its own */
            tsr_store_network_keys(c->store, tsr_day_today(), &m.u.ack.network_keys, NULL);
            m.u.ack.retention_months = (int32_t)C.retention_months;
            s_send(c->ingest, &p->ident, &m);
        } else if (s_items(p) == 0) {
            drop = 0;
        }
        zmq_msg_close(&body);
        if (drop) {
            s_pending_destroy(&p);
            continue;
        }
        c->queue[c->n_queued++] = p;
    }
}

/* At debug level, what a commit took of each peer's queued batches:
 * "flooder-1 2/34, leeds-cs-01 1/1" (taken/queued, by first arrival; the
 * first 8 peers). tests/integration/fairness.sh reads it. */
typedef struct {
    const char *id;
    size_t taken, queued;
} s_share_t;

static void s_commit_shares(const s_collector_t *c, char *out, size_t cap)
{
    s_share_t p[8];
    size_t np = 0, more = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->n_queued; i++) {
        size_t k = 0;
        while (k < np && strcmp(p[k].id, c->queue[i]->client.id) != 0)
            k++;
        if (k == np) {
            if (np == sizeof p / sizeof p[0]) {
                more++;
                continue;
            }
            p[np++] = (s_share_t){c->queue[i]->client.id, 0, 0};
        }
        p[k].queued++;
        p[k].taken += c->fair[i].take;
    }
    for (size_t k = 0; k < np; k++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s %zu/%zu", k ? ", " : "", p[k].id,
                 p[k].taken, p[k].queued);
    if (more)
        snprintf(out + strlen(out), cap - strlen(out), " (and batches of more peers)");
}

/* Logs the next group of queued batches in one transaction, each peer its
 * share (fair.h), then acknowledges them; the rest stay queued, in order,
 * for the next call. */
static void s_ingest_commit(s_collector_t *c)
{
    size_t n = c->n_queued, left = 0, k = 0;
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        c->fair[i] = (tsr_fair_batch_t){.peer = c->queue[i]->client.public_key,
                                        .n_items = c->queue[i]->n_items};
    size_t taken = tsr_fair_select(c->fair, n, (size_t)C.max_batches, (size_t)C.max_items, &left);
    for (size_t i = 0; i < n; i++)
        if (c->fair[i].take)
            c->sb[k++] = (tsr_store_batch_t){&c->queue[i]->client, c->queue[i]->items,
                                             c->queue[i]->n_items};
    char shares[768] = "";
    if (s_debug)
        s_commit_shares(c, shares, sizeof shares);
    bool was_empty = tsr_store_logged(c->store) == 0;
    int rc = tsr_store_submit(c->store, c->sb, taken, (int64_t)time(NULL));
    c->group_commits++;
    c->deferrals += left;
    /* Acks only now: the transaction has committed (or nothing was written). */
    k = 0;
    for (size_t i = 0; i < n; i++) {
        if (c->fair[i].take) {
            s_ack(c, c->queue[i], rc);
            s_pending_destroy(&c->queue[i]);
        } else {
            c->queue[k++] = c->queue[i];
        }
    }
    c->n_queued = k;
    /* quiet is counted from here: the commit's own time is not quiet */
    if (rc == 0 && c->applier)
        tsr_applier_logged(c->applier, was_empty);
    tsr_debug("ingest", "commit of %zu batch(es), %zu left for the next: %s; taken/queued: %s",
              taken, left, tsr_strerror(rc), shares);
}

/* Reads what waits on the ingest socket, logs a group of it in one
 * transaction, then acknowledges. */
static void s_ingest(s_collector_t *c)
{
    s_ingest_read(c);
    s_ingest_commit(c);
}

/* --- queries ------------------------------------------------------------------- */

typedef struct {
    tsr_counter_t *v;
    size_t n, cap;
} s_counters_t;

static void s_add_counter(void *ctx, const char *name, uint64_t value)
{
    s_counters_t *cs = ctx;
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 32;
        tsr_counter_t *v = realloc(cs->v, cap * sizeof *v);
        if (!v)
            return;
        cs->v = v;
        cs->cap = cap;
    }
    snprintf(cs->v[cs->n].name, sizeof cs->v[cs->n].name, "%s", name);
    cs->v[cs->n++].value = value;
}

/* Which alerts a caller may have: the kinds the access table gives the
 * role (linkage: liaison and admin; spike and cross-area: analysts), and
 * analysts only those of series within their areas. */
typedef struct {
    const tsr_client_t *who;
    int kind; /* 0 = every kind the role may see */
} s_alert_filter_t;

static bool s_series_allowed(const tsr_client_t *who, const char *series)
{
    if (who->all_areas)
        return true;
    char code[16];
    const char *colon = strchr(series, ':');
    if (!colon)
        return false;
    snprintf(code, sizeof code, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    if (!strncmp(series, "area:", 5))
        return tsr_client_area_allowed(who, code);
    for (size_t i = 0; i < who->n_areas; i++) { /* a region: one of its areas is theirs */
        const tsr_area_t *a = tsr_area_find(who->areas[i]);
        if (a && !strcmp(a->region_code, code))
            return true;
    }
    return false;
}

static bool s_alert_allowed(void *ctx, const tsr_alert_t *a)
{
    const s_alert_filter_t *f = ctx;
    if ((f->kind && a->kind != f->kind) || !tsr_access_alert_allowed(f->who->role, a->kind))
        return false;
    return f->who->role != TSR_ROLE_ANALYST || s_series_allowed(f->who, a->series);
}

/* Sets a refusal on resp. */
static void s_refuse(tsr_response_t *resp, int status, const char *why)
{
    resp->status = status;
    snprintf(resp->error, sizeof resp->error, "%s", why);
}

/* A spike or cross-area alert as an analyst sees it: its count replaced by
 * the released count of the same records now (its series' areas, period
 * and feature), so it agrees with the trend tables; its expectation by the
 * released count of the four whole weeks before, per day or week; no
 * bound. A released 0 shows as "<k" without an expectation. */
static int s_alert_release(s_collector_t *c, tsr_alert_t *a)
{
    if (a->kind != TSR_ALERT_SPIKE && a->kind != TSR_ALERT_CROSS_AREA)
        return 0;
    char scope[sizeof a->series], code[16];
    snprintf(scope, sizeof scope, "%s", a->series);
    char *slash = strchr(scope, '/'), *colon = strchr(scope, ':');
    if (slash)
        *slash = '\0';
    if (!colon)
        return TSR_ECORRUPT; /* a stored alert's series has no scope */
    snprintf(code, sizeof code, "%s", colon + 1);
    const char *areas[512];
    size_t n = 0;
    for (int i = 0; i < tsr_area_count() && n < sizeof areas / sizeof areas[0]; i++) {
        const tsr_area_t *ar = tsr_area_at(i);
        if (!strcmp(strncmp(scope, "area:", 5) ? ar->region_code : ar->code, code))
            areas[n++] = ar->code;
    }
    tsr_filter_t f = {0};
    size_t nf = 0;
    if (slash) { /* "/feature:value": a dimension and one of its code names */
        char *fv = strchr(slash + 1, ':');
        if (fv) {
            *fv = '\0';
            f.dimension = tsr_dimension_parse(slash + 1);
            snprintf(f.value, sizeof f.value, "%s", fv + 1);
            nf = f.dimension ? 1 : 0;
        }
    }
    bool weekly = !strcmp(a->method, "farrington");
    int32_t from = weekly ? tsr_day_week_monday(a->period_day) : a->period_day;
    int32_t before = tsr_day_week_monday(a->period_day) - 28;
    uint64_t released = 0, baseline = 0;
    int rc = tsr_store_released(c->store, areas, n, from, weekly ? from + 6 : from, &f, nf,
                                (unsigned)C.k, &s_ckm, &released);
    if (rc == 0)
        rc = tsr_store_released(c->store, areas, n, before, before + 27, &f, nf, (unsigned)C.k,
                                &s_ckm, &baseline);
    if (rc != 0)
        return rc;
    /* The method's own expectation and bound are made from exact daily
     * counts of days that are not whole weeks: rounded, "expected 0, bound
     * 1" still pinned a baseline of exactly one case (tests/privacy). An
     * analyst gets the four whole weeks before instead, released like any
     * count, and no bound. */
    a->observed = released;
    a->observed_suppressed = released == 0;
    a->expected = released == 0 ? 0 : (double)baseline / (weekly ? 4.0 : 28.0);
    a->upperbound = 0;
    tsr_spikes_summary_released(a, (unsigned)C.k, a->summary, sizeof a->summary);
    return 0;
}

static void s_answer_alerts(s_collector_t *c, const tsr_client_t *who, const tsr_query_t *q,
                            tsr_response_t *resp)
{
    s_alert_filter_t f = {who, q->alert_kind};
    uint32_t max = q->max == 0 || q->max > 1000 ? 1000 : q->max;
    int rc = tsr_store_alerts(c->store, q->since_seq, max, s_alert_allowed, &f, resp);
    if (rc != 0) {
        s_refuse(resp, TSR_QSTATUS_ERROR, tsr_strerror(rc));
        return;
    }
    /* disclosure control: an analyst's alert counts go through the
     * cell-key method like every other count they see */
    for (size_t i = 0; rc == 0 && who->role == TSR_ROLE_ANALYST && i < resp->n_alerts; i++)
        rc = s_alert_release(c, &resp->alerts[i]);
    if (rc != 0) {
        s_refuse(resp, TSR_QSTATUS_ERROR, tsr_strerror(rc));
        return;
    }
    resp->status = TSR_QSTATUS_OK;
    resp->kind = TSR_QUERY_ALERTS;
}

/* Describes q for the audit log, into what (cap bytes, at most 200): the
 * same query always gets the same text, and two different queries get
 * different texts, since the text is also the query's fingerprint for the
 * daily budget (budget.h). A description too long for the log keeps its
 * start and ends with a hash of the whole. Control characters (which only
 * a bad request carries) become '?'. */
static void s_describe(const tsr_query_t *q, char *what, size_t cap)
{
    char full[2048];
    switch (q->kind) {
    case TSR_QUERY_STATS:
        snprintf(full, sizeof full, "stats");
        break;
    case TSR_QUERY_ALERTS:
        snprintf(full, sizeof full, "alerts since=%llu max=%u kind=%d",
                 (unsigned long long)q->since_seq, q->max, q->alert_kind);
        break;
    case TSR_QUERY_CLUSTER:
        snprintf(full, sizeof full, "cluster %llu", (unsigned long long)q->cluster_id);
        break;
    case TSR_QUERY_LOOKUP:
        snprintf(full, sizeof full, "lookup %zu token(s)%s%s", q->n_tokens,
                 q->n_tokens ? " kind " : "", q->n_tokens ? q->tokens[0].kind : "");
        break;
    case TSR_QUERY_PURGE: {
        char d[11];
        int32_t before = q->before_day ? q->before_day
                                       : tsr_store_retention_cutoff((int)C.retention_months,
                                                                    (int64_t)time(NULL));
        snprintf(full, sizeof full, "purge before %s", tsr_day_format(d, before));
        break;
    }
    case TSR_QUERY_TRENDS: {
        char d1[11] = "-", d2[11] = "-", filt[1536] = "";
        if (q->since_day)
            tsr_day_format(d1, q->since_day);
        if (q->until_day)
            tsr_day_format(d2, q->until_day);
        for (size_t f = 0; f < q->n_filters; f++)
            snprintf(filt + strlen(filt), sizeof filt - strlen(filt), " %s=%s",
                     tsr_dimension_name(q->filters[f].dimension)
                         ? tsr_dimension_name(q->filters[f].dimension)
                         : "?",
                     q->filters[f].value);
        snprintf(full, sizeof full, "trends by %s%s%s %s..%s%s",
                 tsr_dimension_name(q->by[0]) ? tsr_dimension_name(q->by[0]) : "?",
                 q->n_by > 1 ? "," : "", q->n_by > 1 && tsr_dimension_name(q->by[1])
                                            ? tsr_dimension_name(q->by[1])
                                            : "",
                 d1, d2, filt);
        break;
    }
    case TSR_QUERY_AUDIT:
        snprintf(full, sizeof full, "audit since=%lld id=%s max=%u", (long long)q->since_time,
                 q->id[0] ? q->id : "*", q->max);
        break;
    default:
        snprintf(full, sizeof full, "query kind %d", q->kind);
        break;
    }
    if (cap > 200)
        cap = 200; /* with " -> STATUS" it fits the log's 255 bytes */
    if (strlen(full) < cap)
        snprintf(what, cap, "%s", full);
    else
        snprintf(what, cap, "%.*s... #%016llx", (int)(cap - 23), full,
                 (unsigned long long)tsr_budget_fingerprint(full));
    for (char *p = what; *p; p++) /* caller-supplied text: no control characters */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* A lookup's tokens must be under keys this collector accepts: a token
 * under another key cannot match anything, and "not known" would be a
 * wrong answer. Refuses with WRONG_NETWORK_KEY (and the keys accepted)
 * otherwise. Nothing pinned yet: nothing to compare with. */
static bool s_lookup_keys_ok(s_collector_t *c, const tsr_query_t *q, tsr_response_t *resp)
{
    tsr_netkeys_t acc;
    tsr_store_network_keys(c->store, tsr_day_today(), &acc, NULL);
    for (size_t i = 0; acc.n && i < q->n_tokens; i++) {
        if (tsr_netkeys_accepts(&acc, q->tokens[i].key_id, tsr_day_today()))
            continue;
        char ids[64], why[160];
        snprintf(why, sizeof why, "token under network key id %u; this collector accepts only %s",
                 q->tokens[i].key_id, tsr_netkeys_format_ids(&acc, ids, sizeof ids));
        s_refuse(resp, TSR_QSTATUS_WRONG_NETWORK_KEY, why);
        resp->network_keys = acc;
        return false;
    }
    return true;
}

/* Decides whether who may have q answered, before anything is read for
 * it: the access table (access.h), then, for a query that counts, the
 * daily budget. Returns false with resp refused; else true, with *counted
 * set when the query is new today and must be noted in the budget once its
 * audit entry is written. what is the query's audit text (s_describe). */
static bool s_allowed(s_collector_t *c, const tsr_client_t *who, const tsr_query_t *q,
                      tsr_response_t *resp, const char *what, bool *counted)
{
    *counted = false;
    const char *refusal = tsr_access_check(who->role, q->kind, q->alert_kind);
    if (refusal) {
        s_refuse(resp, TSR_QSTATUS_DENIED, refusal);
        return false;
    }
    if (tsr_budget_applies(who->role, q->kind)) {
        switch (tsr_budget_check(c->budget, who->id, (int32_t)(time(NULL) / 86400), what)) {
        case TSR_BUDGET_FREE: break;
        case TSR_BUDGET_NEW: *counted = true; break;
        case TSR_BUDGET_SPENT: {
            char why[256];
            snprintf(why, sizeof why,
                     "daily query budget of %u distinct queries spent (resets at 00:00 UTC); "
                     "ask an admin to raise [disclosure] daily_query_budget",
                     tsr_budget_limit(c->budget));
            s_refuse(resp, TSR_QSTATUS_DENIED, why);
            c->budget_refusals++;
            return false;
        }
        }
    }
    return true;
}

/* Purges the audit log to its retention ([retention] audit_months, or
 * months): at start-up, daily and with an admin's purge. The cutoff comes
 * from the configuration and the clock only, never from the purge an
 * admin asks for: whoever purges records cannot shorten the audit trail
 * of doing so. Returns the store's code; *purged = entries deleted. */
static int s_audit_retention(s_collector_t *c, int64_t now, uint64_t *purged)
{
    int months = (int)(C.audit_months ? C.audit_months : C.retention_months);
    int64_t before = (int64_t)tsr_store_retention_cutoff(months, now) * 86400;
    *purged = 0;
    int rc = tsr_store_audit_purge(c->store, before, purged);
    c->audit_purged += *purged;
    return rc;
}

/* Federation in stats: this collector's forwarding (its queue and what the
 * upstream acknowledged since start-up), under "upstream_"; the relays'
 * records are counted by the store ("relay:ID:records" ...). */
static void s_upstream_counters(s_collector_t *c, s_counters_t *cs)
{
    if (!c->upstream)
        return;
    tsr_upstream_stats_t st;
    size_t waiting = 0;
    tsr_upstream_stats(c->upstream, &st);
    tsr_store_upstream_waiting(c->store, &waiting);
    s_add_counter(cs, "upstream_waiting", waiting);
    s_add_counter(cs, "upstream_forward_linkage_only", !strcmp(C.up_forward, "linkage"));
    s_add_counter(cs, "upstream_batches_sent", st.batches_sent);
    s_add_counter(cs, "upstream_batches_acked", st.batches_acked);
    s_add_counter(cs, "upstream_forwarded", st.forwarded);
    s_add_counter(cs, "upstream_duplicates", st.duplicates);
    s_add_counter(cs, "upstream_rejected", st.rejected);
    s_add_counter(cs, "upstream_retries", st.retries);
    s_add_counter(cs, "upstream_held", st.held);
}

/* Answers one query that s_allowed let through into resp. */
static void s_answer(s_collector_t *c, const tsr_client_t *who, const tsr_query_t *q,
                     tsr_response_t *resp, s_counters_t *cs)
{
    int rc = 0;
    switch (q->kind) {
    case TSR_QUERY_STATS: {
        tsr_store_counters(c->store, s_add_counter, cs);
        size_t map = 0, used = 0;
        tsr_kv_usage(tsr_store_kv(c->store), &map, &used);
        s_add_counter(cs, "map_size_bytes", map);
        s_add_counter(cs, "map_used_bytes", used);
        /* 0 after the drain before this answer, unless drains fail (map full) */
        s_add_counter(cs, "ingest_log_waiting", tsr_store_logged(c->store));
        s_add_counter(cs, "malformed_frames", c->malformed);
        s_add_counter(cs, "unauthorised_messages", c->unauthorised);
        s_add_counter(cs, "failed_handshakes", c->failed_handshakes);
        /* since start-up, as the two above */
        s_add_counter(cs, "budget_refusals", c->budget_refusals);
        s_add_counter(cs, "malformed_batches_answered", c->malformed_batches);
        s_add_counter(cs, "queries_rate_limited", c->rate_limited);
        s_add_counter(cs, "refusals_aggregated", tsr_refusals_aggregated(c->refusals));
        s_add_counter(cs, "refusal_aggregate_entries", tsr_refusals_entries(c->refusals));
        s_add_counter(cs, "group_commits", c->group_commits);
        s_add_counter(cs, "commit_share_deferrals", c->deferrals);
        s_add_counter(cs, "ingest_queue_waiting", c->n_queued);
        s_add_counter(cs, "audit_purged_since_start", c->audit_purged);
        uint64_t kinds[TSR_ALERT_KINDS + 1];
        if (tsr_store_alert_counts(c->store, kinds) == 0)
            for (int k = 1; k <= TSR_ALERT_KINDS; k++) {
                char name[32];
                snprintf(name, sizeof name, "alerts:%s", tsr_link_kind_name(k));
                s_add_counter(cs, name, kinds[k]);
            }
        s_add_counter(cs, "last_alert_seq", c->last_alert);
        s_add_counter(cs, "last_backup_unix", (uint64_t)tsr_collector_last_backup(C.data_dir));
        tsr_histo_counters(&c->ack_latency, "ack_latency_us", s_add_counter, cs);
        s_upstream_counters(c, cs);
        resp->status = TSR_QSTATUS_OK;
        resp->kind = TSR_QUERY_STATS;
        resp->counters = cs->v; /* the response owns them now */
        resp->n_counters = cs->n;
        cs->v = NULL;
        return;
    }
    case TSR_QUERY_ALERTS: s_answer_alerts(c, who, q, resp); return;
    case TSR_QUERY_CLUSTER:
        rc = tsr_store_cluster(c->store, q->cluster_id, resp);
        if (rc == TSR_ENOTFOUND) {
            s_refuse(resp, TSR_QSTATUS_NOT_FOUND, "no such cluster (it may have merged or split)");
            return;
        }
        resp->kind = TSR_QUERY_CLUSTER;
        break;
    case TSR_QUERY_LOOKUP:
        if (!s_lookup_keys_ok(c, q, resp))
            return;
        rc = tsr_store_lookup(c->store, q->tokens, q->n_tokens, resp);
        resp->kind = TSR_QUERY_LOOKUP;
        break;
    case TSR_QUERY_PURGE: {
        int64_t now = (int64_t)time(NULL);
        int32_t cutoff = tsr_store_retention_cutoff((int)C.retention_months, now);
        int32_t before = q->before_day ? q->before_day : cutoff;
        if (before > (int32_t)(now / 86400)) {
            s_refuse(resp, TSR_QSTATUS_BAD_REQUEST, "cannot purge records reported after today");
            return;
        }
        uint64_t purged = 0, audit = 0;
        s_pause(c);
        rc = tsr_store_purge(c->store, before, now, &purged);
        s_publish_store(c);
        /* and the audit log to its own retention (s_audit_retention) */
        int arc = rc == 0 ? s_audit_retention(c, now, &audit) : 0;
        s_resume(c);
        if (rc != 0)
            break;
        if (arc != 0) {
            char why[200];
            snprintf(why, sizeof why, "%llu record(s) purged, but the audit log's purge stopped: "
                     "the collector's log says why", (unsigned long long)purged);
            s_refuse(resp, TSR_QSTATUS_ERROR, why);
            return;
        }
        s_add_counter(cs, "purged_records", purged);
        s_add_counter(cs, "before_day", (uint64_t)before);
        s_add_counter(cs, "purged_audit_entries", audit);
        resp->counters = cs->v;
        resp->n_counters = cs->n;
        cs->v = NULL;
        resp->kind = TSR_QUERY_STATS;
        break;
    }
    case TSR_QUERY_TRENDS: {
        char why[200] = "";
        rc = tsr_store_trends(c->store, q, who, (unsigned)C.k, &s_ckm, resp, why, sizeof why);
        if (rc == TSR_EINVAL || rc == TSR_ERANGE) {
            s_refuse(resp, TSR_QSTATUS_BAD_REQUEST, why);
            return;
        }
        resp->kind = TSR_QUERY_TRENDS;
        break;
    }
    case TSR_QUERY_AUDIT: {
        /* fails closed: the admin reads which entry cannot be read, not a
         * list that looks whole without it */
        tsr_error_t err;
        char why[sizeof resp->error];
        tsr_error_clear(&err);
        rc = tsr_store_audit_list(c->store, q->since_time, q->id,
                                  q->max == 0 || q->max > 10000 ? 10000 : q->max, resp, &err);
        if (rc != 0) {
            s_refuse(resp, TSR_QSTATUS_ERROR, tsr_error_format(&err, why, sizeof why));
            return;
        }
        resp->kind = TSR_QUERY_AUDIT;
        break;
    }
    default:
        s_refuse(resp, TSR_QSTATUS_BAD_REQUEST, "this query is not available in this version");
        return;
    }
    if (rc != 0)
        s_refuse(resp, TSR_QSTATUS_ERROR, tsr_strerror(rc));
    else
        resp->status = TSR_QSTATUS_OK;
}

static uint64_t s_result_size(const tsr_response_t *r)
{
    return r->n_counters + r->n_alerts + r->n_cells + r->n_records + r->n_record_ids + r->n_audit +
           (r->known ? 1 : 0);
}

static const char *s_status_name(int status)
{
    switch (status) {
    case TSR_QSTATUS_OK: return "ok";
    case TSR_QSTATUS_DENIED: return "denied";
    case TSR_QSTATUS_BAD_REQUEST: return "bad request";
    case TSR_QSTATUS_NOT_FOUND: return "not found";
    case TSR_QSTATUS_RATE_LIMITED: return "rate limited";
    case TSR_QSTATUS_WRONG_NETWORK_KEY: return "wrong network key";
    default: return "error";
    }
}

/* The kind of a query in an aggregate of refusals (refusals.h): a closed
 * set, so a peer cannot make a new aggregate per request by varying it. */
static const char *s_kind_name(int kind)
{
    switch (kind) {
    case TSR_QUERY_STATS: return "stats";
    case TSR_QUERY_ALERTS: return "alerts";
    case TSR_QUERY_AUDIT: return "audit";
    case TSR_QUERY_TRENDS: return "trends";
    case TSR_QUERY_CLUSTER: return "cluster";
    case TSR_QUERY_LOOKUP: return "lookup";
    case TSR_QUERY_PURGE: return "purge";
    default: return "other";
    }
}

/* An aggregate of refusals, written by the loop thread with the apply
 * thread paused (about once a minute at most). */
static int s_audit_write(void *ctx, const tsr_audit_entry_t *e)
{
    s_collector_t *c = ctx;
    s_pause(c);
    int rc = tsr_store_audit(c->store, e);
    s_resume(c);
    return rc;
}

/* Writes the aggregates of refusals whose minute has passed (all when
 * all: at a clean stop), at most once a second. */
static void s_refusals_flush(s_collector_t *c, bool all)
{
    int64_t now = (int64_t)time(NULL);
    if (!all && now == c->refusals_flushed)
        return;
    c->refusals_flushed = now;
    if (tsr_refusals_flush(c->refusals, now, all, s_audit_write, c) != 0)
        tsr_warn("audit", "an aggregate of refused queries is not written yet; tried again later");
}

/* A query from its arrival to its answer (docs/STORAGE.md, "Queries see
 * applied data"): it waits until the log is applied up to what was
 * acknowledged when it arrived (target), is answered, waits for its audit
 * entry's commit (shared with the other queries of the moment), and only
 * then is sent. */
struct s_query_job {
    zmq_msg_t ident;
    tsr_client_t client;
    tsr_msg_t req, m; /* the query, and its answer */
    s_counters_t cs;
    char what[200];
    bool may, counted, answer; /* answer: not refused, so it reads */
    bool single;               /* audited on its own (not in a refusals aggregate) */
    bool answered;             /* waiting for its audit commit */
    uint64_t target;
    tsr_applier_audit_t audit;
    s_query_job_t *next;
};

static void s_job_destroy(s_query_job_t **j_p)
{
    s_query_job_t *j = *j_p;
    free(j->cs.v);
    tsr_msg_clear(&j->m);
    tsr_msg_clear(&j->req);
    tsr_client_clear(&j->client);
    zmq_msg_close(&j->ident);
    free(j);
    *j_p = NULL;
}

/* Answers j (reads, if it is not refused) and queues its audit entry. */
static void s_job_answer(s_collector_t *c, s_query_job_t *j)
{
    tsr_response_t *resp = &j->m.u.response;
    const tsr_query_t *q = &j->req.u.query;
    /* the budget again, now: queries of one analyst waiting together all
     * passed it on arrival, and each answer spends it before the next */
    if (j->answer && j->counted)
        j->answer = s_allowed(c, &j->client, q, resp, j->what, &j->counted);
    if (j->answer)
        s_answer(c, &j->client, q, resp, &j->cs);
    if (j->counted && resp->status != TSR_QSTATUS_DENIED && resp->status != TSR_QSTATUS_ERROR &&
        tsr_budget_note(c->budget, j->client.id, tsr_day_today(), j->what) != 0)
        /* counted in the audit log all the same: the next start counts it */
        tsr_warn("query", "%s: query not counted in the budget until restart: out of memory",
                 j->client.id);
    /* Every query is audited, refused ones too, and no answer leaves
     * unaudited; repeated refusals of one kind by one key are audited one
     * by one up to [limits] audit_refusals_per_minute and then counted
     * into one entry a minute (refusals.h), so a peer cannot fill the log. */
    tsr_audit_entry_t *e = &j->audit.entry;
    *e = (tsr_audit_entry_t){.time = (int64_t)time(NULL), .result_size = s_result_size(resp)};
    snprintf(e->id, sizeof e->id, "%s", j->client.id);
    snprintf(e->role, sizeof e->role, "%s", tsr_role_name(j->client.role));
    snprintf(e->request, sizeof e->request, "%s -> %s", j->what, s_status_name(resp->status));
    j->single = true;
    if (resp->status == TSR_QSTATUS_DENIED || resp->status == TSR_QSTATUS_RATE_LIMITED) {
        char kind[64];
        snprintf(kind, sizeof kind, "%s -> %s", j->may ? s_kind_name(q->kind) : "query",
                 s_status_name(resp->status));
        s_refusals_flush(c, false); /* a window that has passed is closed first */
        j->single = tsr_refusals_note(c->refusals, e->id, e->role, kind, e->time);
    }
    j->answered = true;
    if (j->single)
        tsr_applier_audit(c->applier, &j->audit);
}

/* Sends j's answer, its audit entry durable (or the audit error). */
static void s_job_send(s_collector_t *c, s_query_job_t *j)
{
    tsr_response_t *resp = &j->m.u.response;
    const tsr_audit_entry_t *e = &j->audit.entry;
    if (j->single && j->audit.rc != 0) {
        tsr_response_t keep = {.request_id = resp->request_id};
        tsr_msg_clear(&j->m);
        j->m.kind = TSR_MSG_RESPONSE;
        *resp = keep;
        s_refuse(resp, TSR_QSTATUS_ERROR, "the audit log cannot be written; try again later");
    }
    if (!j->single) /* counted, not logged one by one either */
        tsr_debug("query", "%s (%s): %s", j->client.id, tsr_role_name(j->client.role), e->request);
    else
        tsr_info("query", "%s (%s): %s", j->client.id, tsr_role_name(j->client.role), e->request);
    s_send(c->query, &j->ident, &j->m);
}

/* Answers made in one pass of s_jobs_run stop after this long (at least
 * one is made): queries parked behind one apply step all become ready
 * with its commit, and answering them back to back (trend scans) would
 * keep the loop from the Acks for as long. The rest follow after the next
 * ingest turn. */
#define S_ANSWER_SLICE_MS 2

/* Moves every query on whose turn has come: answered once the log is
 * applied up to its target (or the apply fails: then from what is
 * applied, as the log says), sent once its audit entry is durable. In
 * arrival order; the answers of one pass share one audit commit. */
static void s_jobs_run(s_collector_t *c)
{
    uint64_t applied = tsr_store_applied(c->store);
    bool failing = tsr_applier_failing(c->applier);
    int64_t until = s_now_ms() + S_ANSWER_SLICE_MS;
    c->jobs_ready = false;
    for (s_query_job_t *j = c->jobs; j; j = j->next)
        if (!j->answered && (!j->answer || j->target <= applied || failing)) {
            if (j->answer && s_now_ms() >= until) {
                c->jobs_ready = true; /* the loop comes back at once */
                continue;
            }
            if (j->answer && j->target > applied)
                tsr_warn("query", "%s: answered from the records applied so far (%llu of %llu "
                         "log entries): the apply is failing, see above", j->client.id,
                         (unsigned long long)applied, (unsigned long long)j->target);
            s_job_answer(c, j);
        }
    s_query_job_t **p = &c->jobs;
    while (*p) {
        s_query_job_t *j = *p;
        if (j->answered && (!j->single || atomic_load(&j->audit.done))) {
            s_job_send(c, j);
            *p = j->next;
            s_job_destroy(&j);
        } else {
            p = &j->next;
        }
    }
    c->jobs_tail = p;
}

/* Reads one query and decides what it gets: a refusal at once (it reads
 * nothing), or an answer once the log is applied up to what was
 * acknowledged when it arrived (s_jobs_run). */
static void s_query(s_collector_t *c)
{
    zmq_msg_t ident, body;
    int r = s_recv(c->query, &ident, &body);
    s_query_job_t *j = NULL;
    tsr_error_t err;
    tsr_error_clear(&err);
    char id[TSR_CLIENT_ID_MAX], key[41];
    if (r == -2 || !(j = calloc(1, sizeof *j)))
        goto out;
    if (!(tsr_zap_peer(&body, id, key) && tsr_zap_lookup(c->zap, id, key, &j->client))) {
        c->unauthorised++;
        goto out;
    }
    tsr_wire_peek_t pk;
    if (r != 0 || zmq_msg_size(&body) > c->lim.max_frame ||
        tsr_wire_peek(&pk, zmq_msg_data(&body), zmq_msg_size(&body)) != 0 ||
        pk.kind != TSR_MSG_QUERY ||
        tsr_wire_decode(&j->req, zmq_msg_data(&body), zmq_msg_size(&body), &c->lim, &err) != 0) {
        /* anything but a query is refused from its tags, before a decode */
        s_count_malformed(c, "query", j->client.id,
                          err.reason[0] ? err.reason : "not a QueryRequest", false);
        goto out;
    }
    j->m.kind = TSR_MSG_RESPONSE;
    tsr_response_t *resp = &j->m.u.response;
    const tsr_query_t *q = &j->req.u.query;
    resp->request_id = q->request_id;
    j->may = tsr_access_may_query(j->client.role);
    if (j->may)
        s_describe(q, j->what, sizeof j->what);
    else
        snprintf(j->what, sizeof j->what, "query kind %d", q->kind);
    /* Refusals come first and read nothing: only a query that will be
     * answered waits for the apply. */
    int64_t wait_ms = tsr_ratelimit_take(c->rate, j->client.public_key, s_now_ms());
    if (wait_ms > 0) {
        char why[200];
        snprintf(why, sizeof why, "over the limit of %ld quer%s a minute for this key (bursts of "
                 "%ld; [limits] queries_per_minute)", C.queries_per_minute,
                 C.queries_per_minute == 1 ? "y" : "ies", C.query_burst);
        s_refuse(resp, TSR_QSTATUS_RATE_LIMITED, why);
        resp->retry_after_ms = wait_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)wait_ms;
        c->rate_limited++;
    } else if (!j->may) {
        char why[64];
        snprintf(why, sizeof why, "%ss may not query", tsr_role_name(j->client.role));
        s_refuse(resp, TSR_QSTATUS_DENIED, why);
    } else if (s_allowed(c, &j->client, q, resp, j->what, &j->counted)) {
        j->answer = true; /* every acknowledged record counts in the answer */
        j->target = tsr_store_last_logged(c->store);
        if (j->target > tsr_store_applied(c->store))
            tsr_applier_want(c->applier, j->target);
    }
    zmq_msg_init(&j->ident);
    zmq_msg_move(&j->ident, &ident);
    *c->jobs_tail = j;
    c->jobs_tail = &j->next;
    j = NULL;
    s_jobs_run(c);
out:
    if (j) {
        tsr_msg_clear(&j->req);
        tsr_client_clear(&j->client);
        free(j);
    }
    zmq_msg_close(&ident);
    zmq_msg_close(&body);
}

/* --- start-up ------------------------------------------------------------------ */

static bool s_exists(const char *path);
static int s_netkeys_load(const char *config, const long *lines, tsr_error_t *err);
static int s_upstream_load(const char *config, const long *lines, tsr_error_t *err);

/* The line of config the key whose value is at dest was set on (0: its
 * default stands, or there is no file). */
static long s_key_line(const long *lines, const void *dest)
{
    for (size_t i = 0; s_keys[i].name; i++)
        if (s_keys[i].dest == dest)
            return lines[i];
    return 0;
}

/* Fills err with "FILE:LINE: FIELD: why" for the key at dest (FILE is
 * "defaults" without a config) and returns TSR_EINVAL. */
static int s_key_error(tsr_error_t *err, const char *config, const long *lines, const void *dest,
                       const char *why)
{
    for (size_t i = 0; s_keys[i].name; i++)
        if (s_keys[i].dest == dest) {
            char field[64];
            snprintf(field, sizeof field, "%s.%s", s_keys[i].section, s_keys[i].name);
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
    if (tsr_ckm_table_build(&s_ckm, (unsigned)C.max_deviation, v, (unsigned)C.k - 1, why,
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
static int s_config_check(const char *config, const long *lines, const char *level,
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
    if (n && (n < 5 || strcmp(C.server_key + n - 4, ".key") != 0) && !s_exists(C.server_key)) {
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
    int rc = tsr_netkeys_parse(&s_netkeys, C.key_ids, err);
    /* 0 is what a token without a key id carries (protobuf's default), so
     * accepting it would let such tokens in */
    for (size_t i = 0; rc == 0 && i < s_netkeys.n; i++)
        if (s_netkeys.ids[i].key_id == 0)
            rc = tsr_error_set(err, "", "0 is not a network key id: it is what a token without "
                                        "one carries; write the id 'tessera-agent keygen' printed");
    if (rc == 0)
        return 0;
    s_netkeys.n = 0;
    tsr_error_at(err, config, s_key_line(lines, &C.key_ids));
    snprintf(err->field, sizeof err->field, "network.key_ids");
    return TSR_EINVAL;
}

/* The line keys[i] of the table was set on (0: the default stands). */
static long s_line_of(const long *lines, const void *dest)
{
    size_t i = 0;
    while (s_keys[i].name && s_keys[i].dest != dest)
        i++;
    return lines && s_keys[i].name ? lines[i] : 0;
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
static void s_netkeys_report(FILE *check, const tsr_store_t *store)
{
    char text[192], d[11];
    int32_t today = tsr_day_today();
    if (s_netkeys.n == 0) {
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
    tsr_netkeys_format(&s_netkeys, text, sizeof text);
    if (check)
        fprintf(check, "network key ids: %s\n", text);
    else
        tsr_info("collector", "network key ids accepted: %s", text);
    for (size_t i = 0; i < s_netkeys.n; i++)
        if (s_netkeys.ids[i].until_day && s_netkeys.ids[i].until_day < today) {
            tsr_day_format(d, s_netkeys.ids[i].until_day);
            if (check)
                fprintf(check, "warning: network key id %u ended on %s: its records are "
                               "refused\n", s_netkeys.ids[i].key_id, d);
            else
                tsr_warn("collector", "network key id %u ended on %s ([network] key_ids): "
                         "records under it are refused", s_netkeys.ids[i].key_id, d);
        }
}

static int s_budget_replay(void *ctx, const tsr_audit_entry_t *e)
{
    return tsr_budget_replay(ctx, e);
}

static void s_path(char *out, size_t cap, const char *set, const char *dir, const char *name)
{
    if (set && *set)
        snprintf(out, cap, "%s", set);
    else
        snprintf(out, cap, "%s/%s", dir, name);
}

/* True when something (a file, or a symlink even dangling) is at path. */
static bool s_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Creates what a first run needs: data dir, server key pair, empty client list. */
static int s_bootstrap(char *key_path, size_t cap)
{
    char msg[768];
    tsr_error_t err;
    tsr_error_clear(&err);
    if (mkdir(C.data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tessera-collector: cannot create %s: %s\n", C.data_dir, strerror(errno));
        return -1;
    }
    s_path(key_path, cap, C.server_key, C.data_dir, "collector.key");
    if (!s_exists(key_path)) {
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

static int s_ensure_clients_file(const char *path)
{
    static const char text[] =
        "# Tessera authorized_clients: one client per line\n"
        "# z85 public key (40 chars)                role     id              areas\n"
        "# (make keys with: tessera keygen --curve NAME; areas: codes, region codes or *)\n";
    if (s_exists(path))
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
static int s_check_files(const char *config, const char *key_path, const char *auth_path,
                         const char *envdir, const char *logdir)
{
    char data_mdb[4200], lock_mdb[4200], log_mdb[4200], log_lock[4200];
    snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", envdir);
    snprintf(lock_mdb, sizeof lock_mdb, "%s/lock.mdb", envdir);
    snprintf(log_mdb, sizeof log_mdb, "%s/data.mdb", logdir);
    snprintf(log_lock, sizeof log_lock, "%s/lock.mdb", logdir);
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

static void *s_server_socket(void *ctx, int type, const char *domain, const char *endpoint,
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
static char *s_stream_keys(const tsr_authlist_t *l)
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

static void s_log_problem(void *ctx, const char *problem)
{
    (void)ctx;
    tsr_error("collector", "SIGHUP: keeping the previous client list: %s", problem);
}

static void s_reload_clients(s_collector_t *c)
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
    char *keys = s_stream_keys(l);
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
static void *s_monitor_open(s_collector_t *c, void *sock, int which)
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
static void s_monitor_event(s_collector_t *c, int which)
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
    int64_t now = s_now_ms();
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
static void s_pub_open(s_collector_t *c)
{
    static int64_t last_try;
    static bool failing;
    int64_t now = s_now_ms();
    if (c->pub || (last_try && now - last_try < 200))
        return;
    last_try = now;
    c->pub = s_server_socket(c->ctx, ZMQ_PUB, TSR_ZAP_DOMAIN_ALERTS, C.alerts_endpoint, c->secret,
                             (int64_t)c->lim.max_frame, !failing);
    failing = c->pub == NULL;
    if (c->pub)
        last_try = 0;
}

/* Tells systemd (Type=notify) that the sockets are bound and the collector
 * serves; `systemctl status` shows the endpoints. A no-op outside systemd. */
static void s_service_ready(const tsr_authlist_t *list)
{
    char status[512];
    snprintf(status, sizeof status, "listening: ingest %s, query %s, alerts %s; %zu clients",
             C.ingest_endpoint, C.query_endpoint, C.alerts_endpoint, tsr_authlist_count(list));
    tsr_notify_ready(status);
    if (tsr_notify_watchdog_ms() > 0)
        tsr_info("collector", "systemd watchdog every %lld ms", (long long)tsr_notify_watchdog_ms());
}

/* What the collector and its commands start with: the refusal of root,
 * then the config (or the defaults) into C, lines[] the line of each key,
 * and --data over data_dir. Says why not on stderr and returns 1, or 0. */
/* What every start (the daemon, -n, backup, restore) does first: refuse root
 * and a bare start, load the config and check every value a start uses
 * (s_config_check), with its file and line. 0, or 1/2 (the exit code) after
 * saying why. */
static int s_config_start(const char *config, const char *data, bool allow_root,
                          const char *level, long *lines, tsr_settings_methods_t *methods)
{
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
    int rc = config ? tsr_config_load_lines(s_keys, config, lines, &err)
                    : tsr_config_defaults(s_keys, &err);
    if (rc == 0)
        rc = s_config_check(config, lines, level, methods, &err);
    if (rc == 0 && !data && !C.data_dir) {
        tsr_error_at(&err, config, 0);
        rc = tsr_error_set(&err, "collector.data_dir",
                           "not set: name the data directory ([collector] data_dir = "
                           "/var/lib/tessera-collector) or pass --data DIR");
    }
    if (rc != 0) {
        fprintf(stderr, "tessera-collector: %s\n", tsr_error_format(&err, msg, sizeof msg));
        tsr_config_free(s_keys);
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

/* `backup` and `restore`: the config (for data_dir and the key and client
 * paths), then backup.c. */
static int s_cmd_backup(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},       {"data", required_argument, NULL, 'd'},
        {"allow-root", no_argument, NULL, 'R'},         {"help", no_argument, NULL, 'h'},
        {"alerts-after", required_argument, NULL, 'a'}, {0},
    };
    const char *config = NULL, *data = NULL;
    uint64_t alerts_after = 0;
    char *end;
    bool allow_root = false, backup = !strcmp(argv[0], "backup");
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
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
            alerts_after = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' || backup) {
                fprintf(stderr, "tessera-collector: --alerts-after '%s': %s\n", optarg,
                        backup ? "for restore only" : "not an alert sequence number");
                return 2;
            }
            break;
        case 'h':
            fputs(s_backup_usage, stdout);
            return 0;
        default:
            fputs(s_backup_usage, stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fputs(s_backup_usage, stderr);
        return 2;
    }
    long lines[sizeof s_keys / sizeof s_keys[0]] = {0};
    tsr_settings_methods_t methods;
    int started = s_config_start(config, data, allow_root, NULL, lines, &methods);
    if (started != 0)
        return started;
    tsr_error_t err;
    char msg[768], key[4096], pub[4096], auth[4096];
    tsr_error_clear(&err);
    s_path(key, sizeof key, C.server_key, C.data_dir, "collector.key");
    snprintf(pub, sizeof pub, "%.*s.pub", (int)(strlen(key) > 4 ? strlen(key) - 4 : 0), key);
    s_path(auth, sizeof auth, C.authorized_clients, C.data_dir, "authorized_clients");
    const tsr_collector_file_t files[] = {
        {key, "collector.key"}, {pub, "collector.pub"}, {auth, "authorized_clients"}};
    int rc = backup ? tsr_collector_backup(C.data_dir, argv[optind], files, 3, &err)
                    : tsr_collector_restore(argv[optind], C.data_dir, files, 3, alerts_after, &err);
    if (rc != 0)
        fprintf(stderr, "tessera-collector %s: %s\n", argv[0],
                tsr_error_format(&err, msg, sizeof msg));
    tsr_config_free(s_keys);
    return rc == 0 ? 0 : 1;
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
        return s_cmd_backup(argc - 1, argv + 1);
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
    long lines[sizeof s_keys / sizeof s_keys[0]] = {0};
    tsr_settings_methods_t methods;
    int started = s_config_start(config, data, allow_root, level, lines, &methods);
    if (started != 0)
        return started;
    tsr_error_t err;
    char msg[768];
    int rc = 0;
    tsr_error_clear(&err);
    tsr_log_level_t lvl;
    tsr_log_parse_level(level ? level : C.log_level, &lvl); /* checked above */
    tsr_log_set_level(lvl);
    s_debug = lvl == TSR_LOG_DEBUG;
    if (C.syslog && !check_only)
        tsr_log_open_syslog("tessera-collector");

    s_collector_t c = {0};
    tsr_wire_limits_default(&c.lim);
    c.lim.max_frame = (size_t)C.max_frame_mib * MIB;
    s_path(c.auth_path, sizeof c.auth_path, C.authorized_clients, C.data_dir, "authorized_clients");
    char key_path[4096], secret[41], public[41], envdir[4096], logdir[4096];
    tsr_authlist_t *list = NULL;
    s_path(key_path, sizeof key_path, C.server_key, C.data_dir, "collector.key");
    snprintf(envdir, sizeof envdir, "%s/db", C.data_dir);
    snprintf(logdir, sizeof logdir, "%s/log", C.data_dir);
    /* before anything is created in or read from them; -n reports the same */
    int problems = s_check_files(config, key_path, c.auth_path, envdir, logdir);
    if (problems != 0) {
        if (problems > 0)
            fprintf(
                stderr,
                "tessera-collector: %s: %d file(s) other users could change or read (like sshd's "
                "StrictModes); fix them as shown\n",
                check_only ? "config check failed" : "refusing to start", problems);
        tsr_config_free(s_keys);
        return 1;
    }
    if (check_only) {
        if (access(c.auth_path, F_OK) == 0 && tsr_authlist_load(&list, c.auth_path, &err) != 0) {
            fprintf(stderr, "tessera-collector: %s\n", tsr_error_format(&err, msg, sizeof msg));
            return 1;
        }
        printf("config ok: data %s, ingest %s, query %s, alerts %s, %zu clients\n", C.data_dir,
               C.ingest_endpoint, C.query_endpoint, C.alerts_endpoint, tsr_authlist_count(list));
        s_netkeys_report(stdout, NULL);
        if (C.up_endpoint && *C.up_endpoint)
            printf("upstream: forwards %s to %s (listed there as relay)\n",
                   strcmp(C.up_forward, "linkage") ? "records" : "linkage tokens only",
                   C.up_endpoint);
        tsr_authlist_destroy(&list);
        tsr_config_free(s_keys);
        return 0;
    }
    if (s_bootstrap(key_path, sizeof key_path) != 0 || s_ensure_clients_file(c.auth_path) != 0)
        return 1;
    if (tsr_curve_load_secret(key_path, secret, public, &err) != 0 ||
        tsr_authlist_load(&list, c.auth_path, &err) != 0) {
        explicit_bzero(secret, sizeof secret);
        fprintf(stderr, "tessera-collector: %s\n", tsr_error_format(&err, msg, sizeof msg));
        goto fail;
    }
    /* one copy of the server's secret, wiped on every way out */
    memcpy(c.secret, secret, sizeof c.secret);
    explicit_bzero(secret, sizeof secret);
    tsr_store_opts_t so = {.spikes_set = true,
                           .drain_ms = (int)C.apply_step_ms,
                           .kv = {.dir = envdir,
                                  .map_size = (size_t)C.map_size_mib * MIB,
                                  .map_step = (size_t)C.map_step_mib * MIB,
                                  .map_max = (size_t)C.map_max_mib * MIB},
                           .log_kv = {.dir = logdir}}; /* the same map settings */
    tsr_spikes_defaults(&so.spikes);
    so.spikes.c1 = methods.c1;
    so.spikes.c2 = methods.c2;
    so.spikes.c3 = methods.c3;
    so.spikes.farrington = C.farrington;
    so.spikes.recent_days = (int)C.recent_days;
    so.spikes.recent_weeks = (int)C.recent_weeks;
    so.spikes.min_cases = (int)C.min_cases;
    so.retention_months = (int)C.retention_months;
    so.network_keys = s_netkeys;
    so.upstream = C.up_endpoint && *C.up_endpoint;
    if (tsr_store_open(&c.store, &so, &err) != 0) {
        fprintf(stderr, "tessera-collector: %s\n", tsr_error_format(&err, msg, sizeof msg));
        goto fail;
    }
    s_netkeys_report(NULL, c.store);
    /* the budget spent today, from the audit log: a restart resets nothing */
    int64_t midnight = time(NULL) / 86400 * 86400;
    if (tsr_budget_new(&c.budget, (unsigned)C.daily_query_budget) != 0 ||
        (rc = tsr_store_audit_each(c.store, midnight, s_budget_replay, c.budget)) != 0) {
        fprintf(stderr, "tessera-collector: cannot count today's queries from the audit log: %s\n",
                tsr_strerror(rc ? rc : TSR_ENOMEM));
        goto fail;
    }
    size_t qcap = (size_t)C.max_batches;
    c.queue = calloc(qcap, sizeof *c.queue);
    c.fair = calloc(qcap, sizeof *c.fair);
    c.sb = calloc(qcap, sizeof *c.sb);
    if (!c.queue || !c.fair || !c.sb ||
        tsr_ratelimit_new(&c.rate, (unsigned)C.queries_per_minute, (unsigned)C.query_burst) != 0 ||
        tsr_refusals_new(&c.refusals, (unsigned)C.audit_refusals_per_minute, 60) != 0) {
        fprintf(stderr, "tessera-collector: out of memory\n");
        return 1;
    }
    c.ctx = zmq_ctx_new();
    if (so.upstream) {
        tsr_upstream_opts_t uo = {C.up_endpoint, C.up_server_key, C.up_client_key,
                                  !strcmp(C.up_forward, "linkage"), (int)C.up_timeout_ms,
                                  (size_t)C.up_max_batch};
        if (tsr_upstream_new(&c.upstream, c.ctx, c.store, &uo, &err) != 0) {
            fprintf(stderr, "tessera-collector: [upstream]: %s\n",
                    tsr_error_format(&err, msg, sizeof msg));
            goto fail;
        }
    }
    c.stream_keys = s_stream_keys(list);
    if (tsr_zap_start(&c.zap, c.ctx, list) != 0) {
        fprintf(stderr, "tessera-collector: cannot start the ZAP handler\n");
        goto fail;
    }
    c.ingest = s_server_socket(c.ctx, ZMQ_ROUTER, TSR_ZAP_DOMAIN, C.ingest_endpoint, c.secret,
                               (int64_t)c.lim.max_frame, true);
    c.query = c.ingest ? s_server_socket(c.ctx, ZMQ_ROUTER, TSR_ZAP_DOMAIN, C.query_endpoint,
                                         c.secret, (int64_t)c.lim.max_frame, true)
                       : NULL;
    if (c.query)
        s_pub_open(&c);
    tsr_response_t last = {0};
    if (tsr_store_alerts(c.store, 0, 0, NULL, NULL, &last) == 0)
        c.last_alert = last.last_seq;
    /* the first turn of the loop, once listening, catches up: it evaluates
     * yesterday and today again (evaluations pending at a crash were lost
     * with it; what was alerted stays alerted) and applies retention */
    c.today = (int32_t)(time(NULL) / 86400) - 1;
    c.starting = true;
    if (!c.ingest || !c.query || !c.pub)
        goto fail;
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
    s_service_ready(list);

    c.monitor[0] = s_monitor_open(&c, c.ingest, 0);
    c.monitor[1] = s_monitor_open(&c, c.query, 1);
    tsr_applier_opts_t ao = {(int)C.apply_quiet_ms, (int)C.apply_quiet_max, (int)C.apply_delay_ms,
                             (int)C.apply_batch, 200};
    c.jobs_tail = &c.jobs;
    s_publish_store(&c); /* what the store's open applied (a store from before the log env) */
    if (tsr_applier_new(&c.applier, c.store, &ao) != 0)
        goto fail;
    /* ingest, query, the applier, two monitors and the upstream socket */
    zmq_pollitem_t items[6] = {{c.ingest, 0, ZMQ_POLLIN, 0},
                               {c.query, 0, ZMQ_POLLIN, 0},
                               {NULL, tsr_applier_fd(c.applier), ZMQ_POLLIN, 0}};
    int n_items = 3, mon_at[2] = {-1, -1};
    for (int i = 0; i < 2; i++)
        if (c.monitor[i]) {
            mon_at[i] = n_items;
            items[n_items++] = (zmq_pollitem_t){c.monitor[i], 0, ZMQ_POLLIN, 0};
        }
    while (!s_stop) {
        if (s_reload) {
            s_reload = 0;
            tsr_notify_reloading();
            s_reload_clients(&c);
            tsr_notify_ready(NULL);
        }
        tsr_notify_watchdog(s_now_ms()); /* the loop wakes at least every 500 ms */
        s_pub_open(&c);
        s_heartbeat(&c);
        s_day_boundary(&c);
        /* the upstream's socket changes as it reconnects: the last item */
        int timeout = s_poll_timeout(&c), n_poll = n_items;
        if (c.upstream) {
            int up = tsr_upstream_step(c.upstream);
            timeout = up < timeout ? up : timeout;
            if (tsr_upstream_socket(c.upstream))
                items[n_poll++] = (zmq_pollitem_t){tsr_upstream_socket(c.upstream), 0, ZMQ_POLLIN, 0};
        }
        int n = zmq_poll(items, n_poll, timeout);
        if (n < 0 && zmq_errno() != EINTR) {
            tsr_error("collector", "poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        bool ingest = (n > 0 && (items[0].revents & ZMQ_POLLIN)) || c.n_queued > 0;
        bool news = n > 0 && (items[2].revents & ZMQ_POLLIN);
        if (news) { /* committed alerts leave before the log's next commit, not after it */
            tsr_applier_clear(c.applier);
            s_publish(&c);
        }
        if (ingest)
            s_ingest(&c);
        if (news) {
            if (!ingest) /* applied entries leave the log; under load, submits delete them */
                tsr_store_trim(c.store, 10000);
            s_jobs_run(&c);
        } else if (c.jobs_ready) {
            s_jobs_run(&c);
        }
        if (n > 0 && (items[1].revents & ZMQ_POLLIN))
            s_query(&c);
        s_refusals_flush(&c, false);
        for (int i = 0; n > 0 && i < 2; i++)
            if (mon_at[i] >= 0 && (items[mon_at[i]].revents & ZMQ_POLLIN))
                s_monitor_event(&c, i);
    }
    tsr_info("collector", "stopping");
    tsr_notify_stopping();
    while (c.n_queued > 0) /* what was read is logged and acknowledged, nothing more read */
        s_ingest_commit(&c);
    /* the queries read are answered (each waits at most for the steps
     * that apply what was acknowledged before it) */
    for (int64_t until = s_now_ms() + 10000; c.jobs && s_now_ms() < until;) {
        zmq_poll(&items[2], 1, 100);
        tsr_applier_clear(c.applier);
        s_jobs_run(&c);
    }
    s_refusals_flush(&c, true);
    tsr_applier_stop(c.applier);
    s_publish(&c);
    tsr_applier_destroy(&c.applier);
    while (c.jobs) {
        s_query_job_t *j = c.jobs;
        c.jobs = j->next;
        s_job_destroy(&j);
    }
    s_apply_all(&c);
    tsr_store_trim(c.store, 0);
    for (int i = 0; i < 2; i++)
        if (c.monitor[i]) {
            zmq_socket_monitor(i == 0 ? c.ingest : c.query, NULL, 0);
            zmq_close(c.monitor[i]);
        }
    tsr_upstream_destroy(&c.upstream); /* what was not acknowledged stays queued */
    zmq_close(c.ingest);
    zmq_close(c.query);
    if (c.pub)
        zmq_close(c.pub);
    explicit_bzero(c.secret, sizeof c.secret);
    free(c.stream_keys);
    tsr_zap_destroy(&c.zap);
    zmq_ctx_term(c.ctx);
    tsr_store_close(&c.store);
    tsr_budget_destroy(&c.budget);
    tsr_ratelimit_destroy(&c.rate);
    tsr_refusals_destroy(&c.refusals);
    free(c.queue);
    free(c.fair);
    free(c.sb);
    tsr_config_free(s_keys);
    return 0;
fail: /* at start-up: the process ends here, but not with the key in memory */
    explicit_bzero(c.secret, sizeof c.secret);
    return 1;
}
