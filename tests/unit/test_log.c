/* test_log.c - the two forms of a log line (timestamped; journald priority
 * prefix), how the journal is recognised, and that lines go to stderr only. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/err.h"
#include "tessera/log.h"

/* 2025-03-04T09:15:02.317Z */
#define S_MS INT64_C(1741079702317)

static void test_plain_line_has_utc_iso8601_time(void **state)
{
    (void)state;
    char line[256];
    size_t n = tsr_log_format(line, sizeof line, false, S_MS, TSR_LOG_WARN, "ingest",
                              "leeds-cs-01: malformed frame");
    assert_string_equal(line,
                        "2025-03-04T09:15:02.317Z warn ingest: leeds-cs-01: malformed frame\n");
    assert_int_equal(n, strlen(line));
    tsr_log_format(line, sizeof line, false, INT64_C(0), TSR_LOG_DEBUG, "kv", "x");
    assert_string_equal(line, "1970-01-01T00:00:00.000Z debug kv: x\n");
    tsr_log_format(line, sizeof line, false, INT64_C(1709251199999), TSR_LOG_INFO, "m", "leap");
    assert_string_equal(line, "2024-02-29T23:59:59.999Z info m: leap\n");
}

static void test_journal_line_has_priority_and_no_time(void **state)
{
    (void)state;
    char line[256];
    tsr_log_format(line, sizeof line, true, S_MS, TSR_LOG_ERROR, "store", "batch group not stored");
    assert_string_equal(line, "<3>error store: batch group not stored\n");
    tsr_log_format(line, sizeof line, true, S_MS, TSR_LOG_WARN, "zap", "denied");
    assert_string_equal(line, "<4>warn zap: denied\n");
    tsr_log_format(line, sizeof line, true, S_MS, TSR_LOG_INFO, "collector", "stopping");
    assert_string_equal(line, "<6>info collector: stopping\n");
    tsr_log_format(line, sizeof line, true, S_MS, TSR_LOG_DEBUG, "ingest", "drained");
    assert_string_equal(line, "<7>debug ingest: drained\n");
    assert_int_equal(tsr_log_priority(TSR_LOG_DEBUG), 7);
    assert_int_equal(tsr_log_priority(TSR_LOG_INFO), 6);
    assert_int_equal(tsr_log_priority(TSR_LOG_WARN), 4);
    assert_int_equal(tsr_log_priority(TSR_LOG_ERROR), 3);
}

/* A newline in a message (a peer's text, a file name) must not start a
 * line of its own, which the journal would read as another entry. */
static void test_control_characters_cannot_forge_a_line(void **state)
{
    (void)state;
    char line[256];
    tsr_log_format(line, sizeof line, true, S_MS, TSR_LOG_WARN, "ingest",
                   "bad field\n<3>error collector: forged\r\tend\x7f");
    assert_string_equal(line, "<4>warn ingest: bad field?<3>error collector: forged??end?\n");
    /* UTF-8 stays as it is */
    tsr_log_format(line, sizeof line, true, S_MS, TSR_LOG_INFO, "m", "caf\xc3\xa9");
    assert_string_equal(line, "<6>info m: caf\xc3\xa9\n");
}

