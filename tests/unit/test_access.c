/* test_access.c - the table of query kinds and roles (collector/access.c):
 * who is refused what, with which message, and that docs/PRIVACY.md holds
 * the table the code has. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "tessera/wire.h"

static const tsr_role_t s_staff[] = {TSR_ROLE_ANALYST, TSR_ROLE_LIAISON, TSR_ROLE_ADMIN};

static void test_trends_are_the_analysts(void **state)
{
    (void)state;
    assert_null(tsr_access_check(TSR_ROLE_ANALYST, TSR_QUERY_TRENDS, 0));
    assert_string_equal(tsr_access_check(TSR_ROLE_LIAISON, TSR_QUERY_TRENDS, 0),
                        "trends are for the analyst role only");
    assert_string_equal(tsr_access_check(TSR_ROLE_ADMIN, TSR_QUERY_TRENDS, 0),
                        "trends are for the analyst role only");
}

static void test_alert_kinds_by_role(void **state)
{
    (void)state;
    /* spike and cross-area: analysts; linkage: liaison and admin */
    assert_null(tsr_access_check(TSR_ROLE_ANALYST, TSR_QUERY_ALERTS, TSR_ALERT_SPIKE));
    assert_null(tsr_access_check(TSR_ROLE_ANALYST, TSR_QUERY_ALERTS, TSR_ALERT_CROSS_AREA));
    assert_string_equal(tsr_access_check(TSR_ROLE_ANALYST, TSR_QUERY_ALERTS, TSR_ALERT_LINKAGE),
                        "linkage alerts are for the liaison and admin roles only");
    for (int r = TSR_ROLE_LIAISON; r <= TSR_ROLE_ADMIN; r++) {
        assert_null(tsr_access_check((tsr_role_t)r, TSR_QUERY_ALERTS, TSR_ALERT_LINKAGE));
        assert_string_equal(tsr_access_check((tsr_role_t)r, TSR_QUERY_ALERTS, TSR_ALERT_SPIKE),
                            "spike alerts are for the analyst role only");
        assert_string_equal(tsr_access_check((tsr_role_t)r, TSR_QUERY_ALERTS, TSR_ALERT_CROSS_AREA),
                            "cross-area alerts are for the analyst role only");
        assert_false(tsr_access_alert_allowed((tsr_role_t)r, TSR_ALERT_SPIKE));
        assert_true(tsr_access_alert_allowed((tsr_role_t)r, TSR_ALERT_LINKAGE));
    }
    /* every kind the role may have: each staff role has some */
    for (size_t i = 0; i < sizeof s_staff / sizeof s_staff[0]; i++)
        assert_null(tsr_access_check(s_staff[i], TSR_QUERY_ALERTS, 0));
    assert_false(tsr_access_alert_allowed(TSR_ROLE_ANALYST, TSR_ALERT_LINKAGE));
    assert_false(tsr_access_alert_allowed(TSR_ROLE_ANALYST, 0));
    assert_false(tsr_access_alert_allowed(TSR_ROLE_ANALYST, 9));
}

static void test_the_other_queries(void **state)
{
    (void)state;
    assert_null(tsr_access_check(TSR_ROLE_LIAISON, TSR_QUERY_LOOKUP, 0));
    assert_null(tsr_access_check(TSR_ROLE_LIAISON, TSR_QUERY_CLUSTER, 0));
    assert_string_equal(tsr_access_check(TSR_ROLE_ADMIN, TSR_QUERY_LOOKUP, 0),
                        "lookups are for the liaison role only");
    assert_string_equal(tsr_access_check(TSR_ROLE_ANALYST, TSR_QUERY_CLUSTER, 0),
                        "cluster detail is for the liaison role only");
    assert_null(tsr_access_check(TSR_ROLE_ADMIN, TSR_QUERY_STATS, 0));
    assert_string_equal(tsr_access_check(TSR_ROLE_ANALYST, TSR_QUERY_STATS, 0),
                        "stats are for the admin role");
    assert_string_equal(tsr_access_check(TSR_ROLE_LIAISON, TSR_QUERY_AUDIT, 0),
                        "the audit log is for the admin role");
    assert_string_equal(tsr_access_check(TSR_ROLE_LIAISON, TSR_QUERY_PURGE, 0),
                        "purging is for the admin role");
    /* an unknown kind is the caller's bad request, not a refusal */
    assert_null(tsr_access_check(TSR_ROLE_ANALYST, 99, 0));
    assert_null(tsr_access_find(TSR_QUERY_ALERTS, 0));
}

static void test_agents_may_not_query(void **state)
{
    (void)state;
    assert_false(tsr_access_may_query(TSR_ROLE_AGENT));
    assert_false(tsr_access_may_query(TSR_ROLE_NONE));
    for (size_t i = 0; i < sizeof s_staff / sizeof s_staff[0]; i++)
        assert_true(tsr_access_may_query(s_staff[i]));
    size_t n;
    const tsr_access_rule_t *r = tsr_access_rules(&n);
    for (size_t i = 0; i < n; i++)
        assert_non_null(tsr_access_check(TSR_ROLE_AGENT, r[i].query, r[i].alert_kind));
}

/* Each refusal names the roles that may ask, and only those. */
static void test_refusals_name_the_allowed_roles(void **state)
{
    (void)state;
    size_t n;
    const tsr_access_rule_t *r = tsr_access_rules(&n);
    assert_true(n >= 9);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(tsr_access_find(r[i].query, r[i].alert_kind));
        for (int role = TSR_ROLE_ANALYST; role <= TSR_ROLE_ADMIN; role++) {
            bool allowed = r[i].roles & TSR_ACCESS_ROLE(role);
            if ((strstr(r[i].refusal, tsr_role_name((tsr_role_t)role)) != NULL) != allowed)
                fail_msg("rule '%s': refusal '%s' and role %s disagree", r[i].name, r[i].refusal,
                         tsr_role_name((tsr_role_t)role));
        }
    }
}

/* docs/PRIVACY.md, section "Who sees what", holds exactly the printed table. */
static void test_privacy_doc_has_the_table(void **state)
{
    (void)state;
    char *table = NULL, *doc = NULL;
    size_t tlen = 0, dlen = 0;
    FILE *mem = open_memstream(&table, &tlen);
    assert_non_null(mem);
    tsr_access_print_markdown(mem);
    fclose(mem);
    FILE *fp = fopen(TSR_TEST_SOURCE_DIR "/docs/PRIVACY.md", "r");
    assert_non_null(fp);
    mem = open_memstream(&doc, &dlen);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0)
        fwrite(buf, 1, got, mem);
    fclose(fp);
    fclose(mem);
    const char *section = strstr(doc, "\n## Who sees what\n");
    assert_non_null(section);
    const char *next = strstr(section + 1, "\n## ");
    const char *at = strstr(section, table);
    if (!at || (next && at > next))
        fail_msg("docs/PRIVACY.md \"Who sees what\" does not hold the access table; "
                 "replace its table with the output of tessera-collector "
                 "--print-access-table:\n%s",
                 table);
    /* the whole table: the line before it and after it are not table rows */
    assert_true(at[-1] == '\n' && at[-2] == '\n');
    assert_true(at[tlen] != '|');
    free(table);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trends_are_the_analysts),
        cmocka_unit_test(test_alert_kinds_by_role),
        cmocka_unit_test(test_the_other_queries),
        cmocka_unit_test(test_agents_may_not_query),
        cmocka_unit_test(test_refusals_name_the_allowed_roles),
        cmocka_unit_test(test_privacy_doc_has_the_table),
    };
    return cmocka_run_group_tests_name("access", tests, NULL, NULL);
}
