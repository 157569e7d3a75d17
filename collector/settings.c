/* settings.c - checks of configured values beyond the key table. */
#include "settings.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tessera/err.h"

static const char s_endpoint_forms[] =
    "write tcp://ADDRESS:PORT (for example tcp://127.0.0.1:7701, tcp://0.0.0.0:7701 or "
    "tcp://[::1]:7701) or ipc://PATH";

/* Whether host can be bound by libzmq: *, a numeric address or a local
 * interface's name (ZMQ's tcp transport resolves no DNS name to bind). */
static bool s_bindable_host(const char *host, size_t len)
{
    char buf[256];
    unsigned char addr[16];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (!strcmp(buf, "*"))
        return true;
    if (buf[0] == '[') { /* [IPv6] */
        if (len < 3 || buf[len - 1] != ']')
            return false;
        buf[len - 1] = '\0';
        return inet_pton(AF_INET6, buf + 1, addr) == 1;
    }
    return inet_pton(AF_INET, buf, addr) == 1 || if_nametoindex(buf) != 0;
}

int tsr_settings_endpoint_check(const char *endpoint, char *why, size_t cap)
{
    if (!strncmp(endpoint, "ipc://", 6)) {
        if (endpoint[6] == '\0') {
            snprintf(why, cap, "'%s' names no path: %s", endpoint, s_endpoint_forms);
            return TSR_EINVAL;
        }
        return TSR_OK;
    }
    if (strncmp(endpoint, "tcp://", 6) != 0) {
        const char *sep = strstr(endpoint, "://");
        if (sep)
            snprintf(why, cap, "'%s': the collector serves tcp:// or ipc://, not %.*s://; %s",
                     endpoint, (int)(sep - endpoint), endpoint, s_endpoint_forms);
        else
            snprintf(why, cap, "'%s' is not an endpoint: %s", endpoint, s_endpoint_forms);
        return TSR_EINVAL;
    }
    const char *hostp = endpoint + 6, *colon = strrchr(hostp, ':');
    if (!colon || colon == hostp) {
        snprintf(why, cap, "'%s' has no %s: %s", endpoint, colon ? "address" : "port",
                 s_endpoint_forms);
        return TSR_EINVAL;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535 || colon[1] == '+' ||
        colon[1] == '-' || colon[1] == ' ') {
        snprintf(why, cap, "'%s': the port '%s' is not a number from 1 to 65535", endpoint,
                 colon + 1);
        return TSR_EINVAL;
    }
    if (!s_bindable_host(hostp, (size_t)(colon - hostp))) {
        snprintf(why, cap, "'%s': '%.*s' is not an address the collector can listen on: write "
                 "a numeric address of this machine, [IPv6], * or an interface name (a host "
                 "name cannot be bound)", endpoint, (int)(colon - hostp), hostp);
        return TSR_EINVAL;
    }
    return TSR_OK;
}

int tsr_settings_methods_parse(const char *list, tsr_settings_methods_t *out, char *why,
                               size_t cap)
{
    static const char valid[] = "the daily methods are c1, c2 and c3 (comma-separated, for "
                                "example c1,c2,c3), or none";
    tsr_settings_methods_t m = {0};
    const char *p = list;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0') {
        snprintf(why, cap, "no method is named; %s", valid);
        return TSR_EINVAL;
    }
    if (!strcasecmp(p, "none")) {
        *out = m;
        return TSR_OK;
    }
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        size_t len = (size_t)(p - start);
        while (*p == ' ' || *p == '\t')
            p++;
        bool *slot = NULL;
        if (len == 2 && (start[0] == 'c' || start[0] == 'C') && start[1] >= '1' && start[1] <= '3')
            slot = start[1] == '1' ? &m.c1 : start[1] == '2' ? &m.c2 : &m.c3;
        if (!slot) {
            if (len == 0)
                snprintf(why, cap, "'%s' has an empty entry; %s", list, valid);
            else
                snprintf(why, cap, "'%.*s' is not a method; %s", (int)len, start, valid);
            return TSR_EINVAL;
        }
        if (*slot) {
            snprintf(why, cap, "'%.*s' is listed twice; %s", (int)len, start, valid);
            return TSR_EINVAL;
        }
        *slot = true;
        if (*p == '\0')
            break;
        if (*p != ',') {
            snprintf(why, cap, "'%s' is not comma-separated; %s", list, valid);
            return TSR_EINVAL;
        }
        p++;
    }
    *out = m;
    return TSR_OK;
}

int tsr_settings_cross_region_parse(const char *value, tsr_settings_cross_region_t *out,
                                    char *why, size_t cap)
{
    static const char *const names[] = {"auto", "on", "off"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(value, names[i])) {
            *out = (tsr_settings_cross_region_t)i;
            return TSR_OK;
        }
    snprintf(why, cap, "'%s' is not auto, on or off: auto runs the cross-region rule on a "
             "collector whose authorized_clients lists a relay (the national tier)", value);
    return TSR_EINVAL;
}

bool tsr_settings_cross_region_on(tsr_settings_cross_region_t mode, const tsr_authlist_t *l,
                                  size_t *relays)
{
    *relays = 0;
    for (size_t i = 0; l && i < tsr_authlist_count(l); i++)
        *relays += tsr_authlist_at(l, i)->role == TSR_ROLE_RELAY;
    return mode == TSR_SETTINGS_CROSS_REGION_ON ||
           (mode == TSR_SETTINGS_CROSS_REGION_AUTO && *relays > 0);
}
