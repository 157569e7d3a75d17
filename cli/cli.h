/* cli.h - the `tessera` client's commands (one function per sub-command)
 * and what they share (cli/query.c). */
#ifndef TESSERA_CLI_H
#define TESSERA_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "tessera/wire.h"

/* Each takes the arguments after `tessera` (argv[0] is the command name) and
 * returns the exit code: 0 ok, 1 failure, 2 usage. */
int cli_cmd_keygen(int argc, char **argv);
int cli_cmd_stats(int argc, char **argv);
int cli_cmd_alerts(int argc, char **argv);
int cli_cmd_lookup(int argc, char **argv);
int cli_cmd_cluster(int argc, char **argv);
int cli_cmd_spikes(int argc, char **argv);
int cli_cmd_audit(int argc, char **argv);
int cli_cmd_admin(int argc, char **argv);
int cli_cmd_trends(int argc, char **argv);
int cli_cmd_report(int argc, char **argv);
int cli_cmd_ptable(int argc, char **argv);

/* Writes the stats counters c[0..n) in the Prometheus text exposition
 * format (cli/prom.c); now (unix seconds) for the backup age. */
void cli_prom_write(FILE *f, const tsr_counter_t *c, size_t n, int64_t now);

/* The exit codes of every query command, for --help. */
#define CLI_EXIT_USAGE                                                                             \
    "Exit: 0 ok, 1 failure or refusal, 2 usage, 3 collector unreachable\n"                         \
    "(--collector), 4 wrong collector public key (--server-key), 5 your key not\n"                 \
    "in the collector's authorized_clients, 6 timed out (connected, no answer).\n"

/* Connection options every query command takes (getopt_long values). */
enum { CLI_OPT_COLLECTOR = 1000, CLI_OPT_ALERTS, CLI_OPT_SERVER_KEY, CLI_OPT_KEY };
#define CLI_CONN_LONG_OPTIONS                                                                      \
    {"collector", required_argument, NULL, CLI_OPT_COLLECTOR},                                     \
        {"server-key", required_argument, NULL, CLI_OPT_SERVER_KEY},                               \
        {"key", required_argument, NULL, CLI_OPT_KEY}
#define CLI_CONN_USAGE                                                                             \
    "  --server-key FILE     the collector's public key (collector.pub)\n"                        \
    "  --key FILE            your secret key (NAME.key, made by tessera keygen --curve)\n"       \
    "  --collector ENDPOINT  query endpoint (default tcp://127.0.0.1:7702)\n"                     \
    "\n" CLI_EXIT_USAGE

typedef struct {
    const char *endpoint, *alerts_endpoint, *server, *key;
} cli_conn_opts_t;

void cli_conn_defaults(cli_conn_opts_t *o);
/* True when opt was a connection option (and is now set). */
bool cli_conn_option(cli_conn_opts_t *o, int opt, const char *arg);
/* True when --server-key and --key were given; else says so on stderr. */
bool cli_conn_complete(const cli_conn_opts_t *o, const char *cmd);

/* One query: 0 when the collector answered OK (reply filled; clear it),
 * else the exit code after printing why not: 1 ("permission denied: ..."
 * for a refused role), 3 to 6 when it did not answer (cli_conn_failed),
 * 7 (TSR_EXIT_WRONG_NETWORK_KEY) for a lookup under another network key
 * (reply then holds the keys the collector accepts). */
int cli_request(const char *cmd, const cli_conn_opts_t *o, const tsr_msg_t *req,
                tsr_msg_t *reply);

/* Why the collector did not answer r (status not OK), into out (cap bytes):
 * "permission denied: WHY" for a refused role, "rate limited: WHY; try
 * again in N s" for a key over [limits] queries_per_minute, WHY otherwise.
 * Returns out. */
const char *cli_refusal_text(char *out, size_t cap, const tsr_response_t *r);
struct tsr_conn;
/* Prints why conn's last request got no answer, naming the option to fix
 * (--collector, --server-key) or the authorized_clients line to add for
 * cmd's role, and returns its exit code (TSR_EXIT_*, client.h). */
int cli_conn_failed(const char *cmd, const cli_conn_opts_t *o, const struct tsr_conn *conn);
/* The same into why (without "tessera CMD: "); 0 when conn did answer. */
int cli_conn_why(const char *cmd, const cli_conn_opts_t *o, const struct tsr_conn *conn, char *why,
                 size_t cap);


/* Printing helpers. A trend cell as released: its count, "<k" (a small
 * count, "&lt;k" for HTML) or "x" (hidden to protect another cell). */
const char *cli_cell_text(char *out, size_t cap, const tsr_trend_cell_t *c, unsigned k, bool html);
/* The values of dimension d in a trends response, in the collector's order,
 * without "" (totals): at most cap into out (pointers into r). Returns how
 * many. */
size_t cli_trends_axis(const tsr_response_t *r, size_t d, const char **out, size_t cap);
const char *cli_day(char out[11], int32_t day);
void cli_print_areas(FILE *fp, const tsr_area_code_t *areas, size_t n);
void cli_print_ids(FILE *fp, const char *indent, const tsr_record_id_t *ids, size_t n);

#endif
