/* test_applier.c - the apply thread: steps held back until due or wanted,
 * submits and audit entries from this thread while it applies, the
 * audit group commit, pause, and linked records' alerts handed over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"

#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "applier.h"
#include "store.h"
#include "tessera/err.h"

static int s_setup(void **state)
{
    (void)state;
    return tsr_test_dir_make("applier");
}

static tsr_store_t *s_open(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    tsr_store_opts_t o = {.kv = {.dir = path, .map_size = 1u << 20, .map_step = 1u << 20},
                          .drain_ms = 5};
    tsr_store_t *s;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_open(&s, &o, &err), 0);
    return s;
}

/* Record n (distinct ids; linked = n's token is shared with n - 1). */
static void s_record(tsr_incident_t *inc, int n, bool linked)
{
    memset(inc, 0, sizeof *inc);
    inc->record_id[0] = (uint8_t)(n >> 16);
    inc->record_id[1] = (uint8_t)(n >> 8);
    inc->record_id[2] = (uint8_t)n;
    inc->version = 1;
    inc->agency_type = 1;
    /* a linked record in another area: the pair's cluster spans two, which
     * raises a linkage alert */
    snprintf(inc->area_code, sizeof inc->area_code, linked ? "E08000032" : "E08000035");
    inc->reported_day = tsr_day_today() - n % 300;
    inc->date_precision = 1;
    inc->age_band = 3;
    inc->gender = 1;
    inc->n_tokens = 1;
    inc->tokens[0].key_id = 7; /* key id 0 is refused */
    snprintf(inc->tokens[0].kind, TSR_KIND_MAX, "phone");
    int t = linked ? n - 1 : n;
    inc->tokens[0].token[0] = (uint8_t)(t >> 16);
    inc->tokens[0].token[1] = (uint8_t)(t >> 8);
    inc->tokens[0].token[2] = (uint8_t)t;
    inc->tokens[0].token[3] = 0x5a;
}

