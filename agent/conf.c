/* conf.c - load agent.conf: one parse, fully validated at start. */
#include "conf.h"
#include "tessera/codes.h"
#include "tessera/config.h"
#include "tessera/err.h"
#include "tessera/fsmode.h"

#include <libgen.h>
#include <openssl/crypto.h>
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
        {"agent", "outbox_max_mib", TSR_CONFIG_INT, &c->outbox_max_mib, "65536", 1, 1048576, false, "the outbox never grows past this (MiB)"},
        {"collector", "retention_months", TSR_CONFIG_INT, &c->retention_months, "24", 1, 600, false, "the collector's [retention] months, used until it answers"},
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

static void s_print_problem(void *ctx, const char *problem)
{
    (void)ctx;
    fprintf(stderr, "tessera-agent: %s\n", problem);
}

/* StrictModes (issue 15): the agency directory, this file, the keys, the
 * outbox (whose map leads back to children's cases) and the inbox (raw
 * exports) must be the agent user's alone to change; secrets to read too. */
static int s_check_files(const agent_conf_t *c, const char *dir)
{
    char data_mdb[4200], lock_mdb[4200];
    snprintf(data_mdb, sizeof data_mdb, "%s/data.mdb", c->data_dir);
    snprintf(lock_mdb, sizeof lock_mdb, "%s/lock.mdb", c->data_dir);
    const tsr_fsmode_item_t items[] = {
        {dir, TSR_FSMODE_DIR},
        {c->path, TSR_FSMODE_FILE},
        {c->data_dir, TSR_FSMODE_DIR},
        {data_mdb, TSR_FSMODE_SECRET},
        {lock_mdb, TSR_FSMODE_FILE},
        {c->client_key, TSR_FSMODE_SECRET},
        {c->network_key, TSR_FSMODE_SECRET},
        {c->server_key, TSR_FSMODE_FILE}, /* whom the agent trusts to be the collector */
        {c->inbox, TSR_FSMODE_DIR},
    };
    int n = tsr_fsmode_check_all(items, sizeof items / sizeof items[0], s_print_problem, NULL);
    if (n < 0)
        fprintf(stderr, "tessera-agent: cannot check the files: %s\n", tsr_strerror(n));
    else if (n > 0)
        fprintf(stderr,
                "tessera-agent: refusing to run: %d file(s) other users could change or "
                "read (like sshd's StrictModes); fix them as shown\n",
                n);
    return n;
}

int agent_conf_new(agent_conf_t **out, const char *path)
{
    *out = NULL;
    agent_conf_t *c = calloc(1, sizeof *c);
    if (!c) {
        fprintf(stderr, "tessera-agent: out of memory\n");
        return -1;
    }
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    if (tsr_config_load_lines(s_keys(c), path, c->lines, &err) != 0) {
        fprintf(stderr, "tessera-agent: %s\n", tsr_error_format(&err, msg, sizeof msg));
        if (err.line == 0 && !err.field[0])
            fprintf(stderr, "  (make one with 'tessera-agent init', or give --config FILE)\n");
        goto fail;
    }
    c->path = strdup(path);
    char *copy = strdup(path);
    const char *dir = copy ? dirname(copy) : ".";
    c->dir = strdup(dir);
    s_resolve(&c->server_key, dir);
    s_resolve(&c->client_key, dir);
    s_resolve(&c->network_key, dir);
    s_resolve(&c->data_dir, dir);
    s_resolve(&c->inbox, dir);
    int problems = c->path && c->dir ? s_check_files(c, dir) : TSR_ENOMEM;
    free(copy);
    if (problems != 0)
        goto fail;
    c->ctx.agency_type = tsr_codes_value(TSR_CODES_AGENCY_TYPE, c->agency_type);
    if (c->ctx.agency_type < 0) {
        fprintf(stderr, "tessera-agent: %s: agency.type '%s' is not a known agency type\n", path,
                c->agency_type);
        goto fail;
    }
    if (c->area && tsr_area_check(c->area, "agency.area", &err) != 0) {
        fprintf(stderr, "tessera-agent: %s: %s\n", path, tsr_error_format(&err, msg, sizeof msg));
        goto fail;
    }
    if (tsr_netkey_load(&c->key, c->network_key, &err) != 0) {
        fprintf(stderr, "tessera-agent: %s\n", tsr_error_format(&err, msg, sizeof msg));
        goto fail;
    }
    /* keyed once, here: every token and record id reuses the context */
    if (tsr_netkey_prepare(&c->key) != 0) {
        fprintf(stderr, "tessera-agent: %s: OpenSSL cannot make HMAC-SHA256 with the network key\n",
                c->network_key);
        goto fail;
    }
    c->ctx.agency_id = c->agency_id;
    c->ctx.default_area = c->area;
    c->ctx.week_coarsening = c->week_coarsening;
    c->ctx.canon.default_country_code = c->country_code;
    c->ctx.keys[0] = &c->key;
    c->ctx.n_keys = 1;
    *out = c;
    return 0;
fail: /* what the table or path holds is freed: the caller gets nothing */
    agent_conf_destroy(&c);
    return -1;
}

const char *agent_conf_where(const agent_conf_t *c, const char *section, const char *name,
                             char *buf, size_t cap)
{
    agent_conf_t copy = *c; /* s_keys only takes the destinations' addresses */
    const tsr_config_key_t *k = s_keys(&copy);
    long line = 0;
    for (size_t i = 0; k[i].name && i < sizeof c->lines / sizeof c->lines[0]; i++)
        if (!strcmp(k[i].section, section) && !strcmp(k[i].name, name))
            line = c->lines[i];
    if (line > 0)
        snprintf(buf, cap, "%s:%ld ([%s] %s)", c->path, line, section, name);
    else
        snprintf(buf, cap, "[%s] %s in %s", section, name, c->path);
    return buf;
}

void agent_conf_destroy(agent_conf_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    agent_conf_t *c = *c_p;
    agent_conf_t copy = *c;
    tsr_config_free(s_keys(&copy));
    tsr_netkey_clear(&c->key);
    free(c->path);
    free(c->dir);
    /* the network key is in here: a plain memset may be optimised away */
    OPENSSL_cleanse(&copy, sizeof copy);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
    *c_p = NULL;
}
