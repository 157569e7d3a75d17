/* test_agent_outbox.c - the agent's outbox and network keys: items made under a
 * key the collector does not accept are held back, never peeked; queueing
 * the same cases under the right key replaces them in one transaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox.h"
#include "tessera/err.h"
#include "tessera/record.h"

static int s_setup(void **state)
{
    (void)state;
    return tsr_test_dir_make("outbox");
}

/* Case n made under key_id: its record id and token carry the key's mark,
 * as records made with another key differ in both. */
static void s_case(tsr_incident_t *inc, char *ref, int n, uint32_t key_id)
{
    memset(inc, 0, sizeof *inc);
    memset(inc->record_id, (int)(n + (key_id & 0x70)), TSR_RECORD_ID_LEN);
    inc->version = 1;
    inc->agency_type = 1;
    snprintf(inc->area_code, sizeof inc->area_code, "E08000035");
    inc->reported_day = tsr_day_today() - 3;
    inc->date_precision = 1;
    inc->age_band = 3;
    inc->gender = 1;
    inc->amount_demanded_band = 9;
    inc->amount_paid_band = 9;
    inc->paid = 3;
    inc->n_tokens = 1;
    snprintf(inc->tokens[0].kind, TSR_KIND_MAX, "phone");
    inc->tokens[0].key_id = key_id;
    memset(inc->tokens[0].token, n, TSR_TOKEN_LEN);
    snprintf(ref, TSR_CASE_REF_MAX, "CASE-%d", n);
}

static void s_queue(agent_outbox_t *o, int first, int n, uint32_t key_id, size_t *replaced)
{
    tsr_incident_t incs[8];
    char refs[8][TSR_CASE_REF_MAX];
    for (int i = 0; i < n; i++)
        s_case(&incs[i], refs[i], first + i, key_id);
    assert_int_equal(agent_outbox_put_incidents(o, incs, refs, (size_t)n, key_id, replaced, NULL), 0);
}

static size_t s_peek(agent_outbox_t *o, const agent_outbox_keys_t *k, tsr_batch_t *b, uint64_t *seqs)
{
    assert_int_equal(agent_outbox_peek(o, 16, k, b, seqs), 0);
    return b->n_incidents + b->n_retractions;
}

static void test_held_and_replaced(void **state)
{
    (void)state;
    const uint32_t right = 1857500892u, wrong = 1974342276u;
    agent_outbox_t *o;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/held", s_dir);
    assert_int_equal(agent_outbox_new(&o, dir, 0), 0);
    agent_outbox_keys_t k = {.own = wrong, .day = tsr_day_today()};
    k.accepted.ids[0].key_id = right;
    k.accepted.n = 1;
    tsr_batch_t b;
    uint64_t seqs[16];
    agent_outbox_held_t held;

    /* three cases queued under the wrong key, one under the right one */
    size_t replaced = 99;
    s_queue(o, 1, 3, wrong, &replaced);
    assert_int_equal(replaced, 0);
    s_queue(o, 7, 1, right, NULL);
    assert_int_equal(s_peek(o, &k, &b, seqs), 1); /* only the right one may go */
    assert_int_equal(b.incidents[0].tokens[0].key_id, right);
    agent_outbox_batch_clear(&b);
    assert_int_equal(agent_outbox_held(o, &k, &held), 0);
    assert_int_equal(held.n, 3);
    assert_int_equal(held.key_id, wrong);
    assert_false(agent_outbox_keys_sendable(&k, wrong));
    assert_true(agent_outbox_keys_sendable(&k, right));

    /* a collector with no key yet takes the agent's own */
    agent_outbox_keys_t none = {.own = wrong, .day = k.day};
    assert_int_equal(s_peek(o, &none, &b, seqs), 3);
    agent_outbox_batch_clear(&b);

    /* the same cases again under the right key replace the held items */
    k.own = right;
    s_queue(o, 1, 2, right, &replaced);
    assert_int_equal(replaced, 2);
    assert_int_equal(agent_outbox_held(o, &k, &held), 0);
    assert_int_equal(held.n, 1); /* CASE-3 was not submitted again */
    assert_int_equal(s_peek(o, &k, &b, seqs), 3);
    for (size_t i = 0; i < b.n_incidents; i++)
        assert_int_equal(b.incidents[i].tokens[0].key_id, right);
    agent_outbox_batch_clear(&b);
    agent_outbox_status_t st;
    assert_int_equal(agent_outbox_status(o, &st), 0);
    assert_int_equal(st.depth, 4);
    /* resolve still knows the held record id (its case, locally) */
    tsr_incident_t inc;
    char ref[TSR_CASE_REF_MAX], got[TSR_CASE_REF_MAX];
    s_case(&inc, ref, 3, wrong);
    assert_int_equal(agent_outbox_resolve(o, inc.record_id, got), 0);
    assert_string_equal(got, "CASE-3");
    s_queue(o, 3, 1, right, &replaced);
    assert_int_equal(replaced, 1);
    assert_int_equal(agent_outbox_held(o, &k, &held), 0);
    assert_int_equal(held.n, 0);
    agent_outbox_destroy(&o);
}

/* The collector's retention as it last said: none at first, then kept
 * across a reopen (the agent goes by it while the collector is away). */
static void test_retention_kept(void **state)
{
    (void)state;
    agent_outbox_t *o;
    char dir[128];
    long months = -1;
    snprintf(dir, sizeof dir, "%s/retention", s_dir);
    assert_int_equal(agent_outbox_new(&o, dir, 0), 0);
    assert_int_equal(agent_outbox_retention_get(o, &months), TSR_ENOTFOUND);
    assert_int_equal(months, -1);
    assert_int_equal(agent_outbox_retention_put(o, 12), 0);
    agent_outbox_destroy(&o);
    assert_null(o);
    assert_int_equal(agent_outbox_new(&o, dir, 0), 0);
    assert_int_equal(agent_outbox_retention_get(o, &months), 0);
    assert_int_equal(months, 12);
    assert_int_equal(agent_outbox_retention_put(o, 24), 0);
    assert_int_equal(agent_outbox_retention_get(o, &months), 0);
    assert_int_equal(months, 24);
    agent_outbox_destroy(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_held_and_replaced),
        cmocka_unit_test(test_retention_kept),
    };
    return cmocka_run_group_tests(tests, s_setup, tsr_test_dir_remove);
}