static void s_submit(tsr_store_t *s, int from, int n, bool linked_pairs)
{
    static tsr_incident_t inc[100];
    tsr_store_item_t items[100] = {{0}};
    char areas[][10] = {"E08000035", "E08000032"};
    tsr_client_t c = {.role = TSR_ROLE_AGENT, .areas = areas, .n_areas = 2};
    snprintf(c.id, sizeof c.id, "school-1");
    assert_true(n <= 100);
    for (int i = 0; i < n; i++) {
        s_record(&inc[i], from + i, linked_pairs && (from + i) % 2 == 1);
        items[i].incident = &inc[i];
    }
    tsr_store_batch_t b = {&c, items, (size_t)n};
    assert_int_equal(tsr_store_submit(s, &b, 1, time(NULL)), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(items[i].outcome, TSR_OUTCOME_ACCEPTED);
}

/* Waits up to ms for the applier's fd; whether it became readable. */
static bool s_news(tsr_applier_t *a, int ms)
{
    struct pollfd p = {tsr_applier_fd(a), POLLIN, 0};
    bool got = poll(&p, 1, ms) == 1;
    tsr_applier_clear(a);
    return got;
}

/* Waits until the log is applied up to seq (at most 10 s). */
static void s_wait_applied(tsr_applier_t *a, tsr_store_t *s, uint64_t seq)
{
    for (int i = 0; i < 1000 && tsr_store_applied(s) < seq; i++)
        s_news(a, 10);
    assert_true(tsr_store_applied(s) >= seq);
}

/* Takes the applier's alerts, asserting they follow *last_seq in order
 * (none twice, none missing); returns how many. */
static size_t s_take_alerts(tsr_applier_t *a, uint64_t *last_seq)
{
    size_t n;
    tsr_link_published_t *p = tsr_applier_alerts(a, &n);
    for (size_t k = 0; k < n; k++) {
        assert_true(p[k].seq == ++*last_seq);
        free(p[k].buf);
    }
    free(p);
    return n;
}

/* Starts an applier on s with o, submits records 0..n (none linked) and
 * checks that 200 ms later none is applied. */
static tsr_applier_t *s_held(tsr_store_t *s, const tsr_applier_opts_t *o, int n)
{
    tsr_applier_t *a;
    assert_int_equal(tsr_applier_new(&a, s, o), 0);
    s_submit(s, 0, n, false);
    tsr_applier_logged(a, true);
    s_news(a, 200);
    assert_int_equal(tsr_store_applied(s), 0);
    return a;
}

/* With the delay an hour and no quiet spell counted, nothing is applied
 * until a query wants it; then it is, and the step says so on the fd. */
static void test_held_until_wanted(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("held");
    tsr_applier_opts_t o = {.quiet_ms = 1, .quiet_max = 0, .delay_ms = 3600000, .batch = 10000,
                            .eval_ms = 200};
    tsr_applier_t *a = s_held(s, &o, 10);
    assert_int_equal(tsr_store_logged(s), 10);
    assert_int_equal(tsr_store_counter(s, "accepted"), 10); /* counted with the Ack */
    assert_int_equal(tsr_store_counter(s, "records"), 0);
    tsr_applier_want(a, tsr_store_last_logged(s));
    assert_true(tsr_applier_evaluated(a) < 10); /* the records' series changed since */
    s_wait_applied(a, s, 10);
    assert_int_equal(tsr_store_counter(s, "records"), 10);
    assert_false(tsr_applier_failing(a));
    /* their series are evaluated after the step: an alerts query waits for this too */
    for (int i = 0; i < 1000 && tsr_applier_evaluated(a) < 10; i++)
        s_news(a, 10);
    assert_int_equal(tsr_applier_evaluated(a), 10);
    assert_false(tsr_store_pending(s));
    tsr_applier_destroy(&a);
    assert_null(a);
    tsr_store_close(&s);
}

/* Applies 10 records on a new store with o, asking for them with
 * tsr_applier_want when want is set; *bg and *own: the applier's step
 * counts (tsr_applier_steps). */
static void s_steps_after(const char *name, const tsr_applier_opts_t *o, bool want, size_t *bg,
                          size_t *own)
{
    tsr_store_t *s = s_open(name);
    tsr_applier_t *a;
    if (want) {
        a = s_held(s, o, 10);
        tsr_applier_want(a, tsr_store_last_logged(s));
    } else {
        assert_int_equal(tsr_applier_new(&a, s, o), 0);
        s_submit(s, 0, 10, false);
        tsr_applier_logged(a, true);
    }
    s_wait_applied(a, s, 10);
    /* the thread comes back from the background once the step is done */
    int tid = tsr_applier_tid(a), io = -1, policy = -1;
    for (int i = 0; i < 200; i++) {
        io = (int)syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, tid);
        policy = sched_getscheduler(tid);
        if (io >= 0 && io >> 13 != 3 /* IOPRIO_CLASS_IDLE */ && policy == SCHED_OTHER)
            break;
        s_news(a, 10);
    }
    assert_true(io >= 0 && io >> 13 != 3);
    assert_int_equal(policy, SCHED_OTHER);
    tsr_applier_steps(a, bg, own);
    tsr_applier_destroy(&a);
    tsr_store_close(&s);
}

/* [ingest] apply_yield: a step nobody waits for ends in the background;
 * one a query waits for runs in the foreground; with the setting off,
 * every step does. */
static void test_background(void **state)
{
    (void)state;
    size_t bg, own;
    tsr_applier_opts_t o = {.quiet_ms = 3600000, .quiet_max = 0, .delay_ms = 1, .batch = 10000,
                            .eval_ms = 200, .yield = true};
    /* one step, or more when the CPU is so busy that a step's time bound
     * (apply_step_ms) ends it before the 10 entries: every one ran in the
     * background */
    s_steps_after("bg_due", &o, false, &bg, &own);
    assert_true(bg >= 1);
    assert_int_equal(own, 0);

    o.delay_ms = 3600000; /* held until wanted */
    s_steps_after("bg_wanted", &o, true, &bg, &own);
    assert_int_equal(bg, 0);
    assert_true(own >= 1);

    o.delay_ms = 1;
    o.yield = false;
    s_steps_after("bg_off", &o, false, &bg, &own);
    assert_int_equal(bg, 0);
    assert_true(own >= 1);
}

/* Submits record n alone at version v (linked: sharing n - 1's token);
 * whether the link probe then says a record that may link waits. */
