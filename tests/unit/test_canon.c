/* test_canon.c - canonical forms (DESIGN.md section 3): every kind, valid
 * and invalid, each case with the exact expected output or refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tessera/canon.h"
#include "tessera/err.h"

typedef struct {
    const char *kind, *input;
    const char *want_kind, *want; /* want NULL: refused, want_kind then names the field */
} s_case_t;

static const s_case_t s_cases[] = {
    /* handles */
    {"handle:instagram", "@Jake_2009", "handle:instagram", "jake_2009"},
    {"handle:instagram", "https://www.instagram.com/jake_2009/?hl=en", "handle:instagram", "jake_2009"},
    {"handle:instagram", "  Jake_2009  ", "handle:instagram", "jake_2009"},
    {"handle:instagram", "instagram.com/Jake_2009", "handle:instagram", "jake_2009"},
    {"handle:instagram", "http://m.instagram.com/jake_2009#top", "handle:instagram", "jake_2009"},
    {"handle:instagram", "\xef\xbc\xa0\xef\xbc\xaa\xef\xbc\xa1\xef\xbc\xab\xef\xbc\xa5\xef\xbc\xbf"
                         "\xef\xbc\x92\xef\xbc\x90\xef\xbc\x90\xef\xbc\x99", /* ＠ＪＡＫＥ＿２００９ */
     "handle:instagram", "jake_2009"},
    {"handle:snapchat", "Zo\xc3\xab_13", "handle:snapchat", "zo\xc3\xab_13"},   /* NFC ë */
    {"handle:snapchat", "Zoe\xcc\x88_13", "handle:snapchat", "zo\xc3\xab_13"},  /* NFD e + ¨ */
    {"handle:snapchat", "ZO\xc3\x8b_13", "handle:snapchat", "zo\xc3\xab_13"},   /* upper Ë */
    {"handle:tiktok", "https://www.instagram.com/jake_2009/", "handle:instagram", "jake_2009"},
    {"handle:tiktok", "https://www.tiktok.com/@Sunny.Girl07?lang=en", "handle:tiktok", "sunny.girl07"},
    {"handle", "tiktok.com/@sunny", "handle:tiktok", "sunny"},
    {"handle:snapchat", "https://www.snapchat.com/add/ghost_99", "handle:snapchat", "ghost_99"},
    {"handle:x", "twitter.com/FakePeer_19", "handle:x", "fakepeer_19"},
    {"handle:instagram", "https://x.com/FakePeer_19", "handle:x", "fakepeer_19"},
    {"handle:discord", "shadow#1234", "handle:discord", "shadow#1234"},
    {"handle:roblox", "@@double", "value", NULL},
    {"handle:instagram", "", "value", NULL},
    {"handle:instagram", "   ", "value", NULL},
    {"handle:instagram", "@", "value", NULL},
    {"handle:instagram", "jake 2009", "value", NULL},
    {"handle:instagram", "jake\t2009", "value", NULL},
    {"handle:instagram", "bad\xff\xfe", "value", NULL},
    {"handle:instagram", "https://example.com/jake", "value", NULL},
    {"handle:instagram", "https://www.instagram.com/", "value", NULL},
    {"handle:instagram", "https://www.instagram.com/p/abc123/", "value", NULL},
    {"handle", "@jake", "kind", NULL},
    {"handle:myspace", "@jake", "kind", NULL},
    {"handle:", "@jake", "kind", NULL},
    {"handles:instagram", "@jake", "kind", NULL},
    /* email */
    {"email", "J.Smith+x@GoogleMail.com", "email", "jsmith@gmail.com"},
    {"email", "j.s.m.i.t.h@gmail.com", "email", "jsmith@gmail.com"},
    /* a dot removed between a letter and a combining cedilla: composed, as
     * the same address typed with the composed letter (found by fuzzing) */
    {"email", "fran.c.\xcc\xa7ois@gmail.com", "email", "fran\xc3\xa7ois@gmail.com"},
    {"email", "fran\xc3\xa7ois@gmail.com", "email", "fran\xc3\xa7ois@gmail.com"},
    {"email", "Offender.Name+tag@Example.org", "email", "offender.name+tag@example.org"},
    {"email", "  a@b.co  ", "email", "a@b.co"},
    {"email", "no-at-sign.example.com", "value", NULL},
    {"email", "two@@example.com", "value", NULL},
    {"email", "@example.com", "value", NULL},
    {"email", "a@localhost", "value", NULL},
    {"email", "a@example..com", "value", NULL},
    {"email", "+only@gmail.com", "value", NULL},
    /* phone */
    {"phone", "07700 900123", "phone", "+447700900123"},
    {"phone", "+44 (0)7700 900123", "phone", "+447700900123"},
    {"phone", "0044 7700 900123", "phone", "+447700900123"},
    {"phone", "+447700900123", "phone", "+447700900123"},
    {"phone", "+44 07700 900123", "phone", "+447700900123"},
    {"phone", "07700-900-123", "phone", "+447700900123"},
    {"phone", "(07700) 900.123", "phone", "+447700900123"},
    {"phone", "+1 (555) 010-9999", "phone", "+15550109999"},
    {"phone", "00234 803 123 4567", "phone", "+2348031234567"},
    {"phone", "123", "value", NULL},
    {"phone", "0123", "value", NULL},
    {"phone", "+1234567890123456", "value", NULL},
    {"phone", "07700 9OO123", "value", NULL},
    {"phone", "7700 900123", "value", NULL},
    {"phone", "+44 7700 +900123", "value", NULL},
    /* +44 00...: refused, else "+440..." would canonicalise twice (fuzz_canon) */
    {"phone", "+44 (0)0 0840009852", "value", NULL},
    {"url", "https://example.com/a//", "url", "https://example.com/a"},
    {"url", "WWW.www.example.com/a", "url", "https://example.com/a"},
    {"phone", "+4400840009852", "value", NULL},
    /* bank:uk */
    {"bank:uk", "20-20-15 55555555", "bank:uk", "202015-55555555"},
    {"bank:uk", "202015 55555555", "bank:uk", "202015-55555555"},
    {"bank:uk", "20 20 15, 55555555", "bank:uk", "202015-55555555"},
    {"bank:uk", "20201555555555", "bank:uk", "202015-55555555"},
    {"bank:uk", "GB33BUKB20201555555555", "bank:uk", "202015-55555555"},
    {"bank:uk", "GB33 BUKB 2020 1555 5555 55", "bank:uk", "202015-55555555"},
    {"bank:uk", "gb33bukb20201555555555", "bank:uk", "202015-55555555"},
    {"bank:iban", "GB33 BUKB 2020 1555 5555 55", "bank:uk", "202015-55555555"},
    {"bank:uk", "GB34BUKB20201555555555", "value", NULL},
    {"bank:uk", "20-20-15 5555555", "value", NULL},
    {"bank:uk", "20-20-15 555555555", "value", NULL},
    {"bank:uk", "20-20-15 5555555X", "value", NULL},
    {"bank:uk", "DE89370400440532013000", "value", NULL},
    /* bank:iban */
    {"bank:iban", "DE89370400440532013000", "bank:iban", "DE89370400440532013000"},
    {"bank:iban", "de89 3704 0044 0532 0130 00", "bank:iban", "DE89370400440532013000"},
    {"bank:iban", "FR1420041010050500013M02606", "bank:iban", "FR1420041010050500013M02606"},
    {"bank:iban", "DE88370400440532013000", "value", NULL},
    {"bank:iban", "DE89", "value", NULL},
    {"bank:iban", "DE89-3704-0044-0532-0130-0!", "value", NULL},
    {"bank:iban", "1234567890123456", "value", NULL},
    /* payment */
    {"payment:cashapp", "$CashTag", "payment:cashapp", "cashtag"},
    {"payment:cashapp", "https://cash.app/$QuickCash77", "payment:cashapp", "quickcash77"},
    {"payment:venmo", "@Venmo-User", "payment:venmo", "venmo-user"},
    {"payment:venmo", "https://venmo.com/u/Venmo-User", "payment:venmo", "venmo-user"},
    {"payment:revolut", "@RevTag", "payment:revolut", "revtag"},
    {"payment:revolut", "revolut.me/RevTag", "payment:revolut", "revtag"},
    {"payment:paypal", "https://paypal.me/SomeOne", "payment:paypal", "someone"},
    {"payment:paypal", "https://www.paypal.me/SomeOne/25", "value", NULL},
    {"payment:paypal", "www.paypal.com/paypalme/SomeOne", "payment:paypal", "someone"},
    {"payment", "https://paypal.me/SomeOne", "payment:paypal", "someone"},
    {"payment:cashapp", "https://paypal.me/SomeOne", "payment:paypal", "someone"},
    {"payment", "$CashTag", "kind", NULL},
    {"payment:bitpay", "$CashTag", "kind", NULL},
    {"payment:cashapp", "$", "value", NULL},
    {"payment:cashapp", "$cash tag", "value", NULL},
    {"payment:paypal", "https://example.com/pay", "value", NULL},
    /* crypto */
    {"crypto:btc", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "crypto:btc",
     "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
    {"crypto:btc", "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ", "crypto:btc",
     "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
    {"crypto:btc", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "crypto:btc",
     "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"},
    {"crypto:btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "crypto:btc",
     "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"},
    {"crypto:btc", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "crypto:btc",
     "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"},
    {"crypto:btc", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr", "value", NULL},
    {"crypto:btc", "bc1QAR0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "value", NULL},
    {"crypto:btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7Divf0a", "value", NULL},
    {"crypto:btc", "2A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "value", NULL},
    {"crypto:eth", "0x52908400098527886E0F7030069857D2E4169EE7", "crypto:eth",
     "0x52908400098527886e0f7030069857d2e4169ee7"},
    {"crypto:eth", "0X52908400098527886E0F7030069857D2E4169EE7", "crypto:eth",
     "0x52908400098527886e0f7030069857d2e4169ee7"},
    {"crypto:eth", "0x52908400098527886E0F7030069857D2E4169EE", "value", NULL},
    {"crypto:eth", "0x52908400098527886E0F7030069857D2E4169EG7", "value", NULL},
    {"crypto:eth", "52908400098527886E0F7030069857D2E4169EE7", "value", NULL},
    /* url */
    {"url", "HTTPS://WWW.Example.com/pay/?x=1#top", "url", "https://example.com/pay"},
    {"url", "https://pay-example.net/checkout/", "url", "https://pay-example.net/checkout"},
    {"url", "http://Example.com", "url", "http://example.com"},
    {"url", "example.com/Pay/Here", "url", "https://example.com/Pay/Here"},
    {"url", "https://example.com/", "url", "https://example.com"},
    {"url", "ftp://example.com/file", "value", NULL},
    {"url", "https://exa mple.com/", "value", NULL},
    {"url", "https://localhost/pay", "value", NULL},
    {"url", "not a link", "value", NULL},
    /* kinds */
    {"bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "kind", NULL},
    {"", "x", "kind", NULL},
};

static void test_table(void **state)
{
    (void)state;
    size_t n = sizeof s_cases / sizeof s_cases[0];
    assert_true(n >= 80);
    for (size_t i = 0; i < n; i++) {
        const s_case_t *c = &s_cases[i];
        char kind[TSR_KIND_MAX], out[TSR_CANON_MAX];
        tsr_error_t err;
        tsr_error_clear(&err);
        int rc = tsr_canon(c->kind, c->input, NULL, kind, sizeof kind, out, sizeof out, &err);
        if (c->want) {
            if (rc != 0)
                fail_msg("case %zu (%s '%s'): refused: %s: %s", i, c->kind, c->input, err.field,
                         err.reason);
            if (strcmp(kind, c->want_kind) || strcmp(out, c->want))
                fail_msg("case %zu (%s '%s'): got %s '%s', want %s '%s'", i, c->kind, c->input, kind,
                         out, c->want_kind, c->want);
        } else {
            if (rc != TSR_EINVAL)
                fail_msg("case %zu (%s '%s'): accepted as %s '%s', want refused", i, c->kind,
                         c->input, kind, out);
            if (strcmp(err.field, c->want_kind) || !err.reason[0])
                fail_msg("case %zu (%s '%s'): refused on '%s' (%s), want field '%s'", i, c->kind,
                         c->input, err.field, err.reason, c->want_kind);
        }
    }
}

static void test_reasons_say_why(void **state)
{
    (void)state;
    char kind[TSR_KIND_MAX], out[TSR_CANON_MAX];
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_canon("bank:iban", "DE88370400440532013000", NULL, kind, sizeof kind, out,
                               sizeof out, &err), TSR_EINVAL);
    assert_string_equal(err.reason, "IBAN checksum (mod 97) fails: check for a typo");
    assert_int_equal(tsr_canon("phone", "0123", NULL, kind, sizeof kind, out, sizeof out, &err),
                     TSR_EINVAL);
    assert_string_equal(err.reason, "too short for a phone number (5 digits)");
    assert_int_equal(tsr_canon("handle:myspace", "x", NULL, kind, sizeof kind, out, sizeof out, &err),
                     TSR_EINVAL);
    assert_non_null(strstr(err.reason, "'myspace' is not one of: instagram, snapchat"));
}

static void test_country_code_option(void **state)
{
    (void)state;
    char kind[TSR_KIND_MAX], out[TSR_CANON_MAX];
    tsr_canon_opts_t fr = {.default_country_code = "33"};
    assert_int_equal(tsr_canon("phone", "06 12 34 56 78", &fr, kind, sizeof kind, out, sizeof out,
                               NULL), 0);
    assert_string_equal(out, "+33612345678");
    assert_int_equal(tsr_canon("phone", "+44 7700 900123", &fr, kind, sizeof kind, out, sizeof out,
                               NULL), 0);
    assert_string_equal(out, "+447700900123");
    tsr_canon_opts_t bad = {.default_country_code = "4a"};
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_canon("phone", "07700 900123", &bad, kind, sizeof kind, out, sizeof out,
                               &err), TSR_EINVAL);
}

static void test_small_buffers(void **state)
{
    (void)state;
    char kind[TSR_KIND_MAX], out[8];
    assert_int_equal(tsr_canon("phone", "07700 900123", NULL, kind, sizeof kind, out, sizeof out,
                               NULL), TSR_ERANGE);
    char tiny[4];
    assert_int_equal(tsr_canon("phone", "07700 900123", NULL, tiny, sizeof tiny, out, sizeof out,
                               NULL), TSR_ERANGE);
    char longv[TSR_CANON_MAX + 10];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    tsr_error_t err;
    tsr_error_clear(&err);
    char big[TSR_CANON_MAX];
    assert_int_equal(tsr_canon("handle:instagram", longv, NULL, kind, sizeof kind, big, sizeof big,
                               &err), TSR_EINVAL);
}

static void test_kind_valid(void **state)
{
    (void)state;
    assert_true(tsr_canon_kind_valid("handle:instagram"));
    assert_true(tsr_canon_kind_valid("payment:other"));
    assert_true(tsr_canon_kind_valid("bank:uk"));
    assert_true(tsr_canon_kind_valid("url"));
    assert_false(tsr_canon_kind_valid("handle"));
    assert_false(tsr_canon_kind_valid("handle:myspace"));
    assert_false(tsr_canon_kind_valid("payment"));
    assert_false(tsr_canon_kind_valid(""));
    assert_false(tsr_canon_kind_valid(NULL));
}

/* The fold by utf8proc_map itself, as canon.c did before its ASCII fast
 * path and stack buffer: 0 and the folded text, 1 white space or an
 * invisible character, 2 too long, 3 not UTF-8. */
static int s_reference_fold(const char *in, char *out, size_t cap)
{
    utf8proc_uint8_t *m = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)in, 0, &m,
                                      UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                          UTF8PROC_COMPAT | UTF8PROC_CASEFOLD);
    if (n < 0)
        return 3;
    int rc = 0;
    utf8proc_int32_t cp;
    for (utf8proc_ssize_t i = 0; i < n;) {
        utf8proc_ssize_t k = utf8proc_iterate(m + i, n - i, &cp);
        utf8proc_category_t c = utf8proc_category(cp);
        if (c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF ||
            c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP) {
            rc = 1;
            break;
        }
        i += k > 0 ? k : 1;
    }
    if (rc == 0 && (size_t)n >= TSR_CANON_MAX)
        rc = 2;
    if (rc == 0)
        snprintf(out, cap, "%s", (char *)m);
    free(m);
    return rc;
}

/* canon.c folds plain ASCII without utf8proc, and the rest through a
 * buffer on the stack (the heap only for the rarest expansions): both must
 * give exactly what utf8proc_map gives. Every ASCII character inside a
 * handle ('/' and '@' excepted: handles have rules of their own for them),
 * all of printable ASCII at once, and values that decompose into more code
 * points than the stack buffer holds. */
static void test_fold_matches_utf8proc(void **state)
{
    (void)state;
    char in[TSR_CANON_MAX + 64], want[TSR_CANON_MAX], kind[TSR_KIND_MAX], out[TSR_CANON_MAX];
    tsr_error_t err;
    for (int c = 1; c < 128; c++) {
        if (c == '/' || c == '@')
            continue;
        snprintf(in, sizeof in, "Ab%cZ9", c);
        int ref = s_reference_fold(in, want, sizeof want);
        tsr_error_clear(&err);
        int rc = tsr_canon("handle:discord", in, NULL, kind, sizeof kind, out, sizeof out, &err);
        if (ref == 0) {
            if (rc != 0)
                fail_msg("character 0x%02x: refused (%s), utf8proc gives '%s'", c, err.reason, want);
            assert_string_equal(out, want);
        } else {
            assert_int_equal(ref, 1);
            if (rc != TSR_EINVAL ||
                strcmp(err.reason, "contains white space or an invisible character") != 0)
                fail_msg("character 0x%02x: rc %d (%s), want refused as white space", c, rc,
                         err.reason);
        }
    }
    size_t n = 0;
    for (int c = 0x21; c < 0x7f; c++)
        if (c != '/' && c != '@')
            in[n++] = (char)c;
    in[n] = '\0';
    assert_int_equal(s_reference_fold(in, want, sizeof want), 0);
    assert_int_equal(tsr_canon("handle:discord", in, NULL, kind, sizeof kind, out, sizeof out, NULL),
                     0);
    assert_string_equal(out, want);
    /* U+3315 (3 bytes) decomposes into 6 code points and U+FDFA into 18: 170
     * of either is more than the stack buffer's 1,024 code points */
    static const char *const wide[] = {"\xe3\x8c\x95", "\xef\xb7\xba", "\xef\xbc\xa1"};
    for (size_t w = 0; w < sizeof wide / sizeof wide[0]; w++) {
        for (size_t count = 1; count <= 170; count += 169) {
            in[0] = '\0';
            for (size_t i = 0; i < count; i++)
                strcat(in, wide[w]);
            int ref = s_reference_fold(in, want, sizeof want);
            tsr_error_clear(&err);
            int rc = tsr_canon("handle:discord", in, NULL, kind, sizeof kind, out, sizeof out, &err);
            if (ref == 0) {
                if (rc != 0)
                    fail_msg("%zu x U+%zu: refused (%s)", count, w, err.reason);
                assert_string_equal(out, want);
            } else {
                assert_int_equal(rc, TSR_EINVAL);
                assert_string_equal(err.reason,
                                    ref == 1   ? "contains white space or an invisible character"
                                    : ref == 2 ? "is longer than 511 bytes"
                                               : "is not valid UTF-8 text");
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_reasons_say_why),
        cmocka_unit_test(test_country_code_option),
        cmocka_unit_test(test_small_buffers),
        cmocka_unit_test(test_kind_valid),
        cmocka_unit_test(test_fold_matches_utf8proc),
    };
    return cmocka_run_group_tests_name("canon", tests, NULL, NULL);
}
