/* access.h - who may ask which query: one table of query kinds and the roles
 * each allows (in the manner of Redis's command table), consulted by the
 * collector before it does anything else with a query, and printed as the
 * "Who sees what" table of docs/PRIVACY.md (`tessera-collector
 * --print-access-table`; tests/unit/test_access.c checks the two agree). */
#ifndef TESSERA_ACCESS_H
#define TESSERA_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tessera/auth.h"

/* The bit of role r in tsr_access_rule_t.roles. */
#define TSR_ACCESS_ROLE(r) (1u << (unsigned)(r))

/* One kind of query and who may ask it. Alerts have one rule per alert
 * kind: the roles differ by kind. Every string is static. */
typedef struct {
    int query;           /* TSR_QUERY_* */
    int alert_kind;      /* TSR_ALERT_* for TSR_QUERY_ALERTS, else 0 */
    const char *name;    /* e.g. "trends", "alerts: spike" */
    const char *command; /* the tessera commands that ask it, in Markdown */
    unsigned roles;      /* TSR_ACCESS_ROLE bits of the roles allowed */
    const char *refusal; /* the DENIED message for any other role */
} tsr_access_rule_t;

/* The table, *n rules, in a fixed order. Static: never freed. */
const tsr_access_rule_t *tsr_access_rules(size_t *n);

/* The rule for query (and, for TSR_QUERY_ALERTS, alert_kind, which must
 * then not be 0), or NULL when there is none: an unknown kind. */
const tsr_access_rule_t *tsr_access_find(int query, int alert_kind);

/* Whether role may ask at least one kind of query (agents may not). */
bool tsr_access_may_query(tsr_role_t role);

/* Whether role may have alerts of alert_kind (TSR_ALERT_*); false for an
 * unknown kind. */
bool tsr_access_alert_allowed(tsr_role_t role, int alert_kind);

/* Checks role against the table for query and alert_kind (for alerts, 0
 * means every kind the role may have: allowed when there is one). Returns
 * NULL when allowed; else the refusal, a static string. An unknown query
 * or alert kind is not refused here: the caller rejects it as a bad
 * request. */
const char *tsr_access_check(tsr_role_t role, int query, int alert_kind);

/* Writes the table as Markdown (a header row, then one row per rule: the
 * query, its commands, and "yes" or "—" for each role that can query) to
 * fp. This text is what docs/PRIVACY.md must hold. */
void tsr_access_print_markdown(FILE *fp);

#endif
