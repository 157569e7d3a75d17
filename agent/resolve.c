/* resolve.c - `tessera-agent resolve`: a record id back to its case. */
#include <getopt.h>
#include <stdio.h>

#include "agent.h"
#include "tessera/token.h"

static const char s_resolve_usage[] =
    "usage: tessera-agent resolve [--config FILE] [--allow-root] RECORD_ID\n"
    "\n"
    "Prints the case reference of a record id (32 hex digits) from a linkage\n"
    "alert: the only way back from an alert to a child's case, and only here.\n";

int agent_cmd_resolve(int argc, char **argv)
{
    agent_cmd_t cmd;
    int r = agent_cmd_open(&cmd, argc, argv, s_resolve_usage, 1, false);
    if (r >= 0)
        return r;
    uint8_t rid[TSR_RECORD_ID_LEN];
    char case_ref[TSR_CASE_REF_MAX];
    if (optind != argc - 1 || tsr_hex_decode(rid, sizeof rid, argv[optind]) != 0) {
        fputs(s_resolve_usage, stderr);
        return agent_cmd_close(&cmd, AGENT_EXIT_USAGE);
    }
    if (agent_outbox_resolve(cmd.ob, rid, case_ref) != 0) {
        fprintf(stderr, "tessera-agent: record %s is not one of this agency's records\n",
                argv[optind]);
        return agent_cmd_close(&cmd, AGENT_EXIT_FAIL);
    }
    printf("%s\n", case_ref);
    return agent_cmd_close(&cmd, AGENT_EXIT_OK);
}

