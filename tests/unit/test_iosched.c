/* test_iosched.c - reading the active I/O scheduler (collector/iosched.c):
 * sysfs lines as the kernel writes them, malformed ones, a short buffer,
 * and paths on no block device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "iosched.h"
#include "tessera/err.h"

static void test_active(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(tsr_iosched_active("none mq-deadline kyber [bfq]\n", out, sizeof out), 0);
    assert_string_equal(out, "bfq");
    assert_int_equal(tsr_iosched_active("[mq-deadline] kyber bfq none\n", out, sizeof out), 0);
    assert_string_equal(out, "mq-deadline");
    assert_int_equal(tsr_iosched_active("[none] mq-deadline\n", out, sizeof out), 0);
    assert_string_equal(out, "none");
    /* a queue with one scheduler and nothing to choose prints it bare */
    assert_int_equal(tsr_iosched_active("none\n", out, sizeof out), 0);
    assert_string_equal(out, "none");
}

static void test_malformed(void **state)
{
    (void)state;
    char out[32] = "unchanged";
    assert_int_equal(tsr_iosched_active("", out, sizeof out), TSR_EINVAL);
    assert_int_equal(tsr_iosched_active("\n", out, sizeof out), TSR_EINVAL);
    assert_int_equal(tsr_iosched_active("none mq-deadline\n", out, sizeof out), TSR_EINVAL);
    assert_int_equal(tsr_iosched_active("none [bfq\n", out, sizeof out), TSR_EINVAL);
    assert_int_equal(tsr_iosched_active("none []\n", out, sizeof out), TSR_EINVAL);
    assert_string_equal(out, "unchanged");
    /* room for "bfq" and its NUL, no less */
    char small[4];
    assert_int_equal(tsr_iosched_active("[mq-deadline]", small, sizeof small), TSR_ERANGE);
    assert_int_equal(tsr_iosched_active("[bfq]", small, sizeof small), 0);
    assert_string_equal(small, "bfq");
}

static void test_paths(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(tsr_iosched_of("/nonexistent/tessera-iosched", out, sizeof out), TSR_EIO);
    /* procfs is on no block device */
    assert_int_equal(tsr_iosched_of("/proc/self", out, sizeof out), TSR_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_active),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
