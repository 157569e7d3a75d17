/* test_agent_lock.c - one tessera-agent process per agency directory: a
 * second waits, then learns the holder's PID; a holder that dies lets go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"
#include "tessera/err.h"

static int s_setup(void **state)
{
    (void)state;
    return tsr_test_dir_make("agent-lock");
}

/* What agent.lock holds. */
static const char *s_content(char *buf, size_t cap)
{
    char path[128];
    snprintf(path, sizeof path, "%s/" AGENT_LOCK_FILE, s_dir);
    return tsr_test_read_file(path, buf, cap);
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_second_waits_then_names_holder(void **state)
{
    (void)state;
    agent_lock_t *a, *b = NULL;
    char want[32], got[32];
    assert_int_equal(agent_lock_new(&a, s_dir, 0, NULL, NULL), 0);
    snprintf(want, sizeof want, "%ld\n", (long)getpid());
    assert_string_equal(s_content(got, sizeof got), want);
    /* flock locks belong to an open file: a second open conflicts, in
     * this process as in another */
    pid_t holder = -1;
    tsr_error_t err;
    tsr_error_clear(&err);
    double t0 = s_now();
    assert_int_equal(agent_lock_new(&b, s_dir, 300, &holder, &err), TSR_EEXIST);
    double waited = s_now() - t0;
    assert_null(b);
    assert_int_equal(holder, getpid());
    assert_true(waited >= 0.3 && waited < 2.0);
    agent_lock_destroy(&a);
    assert_null(a);
    assert_string_equal(s_content(got, sizeof got), ""); /* no PID of one that let go */
    assert_int_equal(agent_lock_new(&b, s_dir, 0, &holder, NULL), 0);
    agent_lock_destroy(&b);
}

static void test_dead_holder_lets_go(void **state)
{
    (void)state;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        agent_lock_t *l;
        _exit(agent_lock_new(&l, s_dir, 0, NULL, NULL) == 0 ? 0 : 1); /* never destroyed */
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_int_equal(WEXITSTATUS(status), 0);
    agent_lock_t *l;
    pid_t holder = -1;
    assert_int_equal(agent_lock_new(&l, s_dir, 0, &holder, NULL), 0);
    assert_int_equal(holder, 0);
    agent_lock_destroy(&l);
}

static void test_no_directory(void **state)
{
    (void)state;
    agent_lock_t *l;
    tsr_error_t err;
    char dir[128], want[256], msg[768];
    snprintf(dir, sizeof dir, "%s/missing", s_dir);
    tsr_error_clear(&err);
    assert_int_equal(agent_lock_new(&l, dir, 0, NULL, &err), TSR_EIO);
    assert_null(l);
    snprintf(want, sizeof want,
             "%s/" AGENT_LOCK_FILE ": cannot open the agent's lock file: No such file or directory",
             dir);
    assert_string_equal(tsr_error_format(&err, msg, sizeof msg), want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_waits_then_names_holder),
        cmocka_unit_test(test_dead_holder_lets_go),
        cmocka_unit_test(test_no_directory),
    };
    return cmocka_run_group_tests(tests, s_setup, tsr_test_dir_remove);
}
