/* agentconf.h - the agent's configuration file (deploy/agent.conf). */
#ifndef TESSERA_AGENTCONF_H
#define TESSERA_AGENTCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "tessera/record.h"
#include "tessera/token.h"

typedef struct agent_conf {
    char *path;           /* the file it was read from */
    char *agency_id, *agency_type, *area;
    char *endpoint, *server_key, *client_key, *network_key, *data_dir, *inbox;
    bool week_coarsening;
    char *country_code;
    long timeout_ms, attempts, max_batch, interval_s;
    /* derived */
    tsr_netkey_t key;
    tsr_record_ctx_t ctx;
    long lines[32]; /* the line each key was set on (agent_conf_where) */
} agent_conf_t;

/* Loads and checks the file (keys loaded, codes valid, and its files safe
 * from other users: see agentconf.c); prints why not and returns -1, with
 * nothing left to free. Relative paths in the file are relative to its
 * directory. */
int agent_conf_load(agent_conf_t *c, const char *path);
void agent_conf_free(agent_conf_t *c);

/* Where a setting comes from, for a message that names what to fix:
 * "FILE:LINE ([section] name)", or "[section] name in FILE" when the file
 * leaves it at its default. Returns buf. */
const char *agent_conf_where(const agent_conf_t *c, const char *section, const char *name,
                             char *buf, size_t cap);

/* The config path from --config or $TESSERA_AGENT_CONFIG or ./agent.conf. */
const char *agent_conf_path(const char *given);

/* What the commands on an agency directory start with: --config,
 * --allow-root and --help, at least min_args operands (from optind on),
 * the refusal of root, and the config (its files checked). Returns -1 to go
 * on (the caller then owns conf: agent_conf_free it), or the exit code to
 * return at once (0 after --help, 1, 2 for usage). */
int agent_conf_args(int argc, char **argv, const char *usage, int min_args, agent_conf_t *conf);

#endif
