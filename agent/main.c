/* tessera-agent - what a school or council runs: checks and minimises its
 * incident exports, turns offender identifiers into keyed tokens, and (later
 * commands) delivers them to the regional collector. */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "tessera/log.h"

static const char s_usage[] =
    "usage: tessera-agent COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  check FILE...        validate and minimise incident files (JSON Lines or CSV)\n"
    "                       and print exactly what would leave the building\n"
    "  hash VALUE           print the canonical form and token of one identifier\n"
    "  keygen               create a new network key file\n"
    "  init                 set up a new agency (config, key pair, outbox)\n"
    "  submit FILE...       queue incident files and deliver them to the collector\n"
    "  retract CASE_REF...  withdraw cases already sent\n"
    "  resolve RECORD_ID    the case reference behind a record id (local only)\n"
    "  status               outbox depth, last acknowledgement, rejections\n"
    "  run                  daemon: watch the inbox folder and keep delivering\n"
    "  backup OUT           a hot copy of the outbox, with a manifest\n"
    "  restore BACKUP       put a backup in place as the outbox (never over one)\n"
    "\n"
    "Run 'tessera-agent COMMAND --help' for a command's options.\n"
    "Commands that use an agency directory (init, submit, retract, resolve,\n"
    "status, run, backup, restore) refuse to run as root (--allow-root: for\n"
    "tests and demos only) and, like sshd's StrictModes, refuse files other\n"
    "users could change.\n"
    "Exit codes: 0 ok, 1 failure (e.g. invalid records), 2 usage error; about\n"
    "the collector (records stay queued and go next time):\n"
    "  3  unreachable: nothing listens at [collector] endpoint\n"
    "  4  wrong collector public key ([collector] server_key)\n"
    "  5  this agent's key is not in the collector's authorized_clients (add the\n"
    "     line 'tessera-agent init' printed, then SIGHUP the collector)\n"
    "  6  timed out: connected, but no answer within [agent] timeout_ms\n"
    "  7  wrong network key: the collector accepts another ([keys] network_key);\n"
    "     nothing new is queued, and records queued under it are held back\n"
    "  8  another tessera-agent process (PID named) uses this agency directory:\n"
    "     one process per directory (submit, retract, run, init wait 2 s)\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(s_usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("tessera-agent %s\n", TSR_VERSION);
        return 0;
    }
    /* A command run by hand prints what it did itself; the libraries'
     * notes (an outbox map grown, say) would land in the middle of it, so
     * only their warnings and errors show. The `run` daemon keeps them for
     * its log. */
    if (strcmp(cmd, "run") != 0)
        tsr_log_set_level(TSR_LOG_WARN);
    if (strcmp(cmd, "check") == 0)
        return agent_cmd_check(argc - 1, argv + 1);
    if (strcmp(cmd, "hash") == 0)
        return agent_cmd_hash(argc - 1, argv + 1);
    if (strcmp(cmd, "keygen") == 0)
        return agent_cmd_keygen(argc - 1, argv + 1);
    if (strcmp(cmd, "init") == 0)
        return agent_cmd_init(argc - 1, argv + 1);
    if (strcmp(cmd, "submit") == 0)
        return agent_cmd_submit(argc - 1, argv + 1);
    if (strcmp(cmd, "retract") == 0)
        return agent_cmd_retract(argc - 1, argv + 1);
    if (strcmp(cmd, "resolve") == 0)
        return agent_cmd_resolve(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return agent_cmd_status(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return agent_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "backup") == 0)
        return agent_cmd_backup(argc - 1, argv + 1);
    if (strcmp(cmd, "restore") == 0)
        return agent_cmd_restore(argc - 1, argv + 1);
    fprintf(stderr, "tessera-agent: unknown command '%s'\n\n%s", cmd, s_usage);
    return 2;
}
