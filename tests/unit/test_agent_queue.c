/* test_agent_queue.c - an export read into the outbox: invalid records and
 * records past the collector's retention go to the error list with
 * FILE:LINE; a full outbox stops at a whole transaction and says so (-1),
 * and queueing the file again completes it without queueing anything
 * twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "errlist.h"
#include "outbox.h"
#include "queue.h"
#include "tessera/codes.h"
#include "tessera/date.h"
#include "tessera/err.h"

static agent_conf_t s_conf;

/* A conf as agent_conf_new would make it, without the files around it. */
static int s_setup(void **state)
{
    (void)state;
    if (tsr_test_dir_make("agent-queue") != 0)
        return -1;
    char key[128];
    snprintf(key, sizeof key, "%s/network.key", s_dir);
    if (tsr_netkey_generate(&s_conf.key, key, NULL) != 0 || tsr_netkey_prepare(&s_conf.key) != 0)
        return -1;
    s_conf.path = "agent.conf";
    s_conf.agency_id = "a-01";
    s_conf.retention_months = 12;
    s_conf.outbox_max_mib = 1;
    s_conf.ctx.agency_id = "a-01";
    s_conf.ctx.agency_type = tsr_codes_value(TSR_CODES_AGENCY_TYPE, "school");
    s_conf.ctx.default_area = "E06000014";
    s_conf.ctx.keys[0] = &s_conf.key;
    s_conf.ctx.n_keys = 1;
    return 0;
}

static int s_teardown(void **state)
{
    tsr_netkey_clear(&s_conf.key);
    return tsr_test_dir_remove(state);
}

static char s_text[4096];

static const char *s_read(const char *path)
{
    return tsr_test_read_file(path, s_text, sizeof s_text);
}

/* Writes n cases P-first.. reported on day into path (appending). */
static void s_cases(const char *path, const char *p, int first, int n, const char *day)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    for (int i = first; i < first + n; i++)
        fprintf(f,
                "{\"case_ref\":\"%s-%d\",\"reported_date\":\"%s\",\"identifiers\":[{\"kind\":"
                "\"phone\",\"value\":\"+4477009%05d\"}]}\n",
                p, i, day, i);
    fclose(f);
}

/* Queues path, errors listed (all of them) in path.errors. */
static int s_queue(agent_outbox_t *ob, const char *path, agent_queue_result_t *res)
{
    char errors[256];
    snprintf(errors, sizeof errors, "%s.errors", path);
    agent_errlist_t *errs;
    assert_int_equal(agent_errlist_new(&errs, errors, 0, true), 0);
    int rc = agent_queue_file(&s_conf, ob, path, agent_queue_cutoff(12), errs, res);
    agent_errlist_finish(errs, NULL);
    agent_errlist_destroy(&errs);
    return rc;
}

static void test_invalid_and_past_retention(void **state)
{
    (void)state;
    char path[128], dir[128], want[1024], old[11], cut[11];
    snprintf(path, sizeof path, "%s/mixed.jsonl", s_dir);
    snprintf(dir, sizeof dir, "%s/out-mixed", s_dir);
    int32_t cutoff = agent_queue_cutoff(12);
    assert_int_equal(cutoff, tsr_day_months_back(tsr_day_today(), 12));
    tsr_day_format(old, cutoff - 1);
    tsr_day_format(cut, cutoff);
    s_cases(path, "M", 1, 1, "2026-10-01");
    s_cases(path, "M", 2, 1, "2026-13-01");
    s_cases(path, "M", 3, 1, old);
    s_cases(path, "M", 4, 1, cut); /* the cutoff day itself is kept */
    agent_outbox_t *ob;
    assert_int_equal(agent_outbox_new(&ob, dir, 0), 0);
    agent_queue_result_t res;
    assert_int_equal(s_queue(ob, path, &res), 1);
    assert_int_equal(res.queued, 2);
    assert_int_equal(res.invalid, 2);
    snprintf(want, sizeof want,
             "%s:2: reported_date: '2026-13-01' is not a real date written YYYY-MM-DD\n"
             "%s:3: reported_date: %s is before the collector's retention period (12 months: "
             "from %s); it would be refused there. Leave it out of the export\n",
             path, path, old, cut);
    char errors[256];
    snprintf(errors, sizeof errors, "%s.errors", path);
    assert_string_equal(s_read(errors), want);
    agent_outbox_status_t st;
    assert_int_equal(agent_outbox_status(ob, &st), 0);
    assert_int_equal(st.depth, 2);
    agent_outbox_destroy(&ob);
}

static void test_full_outbox_loses_nothing(void **state)
{
    (void)state;
    char path[128], dir[128];
    snprintf(path, sizeof path, "%s/big.jsonl", s_dir);
    snprintf(dir, sizeof dir, "%s/out-full", s_dir);
    s_cases(path, "F", 1, 3000, "2026-10-01");
    agent_outbox_t *ob;
    assert_int_equal(agent_outbox_new(&ob, dir, 1u << 20), 0);
    agent_queue_result_t res;
    assert_int_equal(s_queue(ob, path, &res), -1);
    size_t k = res.queued;
    assert_true(k > 0 && k < 3000 && k % 256 == 0); /* whole transactions only */
    agent_outbox_status_t st;
    assert_int_equal(agent_outbox_status(ob, &st), 0);
    assert_int_equal(st.depth, k);
    agent_outbox_destroy(&ob);
    /* room again: the same file completes, nothing queued twice */
    assert_int_equal(agent_outbox_new(&ob, dir, 64u << 20), 0);
    assert_int_equal(s_queue(ob, path, &res), 0);
    assert_int_equal(res.waiting, k);
    assert_int_equal(res.queued, 3000 - k);
    assert_int_equal(agent_outbox_status(ob, &st), 0);
    assert_int_equal(st.depth, 3000);
    agent_outbox_destroy(&ob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_and_past_retention),
        cmocka_unit_test(test_full_outbox_loses_nothing),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
