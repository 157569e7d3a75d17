/* stats.c - `tessera stats`: the collector's counters, for the admin role. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "cli.h"
#include "tessera/client.h"
#include "tessera/err.h"

static const char s_stats_usage[] =
    "usage: tessera stats --server-key COLLECTOR.pub --key NAME.key [--collector ENDPOINT]\n"
    "                     [--format table|csv]\n"
    "\n"
    "Shows the collector's counters: records, batches, outcomes, rejections by\n"
    "reason, records per agency, map use, malformed frames. Needs the admin role.\n"
    "  --collector ENDPOINT  query endpoint (default tcp://127.0.0.1:7702)\n";

int cli_cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        {"collector", required_argument, NULL, 'e'}, {"server-key", required_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'},       {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},            {0},
    };
    const char *endpoint = "tcp://127.0.0.1:7702", *server = NULL, *key = NULL, *format = "table";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'e': endpoint = optarg; break;
        case 's': server = optarg; break;
        case 'k': key = optarg; break;
        case 'f': format = optarg; break;
        case 'h': fputs(s_stats_usage, stdout); return 0;
        default: fputs(s_stats_usage, stderr); return 2;
        }
    }
    if (!server || !key || optind != argc || (strcmp(format, "table") && strcmp(format, "csv"))) {
        fputs(s_stats_usage, stderr);
        return 2;
    }
    void *ctx = zmq_ctx_new();
    tsr_conn_t *conn = NULL;
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    int rc = tsr_conn_open(&conn, ctx, endpoint, server, key, &err);
    tsr_msg_t req = {.kind = TSR_MSG_QUERY}, reply = {0};
    req.u.query.request_id = 1;
    req.u.query.kind = TSR_QUERY_STATS;
    if (rc == 0)
        rc = tsr_conn_request(conn, &req, &reply, 5000, &err);
    int exit_code = 1;
    if (rc != 0) {
        fprintf(stderr, "tessera stats: %s\n", tsr_error_format(&err, msg, sizeof msg));
    } else if (reply.kind != TSR_MSG_RESPONSE || reply.u.response.status != TSR_QSTATUS_OK) {
        fprintf(stderr, "tessera stats: refused: %s\n",
                reply.kind == TSR_MSG_RESPONSE ? reply.u.response.error : "unexpected reply");
    } else {
        const tsr_response_t *r = &reply.u.response;
        if (!strcmp(format, "csv"))
            puts("counter,value");
        for (size_t i = 0; i < r->n_counters; i++)
            printf(!strcmp(format, "csv") ? "%s,%llu\n" : "%-40s %12llu\n", r->counters[i].name,
                   (unsigned long long)r->counters[i].value);
        exit_code = 0;
    }
    tsr_msg_clear(&reply);
    tsr_conn_close(&conn);
    zmq_ctx_term(ctx);
    return exit_code;
}
