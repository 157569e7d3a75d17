/* daemon.h - what the files of tessera-collector (the daemon) share and
 * nothing else includes: its settings, its state, a query's job, and the
 * functions more than one of its files calls. main.c: the loop and main();
 * conf.c: the settings; startup.c: files, keys, sockets, reload, backup;
 * ingest.c: the ingest path and the publish path; query.c: queries from
 * arrival to answer; answer.c: what a query gets. Everything else in those
 * files is static (s_). */
#ifndef TESSERA_DAEMON_H
#define TESSERA_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <zmq.h>

#include "applier.h"
#include "budget.h"
#include "fair.h"
#include "histo.h"
#include "querier.h"
#include "ratelimit.h"
#include "refusals.h"
#include "settings.h"
#include "store.h"
#include "tessera/auth.h"
#include "tessera/ckm.h"
#include "tessera/config.h"
#include "tessera/err.h"
#include "tessera/netkeys.h"
#include "tessera/wire.h"
#include "upstream.h"

#define MIB ((size_t)1 << 20)

/* The settings, one field a key of the table in conf.c (tsr_daemon_keys). */
typedef struct {
    char *data_dir, *ingest_endpoint, *query_endpoint, *alerts_endpoint, *authorized_clients,
        *server_key, *log_level;
    bool syslog;
    long max_frame_mib, map_size_mib, map_step_mib, map_max_mib, max_batches, retention_months;
    long apply_quiet_ms, apply_quiet_max, apply_delay_ms, apply_batch, apply_step_ms, max_items;
    bool apply_yield;
    long queries_per_minute, query_burst, audit_refusals_per_minute, receive_hwm, send_hwm;
    long audit_months, query_thread_nice;
    long k, max_deviation, recent_days, recent_weeks, min_cases, daily_query_budget;
    char *daily_methods, *variance, *cross_region;
    tsr_settings_cross_region_t cross_mode; /* cross_region, parsed */
    bool farrington;
    char *key_ids;
    /* [upstream] (federation, docs/FEDERATION.md) */
    char *up_endpoint, *up_server_key, *up_client_key, *up_forward;
    long up_timeout_ms, up_max_batch;
} tsr_daemon_config_t;

/* The settings (conf.c), as the config and --data left them. Named C, not
 * tsr_daemon_...: every file reads it on many lines (C.k, C.data_dir). */
extern tsr_daemon_config_t C;
/* log_level is debug: worth composing debug lines that cost something */
extern bool tsr_daemon_debug;
/* The perturbation every count an analyst sees goes through (ckm.h). */
extern tsr_ckm_table_t tsr_daemon_ckm;
/* The table of config keys, ended by an entry without a name: room for
 * the keys and the end (a table too long for it does not compile), so a
 * start's lines[] (the line each key was set on) can be sized by it. */
#define TSR_DAEMON_KEYS_MAX 64
extern const tsr_config_key_t tsr_daemon_keys[TSR_DAEMON_KEYS_MAX];
/* The parsed [network] key_ids (n = 0: not set). */
extern tsr_netkeys_t tsr_daemon_netkeys;

/* --- runtime state ----------------------------------------------------------- */

/* Malformed-frame log lines, per peer (tsr_daemon_count_malformed). */
#define S_PEER_LOG 64
#define S_PEER_LOG_MS 10000
typedef struct {
    char id[TSR_CLIENT_ID_MAX];
    int64_t last_ms;     /* monotonic ms of its last line */
    uint64_t suppressed; /* lines not written since */
} tsr_daemon_peer_log_t;

typedef struct tsr_daemon_pending tsr_daemon_pending_t;
typedef struct tsr_daemon_job tsr_daemon_job_t;

typedef struct {
    void *ctx, *ingest, *query, *pub;
    char secret[41];
    char *stream_keys; /* liaison and admin keys now listed (tsr_daemon_stream_keys) */
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
    tsr_daemon_pending_t **queue;
    size_t n_queued;
    tsr_fair_batch_t *fair;
    tsr_store_batch_t *sb;
    void *monitor[2];            /* handshake failures on ingest, query (tsr_daemon_monitor_open) */
    uint64_t failed_handshakes;  /* refused before ZAP: another server key, or not CURVE */
    int64_t handshake_logged[2]; /* monotonic ms of the last line, per socket */
    uint64_t handshake_unlogged[2];
    uint64_t last_alert;    /* highest alert seq in the log */
    int32_t today;          /* UTC day of the last boundary check */
    int64_t last_detect;    /* monotonic ms of the last spike evaluation */
    bool starting;          /* the first boundary check also evaluates today */
    int64_t last_heartbeat; /* monotonic ms */
    tsr_daemon_peer_log_t peer_log[S_PEER_LOG];
    tsr_daemon_peer_log_t key_log[S_PEER_LOG]; /* records refused for their network key */
    int64_t drain_retry_at;           /* monotonic ms: after a failed drain or day boundary,
                                       * neither again before */
    tsr_applier_t *applier;           /* the apply thread (applier.h) */
    tsr_querier_t *querier;           /* the query thread (querier.h) */
    uint64_t day_target;              /* the day boundary waits for the log applied to this - 1 */
    int64_t trim_at; /* monotonic ms: a trim of the applied log entries of its own is due
                      * then, unless batches keep coming (0: none due; main.c) */
    /* Queries between arrival and answer, oldest first: waiting for the
     * apply (their target sequence), then for their audit commit. */
    tsr_daemon_job_t *jobs, **jobs_tail;
    bool jobs_ready; /* queries ready to answer left for the next turn */
} tsr_daemon_t;

