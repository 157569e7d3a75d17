/* test_settings.c - the collector's checks of configured values
 * (collector/settings.c): endpoints a server can bind, and the daily
 * methods, each refusal with the sentence a person reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "settings.h"
#include "tessera/err.h"

#define FORMS                                                                                      \
    "write tcp://ADDRESS:PORT (for example tcp://127.0.0.1:7701, tcp://0.0.0.0:7701 or "           \
    "tcp://[::1]:7701) or ipc://PATH"

static void s_endpoint_ok(const char *ep)
{
    char why[512] = "";
    assert_int_equal(tsr_settings_endpoint_check(ep, why, sizeof why), 0);
    assert_string_equal(why, "");
}

static void s_endpoint_bad(const char *ep, const char *want)
{
    char why[512] = "";
    assert_int_equal(tsr_settings_endpoint_check(ep, why, sizeof why), TSR_EINVAL);
    assert_string_equal(why, want);
}

static void test_endpoints_a_server_binds(void **state)
{
    (void)state;
    s_endpoint_ok("tcp://127.0.0.1:7701");
    s_endpoint_ok("tcp://0.0.0.0:1");
    s_endpoint_ok("tcp://*:65535");
    s_endpoint_ok("tcp://[::1]:7701");
    s_endpoint_ok("tcp://lo:7701"); /* an interface's name */
    s_endpoint_ok("ipc:///run/tessera/ingest");
}

static void test_endpoints_refused(void **state)
{
    (void)state;
    s_endpoint_bad("127.0.0.1:8101", "'127.0.0.1:8101' is not an endpoint: " FORMS);
    s_endpoint_bad("udp://127.0.0.1:8101",
                   "'udp://127.0.0.1:8101': the collector serves tcp:// or ipc://, not udp://; " FORMS);
    s_endpoint_bad("tcp://127.0.0.1", "'tcp://127.0.0.1' has no port: " FORMS);
    s_endpoint_bad("tcp://:7701", "'tcp://:7701' has no address: " FORMS);
    s_endpoint_bad("tcp://127.0.0.1:0",
                   "'tcp://127.0.0.1:0': the port '0' is not a number from 1 to 65535");
    s_endpoint_bad("tcp://127.0.0.1:65536",
                   "'tcp://127.0.0.1:65536': the port '65536' is not a number from 1 to 65535");
    s_endpoint_bad("tcp://127.0.0.1:*",
                   "'tcp://127.0.0.1:*': the port '*' is not a number from 1 to 65535");
    s_endpoint_bad("tcp://127.0.0.1:+80",
                   "'tcp://127.0.0.1:+80': the port '+80' is not a number from 1 to 65535");
    s_endpoint_bad("tcp://collector.example:7701",
                   "'tcp://collector.example:7701': 'collector.example' is not an address the "
                   "collector can listen on: write a numeric address of this machine, [IPv6], * "
                   "or an interface name (a host name cannot be bound)");
    s_endpoint_bad("tcp://[::1:7701",
                   "'tcp://[::1:7701': '[::1' is not an address the collector can listen on: "
                   "write a numeric address of this machine, [IPv6], * or an interface name (a "
                   "host name cannot be bound)");
    s_endpoint_bad("ipc://", "'ipc://' names no path: " FORMS);
}

#define VALID "the daily methods are c1, c2 and c3 (comma-separated, for example c1,c2,c3), or none"

static void test_methods(void **state)
{
    (void)state;
    tsr_settings_methods_t m;
    char why[512];
    assert_int_equal(tsr_settings_methods_parse("c1,c2,c3", &m, why, sizeof why), 0);
    assert_true(m.c1 && m.c2 && m.c3);
    assert_int_equal(tsr_settings_methods_parse(" c3 , c1", &m, why, sizeof why), 0);
    assert_true(m.c1 && !m.c2 && m.c3);
    assert_int_equal(tsr_settings_methods_parse("none", &m, why, sizeof why), 0);
    assert_true(!m.c1 && !m.c2 && !m.c3);

    m.c1 = true;
    assert_int_equal(tsr_settings_methods_parse("c1,c4", &m, why, sizeof why), TSR_EINVAL);
    assert_string_equal(why, "'c4' is not a method; " VALID);
    assert_true(m.c1); /* untouched on error */
    assert_int_equal(tsr_settings_methods_parse("c12", &m, why, sizeof why), TSR_EINVAL);
    assert_string_equal(why, "'c12' is not a method; " VALID);
    assert_int_equal(tsr_settings_methods_parse("c1,,c2", &m, why, sizeof why), TSR_EINVAL);
    assert_string_equal(why, "'c1,,c2' has an empty entry; " VALID);
    assert_int_equal(tsr_settings_methods_parse("c2,c2", &m, why, sizeof why), TSR_EINVAL);
    assert_string_equal(why, "'c2' is listed twice; " VALID);
    assert_int_equal(tsr_settings_methods_parse("c1 c2", &m, why, sizeof why), TSR_EINVAL);
    assert_string_equal(why, "'c1 c2' is not comma-separated; " VALID);
    assert_int_equal(tsr_settings_methods_parse("", &m, why, sizeof why), TSR_EINVAL);
    assert_string_equal(why, "no method is named; " VALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints_a_server_binds),
        cmocka_unit_test(test_endpoints_refused),
        cmocka_unit_test(test_methods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
