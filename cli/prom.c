/* prom.c - the collector's stats in the Prometheus text exposition format
 * (version 0.0.4), for node_exporter's textfile collector: `tessera stats
 * --format prometheus` (docs/DEPLOYING.md, "Metrics"). The collector
 * serves no HTTP; a timer writes this to a .prom file. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef enum { P_COUNTER, P_GAUGE } p_type_t;

/* A family: the stats counters named `stat` (or, with a trailing ':',
 * every "stat<label value>"), as one metric. */
typedef struct {
    const char *stat;
    const char *metric;
    p_type_t type;
    const char *label; /* for a prefix */
    double scale;      /* value multiplier (0: 1) */
    const char *help;
} p_family_t;

static const p_family_t s_families[] = {
    {"records", "tessera_records", P_GAUGE, NULL, 0, "Records stored."},
    {"ingest_log_waiting", "tessera_ingest_log_backlog", P_GAUGE, NULL, 0,
     "Acknowledged ingest log entries not yet applied to the records."},
    {"ingest_queue_waiting", "tessera_ingest_queue_batches", P_GAUGE, NULL, 0,
     "Batches read and waiting for a group commit."},
    {"map_size_bytes", "tessera_map_size_bytes", P_GAUGE, NULL, 0, "LMDB map size."},
    {"map_used_bytes", "tessera_map_used_bytes", P_GAUGE, NULL, 0, "LMDB map bytes in use."},
    {"audit_map_size_bytes", "tessera_audit_map_size_bytes", P_GAUGE, NULL, 0,
     "LMDB map size of the audit log's environment."},
    {"audit_map_used_bytes", "tessera_audit_map_used_bytes", P_GAUGE, NULL, 0,
     "LMDB map bytes in use in the audit log's environment."},
    {"apply_steps:", "tessera_apply_steps_total", P_COUNTER, "mode", 0,
     "Apply steps since start-up: in the background (apply_yield), or in the foreground "
     "(something waited for them, or yield is off)."},
    {"last_backup_unix", "tessera_last_backup_timestamp_seconds", P_GAUGE, NULL, 0,
     "When the last tessera-collector backup finished (0: never)."},
    {"last_alert_seq", "tessera_last_alert_sequence", P_GAUGE, NULL, 0,
     "Sequence of the last alert raised."},
    {"accepted", "tessera_records_accepted_total", P_COUNTER, NULL, 0, "New records accepted."},
    {"duplicates", "tessera_records_duplicate_total", P_COUNTER, NULL, 0,
     "Records received again (same or older version)."},
    {"replaced", "tessera_records_replaced_total", P_COUNTER, NULL, 0,
     "Records replaced by a higher version."},
    {"retracted", "tessera_records_retracted_total", P_COUNTER, NULL, 0, "Retractions applied."},
    {"rejected:", "tessera_records_rejected_total", P_COUNTER, "reason", 0,
     "Records rejected, by reason."},
    {"agency:", "tessera_agency_records_accepted_total", P_COUNTER, "agency", 0,
     "New records accepted, by agency."},
    {"batches", "tessera_batches_total", P_COUNTER, NULL, 0, "Batches stored."},
    {"group_commits", "tessera_group_commits_total", P_COUNTER, NULL, 0,
     "Ingest transactions since start-up."},
    {"malformed_frames", "tessera_malformed_frames_total", P_COUNTER, NULL, 0,
     "Frames that could not be decoded, since start-up."},
    {"malformed_batches_answered", "tessera_malformed_batches_total", P_COUNTER, NULL, 0,
     "Batches answered MALFORMED, since start-up."},
    {"failed_handshakes", "tessera_handshakes_refused_total", P_COUNTER, NULL, 0,
     "CURVE handshakes refused before authentication (another server key, not CURVE), "
     "since start-up."},
    {"unauthorised_messages", "tessera_unauthorised_messages_total", P_COUNTER, NULL, 0,
     "Messages from keys no longer authorised, since start-up."},
    {"queries_rate_limited", "tessera_queries_rate_limited_total", P_COUNTER, NULL, 0,
     "Queries refused RATE_LIMITED, since start-up."},
    {"budget_refusals", "tessera_query_budget_refusals_total", P_COUNTER, NULL, 0,
     "Analyst queries refused over the daily budget, since start-up."},
    {"alerts:", "tessera_alerts_total", P_COUNTER, "kind", 0, "Alerts raised, by kind."},
    {"purged", "tessera_records_purged_total", P_COUNTER, NULL, 0, "Records purged by retention."},
    {"audit_purged", "tessera_audit_purged_total", P_COUNTER, NULL, 0,
     "Audit entries purged by retention."},
};

/* Writes a label value escaped as the format asks (\\, \", \n). */
static void s_label_value(FILE *f, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(f, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

static void s_family(FILE *f, const p_family_t *p, const tsr_counter_t *c, size_t n)
{
    size_t plen = strlen(p->stat);
    bool prefix = p->label != NULL, any = false;
    for (size_t i = 0; i < n; i++) {
        bool match = prefix ? !strncmp(c[i].name, p->stat, plen) && c[i].name[plen]
                            : !strcmp(c[i].name, p->stat);
        if (!match)
            continue;
        if (!any)
            fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", p->metric, p->help, p->metric,
                    p->type == P_COUNTER ? "counter" : "gauge");
        any = true;
        fputs(p->metric, f);
        if (prefix) {
            fprintf(f, "{%s=\"", p->label);
            s_label_value(f, c[i].name + plen);
            fputs("\"}", f);
        }
        fprintf(f, " %" PRIu64 "\n", c[i].value);
    }
}

/* The Ack latency histogram: the collector's cumulative buckets in
 * microseconds ("ack_latency_us_bucket:le=N"), written in seconds. */
static void s_histogram(FILE *f, const tsr_counter_t *c, size_t n)
{
    static const char m[] = "tessera_ack_latency_seconds";
    static const char b[] = "ack_latency_us_bucket:le=";
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(c[i].name, b, sizeof b - 1) != 0)
            continue;
        if (!any)
            fprintf(f,
                    "# HELP %s From reading a batch to sending its Ack, since the "
                    "collector started.\n# TYPE %s histogram\n",
                    m, m);
        any = true;
        const char *le = c[i].name + sizeof b - 1;
        unsigned long long us;
        if (!strcmp(le, "+Inf"))
            fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", m, c[i].value);
        else if (sscanf(le, "%llu", &us) == 1)
            fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", m, (double)us / 1e6, c[i].value);
    }
    for (size_t i = 0; any && i < n; i++) {
        if (!strcmp(c[i].name, "ack_latency_us_sum"))
            fprintf(f, "%s_sum %.6f\n", m, (double)c[i].value / 1e6);
        else if (!strcmp(c[i].name, "ack_latency_us_count"))
            fprintf(f, "%s_count %" PRIu64 "\n", m, c[i].value);
    }
}

void cli_prom_write(FILE *f, const tsr_counter_t *c, size_t n, int64_t now)
{
    for (size_t i = 0; i < sizeof s_families / sizeof *s_families; i++)
        s_family(f, &s_families[i], c, n);
    s_histogram(f, c, n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(c[i].name, "last_backup_unix") && c[i].value > 0)
            fprintf(f,
                    "# HELP tessera_last_backup_age_seconds Seconds since the last backup "
                    "finished, when these figures were read.\n"
                    "# TYPE tessera_last_backup_age_seconds gauge\n"
                    "tessera_last_backup_age_seconds %lld\n",
                    (long long)(now - (int64_t)c[i].value));
}
