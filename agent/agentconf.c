/* agentconf.c - load agent.conf: one parse, fully validated at start. */
#include "agentconf.h"
#include "tessera/codes.h"
#include "tessera/config.h"
#include "tessera/err.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const tsr_config_key_t *s_keys(agent_conf_t *c)
{
    static tsr_config_key_t k[32];
    tsr_config_key_t keys[] = {
        {"agency", "id", TSR_CONFIG_STRING, &c->agency_id, NULL, 0, 0, true, "agency id as in the collector's authorized_clients"},
        {"agency", "type", TSR_CONFIG_STRING, &c->agency_type, NULL, 0, 0, true, "school, college, la_childrens_services, ..."},
        {"agency", "area", TSR_CONFIG_STRING, &c->area, NULL, 0, 0, false, "default ONS area code"},
        {"collector", "endpoint", TSR_CONFIG_STRING, &c->endpoint, "tcp://127.0.0.1:7701", 0, 0, false, "collector ingest endpoint"},
        {"collector", "server_key", TSR_CONFIG_STRING, &c->server_key, NULL, 0, 0, true, "collector public key file"},
        {"keys", "client_key", TSR_CONFIG_STRING, &c->client_key, "agent.key", 0, 0, false, "this agent's CURVE secret key"},
        {"keys", "network_key", TSR_CONFIG_STRING, &c->network_key, "network.key", 0, 0, false, "the network key"},
        {"minimise", "week_coarsening", TSR_CONFIG_BOOL, &c->week_coarsening, "false", 0, 0, false, "dates to ISO-week Mondays"},
        {"minimise", "country_code", TSR_CONFIG_STRING, &c->country_code, "44", 0, 0, false, "for national phone numbers"},
        {"agent", "data_dir", TSR_CONFIG_STRING, &c->data_dir, "data", 0, 0, false, "outbox and local record map"},
        {"agent", "inbox", TSR_CONFIG_STRING, &c->inbox, "inbox", 0, 0, false, "folder `run` watches for exports"},
        {"agent", "interval_s", TSR_CONFIG_INT, &c->interval_s, "5", 1, 3600, false, "how often `run` looks"},
        {"agent", "timeout_ms", TSR_CONFIG_INT, &c->timeout_ms, "3000", 100, 600000, false, "wait for an Ack"},
        {"agent", "attempts", TSR_CONFIG_INT, &c->attempts, "3", 1, 1000, false, "tries per batch before giving up for now"},
        {"agent", "max_batch", TSR_CONFIG_INT, &c->max_batch, "500", 1, 1000, false, "records per batch"},
        {NULL, NULL, 0, NULL, NULL, 0, 0, false, NULL},
    };
    memcpy(k, keys, sizeof keys);
    return k;
}

const char *agent_conf_path(const char *given)
{
    if (given)
        return given;
    const char *env = getenv("TESSERA_AGENT_CONFIG");
    return env && *env ? env : "agent.conf";
}

/* Makes *p absolute against dir when it is relative. */
static void s_resolve(char **p, const char *dir)
{
    if (!*p || (*p)[0] == '/')
        return;
    size_t n = strlen(dir) + strlen(*p) + 2;
    char *abs = malloc(n);
    if (!abs)
        return;
    snprintf(abs, n, "%s/%s", dir, *p);
    free(*p);
    *p = abs;
}

int agent_conf_load(agent_conf_t *c, const char *path)
{
    memset(c, 0, sizeof *c);
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    if (tsr_config_load(s_keys(c), path, &err) != 0) {
        fprintf(stderr, "tessera-agent: %s\n", tsr_error_format(&err, msg, sizeof msg));
        if (err.line == 0 && !err.field[0])
            fprintf(stderr, "  (make one with 'tessera-agent init', or give --config FILE)\n");
        return -1;
    }
    c->path = strdup(path);
    char *copy = strdup(path);
    const char *dir = copy ? dirname(copy) : ".";
    s_resolve(&c->server_key, dir);
    s_resolve(&c->client_key, dir);
    s_resolve(&c->network_key, dir);
    s_resolve(&c->data_dir, dir);
    s_resolve(&c->inbox, dir);
    free(copy);
    c->ctx.agency_type = tsr_codes_value(TSR_CODES_AGENCY_TYPE, c->agency_type);
    if (c->ctx.agency_type < 0) {
        fprintf(stderr, "tessera-agent: %s: agency.type '%s' is not a known agency type\n", path,
                c->agency_type);
        return -1;
    }
    if (c->area && tsr_area_check(c->area, "agency.area", &err) != 0) {
        fprintf(stderr, "tessera-agent: %s: %s\n", path, tsr_error_format(&err, msg, sizeof msg));
        return -1;
    }
    if (tsr_netkey_load(&c->key, c->network_key, &err) != 0) {
        fprintf(stderr, "tessera-agent: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return -1;
    }
    /* keyed once, here: every token and record id reuses the context */
    if (tsr_netkey_prepare(&c->key) != 0) {
        fprintf(stderr, "tessera-agent: %s: OpenSSL cannot make HMAC-SHA256 with the network key\n",
                c->network_key);
        return -1;
    }
    c->ctx.agency_id = c->agency_id;
    c->ctx.default_area = c->area;
    c->ctx.week_coarsening = c->week_coarsening;
    c->ctx.canon.default_country_code = c->country_code;
    c->ctx.keys[0] = &c->key;
    c->ctx.n_keys = 1;
    return 0;
}

void agent_conf_free(agent_conf_t *c)
{
    agent_conf_t copy = *c;
    tsr_config_free(s_keys(&copy));
    tsr_netkey_clear(&c->key);
    free(c->path);
    memset(c, 0, sizeof *c);
}
