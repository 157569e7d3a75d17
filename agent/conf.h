/* agentconf.h - the agent's configuration file (deploy/agent.conf). */
#ifndef TESSERA_AGENTCONF_H
#define TESSERA_AGENTCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "tessera/record.h"
#include "tessera/token.h"

typedef struct agent_conf {
    char *path;           /* the file it was read from */
    char *dir;            /* its directory: the agency directory (the lock's) */
    char *agency_id, *agency_type, *area;
    char *endpoint, *server_key, *client_key, *network_key, *data_dir, *inbox;
    bool week_coarsening;
    char *country_code;
    long timeout_ms, attempts, max_batch, interval_s;
    long retention_months; /* the collector's, when it cannot be asked */
    long outbox_max_mib;   /* the outbox's map never grows past this */
    /* derived */
    tsr_netkey_t key;
    tsr_record_ctx_t ctx;
    long lines[32]; /* the line each key was set on (agent_conf_where) */
} agent_conf_t;

/* Loads and checks the file (keys loaded, codes valid, and its files safe
 * from other users: see conf.c) into *out (the caller's: free with
 * agent_conf_destroy); prints why not and returns -1, with nothing left to
 * free. Relative paths in the file are relative to its directory. */
int agent_conf_new(agent_conf_t **out, const char *path);

/* Wipes (the network key is in it) and frees *c_p; sets it to NULL. */
void agent_conf_destroy(agent_conf_t **c_p);

/* Where a setting comes from, for a message that names what to fix:
 * "FILE:LINE ([section] name)", or "[section] name in FILE" when the file
 * leaves it at its default. Returns buf. */
const char *agent_conf_where(const agent_conf_t *c, const char *section, const char *name,
                             char *buf, size_t cap);

/* The config path from --config or $TESSERA_AGENT_CONFIG or ./agent.conf. */
const char *agent_conf_path(const char *given);

#endif
