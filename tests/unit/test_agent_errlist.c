/* test_agent_errlist.c - an input file's errors: the first few on stderr,
 * then "N more; see FILE", every one in the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errlist.h"
#include "tessera/err.h"

static int s_setup(void **state)
{
    (void)state;
    return tsr_test_dir_make("agent-errlist");
}

static char s_text[4096];

static const char *s_read(const char *path)
{
    return tsr_test_read_file(path, s_text, sizeof s_text);
}

/* stderr into a file while `lines` go to a list at path (shown 3), then
 * finished; returns finish's result, stderr's text in *err_text. */
static int s_run(const char *path, int lines, bool always, char *err_text, size_t cap)
{
    char captured[128];
    snprintf(captured, sizeof captured, "%s/stderr", s_dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(captured, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    agent_errlist_t *e;
    assert_int_equal(agent_errlist_new(&e, path, 3, always), 0);
    for (int i = 1; i <= lines; i++) {
        char line[64];
        snprintf(line, sizeof line, "f.jsonl:%d: age: bad", i);
        assert_int_equal(agent_errlist_add(e, line), 0);
    }
    assert_int_equal(agent_errlist_count(e), (size_t)lines);
    int rc = agent_errlist_finish(e, NULL);
    agent_errlist_destroy(&e);
    assert_null(e);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    snprintf(err_text, cap, "%s", s_read(captured));
    return rc;
}

static void test_first_shown_then_summary(void **state)
{
    (void)state;
    char path[128], err[1024], want[1024];
    snprintf(path, sizeof path, "%s/f.jsonl.errors", s_dir);
    assert_int_equal(s_run(path, 5, false, err, sizeof err), 0);
    snprintf(want, sizeof want,
             "f.jsonl:1: age: bad\nf.jsonl:2: age: bad\nf.jsonl:3: age: bad\n2 more; see %s\n",
             path);
    assert_string_equal(err, want);
    assert_string_equal(s_read(path), "f.jsonl:1: age: bad\nf.jsonl:2: age: bad\n"
                                      "f.jsonl:3: age: bad\nf.jsonl:4: age: bad\n"
                                      "f.jsonl:5: age: bad\n");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600); /* messages quote the input */
}

static void test_few_no_file(void **state)
{
    (void)state;
    char path[128], err[1024];
    snprintf(path, sizeof path, "%s/few.errors", s_dir);
    assert_int_equal(s_run(path, 2, false, err, sizeof err), 0);
    assert_string_equal(err, "f.jsonl:1: age: bad\nf.jsonl:2: age: bad\n");
    assert_int_equal(access(path, F_OK), -1);
    /* `run` keeps every list, short or not */
    assert_int_equal(s_run(path, 2, true, err, sizeof err), 0);
    assert_string_equal(s_read(path), "f.jsonl:1: age: bad\nf.jsonl:2: age: bad\n");
}

static void test_unwritable_is_said(void **state)
{
    (void)state;
    char path[128], err[1024], want[1024];
    snprintf(path, sizeof path, "%s/missing/f.errors", s_dir);
    assert_int_equal(s_run(path, 4, false, err, sizeof err), TSR_EIO);
    snprintf(want, sizeof want,
             "f.jsonl:1: age: bad\nf.jsonl:2: age: bad\nf.jsonl:3: age: bad\n"
             "1 more, not listed: %s cannot be written (No such file or directory)\n",
             path);
    assert_string_equal(err, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_shown_then_summary),
        cmocka_unit_test(test_few_no_file),
        cmocka_unit_test(test_unwritable_is_said),
    };
    return cmocka_run_group_tests(tests, s_setup, tsr_test_dir_remove);
}