/* The counters of a stats answer, as they are added (answer.c). */
typedef struct {
    tsr_counter_t *v;
    size_t n, cap;
} tsr_daemon_counters_t;

/* A query from its arrival to its answer (docs/STORAGE.md, "Queries see
 * applied data"): it waits until the log is applied up to what was
 * acknowledged when it arrived (target), is answered, waits for its audit
 * entry's commit (shared with the other queries of the moment), and only
 * then is sent. */
struct tsr_daemon_job {
    zmq_msg_t ident;
    tsr_client_t client;
    tsr_msg_t req, m; /* the query, and its answer */
    tsr_daemon_counters_t cs;
    char what[200];
    bool may, counted, answer; /* answer: not refused, so it reads */
    bool single;               /* audited on its own (not in a refusals aggregate) */
    bool reading;              /* its answer is being read on the query thread */
    bool answered;             /* waiting for its audit commit */
    uint64_t target;
    tsr_daemon_t *c; /* for s_job_read */
    tsr_querier_job_t read;
    tsr_applier_audit_t audit;
    tsr_daemon_job_t *next;
};

/* ingest.c */
void tsr_daemon_count_malformed(tsr_daemon_t *c, const char *sock, const char *peer,
                                const char *why, bool answered);
int tsr_daemon_recv(void *sock, zmq_msg_t *ident, zmq_msg_t *body);
void tsr_daemon_send(void *sock, zmq_msg_t *ident, const tsr_msg_t *m);
void tsr_daemon_publish(tsr_daemon_t *c);
void tsr_daemon_publish_store(tsr_daemon_t *c);
int64_t tsr_daemon_now_ms(void);
int64_t tsr_daemon_now_us(void);
void tsr_daemon_apply_all(tsr_daemon_t *c);
int tsr_daemon_poll_timeout(const tsr_daemon_t *c);
void tsr_daemon_pause(tsr_daemon_t *c);
void tsr_daemon_resume(tsr_daemon_t *c);
void tsr_daemon_day_boundary(tsr_daemon_t *c);
void tsr_daemon_heartbeat(tsr_daemon_t *c);
void tsr_daemon_ingest_commit(tsr_daemon_t *c);
void tsr_daemon_ingest(tsr_daemon_t *c);

/* answer.c */
void tsr_daemon_refuse(tsr_response_t *resp, int status, const char *why);
void tsr_daemon_describe(const tsr_query_t *q, char *what, size_t cap);
bool tsr_daemon_lookup_keys_ok(tsr_daemon_t *c, const tsr_query_t *q, tsr_response_t *resp);
bool tsr_daemon_allowed(tsr_daemon_t *c, const tsr_client_t *who, const tsr_query_t *q,
                        tsr_response_t *resp, const char *what, bool *counted);
int tsr_daemon_audit_retention(tsr_daemon_t *c, int64_t now, uint64_t *purged);
bool tsr_daemon_read_off_loop(int kind);
void tsr_daemon_answer_read(tsr_daemon_t *c, const tsr_client_t *who, const tsr_query_t *q,
                            tsr_response_t *resp);
void tsr_daemon_answer(tsr_daemon_t *c, const tsr_query_t *q, tsr_response_t *resp,
                       tsr_daemon_counters_t *cs);

/* query.c */
void tsr_daemon_refusals_flush(tsr_daemon_t *c, bool all);
void tsr_daemon_job_destroy(tsr_daemon_job_t **j_p);
void tsr_daemon_jobs_run(tsr_daemon_t *c);
void tsr_daemon_query(tsr_daemon_t *c);

/* conf.c */
int tsr_daemon_config_check(const char *config, const long *lines, const char *level,
                            tsr_settings_methods_t *methods, tsr_error_t *err);
void tsr_daemon_netkeys_report(FILE *check, const tsr_store_t *store);
/* Decides [spikes] cross_region for the client list l, at start and on
 * SIGHUP, and says so: on the store, or on stdout for -n (store NULL). */
void tsr_daemon_cross_region(tsr_store_t *store, const tsr_authlist_t *l);

/* startup.c */
int tsr_daemon_budget_replay(void *ctx, const tsr_audit_entry_t *e);
void tsr_daemon_path(char *out, size_t cap, const char *set, const char *dir, const char *name);
bool tsr_daemon_exists(const char *path);
int tsr_daemon_bootstrap(char *key_path, size_t cap);
int tsr_daemon_ensure_clients_file(const char *path);
int tsr_daemon_check_files(const char *config, const char *key_path, const char *auth_path,
                           const char *envdir, const char *logdir, const char *auditdir);
void *tsr_daemon_server_socket(void *ctx, int type, const char *domain, const char *endpoint,
                               const char *secret, int64_t payload_max, bool report);
char *tsr_daemon_stream_keys(const tsr_authlist_t *l);
void tsr_daemon_reload_clients(tsr_daemon_t *c);
void *tsr_daemon_monitor_open(tsr_daemon_t *c, void *sock, int which);
void tsr_daemon_monitor_event(tsr_daemon_t *c, int which);
void tsr_daemon_pub_open(tsr_daemon_t *c);
void tsr_daemon_service_ready(const tsr_authlist_t *list);
int tsr_daemon_config_start(const char *config, const char *data, bool allow_root,
                            const char *level, tsr_settings_methods_t *methods);
int tsr_daemon_cmd_backup(int argc, char **argv);
/* `tessera-collector upstream-resend`: the exit code. */
int tsr_daemon_cmd_resend(int argc, char **argv);

#endif
