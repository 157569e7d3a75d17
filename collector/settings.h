/* settings.h - checks of the collector's configured values that the key
 * table (config.h) cannot express, so that `tessera-collector -n` refuses
 * every value start would refuse, before anything is created (issue 16).
 *
 * Each check fills `why` (cap bytes) with a sentence that says what is wrong
 * and what to write instead; the caller adds FILE:LINE and the key.
 */
#ifndef TESSERA_SETTINGS_H
#define TESSERA_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "tessera/auth.h"

/* The EARS methods run on the daily series ([spikes] daily_methods). */
typedef struct {
    bool c1, c2, c3;
} tsr_settings_methods_t;

/* Checks that endpoint is one a server socket can bind: tcp://ADDRESS:PORT
 * (ADDRESS numeric IPv4, [IPv6], * or the name of an interface of this
 * machine; PORT 1 to 65535) or ipc://PATH. libzmq binds no host name, so
 * "localhost" is refused here rather than at start. Returns 0, or
 * TSR_EINVAL with why filled. */
int tsr_settings_endpoint_check(const char *endpoint, char *why, size_t cap);

/* Parses a comma-separated list of c1, c2 and c3 (spaces around the names
 * allowed, each at most once), or "none", into *out. Returns 0, or
 * TSR_EINVAL with why filled, naming the valid methods. */
int tsr_settings_methods_parse(const char *list, tsr_settings_methods_t *out, char *why,
                               size_t cap);

/* [spikes] cross_region: the national series and the cross-region spike
 * rule (docs/DETECTION.md). auto runs them where they mean something: on a
 * collector that regional collectors relay to (the national tier). */
typedef enum {
    TSR_SETTINGS_CROSS_REGION_AUTO,
    TSR_SETTINGS_CROSS_REGION_ON,
    TSR_SETTINGS_CROSS_REGION_OFF,
} tsr_settings_cross_region_t;

/* Parses auto, on or off (any case) into *out. Returns 0, or TSR_EINVAL
 * with why filled. */
int tsr_settings_cross_region_parse(const char *value, tsr_settings_cross_region_t *out,
                                    char *why, size_t cap);

/* Whether the rule runs under mode with the client list l (NULL: empty):
 * on; off; auto when l lists a relay. *relays gets how many it lists. */
bool tsr_settings_cross_region_on(tsr_settings_cross_region_t mode, const tsr_authlist_t *l,
                                  size_t *relays);

#endif
