/* auth.h - who may talk to the collector: the authorized_clients file and
 * the ZAP handler (ZeroMQ RFC 27) that enforces it.
 *
 * File format, one client per line, '#' comments and blank lines allowed:
 *
 *   # z85 public key (40 chars)              role     id              areas
 *   rq:rm>XR...                              agent    leeds-cs-01     E08000035
 *   Yne@$w...                                analyst  yh-analyst-1    E12000003
 *   ...                                      liaison  nerocu-liaison  *
 *
 * areas: comma-separated area codes, region codes (meaning every area of the
 * region) or '*' (all). Roles: agent, analyst, liaison, admin, relay (a
 * regional collector forwarding upstream, docs/FEDERATION.md). Every key and
 * every id appears once. Any bad line makes the whole file invalid.
 */
#ifndef TESSERA_AUTH_H
#define TESSERA_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct tsr_error;

typedef enum {
    TSR_ROLE_NONE = 0,
    TSR_ROLE_AGENT = 1,   /* submit and retract for its bound areas */
    TSR_ROLE_ANALYST = 2, /* aggregates and spike alerts */
    TSR_ROLE_LIAISON = 3, /* linkage alerts, cluster detail, token lookup */
    TSR_ROLE_ADMIN = 4,   /* stats, audit, agent health */
    TSR_ROLE_RELAY = 5,   /* a collector forwarding its agencies' records for its bound
                           * areas, each under its agency's id (issue 19); no queries */
} tsr_role_t;

#define TSR_CLIENT_ID_MAX 64

typedef struct tsr_client {
    char public_key[41];          /* z85 */
    tsr_role_t role;
    char id[TSR_CLIENT_ID_MAX];   /* [A-Za-z0-9._-], 1..63 chars */
    bool all_areas;               /* '*' */
    size_t n_areas;               /* expanded area codes (regions resolved) */
    char (*areas)[10];
} tsr_client_t;

/* "agent" <-> TSR_ROLE_AGENT ... */
const char *tsr_role_name(tsr_role_t role);
tsr_role_t tsr_role_parse(const char *name);

typedef struct tsr_authlist tsr_authlist_t;

/* Parses path. On any bad line returns TSR_EINVAL with err "FILE:LINE:
 * reason" and leaves *out NULL. A missing file is TSR_EIO. The caller owns
 * *out (tsr_authlist_destroy). */
int tsr_authlist_load(tsr_authlist_t **out, const char *path, struct tsr_error *err);

/* Lookups; the returned pointer lives as long as the list. NULL = unknown. */
const tsr_client_t *tsr_authlist_by_key(const tsr_authlist_t *l, const char *z85_key);
const tsr_client_t *tsr_authlist_by_id(const tsr_authlist_t *l, const char *id);
size_t tsr_authlist_count(const tsr_authlist_t *l);
/* The i-th client in file order (NULL past the end). */
const tsr_client_t *tsr_authlist_at(const tsr_authlist_t *l, size_t i);

/* True when the client may submit records for area_code. */
bool tsr_client_area_allowed(const tsr_client_t *c, const char *area_code);

void tsr_authlist_destroy(tsr_authlist_t **l_p);

/* --- ZAP handler ----------------------------------------------------------
 * Runs in its own thread on inproc://zeromq.zap.01 of the given ZeroMQ
 * context. Accepts only CURVE clients whose key is in the current list;
 * replies 200 with User-Id = the client's id and the metadata property
 * "X-Tessera-Key" = the z85 key; everything else gets 400 and the handshake
 * fails. Each decision is logged (module "zap"). A socket whose ZAP domain is
 * TSR_ZAP_DOMAIN_ALERTS (the collector's linkage alert stream) admits only
 * the liaison and admin roles. */
#define TSR_ZAP_DOMAIN "tessera"
#define TSR_ZAP_DOMAIN_ALERTS "tessera-alerts"

typedef struct tsr_zap tsr_zap_t;

/* Starts the handler; takes ownership of list. Start it before any CURVE
 * server socket binds. Returns 0 or TSR_ENET. */
int tsr_zap_start(tsr_zap_t **out, void *zmq_ctx, tsr_authlist_t *list);

/* Replaces the list (SIGHUP); takes ownership of list and frees the old. */
void tsr_zap_replace(tsr_zap_t *zap, tsr_authlist_t *list);

/* Copies the client with that id and key into *out if it is in the current
 * list (a client removed by a reload is refused from then on, even on a
 * connection authenticated before). Returns true when found. */
bool tsr_zap_lookup(tsr_zap_t *zap, const char *id, const char *z85_key, tsr_client_t *out);

/* Frees a client copied by tsr_zap_lookup (its area array). */
void tsr_client_clear(tsr_client_t *c);

/* Stops the thread (before zmq_ctx_term) and frees everything; NULLs *zap_p. */
void tsr_zap_destroy(tsr_zap_t **zap_p);

/* Reads a message's User-Id and X-Tessera-Key properties (set by the ZAP
 * handler) into id (TSR_CLIENT_ID_MAX) and key (41). False if absent. */
bool tsr_zap_peer(void *zmq_msg, char *id, char *key);

#endif
