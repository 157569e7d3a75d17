/* stats.c - `tessera stats`: the collector's counters, for the admin role. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char s_stats_usage[] =
    "usage: tessera stats --server-key COLLECTOR.pub --key NAME.key [--collector ENDPOINT]\n"
    "                     [--format table|csv]\n"
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
    const char *format = "table";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_conn_option(&co, c, optarg))
            continue;
        switch (c) {
        case 'f': format = optarg; break;
        case 'h': fputs(s_stats_usage, stdout); return 0;
        default: fputs(s_stats_usage, stderr); return 2;
        }
    }
    if (optind != argc || (strcmp(format, "table") && strcmp(format, "csv"))) {
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
        const tsr_response_t *r = &reply.u.response;
        bool csv = !strcmp(format, "csv");
        if (csv)
            puts("counter,value");
        for (size_t i = 0; i < r->n_counters; i++)
            printf(csv ? "%s,%llu\n" : "%-40s %12llu\n", r->counters[i].name,
                   (unsigned long long)r->counters[i].value);
    }
    tsr_msg_clear(&reply);
    return exit_code;
}
