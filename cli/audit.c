/* audit.c - `tessera audit`: the collector's audit log, for admins. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "table.h"
#include "tessera/record.h"

static const char s_usage[] =
    "usage: tessera audit --server-key COLLECTOR.pub --key NAME.key [--since YYYY-MM-DD]\n"
    "                     [--id CLIENT_ID] [--max N] [--format table|csv|json]\n"
    "                     [--collector ENDPOINT]\n"
    "\n"
    "Shows who asked the collector what, and when: every query and admin action,\n"
    "refused ones included (time, client id, role, request and outcome, result\n"
    "size). Needs the admin role; this query is itself audited.\n" CLI_CONN_USAGE;

int cli_cmd_audit(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"since", required_argument, NULL, 's'},
        {"id", required_argument, NULL, 'i'},
        {"max", required_argument, NULL, 'm'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    cli_conn_opts_t co;
    cli_conn_defaults(&co);
    const char *id = "";
    cli_format_t format = CLI_FORMAT_TABLE;
    int64_t since = 0;
    long max = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_conn_option(&co, c, optarg))
            continue;
        switch (c) {
        case 's': {
            int32_t day;
            if (tsr_day_parse(optarg, &day) != 0) {
                fprintf(stderr, "tessera audit: --since '%s' is not a date (YYYY-MM-DD)\n", optarg);
                return 2;
            }
            since = (int64_t)day * 86400;
            break;
        }
        case 'i': id = optarg; break;
        case 'm': max = strtol(optarg, NULL, 10); break;
        case 'f':
            if (cli_format_option("audit", optarg, &format) != 0)
                return 2;
            break;
        case 'h': fputs(s_usage, stdout); return 0;
        default: fputs(s_usage, stderr); return 2;
        }
    }
    if (optind != argc || max < 0) {
        fputs(s_usage, stderr);
        return 2;
    }
    if (!cli_conn_complete(&co, "audit"))
        return 2;
    tsr_msg_t req = {.kind = TSR_MSG_QUERY}, reply;
    req.u.query.request_id = 1;
    req.u.query.kind = TSR_QUERY_AUDIT;
    req.u.query.since_time = since;
    snprintf(req.u.query.id, sizeof req.u.query.id, "%s", id);
    req.u.query.max = (uint32_t)max;
    int rc = cli_request("audit", &co, &req, &reply);
    if (rc == 0) {
        /* the request is always quoted in CSV: scripts match ',"trends by' */
        static const cli_col_t cols[] = {
            {"time", CLI_COL_TEXT, false},     {"id", CLI_COL_TEXT, false},
            {"role", CLI_COL_TEXT, false},     {"request", CLI_COL_QUOTED, false},
            {"result_size", CLI_COL_INT, true},
        };
        const tsr_response_t *r = &reply.u.response;
        cli_table_t *t = NULL;
        int trc = cli_table_new(&t, cols, sizeof cols / sizeof cols[0]);
        for (size_t i = 0; trc == 0 && i < r->n_audit; i++) {
            const tsr_audit_entry_t *e = &r->audit[i];
            char when[32], size[24];
            time_t tt = (time_t)e->time;
            struct tm tm;
            gmtime_r(&tt, &tm);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            snprintf(size, sizeof size, "%" PRIu64, e->result_size);
            trc = cli_table_add(t, (const char *[]){when, e->id, e->role, e->request, size});
        }
        rc = cli_table_finish("audit", &t, trc, format);
    }
    tsr_msg_clear(&reply);
    return rc;
}