static bool s_probe(tsr_store_t *s, int n, bool linked, uint32_t v)
{
    static tsr_incident_t inc;
    tsr_store_item_t item = {0};
    char areas[][10] = {"E08000035", "E08000032"};
    tsr_client_t c = {.role = TSR_ROLE_AGENT, .areas = areas, .n_areas = 2};
    snprintf(c.id, sizeof c.id, "school-1");
    s_record(&inc, n, linked);
    inc.version = v;
    item.incident = &inc;
    tsr_store_batch_t b = {&c, &item, 1};
    assert_int_equal(tsr_store_submit(s, &b, 1, time(NULL)), 0);
    assert_int_equal(item.outcome, v == 1 ? TSR_OUTCOME_ACCEPTED : TSR_OUTCOME_REPLACED);
    return tsr_store_link_waiting(s);
}

/* The link probe finds a shared token among waiting entries, in one
 * submit and among applied records, never a record's own token (a new
 * version, waiting or applied), and says nothing past its bound or with
 * linkage off. */
static void test_link_probe(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("probe");
    tsr_store_link_probe(s, 4);
    assert_false(s_probe(s, 0, false, 1));
    assert_true(s_probe(s, 1, true, 1)); /* record 0, waiting */
    assert_int_equal(tsr_store_drain_all(s, time(NULL)), 0);
    assert_false(tsr_store_link_waiting(s)); /* applied */
    assert_false(s_probe(s, 2, false, 1));
    assert_false(s_probe(s, 2, false, 2)); /* its own v1, waiting */
    assert_int_equal(tsr_store_drain_all(s, time(NULL)), 0);
    assert_false(s_probe(s, 2, false, 3)); /* its own v2, applied */
    assert_true(s_probe(s, 3, true, 1));   /* record 2, applied */
    assert_int_equal(tsr_store_drain_all(s, time(NULL)), 0);
    s_submit(s, 4, 2, true); /* 5 shares 4's token, in one submit */
    assert_true(tsr_store_link_waiting(s));
    assert_int_equal(tsr_store_drain_all(s, time(NULL)), 0);
    s_submit(s, 6, 4, false);
    assert_false(s_probe(s, 7, true, 2)); /* 5 entries would wait: past the bound */
    assert_int_equal(tsr_store_drain_all(s, time(NULL)), 0);
    tsr_store_set_linkage(s, false);
    assert_false(s_probe(s, 10, true, 1)); /* record 9's token */
    tsr_store_set_linkage(s, true);
    assert_true(s_probe(s, 10, true, 2));
    tsr_store_link_probe(s, 0);
    assert_int_equal(tsr_store_drain_all(s, time(NULL)), 0);
    assert_false(s_probe(s, 10, true, 3)); /* probe off */
    tsr_store_close(&s);
}

/* With the quiet spell and the delay an hour, a record that links nothing
 * waits; one that links is applied at once, with the one before it, and
 * its linkage alert handed over. */
static void test_link_at_once(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("at_once");
    tsr_applier_opts_t o = {.quiet_ms = 3600000, .quiet_max = 64, .delay_ms = 3600000,
                            .batch = 10000, .eval_ms = 200};
    tsr_applier_t *a = s_held(s, &o, 1);
    s_submit(s, 1, 1, true);
    tsr_applier_logged(a, false);
    s_wait_applied(a, s, 2);
    assert_int_equal(tsr_store_counter(s, "records"), 2);
    uint64_t last = 0;
    for (int i = 0; i < 100 && last == 0; i++) /* the step's alert, then the evaluation's */
        if (s_take_alerts(a, &last) == 0)
            s_news(a, 10);
    assert_int_equal(last, 1);
    tsr_applier_destroy(&a);
    tsr_store_close(&s);
}

/* This thread submits 2,000 records (pairs linked) while the apply thread
 * applies them, queues audit entries between submits and runs a paused
 * store call; everything ends applied once, every audit entry durable and
 * every linkage alert handed over once. */
