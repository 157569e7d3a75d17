/* tessera - the client for regional analysts, police liaison and admins. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char s_usage[] =
    "usage: tessera COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  keygen --curve NAME  make a CURVE key pair: NAME.key (secret) and NAME.pub\n"
    "  trends --by DIM      incident counts with disclosure control (analyst role\n"
    "                       only; a daily budget of distinct queries)\n"
    "  report               a region's report as one HTML file (analyst role only)\n"
    "  stats                the collector's counters (admin role)\n"
    "  alerts               alerts, once or --follow: linkage (liaison, admin);\n"
    "                       spike and cross-area (analyst role only)\n"
    "  lookup VALUE         is this offender identifier known? (liaison)\n"
    "  cluster ID           the records of a linked cluster (liaison)\n"
    "  spikes backtest      run EARS C1-C3 or Farrington flexible over a series file\n"
    "  ptable               the perturbation table counts are released through\n"
    "  audit                who asked the collector what (admin)\n"
    "  admin purge          purge records past retention now (admin)\n"
    "\n"
    "Run 'tessera COMMAND --help' for a command's options.\n"
    "Exit codes: 0 ok, 1 failure or refusal, 2 usage error; about the collector:\n"
    "  3  unreachable: nothing listens at --collector\n"
    "  4  wrong collector public key (--server-key)\n"
    "  5  your key (--key) is not in the collector's authorized_clients: the\n"
    "     admin adds 'PUBLIC_KEY ROLE ID AREAS' there and sends it SIGHUP\n"
    "  6  timed out: connected, but no answer\n"
    "  7  wrong network key (lookup): the collector accepts another\n";

static const struct {
    const char *name;
    int (*fn)(int, char **);
} s_commands[] = {
    {"keygen", cli_cmd_keygen},
    {"stats", cli_cmd_stats},
    {"trends", cli_cmd_trends},
    {"report", cli_cmd_report},
    {"alerts", cli_cmd_alerts},
    {"lookup", cli_cmd_lookup},
    {"cluster", cli_cmd_cluster},
    {"spikes", cli_cmd_spikes},
    {"ptable", cli_cmd_ptable},
    {"audit", cli_cmd_audit},
    {"admin", cli_cmd_admin},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(s_usage, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("tessera %s\n", TSR_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (!strcmp(argv[1], s_commands[i].name))
            return s_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tessera: unknown command '%s'\n\n%s", argv[1], s_usage);
    return 2;
}
