/* test_querier.c - the query thread (collector/querier.c): jobs run off
 * the calling thread, one at a time in the order given, each marked done
 * and announced on the eventfd; destroy joins after the running job and
 * leaves the queued ones unrun. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "querier.h"

/* What the jobs did: their order, and the threads they ran on. */
typedef struct {
    int order[16];
    atomic_int n;
    pthread_t thread[16];
    atomic_bool release; /* a blocking job waits for this */
    atomic_bool started; /* a job has started */
} s_log_t;

typedef struct {
    s_log_t *log;
    int id;
    bool block;
} s_arg_t;

static void s_run(void *arg)
{
    s_arg_t *a = arg;
    atomic_store(&a->log->started, true);
    while (a->block && !atomic_load(&a->log->release))
        usleep(1000);
    int i = atomic_fetch_add(&a->log->n, 1);
    a->log->order[i] = a->id;
    a->log->thread[i] = pthread_self();
}

/* Waits (at most 5 s) for j to be done, through the eventfd. */
static bool s_wait_done(tsr_querier_t *q, tsr_querier_job_t *j)
{
    for (int i = 0; i < 500 && !atomic_load(&j->done); i++) {
        struct pollfd p = {tsr_querier_fd(q), POLLIN, 0};
        poll(&p, 1, 10);
        tsr_querier_clear(q);
    }
    return atomic_load(&j->done);
}

static void test_jobs_run_in_order_off_the_caller(void **state)
{
    (void)state;
    tsr_querier_t *q = NULL;
    assert_int_equal(tsr_querier_new(&q, 0), 0);
    s_log_t log = {0};
    s_arg_t args[5];
    tsr_querier_job_t jobs[5];
    for (int i = 0; i < 5; i++) {
        args[i] = (s_arg_t){&log, i + 1, false};
        jobs[i] = (tsr_querier_job_t){.run = s_run, .arg = &args[i]};
        atomic_store(&jobs[i].done, true); /* put clears it */
        tsr_querier_put(q, &jobs[i]);
    }
    assert_true(s_wait_done(q, &jobs[4]));
    for (int i = 0; i < 5; i++)
        assert_true(atomic_load(&jobs[i].done));
    assert_int_equal(atomic_load(&log.n), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(log.order[i], i + 1);
        assert_false(pthread_equal(log.thread[i], pthread_self()));
        assert_true(pthread_equal(log.thread[i], log.thread[0])); /* one thread */
    }
    /* the eventfd said so, and is empty once cleared */
    tsr_querier_clear(q);
    struct pollfd p = {tsr_querier_fd(q), POLLIN, 0};
    assert_int_equal(poll(&p, 1, 0), 0);
    tsr_querier_destroy(&q);
    assert_null(q);
}

/* Two jobs queued on a new querier: j1 blocks until log.release, j2
 * (marked done first when mark_j2) waits behind it. */
typedef struct {
    s_log_t log;
    s_arg_t a1, a2;
    tsr_querier_job_t j1, j2;
} s_two_t;

static tsr_querier_t *s_two_start(s_two_t *t, bool mark_j2)
{
    tsr_querier_t *q = NULL;
    assert_int_equal(tsr_querier_new(&q, 0), 0);
    memset(t, 0, sizeof *t);
    t->a1 = (s_arg_t){&t->log, 1, true};
    t->a2 = (s_arg_t){&t->log, 2, false};
    t->j1 = (tsr_querier_job_t){.run = s_run, .arg = &t->a1};
    t->j2 = (tsr_querier_job_t){.run = s_run, .arg = &t->a2};
    if (mark_j2)
        atomic_store(&t->j2.done, true);
    tsr_querier_put(q, &t->j1);
    tsr_querier_put(q, &t->j2);
    return q;
}

static void test_put_clears_done_and_the_queue_waits(void **state)
{
    (void)state;
    s_two_t t;
    tsr_querier_t *q = s_two_start(&t, true);
    assert_false(atomic_load(&t.j2.done)); /* queued, not run */
    usleep(20000);
    assert_false(atomic_load(&t.j1.done)); /* j1 blocks, j2 waits behind it */
    assert_false(atomic_load(&t.j2.done));
    assert_int_equal(atomic_load(&t.log.n), 0);
    atomic_store(&t.log.release, true);
    assert_true(s_wait_done(q, &t.j2));
    assert_true(atomic_load(&t.j1.done));
    assert_int_equal(t.log.order[0], 1);
    assert_int_equal(t.log.order[1], 2);
    tsr_querier_destroy(&q);
}

static void *s_release_later(void *arg)
{
    s_log_t *log = arg;
    usleep(100000);
    atomic_store(&log->release, true);
    return NULL;
}

static void test_destroy_leaves_queued_jobs_unrun(void **state)
{
    (void)state;
    s_two_t t;
    tsr_querier_t *q = s_two_start(&t, false);
    while (!atomic_load(&t.log.started))
        usleep(1000); /* j1 runs and blocks */
    pthread_t releaser;
    assert_int_equal(pthread_create(&releaser, NULL, s_release_later, &t.log), 0);
    tsr_querier_destroy(&q); /* stops while j1 runs, joins once it is done */
    pthread_join(releaser, NULL);
    assert_null(q);
    assert_int_equal(atomic_load(&t.log.n), 1);
    assert_int_equal(t.log.order[0], 1);
    assert_true(atomic_load(&t.j1.done));
    assert_false(atomic_load(&t.j2.done)); /* queued behind it: never run */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_run_in_order_off_the_caller),
        cmocka_unit_test(test_put_clears_done_and_the_queue_waits),
        cmocka_unit_test(test_destroy_leaves_queued_jobs_unrun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