static void test_concurrent(void **state)
{
    (void)state;
    enum { N = 2000, B = 50, AUDITS = 40 };
    tsr_store_t *s = s_open("busy");
    tsr_applier_opts_t o = {.quiet_ms = 1, .quiet_max = 64, .delay_ms = 5, .batch = 300,
                            .eval_ms = 50};
    tsr_applier_t *a;
    assert_int_equal(tsr_applier_new(&a, s, &o), 0);
    static tsr_applier_audit_t au[AUDITS];
    size_t alerts = 0;
    uint64_t last_seq = 0;
    for (int i = 0; i < N; i += B) {
        s_submit(s, i, B, true);
        tsr_applier_logged(a, false);
        if (i / B < AUDITS) {
            tsr_applier_audit_t *e = &au[i / B];
            e->entry.time = time(NULL);
            snprintf(e->entry.id, sizeof e->entry.id, "analyst-%d", i / B);
            snprintf(e->entry.role, sizeof e->entry.role, "analyst");
            snprintf(e->entry.request, sizeof e->entry.request, "trends -> ok");
            tsr_applier_audit(a, e);
        }
        if (i == N / 2) { /* a call of the apply thread's kind from here */
            tsr_applier_pause(a);
            /* what the apply thread committed before the pause comes first */
            alerts += s_take_alerts(a, &last_seq);
            size_t n;
            assert_int_equal(tsr_store_drain_all(s, time(NULL)), 0);
            const tsr_link_published_t *p = tsr_store_published(s, &n);
            for (size_t k = 0; k < n; k++, alerts++)
                assert_true(p[k].seq == ++last_seq);
            assert_int_equal(tsr_store_logged(s), 0);
            tsr_applier_resume(a);
        }
        alerts += s_take_alerts(a, &last_seq);
    }
    s_wait_applied(a, s, N);
    for (int k = 0; k < AUDITS; k++) {
        for (int t = 0; t < 1000 && !atomic_load(&au[k].done); t++)
            s_news(a, 10);
        assert_true(atomic_load(&au[k].done));
        assert_int_equal(au[k].rc, 0);
    }
    tsr_applier_stop(a);
    alerts += s_take_alerts(a, &last_seq);
    tsr_applier_destroy(&a);
    assert_int_equal(tsr_store_counter(s, "records"), N);
    assert_int_equal(tsr_store_counter(s, "accepted"), N);
    assert_int_equal(tsr_store_applied(s), N);
    assert_true(alerts > 0); /* linked pairs across the run raised linkage alerts */
    tsr_response_t r = {0};
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_audit_list(s, 0, NULL, 1000, &r, &err), 0);
    assert_int_equal(r.n_audit, AUDITS);
    for (int k = 0; k < AUDITS; k++) { /* in the order queued */
        char want[32];
        snprintf(want, sizeof want, "analyst-%d", k);
        assert_string_equal(r.audit[k].id, want);
    }
    free(r.audit);
    tsr_store_close(&s);
}

/* An audit entry is committed while the apply thread is held (a step
 * under way, or paused as here): the audit log has an environment and a
 * thread of its own, so a query's answer never waits for an apply step. */
static void test_audit_not_behind_step(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("auditfree");
    tsr_applier_opts_t o = {.quiet_ms = 1, .quiet_max = 64, .delay_ms = 5, .batch = 300,
                            .eval_ms = 50};
    tsr_applier_t *a;
    assert_int_equal(tsr_applier_new(&a, s, &o), 0);
    tsr_applier_pause(a); /* the apply thread cannot run a step now */
    static tsr_applier_audit_t e;
    e.entry = (tsr_audit_entry_t){.time = time(NULL), .result_size = 1};
    snprintf(e.entry.id, sizeof e.entry.id, "liaison-1");
    snprintf(e.entry.role, sizeof e.entry.role, "liaison");
    snprintf(e.entry.request, sizeof e.entry.request, "lookup 1 token(s) kind phone -> ok");
    tsr_applier_audit(a, &e);
    for (int t = 0; t < 500 && !atomic_load(&e.done); t++)
        s_news(a, 10);
    assert_true(atomic_load(&e.done));
    assert_int_equal(e.rc, 0);
    tsr_response_t r = {0};
    assert_int_equal(tsr_store_audit_list(s, 0, NULL, 10, &r, NULL), 0);
    assert_int_equal(r.n_audit, 1);
    assert_string_equal(r.audit[0].id, "liaison-1");
    free(r.audit);
    tsr_applier_resume(a);
    tsr_applier_destroy(&a);
    tsr_store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_held_until_wanted),
        cmocka_unit_test(test_background),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_link_probe),
        cmocka_unit_test(test_link_at_once),
        cmocka_unit_test(test_audit_not_behind_step),
    };
    return cmocka_run_group_tests(tests, s_setup, tsr_test_dir_remove);
}
