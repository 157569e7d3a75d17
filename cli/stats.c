/* stats.c - `tessera stats`: the collector's counters, for the admin role. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tessera/err.h"
#include "tessera/fsmode.h"

#include "cli.h"
#include "table.h"

static const char s_stats_usage[] =
    "usage: tessera stats --server-key COLLECTOR.pub --key NAME.key [--collector ENDPOINT]\n"
    "                     [--format table|csv|json|prometheus] [--output FILE]\n"
    "\n"
    "Shows the collector's counters: records, batches, outcomes, rejections by\n"
    "reason, records per agency, map use, malformed frames, alerts by kind, the\n"
    "Ack latency histogram. Needs the admin role.\n"
    "  --format prometheus   the text exposition format, for node_exporter's\n"
    "                        textfile collector (docs/DEPLOYING.md, Metrics)\n"
    "  --output FILE         write FILE (mode 0644) by a rename, so a reader never\n"
    "                        sees half of it; nothing is written on a failure\n" CLI_CONN_USAGE;

/* The counters as rows of (counter, value) in format f to fp. */
static int s_stats_rows(FILE *fp, const tsr_response_t *r, cli_format_t f)
{
    static const cli_col_t cols[] = {{"counter", CLI_COL_TEXT, false},
                                     {"value", CLI_COL_INT, true}};
    cli_table_t *t = NULL;
    int rc = cli_table_new(&t, cols, 2);
    for (size_t i = 0; rc == 0 && i < r->n_counters; i++) {
        char v[24];
        snprintf(v, sizeof v, "%llu", (unsigned long long)r->counters[i].value);
        rc = cli_table_add(t, (const char *[]){r->counters[i].name, v});
    }
    if (rc == 0)
        rc = cli_table_print(t, f, fp);
    cli_table_destroy(&t);
    return rc;
}

int cli_cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    cli_conn_opts_t co;
    cli_conn_defaults(&co);
    cli_format_t format = CLI_FORMAT_TABLE;
    bool prom = false;
    const char *output = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_conn_option(&co, c, optarg))
            continue;
        switch (c) {
        case 'f':
            prom = !strcmp(optarg, "prometheus");
            if (!prom && cli_format_option("stats", optarg, &format) != 0)
                return 2;
            break;
        case 'o': output = optarg; break;
        case 'h': fputs(s_stats_usage, stdout); return 0;
        default: fputs(s_stats_usage, stderr); return 2;
        }
    }
    if (optind != argc) {
        fputs(s_stats_usage, stderr);
        return 2;
    }
    tsr_msg_t req = {.kind = TSR_MSG_QUERY}, reply = {0};
    req.u.query.request_id = 1;
    req.u.query.kind = TSR_QUERY_STATS;
    int exit_code = cli_request("stats", &co, &req, &reply);
    char *text = NULL;
    size_t len = 0;
    FILE *f = exit_code == 0 ? open_memstream(&text, &len) : NULL;
    if (exit_code == 0 && !f)
        exit_code = 1;
    if (f) {
        const tsr_response_t *r = &reply.u.response;
        if (prom)
            cli_prom_write(f, r->counters, r->n_counters, (int64_t)time(NULL));
        else if (s_stats_rows(f, r, format) != 0) {
            fprintf(stderr, "tessera stats: out of memory\n");
            exit_code = 1;
        }
        fclose(f);
    }
    if (text && output && exit_code == 0) {
        tsr_error_t err;
        char msg[768];
        tsr_error_clear(&err);
        if (tsr_fsmode_write(output, text, len, 0644, true, &err) != 0) {
            fprintf(stderr, "tessera stats: %s\n", tsr_error_format(&err, msg, sizeof msg));
            exit_code = 1;
        }
    } else if (text && exit_code == 0) {
        fwrite(text, 1, len, stdout);
    }
    free(text);
    tsr_msg_clear(&reply);
    return exit_code;
}