static void test_long_message_is_cut_and_still_one_line(void **state)
{
    (void)state;
    char msg[300], line[64];
    memset(msg, 'x', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    size_t n = tsr_log_format(line, sizeof line, false, S_MS, TSR_LOG_INFO, "m", msg);
    assert_int_equal(n, sizeof line - 1);
    assert_int_equal(strlen(line), sizeof line - 1);
    assert_int_equal(line[n - 1], '\n');
    assert_ptr_equal(strchr(line, '\n'), line + n - 1);
    assert_memory_equal(line, "2025-03-04T09:15:02.317Z info m: xxx", 36);
    /* a prefix longer than the buffer still ends in a newline */
    n = tsr_log_format(line, 8, true, S_MS, TSR_LOG_INFO, "module", "m");
    assert_string_equal(line, "<6>inf\n");
    assert_int_equal(n, 7);
}

static void test_levels_parse(void **state)
{
    (void)state;
    tsr_log_level_t l = TSR_LOG_ERROR;
    assert_int_equal(tsr_log_parse_level("debug", &l), TSR_OK);
    assert_int_equal(l, TSR_LOG_DEBUG);
    assert_int_equal(tsr_log_parse_level("warn", &l), TSR_OK);
    assert_int_equal(l, TSR_LOG_WARN);
    assert_int_equal(tsr_log_parse_level("warning", &l), TSR_EINVAL);
    assert_int_equal(tsr_log_parse_level("", &l), TSR_EINVAL);
}

static char s_path[64];

static int s_file_make(void **state)
{
    (void)state;
    snprintf(s_path, sizeof s_path, "/tmp/tsr-log-XXXXXX");
    int fd = mkstemp(s_path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int s_file_remove(void **state)
{
    (void)state;
    unsetenv("JOURNAL_STREAM");
    return unlink(s_path);
}

static void s_set_stream(const struct stat *st, const char *suffix)
{
    char v[96];
    snprintf(v, sizeof v, "%llu:%llu%s", (unsigned long long)st->st_dev,
             (unsigned long long)st->st_ino, suffix);
    setenv("JOURNAL_STREAM", v, 1);
}

static void test_journal_recognised_by_device_and_inode(void **state)
{
    (void)state;
    int fd = open(s_path, O_WRONLY);
    assert_true(fd >= 0);
    struct stat st, other;
    assert_int_equal(fstat(fd, &st), 0);
    unsetenv("JOURNAL_STREAM");
    assert_false(tsr_log_journal_fd(fd));
    s_set_stream(&st, "");
    assert_true(tsr_log_journal_fd(fd));
    /* the variable inherited by a child whose stderr goes elsewhere */
    assert_int_equal(stat("/dev/null", &other), 0);
    s_set_stream(&other, "");
    assert_false(tsr_log_journal_fd(fd));
    s_set_stream(&st, "x");
    assert_false(tsr_log_journal_fd(fd));
    setenv("JOURNAL_STREAM", "junk", 1);
    assert_false(tsr_log_journal_fd(fd));
    setenv("JOURNAL_STREAM", ":", 1);
    assert_false(tsr_log_journal_fd(fd));
    setenv("JOURNAL_STREAM", "", 1);
    assert_false(tsr_log_journal_fd(fd));
    close(fd);
}

/* Reads what tsr_log wrote while stderr led to s_path (and stdout to a
 * second file, which must stay empty). */
static void s_log_captured(char *got, size_t cap, bool journal)
{
    char out_path[64] = "/tmp/tsr-log-out-XXXXXX";
    int out_fd = mkstemp(out_path);
    int fd = open(s_path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0 && out_fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    fflush(stdout);
    int saved_err = dup(STDERR_FILENO), saved_out = dup(STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    dup2(out_fd, STDOUT_FILENO);
    if (journal)
        s_set_stream(&st, "");
    else
        unsetenv("JOURNAL_STREAM");
    tsr_log_detect();
    tsr_log_set_level(TSR_LOG_INFO);
    tsr_debug("test", "not written");
    tsr_info("test", "hello %d", 42);
    tsr_error("test", "two\nlines");
    fflush(stdout);
    dup2(saved_err, STDERR_FILENO);
    dup2(saved_out, STDOUT_FILENO);
    close(saved_err);
    close(saved_out);
    close(fd);
    struct stat out_st;
    assert_int_equal(fstat(out_fd, &out_st), 0);
    assert_int_equal(out_st.st_size, 0); /* nothing on stdout */
    close(out_fd);
    unlink(out_path);
    FILE *fp = fopen(s_path, "r");
    assert_non_null(fp);
    size_t n = fread(got, 1, cap - 1, fp);
    got[n] = '\0';
    fclose(fp);
    unsetenv("JOURNAL_STREAM");
    tsr_log_detect();
}

static void test_log_to_a_file_is_timestamped(void **state)
{
    (void)state;
    char got[512];
    s_log_captured(got, sizeof got, false);
    /* YYYY-MM-DDTHH:MM:SS.mmmZ, then the line */
    assert_int_equal(strlen(got),
                     2 * 25 + strlen("info test: hello 42\n") + strlen("error test: two?lines\n"));
    const char *second = strchr(got, '\n') + 1;
    for (const char *l = got; l; l = l == got ? second : NULL) {
        for (int i = 0; i < 24; i++) {
            char c = l[i];
            if (i == 4 || i == 7)
                assert_int_equal(c, '-');
            else if (i == 10)
                assert_int_equal(c, 'T');
            else if (i == 13 || i == 16)
                assert_int_equal(c, ':');
            else if (i == 19)
                assert_int_equal(c, '.');
            else if (i == 23)
                assert_int_equal(c, 'Z');
            else
                assert_true(c >= '0' && c <= '9');
        }
        assert_int_equal(l[24], ' ');
    }
    assert_memory_equal(got + 25, "info test: hello 42\n", 20);
    assert_string_equal(second + 25, "error test: two?lines\n");
}

static void test_log_to_the_journal_has_prefixes(void **state)
{
    (void)state;
    char got[512];
    s_log_captured(got, sizeof got, true);
    assert_string_equal(got, "<6>info test: hello 42\n<3>error test: two?lines\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_line_has_utc_iso8601_time),
        cmocka_unit_test(test_journal_line_has_priority_and_no_time),
        cmocka_unit_test(test_control_characters_cannot_forge_a_line),
        cmocka_unit_test(test_long_message_is_cut_and_still_one_line),
        cmocka_unit_test(test_levels_parse),
        cmocka_unit_test(test_journal_recognised_by_device_and_inode),
        cmocka_unit_test(test_log_to_a_file_is_timestamped),
        cmocka_unit_test(test_log_to_the_journal_has_prefixes),
    };
    return cmocka_run_group_tests(tests, s_file_make, s_file_remove);
}
