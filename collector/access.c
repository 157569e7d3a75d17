/* access.c - the table of query kinds and the roles allowed each (see
 * access.h). DESIGN section 2, rule 5, and issue 14: trends (and the
 * report, which is trends queries plus an alerts query) and spike views are
 * for analysts only; liaison and admins get linkage alerts. A liaison who
 * needs the regional picture gets an explicit analyst grant: a second key
 * pair listed with the analyst role (authorized_clients takes each key and
 * each id once). */
#include "access.h"

#include <string.h>

#include "tessera/wire.h"

#define R_ANALYST TSR_ACCESS_ROLE(TSR_ROLE_ANALYST)
#define R_LIAISON TSR_ACCESS_ROLE(TSR_ROLE_LIAISON)
#define R_ADMIN TSR_ACCESS_ROLE(TSR_ROLE_ADMIN)

static const tsr_access_rule_t s_rules[] = {
    {TSR_QUERY_TRENDS, 0, "trends", "`trends`, `report`", R_ANALYST,
     "trends are for the analyst role only"},
    {TSR_QUERY_ALERTS, TSR_ALERT_SPIKE, "alerts: spike", "`alerts --kind spike`, `report`",
     R_ANALYST, "spike alerts are for the analyst role only"},
    {TSR_QUERY_ALERTS, TSR_ALERT_CROSS_AREA, "alerts: cross-area",
     "`alerts --kind cross-area`, `report`", R_ANALYST,
     "cross-area alerts are for the analyst role only"},
    {TSR_QUERY_ALERTS, TSR_ALERT_LINKAGE, "alerts: linkage", "`alerts --kind linkage`",
     R_LIAISON | R_ADMIN, "linkage alerts are for the liaison and admin roles only"},
    {TSR_QUERY_CLUSTER, 0, "cluster detail", "`cluster ID`", R_LIAISON,
     "cluster detail is for the liaison role only"},
    {TSR_QUERY_LOOKUP, 0, "token lookup", "`lookup VALUE`", R_LIAISON,
     "lookups are for the liaison role only"},
    {TSR_QUERY_STATS, 0, "stats", "`stats`", R_ADMIN, "stats are for the admin role"},
    {TSR_QUERY_AUDIT, 0, "audit log", "`audit`", R_ADMIN, "the audit log is for the admin role"},
    {TSR_QUERY_PURGE, 0, "purge", "`admin purge`", R_ADMIN, "purging is for the admin role"},
};

#define S_N_RULES (sizeof s_rules / sizeof s_rules[0])

/* The roles that can query, in the order of the Markdown columns. */
static const tsr_role_t s_columns[] = {TSR_ROLE_AGENT, TSR_ROLE_ANALYST, TSR_ROLE_LIAISON,
                                       TSR_ROLE_ADMIN};

const tsr_access_rule_t *tsr_access_rules(size_t *n)
{
    *n = S_N_RULES;
    return s_rules;
}

const tsr_access_rule_t *tsr_access_find(int query, int alert_kind)
{
    for (size_t i = 0; i < S_N_RULES; i++)
        if (s_rules[i].query == query && s_rules[i].alert_kind == alert_kind)
            return &s_rules[i];
    return NULL;
}

static bool s_allows(const tsr_access_rule_t *r, tsr_role_t role)
{
    return role > TSR_ROLE_NONE && role <= TSR_ROLE_ADMIN && (r->roles & TSR_ACCESS_ROLE(role));
}

bool tsr_access_may_query(tsr_role_t role)
{
    for (size_t i = 0; i < S_N_RULES; i++)
        if (s_allows(&s_rules[i], role))
            return true;
    return false;
}

bool tsr_access_alert_allowed(tsr_role_t role, int alert_kind)
{
    const tsr_access_rule_t *r = alert_kind ? tsr_access_find(TSR_QUERY_ALERTS, alert_kind) : NULL;
    return r && s_allows(r, role);
}

const char *tsr_access_check(tsr_role_t role, int query, int alert_kind)
{
    if (query == TSR_QUERY_ALERTS && alert_kind == 0) {
        /* every kind the role may have; the first kind's refusal otherwise */
        const char *why = NULL;
        for (size_t i = 0; i < S_N_RULES; i++) {
            if (s_rules[i].query != TSR_QUERY_ALERTS)
                continue;
            if (s_allows(&s_rules[i], role))
                return NULL;
            if (!why)
                why = s_rules[i].refusal;
        }
        return why;
    }
    const tsr_access_rule_t *r = tsr_access_find(query, query == TSR_QUERY_ALERTS ? alert_kind : 0);
    return !r || s_allows(r, role) ? NULL : r->refusal;
}

void tsr_access_print_markdown(FILE *fp)
{
    size_t nc = sizeof s_columns / sizeof s_columns[0];
    fputs("| query | `tessera` command |", fp);
    for (size_t c = 0; c < nc; c++)
        fprintf(fp, " %s |", tsr_role_name(s_columns[c]));
    fputs("\n| --- | --- |", fp);
    for (size_t c = 0; c < nc; c++)
        fputs(" --- |", fp);
    fputc('\n', fp);
    for (size_t i = 0; i < S_N_RULES; i++) {
        fprintf(fp, "| %s | %s |", s_rules[i].name, s_rules[i].command);
        for (size_t c = 0; c < nc; c++)
            fprintf(fp, " %s |", s_allows(&s_rules[i], s_columns[c]) ? "yes" : "—");
        fputc('\n', fp);
    }
}
