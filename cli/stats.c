/* stats.c - `tessera stats`: the collector's counters, for the admin role. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "table.h"

static const char s_stats_usage[] =
    "usage: tessera stats --server-key COLLECTOR.pub --key NAME.key [--collector ENDPOINT]\n"
    "                     [--format table|csv|json]\n"
    "\n"
    "Shows the collector's counters: records, batches, outcomes, rejections by\n"
    "reason, records per agency, map use, malformed frames. Needs the admin role.\n" CLI_CONN_USAGE;

int cli_cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    cli_conn_opts_t co;
    cli_conn_defaults(&co);
    cli_format_t format = CLI_FORMAT_TABLE;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_conn_option(&co, c, optarg))
            continue;
        switch (c) {
        case 'f':
            if (cli_format_option("stats", optarg, &format) != 0)
                return 2;
            break;
        case 'h': fputs(s_stats_usage, stdout); return 0;
        default: fputs(s_stats_usage, stderr); return 2;
        }
    }
    if (optind != argc) {
        fputs(s_stats_usage, stderr);
        return 2;
    }
    if (!cli_conn_complete(&co, "stats"))
        return 2;
    tsr_msg_t req = {.kind = TSR_MSG_QUERY}, reply;
    req.u.query.request_id = 1;
    req.u.query.kind = TSR_QUERY_STATS;
    int exit_code = cli_request("stats", &co, &req, &reply);
    if (exit_code == 0) {
        static const cli_col_t cols[] = {{"counter", CLI_COL_TEXT, false},
                                         {"value", CLI_COL_INT, true}};
        const tsr_response_t *r = &reply.u.response;
        cli_table_t *t = NULL;
        int rc = cli_table_new(&t, cols, 2);
        for (size_t i = 0; rc == 0 && i < r->n_counters; i++) {
            char v[24];
            snprintf(v, sizeof v, "%llu", (unsigned long long)r->counters[i].value);
            rc = cli_table_add(t, (const char *[]){r->counters[i].name, v});
        }
        exit_code = cli_table_finish("stats", &t, rc, format);
    }
    tsr_msg_clear(&reply);
    return exit_code;
}
