/* admin.c - `tessera admin purge`: retention on demand, for admins. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tessera/record.h"

static const char s_usage[] =
    "usage: tessera admin purge --server-key COLLECTOR.pub --key NAME.key\n"
    "                           [--before YYYY-MM-DD] [--collector ENDPOINT]\n"
    "\n"
    "Purges the records reported before a day (default: what the collector's\n"
    "retention period no longer allows; it also does this every day) with their\n"
    "index entries and cluster membership. Alerts stay, without the purged\n"
    "record ids. The audit log is purged too, to its own retention period\n"
    "([retention] audit_months), never by --before. This cannot be undone.\n"
    "Needs the admin role; audited.\n" CLI_CONN_USAGE;

int cli_cmd_admin(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "purge") != 0) {
        bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
        fputs(s_usage, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    static const struct option opts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"before", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    cli_conn_opts_t co;
    cli_conn_defaults(&co);
    int32_t before = 0;
    int c;
    optind = 1;
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_conn_option(&co, c, optarg))
            continue;
        switch (c) {
        case 'b':
            if (tsr_day_parse(optarg, &before) != 0) {
                fprintf(stderr, "tessera admin purge: --before '%s' is not a date (YYYY-MM-DD)\n",
                        optarg);
                return 2;
            }
            break;
        case 'h': fputs(s_usage, stdout); return 0;
        default: fputs(s_usage, stderr); return 2;
        }
    }
    if (optind != argc) {
        fputs(s_usage, stderr);
        return 2;
    }
    if (!cli_conn_complete(&co, "admin purge"))
        return 2;
    tsr_msg_t req = {.kind = TSR_MSG_QUERY}, reply;
    req.u.query.request_id = 1;
    req.u.query.kind = TSR_QUERY_PURGE;
    req.u.query.before_day = before;
    int rc = cli_request("admin purge", &co, &req, &reply);
    if (rc == 0) {
        uint64_t purged = 0, day = 0, audit = 0;
        for (size_t i = 0; i < reply.u.response.n_counters; i++) {
            if (!strcmp(reply.u.response.counters[i].name, "purged_records"))
                purged = reply.u.response.counters[i].value;
            if (!strcmp(reply.u.response.counters[i].name, "before_day"))
                day = reply.u.response.counters[i].value;
            if (!strcmp(reply.u.response.counters[i].name, "purged_audit_entries"))
                audit = reply.u.response.counters[i].value;
        }
        char d[11];
        printf("purged %" PRIu64 " record%s reported before %s\n", purged, purged == 1 ? "" : "s",
               tsr_day_format(d, (int32_t)day));
        /* the audit log keeps its own retention ([retention] audit_months),
         * whatever day was asked: said only when it purged something */
        if (audit > 0)
            printf("purged %" PRIu64 " audit entr%s older than the audit retention\n", audit,
                   audit == 1 ? "y" : "ies");
    }
    tsr_msg_clear(&reply);
    return rc;
}
