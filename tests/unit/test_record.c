/* test_record.c - raw incident -> minimised record: days, bands, defaults,
 * errors as FILE:LINE: FIELD: reason, JSON Lines and CSV agreeing on the
 * examples, tokens, the JSON of what travels, and that nothing raw reaches
 * it (DESIGN.md section 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tessera/canon.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/record.h"
#include "tessera/token.h"

#define MAXREC 32
#define AREA "\"area_code\":\"E08000035\""

static tsr_netkey_t s_key, s_key2;
static char s_src[512]; /* repository root */
static char s_tmpdir[256];
static char s_files[32][320]; /* written by s_write, removed at teardown */
static int s_nfiles;

static void s_ctx(tsr_record_ctx_t *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->agency_id = "test-agency";
    ctx->agency_type = tsr_codes_value(TSR_CODES_AGENCY_TYPE, "school");
    ctx->keys[0] = &s_key;
    ctx->n_keys = 1;
    assert_int_equal(tsr_day_parse("2026-11-24", &ctx->today), 0);
}

static int s_setup(void **state)
{
    (void)state;
    uint8_t k[TSR_NETKEY_LEN], k2[TSR_NETKEY_LEN];
    for (int i = 0; i < TSR_NETKEY_LEN; i++) {
        k[i] = (uint8_t)i; /* the test-vector key 000102...1f */
        k2[i] = (uint8_t)(255 - i);
    }
    if (tsr_netkey_from_bytes(&s_key, k) != 0 || tsr_netkey_from_bytes(&s_key2, k2) != 0)
        return -1;
    /* ctest sets TSR_SOURCE_DIR; run by hand, find the tree from this file. */
    const char *src = getenv("TSR_SOURCE_DIR");
    if (src && *src) {
        snprintf(s_src, sizeof s_src, "%s", src);
    } else {
        snprintf(s_src, sizeof s_src, "%s", __FILE__);
        char *cut = strstr(s_src, "/tests/unit/test_record.c");
        if (!cut)
            return -1;
        *cut = '\0';
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(s_tmpdir, sizeof s_tmpdir, "%s/tsr-record-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(s_tmpdir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < s_nfiles; i++)
        unlink(s_files[i]);
    return rmdir(s_tmpdir);
}

/* Writes text to a new file in the temp dir; returns its path. */
static const char *s_write(const char *name, const char *text)
{
    assert_true(s_nfiles < 32);
    char *path = s_files[s_nfiles++];
    snprintf(path, sizeof s_files[0], "%s/%s", s_tmpdir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    return path;
}

static const char *s_example(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/schemas/examples/%s", s_src, name);
    return buf;
}

/* Minimises one record given as JSON text. */
static int s_one(const char *text, const tsr_record_ctx_t *ctx, tsr_incident_t *out,
                 tsr_error_t *err)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j)
        fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
    char ref[TSR_CASE_REF_MAX];
    tsr_error_clear(err);
    int rc = tsr_record_minimise(out, ref, j, ctx, err);
    json_decref(j);
    return rc;
}

/* Record text with the two required fields and area, plus `extra`. */
static const char *s_rec(char *buf, size_t cap, const char *extra)
{
    snprintf(buf, cap, "{\"case_ref\":\"C-1\",\"reported_date\":\"2026-10-07\"," AREA "%s%s}",
             extra[0] ? "," : "", extra);
    return buf;
}

static const char *s_name(tsr_codes_list_t list, int v)
{
    const char *n = tsr_codes_name(list, v);
    return n ? n : "(none)";
}

static uint32_t s_bit(tsr_codes_list_t list, const char *name)
{
    int v = tsr_codes_value(list, name);
    assert_true(v > 0);
    return UINT32_C(1) << v;
}

static int32_t s_day(const char *iso)
{
    int32_t d;
    assert_int_equal(tsr_day_parse(iso, &d), 0);
    return d;
}

typedef struct {
    tsr_incident_t inc[MAXREC];
    char refs[MAXREC][TSR_CASE_REF_MAX];
    long lines[MAXREC];
    int n, invalid;
    char errors[8][600]; /* the first invalid records, formatted */
    long error_lines[8];
} s_file_t;

/* Reads a whole file through the reader. */
static void s_read(const char *path, const tsr_record_ctx_t *ctx, s_file_t *f)
{
    memset(f, 0, sizeof *f);
    tsr_reader_t *r = NULL;
    tsr_error_t err;
    char msg[600];
    tsr_error_clear(&err);
    if (tsr_reader_open(&r, path, &err) != 0)
        fail_msg("open %s: %s", path, tsr_error_format(&err, msg, sizeof msg));
    int rc;
    tsr_incident_t *inc = malloc(sizeof *inc);
    char ref[TSR_CASE_REF_MAX];
    assert_non_null(inc);
    while ((rc = tsr_reader_next(r, ctx, inc, ref, &err)) != 0) {
        if (rc < 0) {
            assert_int_equal(rc, TSR_EINVAL);
            if (f->invalid < 8) {
                tsr_error_format(&err, f->errors[f->invalid], sizeof f->errors[0]);
                f->error_lines[f->invalid] = tsr_reader_line(r);
            }
            f->invalid++;
            tsr_error_clear(&err);
            continue;
        }
        assert_int_equal(rc, 1);
        assert_true(f->n < MAXREC);
        memcpy(&f->inc[f->n], inc, sizeof *inc); /* padding too: compared whole */
        memcpy(f->refs[f->n], ref, sizeof ref);
        f->lines[f->n] = tsr_reader_line(r);
        f->n++;
    }
    /* at the end it stays at the end */
    assert_int_equal(tsr_reader_next(r, ctx, inc, ref, &err), 0);
    free(inc);
    tsr_reader_destroy(&r);
    assert_null(r);
}

/* Field-by-field equality of two records (names the field that differs). */
static void s_assert_same(const tsr_incident_t *a, const tsr_incident_t *b, int i)
{
#define SAME(f)                                                                                    \
    do {                                                                                           \
        if (a->f != b->f)                                                                          \
            fail_msg("record %d: " #f " differs: %lld vs %lld", i, (long long)a->f,                \
                     (long long)b->f);                                                             \
    } while (0)
    assert_memory_equal(a->record_id, b->record_id, TSR_RECORD_ID_LEN);
    SAME(version);
    SAME(agency_type);
    assert_string_equal(a->area_code, b->area_code);
    SAME(reported_day);
    SAME(first_contact_day);
    SAME(date_precision);
    SAME(age_band);
    SAME(gender);
    SAME(contact_platforms);
    SAME(moved_to_platforms);
    SAME(demands);
    SAME(amount_demanded_band);
    SAME(amount_paid_band);
    SAME(paid);
    SAME(payment_methods);
    SAME(tactics);
    SAME(risks);
    SAME(actions);
    SAME(n_tokens);
    for (size_t t = 0; t < a->n_tokens; t++) {
        assert_string_equal(a->tokens[t].kind, b->tokens[t].kind);
        assert_int_equal(a->tokens[t].key_id, b->tokens[t].key_id);
        assert_memory_equal(a->tokens[t].token, b->tokens[t].token, TSR_TOKEN_LEN);
    }
#undef SAME
}

/* Number of tokens two records share. */
static int s_shared(const tsr_incident_t *a, const tsr_incident_t *b)
{
    int n = 0;
    for (size_t i = 0; i < a->n_tokens; i++)
        for (size_t j = 0; j < b->n_tokens; j++)
            n += strcmp(a->tokens[i].kind, b->tokens[j].kind) == 0 &&
                 memcmp(a->tokens[i].token, b->tokens[j].token, TSR_TOKEN_LEN) == 0;
    return n;
}

/* --- days ------------------------------------------------------------------ */

static void test_day_parse_and_format(void **state)
{
    (void)state;
    int32_t d = 12345;
    char buf[11];
    assert_int_equal(tsr_day_parse("1970-01-01", &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(tsr_day_parse("2000-01-01", &d), 0);
    assert_int_equal(d, 10957);
    assert_int_equal(d, TSR_RECORD_EARLIEST_DAY);
    assert_int_equal(tsr_day_parse("2026-11-24", &d), 0);
    assert_int_equal(d, 20781);
    assert_int_equal(tsr_day_parse("1969-12-31", &d), 0);
    assert_int_equal(d, -1);
    assert_string_equal(tsr_day_format(buf, -1), "1969-12-31");
    /* leap days: every 4 years, not centuries, but every 400 */
    assert_int_equal(tsr_day_parse("2024-02-29", &d), 0);
    assert_int_equal(d, 19782);
    assert_string_equal(tsr_day_format(buf, d), "2024-02-29");
    assert_string_equal(tsr_day_format(buf, d + 1), "2024-03-01");
    assert_int_equal(tsr_day_parse("2000-02-29", &d), 0);
    assert_int_equal(tsr_day_parse("2023-02-28", &d), 0);
    assert_string_equal(tsr_day_format(buf, d + 1), "2023-03-01");

    d = 777;
    static const char *const bad[] = {
        "2023-02-29",  "1900-02-29",       "2024-13-01", "2024-00-10", "2024-04-31", "2024-01-00",
        "2024-01-32",  "2024-1-01",        "2024-01-1",  "24-01-01",   "2024/01/01", "2024-01-01 ",
        " 2024-01-01", "2024-01-01T00:00", "2024-0a-01", "+024-01-01", "",           "today",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tsr_day_parse(bad[i], &d) != TSR_EINVAL)
            fail_msg("'%s' was accepted as a date", bad[i]);
    assert_int_equal(tsr_day_parse(NULL, &d), TSR_EINVAL);
    assert_int_equal(d, 777); /* untouched on failure */

    /* every day from 1900 to 2100 survives format -> parse */
    int32_t from = s_day("1900-01-01"), to = s_day("2100-12-31");
    assert_int_equal(to - from + 1, 73414); /* 201 years, 49 leap days */
    for (int32_t x = from; x <= to; x++) {
        assert_int_equal(tsr_day_parse(tsr_day_format(buf, x), &d), 0);
        assert_int_equal(d, x);
    }
    assert_string_equal(tsr_day_format(buf, INT32_MAX), "0000-00-00");
    assert_string_equal(tsr_day_format(buf, INT32_MIN), "0000-00-00");
}

static void test_day_week_monday_and_today(void **state)
{
    (void)state;
    char buf[11];
    /* 1970-01-01 (day 0) was a Thursday: its Monday is 1969-12-29 */
    assert_int_equal(tsr_day_week_monday(0), -3);
    /* the week of Monday 2026-10-05 .. Sunday 2026-10-11 */
    int32_t mon = s_day("2026-10-05");
    for (int32_t d = mon; d < mon + 7; d++)
        assert_int_equal(tsr_day_week_monday(d), mon);
    assert_int_equal(tsr_day_week_monday(mon + 7), mon + 7);
    assert_int_equal(tsr_day_week_monday(mon - 1), mon - 7);
    /* across a leap day and a year end */
    assert_string_equal(tsr_day_format(buf, tsr_day_week_monday(s_day("2024-03-01"))),
                        "2024-02-26");
    assert_string_equal(tsr_day_format(buf, tsr_day_week_monday(s_day("2021-01-03"))),
                        "2020-12-28");
    assert_string_equal(tsr_day_format(buf, tsr_day_week_monday(s_day("2000-01-01"))),
                        "1999-12-27");
    /* before 1970 too */
    assert_string_equal(tsr_day_format(buf, tsr_day_week_monday(s_day("1969-07-20"))),
                        "1969-07-14");
    /* the extremes do not overflow */
    assert_true(tsr_day_week_monday(INT32_MIN + 6) <= INT32_MIN + 6);
    assert_true(tsr_day_week_monday(INT32_MAX) <= INT32_MAX);

    int32_t want = (int32_t)(time(NULL) / 86400);
    int32_t got = tsr_day_today();
    assert_true(got == want || got == want + 1); /* midnight between the two calls */
}

/* Months back on the integers: the day of the month kept, or the shorter
 * month's last day. */
static void test_day_months_back(void **state)
{
    (void)state;
    char buf[11];
    static const struct {
        const char *from;
        int months;
        const char *want;
    } cases[] = {
        {"2024-03-31", 1, "2024-02-29"},   {"2023-03-31", 1, "2023-02-28"},
        {"2024-03-01", 1, "2024-02-01"},   {"2024-01-15", 1, "2023-12-15"},
        {"2024-01-31", 13, "2022-12-31"},  {"2024-05-31", 24, "2022-05-31"},
        {"2024-07-31", 5, "2024-02-29"},   {"2000-02-29", 12, "1999-02-28"},
        {"1970-01-10", 1, "1969-12-10"},   {"2024-06-30", 0, "2024-06-30"},
        {"2024-03-31", 121, "2014-02-28"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(
            tsr_day_format(buf, tsr_day_months_back(s_day(cases[i].from), cases[i].months)),
            cases[i].want);
}

/* --- bands ----------------------------------------------------------------- */

static void test_age_bands(void **state)
{
    (void)state;
    static const struct {
        int age;
        const char *band;
    } cases[] = {{0, "under_11"}, {10, "under_11"}, {11, "11_12"},   {12, "11_12"},
                 {13, "13_15"},   {15, "13_15"},    {16, "16_17"},   {17, "16_17"},
                 {18, "18_24"},   {24, "18_24"},    {25, "25_plus"}, {120, "25_plus"}};
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    tsr_incident_t inc;
    tsr_error_t err;
    char text[512], extra[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_equal(s_name(TSR_CODES_AGE_BAND, tsr_record_age_band(cases[i].age)),
                            cases[i].band);
        snprintf(extra, sizeof extra, "\"age\":%d", cases[i].age);
        assert_int_equal(s_one(s_rec(text, sizeof text, extra), &ctx, &inc, &err), 0);
        assert_string_equal(s_name(TSR_CODES_AGE_BAND, inc.age_band), cases[i].band);
    }
    assert_int_equal(tsr_record_age_band(-1), TSR_EINVAL);
    assert_int_equal(tsr_record_age_band(121), TSR_EINVAL);

    assert_int_equal(s_one(s_rec(text, sizeof text, "\"age\":121"), &ctx, &inc, &err), TSR_EINVAL);
    assert_string_equal(err.field, "age");
    assert_string_equal(err.reason, "121 is outside 0..120");
    assert_int_equal(s_one(s_rec(text, sizeof text, "\"age\":14.5"), &ctx, &inc, &err), TSR_EINVAL);
    assert_string_equal(err.field, "age");
    assert_string_equal(err.reason, "must be a whole number of years, not a number");
    assert_int_equal(s_one(s_rec(text, sizeof text, "\"age\":\"14\""), &ctx, &inc, &err),
                     TSR_EINVAL);
    assert_string_equal(err.field, "age");
    assert_int_equal(
        s_one(s_rec(text, sizeof text, "\"age\":14,\"age_band\":\"13_15\""), &ctx, &inc, &err),
        TSR_EINVAL);
    assert_string_equal(err.field, "age_band");
    assert_string_equal(err.reason, "give age or age_band, not both");
    /* age_band alone, by name */
    assert_int_equal(s_one(s_rec(text, sizeof text, "\"age_band\":\"18_24\""), &ctx, &inc, &err),
                     0);
    assert_string_equal(s_name(TSR_CODES_AGE_BAND, inc.age_band), "18_24");
}

static void test_amount_bands(void **state)
{
    (void)state;
    static const struct {
        const char *amount;
        const char *band;
    } cases[] = {{"0", "none"},           {"0.5", "1_49"},          {"1", "1_49"},
                 {"49.99", "1_49"},       {"50", "50_99"},          {"99.99", "50_99"},
                 {"100", "100_249"},      {"249.99", "100_249"},    {"250", "250_499"},
                 {"499.99", "250_499"},   {"500", "500_999"},       {"999.99", "500_999"},
                 {"1000", "1000_2499"},   {"2499.99", "1000_2499"}, {"2500", "2500_plus"},
                 {"1000000", "2500_plus"}};
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    tsr_incident_t inc;
    tsr_error_t err;
    char text[512], extra[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_equal(
            s_name(TSR_CODES_AMOUNT_BAND, tsr_record_amount_band(strtod(cases[i].amount, NULL))),
            cases[i].band);
        snprintf(extra, sizeof extra, "\"amount_demanded_gbp\":%s,\"amount_paid_gbp\":%s",
                 cases[i].amount, cases[i].amount);
        assert_int_equal(s_one(s_rec(text, sizeof text, extra), &ctx, &inc, &err), 0);
        assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, inc.amount_demanded_band), cases[i].band);
        assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, inc.amount_paid_band), cases[i].band);
    }
    assert_int_equal(tsr_record_amount_band(-0.01), TSR_EINVAL);
    assert_int_equal(tsr_record_amount_band(NAN), TSR_EINVAL);
    assert_int_equal(tsr_record_amount_band(INFINITY), TSR_EINVAL);

    /* absent -> unknown */
    assert_int_equal(s_one(s_rec(text, sizeof text, ""), &ctx, &inc, &err), 0);
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, inc.amount_demanded_band), "unknown");
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, inc.amount_paid_band), "unknown");
    assert_int_equal(s_one(s_rec(text, sizeof text, "\"amount_paid_gbp\":-1"), &ctx, &inc, &err),
                     TSR_EINVAL);
    assert_string_equal(err.field, "amount_paid_gbp");
    assert_string_equal(err.reason, "must be 0 or more, not -1");
    assert_int_equal(
        s_one(s_rec(text, sizeof text, "\"amount_demanded_gbp\":\"£50\""), &ctx, &inc, &err),
        TSR_EINVAL);
    assert_string_equal(err.field, "amount_demanded_gbp");
}

static void test_paid(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    tsr_incident_t inc;
    tsr_error_t err;
    char text[512];
    static const struct {
        const char *extra, *paid;
    } cases[] = {
        {"", "unknown"},
        {"\"amount_paid_gbp\":0", "unknown"},
        {"\"amount_paid_gbp\":0.5", "yes"}, /* something paid: yes */
        {"\"amount_paid_gbp\":20,\"paid\":\"unknown\"", "unknown"},
        {"\"amount_paid_gbp\":0,\"paid\":\"no\"", "no"},
        {"\"paid\":\"yes\"", "yes"},
        {"\"amount_demanded_gbp\":300", "unknown"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(s_one(s_rec(text, sizeof text, cases[i].extra), &ctx, &inc, &err), 0);
        assert_string_equal(s_name(TSR_CODES_PAID, inc.paid), cases[i].paid);
    }
    assert_int_equal(s_one(s_rec(text, sizeof text, "\"amount_paid_gbp\":120,\"paid\":\"no\""),
                           &ctx, &inc, &err),
                     TSR_EINVAL);
    assert_string_equal(err.field, "paid");
    assert_string_equal(err.reason, "is 'no' but amount_paid_gbp is 120");
}

/* --- fields and errors ----------------------------------------------------- */

static void test_field_errors(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    tsr_incident_t inc;
    tsr_error_t err;
    static const struct {
        const char *text, *field, *reason; /* reason: exact, or a prefix ending in '*' */
    } cases[] = {
        {"{\"reported_date\":\"2026-10-01\"," AREA "}", "case_ref", "is required"},
        {"{\"case_ref\":\"  \",\"reported_date\":\"2026-10-01\"," AREA "}", "case_ref",
         "is required (it is empty)"},
        {"{\"case_ref\":7,\"reported_date\":\"2026-10-01\"," AREA "}", "case_ref",
         "must be a string, not an integer"},
        {"{\"case_ref\":\"a\"," AREA "}", "reported_date", "is required"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-13-01\"," AREA "}", "reported_date",
         "'2026-13-01' is not a real date written YYYY-MM-DD"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"1999-12-31\"," AREA "}", "reported_date",
         "1999-12-31 is outside 2000-01-01 to 2026-11-25 (tomorrow)"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-11-26\"," AREA "}", "reported_date",
         "2026-11-26 is outside 2000-01-01 to 2026-11-25 (tomorrow)"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\",\"first_contact_date\":\"2026-10-"
         "02\"," AREA "}",
         "first_contact_date", "2026-10-02 is after reported_date 2026-10-01"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\",\"first_contact_date\":\"1999-01-"
         "01\"," AREA "}",
         "first_contact_date", "1999-01-01 is outside 2000-01-01 to 2026-11-25 (tomorrow)"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"}", "area_code",
         "is required: the record has none and no default area is configured"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\",\"area_code\":\"E99999999\"}",
         "area_code", "'E99999999' is not a current upper-tier local-authority code*"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA
         ",\"contact_platforms\":[\"myspace\"]}",
         "contact_platforms",
         "'myspace' is not one of: instagram, snapchat, tiktok, facebook, x, discord, telegram, "
         "whatsapp, kik, wizz, roblox, xbox, playstation, steam, omegle, other"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA
         ",\"contact_platforms\":\"instagram\"}",
         "contact_platforms", "must be an array of names, not a string"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA
         ",\"moved_to_platforms\":[\"snapchat\",3]}",
         "moved_to_platforms", "item 1 must be a name (a string), not an integer"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA ",\"gender\":\"boy\"}",
         "gender", "'boy' is not one of: boy_man, girl_woman, other, unknown"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA ",\"demands\":[\"Money\"]}",
         "demands",
         "'Money' is not one of: money, gift_card, more_images, live_sexual_activity, "
         "contacts_of_friends, other"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA ",\"risks\":[\"x\"]}",
         "risks", "'x' is not one of: self_harm_or_suicidal_ideation, *"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA ",\"actions\":[\"x\"]}",
         "actions", "'x' is not one of: dsl_escalation, *"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA
         ",\"payment_methods\":[\"cash\"]}",
         "payment_methods", "'cash' is not one of: bank_transfer, *"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA
         ",\"contact_platfroms\":[\"instagram\"]}",
         "contact_platfroms", "unknown field (if it is local information, prefix it with local_)"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA ",\"pupil_name\":\"X\"}",
         "pupil_name", "unknown field (if it is local information, prefix it with local_)"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA ",\"id:phone\":\"X\"}",
         "id:phone", "id:<kind> columns are for CSV; *"},
        {"{\"case_ref\":\"a\",\"version\":0,\"reported_date\":\"2026-10-01\"," AREA "}", "version",
         "must be a whole number from 1 to 4294967295, not 0"},
        {"{\"case_ref\":\"a\",\"version\":\"2\",\"reported_date\":\"2026-10-01\"," AREA "}",
         "version", "must be a whole number, not a string"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA
         ",\"identifiers\":{\"kind\":\"phone\"}}",
         "identifiers",
         "must be an array of {\"kind\": ..., \"value\": ...} objects, not an object"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA ",\"identifiers\":[\"x\"]}",
         "identifiers[0]", "must be an object {\"kind\": ..., \"value\": ...}, not a string"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA
         ",\"identifiers\":[{\"kind\":\"phone\"}]}",
         "identifiers[0].value", "is required"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA
         ",\"identifiers\":[{\"value\":\"x\"}]}",
         "identifiers[0].kind", "is required"},
        {"{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA
         ",\"identifiers\":[{\"kind\":\"phone\",\"value\":\"07700 900123\",\"note\":\"his\"}]}",
         "identifiers[0].note", "unknown key (an identifier has only kind and value)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (s_one(cases[i].text, &ctx, &inc, &err) != TSR_EINVAL)
            fail_msg("case %zu accepted: %s", i, cases[i].text);
        if (strcmp(err.field, cases[i].field) != 0)
            fail_msg("case %zu: field '%s', want '%s' (%s)", i, err.field, cases[i].field,
                     err.reason);
        size_t n = strlen(cases[i].reason);
        bool prefix = cases[i].reason[n - 1] == '*';
        if (prefix ? strncmp(err.reason, cases[i].reason, n - 1) != 0
                   : strcmp(err.reason, cases[i].reason) != 0)
            fail_msg("case %zu: reason '%s', want '%s'", i, err.reason, cases[i].reason);
    }
    /* Not an object at all */
    json_t *arr = json_array();
    char ref[TSR_CASE_REF_MAX];
    assert_int_equal(tsr_record_minimise(&inc, ref, arr, &ctx, &err), TSR_EINVAL);
    assert_string_equal(err.reason, "a record must be a JSON object, not an array");
    json_decref(arr);
}

/* The longest list (tactics) still names every choice within err.reason. */
static void test_long_code_list_fits(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    tsr_incident_t inc;
    tsr_error_t err;
    char text[512];
    assert_int_equal(s_one(s_rec(text, sizeof text,
                                 "\"tactics\":[\"fake_peer_persona\",\"webcam_capture_by_phone\"]"),
                           &ctx, &inc, &err),
                     TSR_EINVAL);
    assert_string_equal(err.field, "tactics");
    assert_string_equal(err.reason,
                        "'webcam_cap...' is not one of: fake_peer_persona,hacked_known_account,"
                        "mutual_friends,offender_sent_image_first,moved_to_encrypted_app,"
                        "claimed_device_hack,ai_generated_or_manipulated_image,webcam_capture,"
                        "threat_to_share_with_family_friends,repeated_demands");
}

static void test_defaults_local_fields_and_ids(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    ctx.default_area = "E08000032";
    tsr_incident_t inc;
    tsr_error_t err;
    char ref[TSR_CASE_REF_MAX];
    json_error_t jerr;
    json_t *j = json_loads("{\"case_ref\":\"  LCC-1 \",\"reported_date\":\"2026-10-01\","
                           "\"child_name\":\"X\",\"date_of_birth\":\"2012-01-01\","
                           "\"school_name\":{\"any\":\"shape\"},\"address\":\"a\","
                           "\"postcode\":\"LS1\",\"notes\":[1,2],\"case_worker\":null,"
                           "\"local_anything\":[1],\"local_\":true}",
                           0, &jerr);
    assert_non_null(j);
    tsr_error_clear(&err);
    assert_int_equal(tsr_record_minimise(&inc, ref, j, &ctx, &err), 0);
    json_decref(j);
    assert_string_equal(ref, "LCC-1"); /* trimmed */
    assert_string_equal(inc.area_code, "E08000032");
    assert_int_equal(inc.version, 1);
    assert_string_equal(s_name(TSR_CODES_AGENCY_TYPE, inc.agency_type), "school");
    assert_int_equal(inc.reported_day, s_day("2026-10-01"));
    assert_int_equal(inc.first_contact_day, 0);
    assert_int_equal(inc.date_precision, TSR_PRECISION_DAY);
    assert_string_equal(s_name(TSR_CODES_AGE_BAND, inc.age_band), "unknown");
    assert_string_equal(s_name(TSR_CODES_GENDER, inc.gender), "unknown");
    assert_string_equal(s_name(TSR_CODES_PAID, inc.paid), "unknown");
    assert_int_equal(inc.contact_platforms | inc.moved_to_platforms | inc.demands |
                         inc.payment_methods | inc.tactics | inc.risks | inc.actions,
                     0);
    assert_int_equal(inc.n_tokens, 0);
    /* record id: keyed hash of agency id and the (trimmed) case reference */
    uint8_t rid[TSR_RECORD_ID_LEN];
    assert_int_equal(tsr_record_id_compute(rid, &s_key, "test-agency", "LCC-1"), 0);
    assert_memory_equal(inc.record_id, rid, sizeof rid);
    /* a record's own area wins over the default; version is kept */
    char text[512];
    assert_int_equal(s_one(s_rec(text, sizeof text, "\"version\":3"), &ctx, &inc, &err), 0);
    assert_string_equal(inc.area_code, "E08000035");
    assert_int_equal(inc.version, 3);
    /* another agency: another record id for the same case reference */
    ctx.agency_id = "other-agency";
    tsr_incident_t other;
    assert_int_equal(s_one(s_rec(text, sizeof text, ""), &ctx, &other, &err), 0);
    assert_memory_not_equal(inc.record_id, other.record_id, TSR_RECORD_ID_LEN);
    /* ctx that cannot work */
    ctx.n_keys = 0;
    assert_int_equal(s_one(s_rec(text, sizeof text, ""), &ctx, &inc, &err), TSR_EINVAL);
    assert_string_equal(err.reason, "agent configuration: needs one or two network keys");
}

/* null and "" mean "not given", as an empty CSV cell does. */
static void test_null_and_empty_are_not_given(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    ctx.default_area = "E08000036";
    tsr_incident_t inc;
    tsr_error_t err;
    char ref[TSR_CASE_REF_MAX];
    json_error_t jerr;
    json_t *j = json_loads(
        "{\"case_ref\":\"c-9\",\"reported_date\":\"2026-10-01\",\"area_code\":\"\","
        "\"first_contact_date\":null,\"version\":null,\"age\":null,\"age_band\":\"\","
        "\"gender\":\"\",\"contact_platforms\":null,\"amount_paid_gbp\":null,\"paid\":null,"
        "\"identifiers\":null}",
        0, &jerr);
    assert_non_null(j);
    assert_int_equal(tsr_record_minimise(&inc, ref, j, &ctx, &err), 0);
    json_decref(j);
    assert_string_equal(inc.area_code, "E08000036");
    assert_int_equal(inc.version, 1);
    assert_int_equal(inc.first_contact_day, 0);
    assert_string_equal(s_name(TSR_CODES_AGE_BAND, inc.age_band), "unknown");
    assert_string_equal(s_name(TSR_CODES_GENDER, inc.gender), "unknown");
    assert_string_equal(s_name(TSR_CODES_PAID, inc.paid), "unknown");
    /* but a required field may not be null */
    assert_int_equal(
        s_one("{\"case_ref\":null,\"reported_date\":\"2026-10-01\"}", &ctx, &inc, &err),
        TSR_EINVAL);
    assert_string_equal(err.field, "case_ref");
    assert_string_equal(err.reason, "is required");
    /* an invalid record still hands back its case reference, for the DSL */
    j = json_loads("{\"case_ref\":\"LCC-77\",\"reported_date\":\"2026-10-01\",\"age\":200}", 0,
                   &jerr);
    assert_int_equal(tsr_record_minimise(&inc, ref, j, &ctx, &err), TSR_EINVAL);
    assert_string_equal(ref, "LCC-77");
    json_decref(j);
}

static void test_retired_area_names_successor(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    tsr_incident_t inc;
    tsr_error_t err;
    char msg[600];
    assert_int_equal(s_one("{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\","
                           "\"area_code\":\"E10000023\"}",
                           &ctx, &inc, &err),
                     TSR_EINVAL);
    assert_string_equal(tsr_error_format(&err, msg, sizeof msg),
                        "area_code: area code E10000023 was retired by a reorganisation; "
                        "use E06000065");
    /* two successors (Cumbria) */
    ctx.default_area = "E10000006";
    assert_int_equal(
        s_one("{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"}", &ctx, &inc, &err),
        TSR_EINVAL);
    assert_string_equal(err.field, "area_code");
    assert_string_equal(err.reason, "area code E10000006 was retired by a reorganisation; "
                                    "use E06000063, E06000064");
}

static void test_week_coarsening(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    ctx.week_coarsening = true;
    tsr_incident_t inc;
    tsr_error_t err;
    char buf[11];
    /* Wednesday and Sunday -> their Mondays */
    assert_int_equal(s_one("{\"case_ref\":\"a\",\"reported_date\":\"2026-10-07\","
                           "\"first_contact_date\":\"2026-10-04\"," AREA "}",
                           &ctx, &inc, &err),
                     0);
    assert_string_equal(tsr_day_format(buf, inc.reported_day), "2026-10-05");
    assert_string_equal(tsr_day_format(buf, inc.first_contact_day), "2026-09-28");
    assert_int_equal(inc.date_precision, TSR_PRECISION_ISO_WEEK);
    /* first contact not known stays 0 (not the Monday of 1970) */
    assert_int_equal(
        s_one("{\"case_ref\":\"a\",\"reported_date\":\"2026-10-05\"," AREA "}", &ctx, &inc, &err),
        0);
    assert_string_equal(tsr_day_format(buf, inc.reported_day), "2026-10-05");
    assert_int_equal(inc.first_contact_day, 0);
    json_t *j = tsr_incident_to_json(&inc);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "date_precision")), "iso_week");
    assert_null(json_object_get(j, "first_contact_date"));
    json_decref(j);
    /* without coarsening */
    ctx.week_coarsening = false;
    assert_int_equal(
        s_one("{\"case_ref\":\"a\",\"reported_date\":\"2026-10-07\"," AREA "}", &ctx, &inc, &err),
        0);
    assert_string_equal(tsr_day_format(buf, inc.reported_day), "2026-10-07");
    assert_int_equal(inc.date_precision, TSR_PRECISION_DAY);
}

/* --- identifiers and tokens ---------------------------------------------- */

static void test_two_keys_two_tokens(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    ctx.keys[1] = &s_key2;
    ctx.n_keys = 2;
    assert_int_not_equal(s_key.key_id, s_key2.key_id);
    tsr_incident_t inc;
    tsr_error_t err;
    char text[1024];
    /* one handle written two ways, and a phone: two identifiers, two keys */
    assert_int_equal(s_one(s_rec(text, sizeof text,
                                 "\"identifiers\":["
                                 "{\"kind\":\"phone\",\"value\":\"07700 900123\"},"
                                 "{\"kind\":\"handle:instagram\",\"value\":\"@Jake_2009\"},"
                                 "{\"kind\":\"handle\","
                                 "\"value\":\"https://www.instagram.com/jake_2009/?hl=en\"}]"),
                           &ctx, &inc, &err),
                     0);
    assert_int_equal(inc.n_tokens, 4);
    const tsr_netkey_t *lo = s_key.key_id < s_key2.key_id ? &s_key : &s_key2;
    const tsr_netkey_t *hi = lo == &s_key ? &s_key2 : &s_key;
    /* sorted by kind, then key id */
    static const struct {
        const char *kind, *canon;
    } want[] = {{"handle:instagram", "jake_2009"}, {"phone", "+447700900123"}};
    for (int w = 0; w < 2; w++) {
        uint8_t tok[TSR_TOKEN_LEN];
        for (int k = 0; k < 2; k++) {
            const tsr_token_t *t = &inc.tokens[w * 2 + k];
            const tsr_netkey_t *key = k == 0 ? lo : hi;
            assert_string_equal(t->kind, want[w].kind);
            assert_int_equal(t->key_id, key->key_id);
            assert_int_equal(tsr_token_compute(tok, key, want[w].kind, want[w].canon), 0);
            assert_memory_equal(t->token, tok, TSR_TOKEN_LEN);
        }
        assert_memory_not_equal(inc.tokens[w * 2].token, inc.tokens[w * 2 + 1].token,
                                TSR_TOKEN_LEN);
    }
    /* the record id comes from keys[0] only */
    uint8_t rid[TSR_RECORD_ID_LEN];
    tsr_record_id_compute(rid, &s_key, "test-agency", "C-1");
    assert_memory_equal(inc.record_id, rid, sizeof rid);

    /* the order of identifiers in the input does not matter */
    tsr_incident_t again;
    assert_int_equal(s_one(s_rec(text, sizeof text,
                                 "\"identifiers\":["
                                 "{\"kind\":\"handle:instagram\",\"value\":\"jake_2009\"},"
                                 "{\"kind\":\"phone\",\"value\":\"+44 7700 900123\"}]"),
                           &ctx, &again, &err),
                     0);
    s_assert_same(&inc, &again, 0);
}

static void test_identifier_errors_and_limit(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    tsr_incident_t inc;
    tsr_error_t err;
    char text[512];
    /* the canon module's reason, under the identifier's index */
    assert_int_equal(s_one(s_rec(text, sizeof text,
                                 "\"identifiers\":[{\"kind\":\"email\",\"value\":\"a@b.example\"},"
                                 "{\"kind\":\"phone\",\"value\":\"07700 900123\"},"
                                 "{\"kind\":\"phone\",\"value\":\"123\"}]"),
                           &ctx, &inc, &err),
                     TSR_EINVAL);
    assert_string_equal(err.field, "identifiers[2].value");
    assert_true(strlen(err.reason) > 0);
    assert_int_equal(s_one(s_rec(text, sizeof text,
                                 "\"identifiers\":[{\"kind\":\"handle:myspace\",\"value\":\"a\"}]"),
                           &ctx, &inc, &err),
                     TSR_EINVAL);
    assert_string_equal(err.field, "identifiers[0].kind");

    /* TSR_MAX_TOKENS distinct identifiers fit; one more does not */
    json_error_t jerr;
    json_t *j = json_loads(s_rec(text, sizeof text, "\"identifiers\":[]"), 0, &jerr);
    json_t *ids = json_object_get(j, "identifiers");
    char phone[32];
    for (int i = 0; i < TSR_MAX_TOKENS; i++) {
        snprintf(phone, sizeof phone, "+4477009%05d", i);
        json_array_append_new(ids, json_pack("{s:s,s:s}", "kind", "phone", "value", phone));
    }
    /* a repeat collapses into the token already there */
    json_array_append_new(ids, json_pack("{s:s,s:s}", "kind", "phone", "value", "+447700900000"));
    char ref[TSR_CASE_REF_MAX];
    assert_int_equal(tsr_record_minimise(&inc, ref, j, &ctx, &err), 0);
    assert_int_equal(inc.n_tokens, TSR_MAX_TOKENS);
    for (size_t i = 1; i < inc.n_tokens; i++)
        assert_true(memcmp(inc.tokens[i - 1].token, inc.tokens[i].token, TSR_TOKEN_LEN) < 0);
    json_array_append_new(ids, json_pack("{s:s,s:s}", "kind", "phone", "value", "+447700999999"));
    assert_int_equal(tsr_record_minimise(&inc, ref, j, &ctx, &err), TSR_EINVAL);
    assert_string_equal(err.field, "identifiers");
    assert_string_equal(err.reason, "too many identifiers: a record holds at most 64 tokens "
                                    "(one per identifier and network key)");
    /* with two keys, half as many identifiers */
    ctx.keys[1] = &s_key2;
    ctx.n_keys = 2;
    while (json_array_size(ids) > TSR_MAX_TOKENS / 2)
        json_array_remove(ids, json_array_size(ids) - 1);
    assert_int_equal(tsr_record_minimise(&inc, ref, j, &ctx, &err), 0);
    assert_int_equal(inc.n_tokens, TSR_MAX_TOKENS);
    json_array_append_new(ids, json_pack("{s:s,s:s}", "kind", "phone", "value", "+447700999999"));
    assert_int_equal(tsr_record_minimise(&inc, ref, j, &ctx, &err), TSR_EINVAL);
    assert_string_equal(err.field, "identifiers");
    json_decref(j);
}

/* --- JSON of what travels ------------------------------------------------- */

static void test_incident_to_json(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    ctx.agency_type = tsr_codes_value(TSR_CODES_AGENCY_TYPE, "la_childrens_services");
    tsr_incident_t inc;
    tsr_error_t err;
    assert_int_equal(
        s_one("{\"case_ref\":\"LCC-2026-0001\",\"version\":2,\"reported_date\":\"2026-10-07\","
              "\"first_contact_date\":\"2026-10-01\"," AREA ",\"age\":14,\"gender\":\"girl_woman\","
              "\"contact_platforms\":[\"snapchat\",\"instagram\",\"snapchat\"],"
              "\"demands\":[\"money\"],\"amount_demanded_gbp\":300,\"amount_paid_gbp\":49.99,"
              "\"payment_methods\":[\"gift_card\"],\"tactics\":[\"repeated_demands\"],"
              "\"risks\":[\"images_shared\"],\"actions\":[\"ceop_report\",\"dsl_escalation\"],"
              "\"identifiers\":[{\"kind\":\"handle:instagram\",\"value\":\"@Jake_2009\"}],"
              "\"child_name\":\"Ada Example\"}",
              &ctx, &inc, &err),
        0);
    json_t *j = tsr_incident_to_json(&inc);
    assert_non_null(j);
    char rid[2 * TSR_RECORD_ID_LEN + 1], tok[2 * TSR_TOKEN_LEN + 1], want[2048];
    tsr_hex_encode(rid, inc.record_id, TSR_RECORD_ID_LEN);
    tsr_hex_encode(tok, inc.tokens[0].token, TSR_TOKEN_LEN);
    snprintf(
        want, sizeof want,
        "{\"record_id\":\"%s\",\"version\":2,\"agency_type\":\"la_childrens_services\","
        "\"area_code\":\"E08000035\",\"reported_date\":\"2026-10-07\","
        "\"first_contact_date\":\"2026-10-01\",\"date_precision\":\"day\","
        "\"age_band\":\"13_15\",\"gender\":\"girl_woman\","
        "\"contact_platforms\":[\"instagram\",\"snapchat\"],\"moved_to_platforms\":[],"
        "\"demands\":[\"money\"],\"amount_demanded_band\":\"250_499\","
        "\"amount_paid_band\":\"1_49\",\"paid\":\"yes\",\"payment_methods\":[\"gift_card\"],"
        "\"tactics\":[\"repeated_demands\"],\"risks\":[\"images_shared\"],"
        "\"actions\":[\"dsl_escalation\",\"ceop_report\"],"
        "\"offender_tokens\":[{\"kind\":\"handle:instagram\",\"key_id\":%lu,\"token\":\"%s\"}]}",
        rid, (unsigned long)s_key.key_id, tok);
    char *got = json_dumps(j, JSON_COMPACT);
    assert_string_equal(got, want);
    free(got);
    json_decref(j);

    /* a value outside its code list is refused, not printed */
    tsr_incident_t bad = inc;
    bad.age_band = 99;
    assert_null(tsr_incident_to_json(&bad));
    bad = inc;
    bad.tactics |= UINT32_C(1) << 30;
    assert_null(tsr_incident_to_json(&bad));
    bad = inc;
    bad.date_precision = 0;
    assert_null(tsr_incident_to_json(&bad));
}

/* --- the example files ---------------------------------------------------- */

static void test_examples_jsonl_equals_csv(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    static s_file_t a, b;
    char path[600];
    s_read(s_example("incidents.jsonl", path, sizeof path), &ctx, &a);
    if (a.invalid)
        fail_msg("example JSONL invalid: %s", a.errors[0]);
    s_read(s_example("incidents.csv", path, sizeof path), &ctx, &b);
    if (b.invalid)
        fail_msg("example CSV invalid: %s", b.errors[0]);
    assert_int_equal(a.n, 12);
    assert_int_equal(b.n, 12);
    /* CSV: header on line 1; record 7's notes span two lines */
    static const long csv_lines[12] = {2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14};
    for (int i = 0; i < a.n; i++) {
        assert_string_equal(a.refs[i], b.refs[i]);
        assert_int_equal(a.lines[i], i + 1);
        assert_int_equal(b.lines[i], csv_lines[i]);
        s_assert_same(&a.inc[i], &b.inc[i], i);
        /* the whole struct, padding included (minimise clears it first) */
        assert_memory_equal(&a.inc[i], &b.inc[i], sizeof a.inc[i]);
    }
}

static void test_example_values(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    static s_file_t f;
    char path[600];
    s_read(s_example("incidents.jsonl", path, sizeof path), &ctx, &f);
    assert_int_equal(f.n, 12);
    const tsr_incident_t *r = f.inc;

    /* line 1: LCC-2026-0412, Leeds */
    assert_string_equal(f.refs[0], "LCC-2026-0412");
    assert_string_equal(r[0].area_code, "E08000035");
    assert_int_equal(r[0].reported_day, s_day("2026-10-05"));
    assert_int_equal(r[0].first_contact_day, s_day("2026-10-04"));
    assert_int_equal(r[0].date_precision, TSR_PRECISION_DAY);
    assert_string_equal(s_name(TSR_CODES_AGE_BAND, r[0].age_band), "13_15"); /* 14 */
    assert_string_equal(s_name(TSR_CODES_GENDER, r[0].gender), "boy_man");
    assert_int_equal(r[0].contact_platforms, s_bit(TSR_CODES_PLATFORM, "instagram"));
    assert_int_equal(r[0].moved_to_platforms, s_bit(TSR_CODES_PLATFORM, "snapchat"));
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, r[0].amount_demanded_band), "500_999");
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, r[0].amount_paid_band), "100_249");
    assert_string_equal(s_name(TSR_CODES_PAID, r[0].paid), "yes"); /* from the amount */
    assert_int_equal(r[0].tactics,
                     s_bit(TSR_CODES_TACTIC, "fake_peer_persona") |
                         s_bit(TSR_CODES_TACTIC, "offender_sent_image_first") |
                         s_bit(TSR_CODES_TACTIC, "threat_to_share_with_family_friends"));
    assert_int_equal(r[0].n_tokens, 2);
    assert_string_equal(r[0].tokens[0].kind, "bank:uk");
    assert_string_equal(r[0].tokens[1].kind, "handle:instagram");

    /* line 4: YRK-0091, age given as a band, paid explicitly unknown */
    assert_string_equal(f.refs[3], "YRK-0091");
    assert_string_equal(s_name(TSR_CODES_AGE_BAND, r[3].age_band), "13_15");
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, r[3].amount_demanded_band), "100_249");
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, r[3].amount_paid_band), "unknown");
    assert_string_equal(s_name(TSR_CODES_PAID, r[3].paid), "unknown");
    assert_int_equal(r[3].contact_platforms, s_bit(TSR_CODES_PLATFORM, "instagram") |
                                                 s_bit(TSR_CODES_PLATFORM, "snapchat"));
    assert_int_equal(r[3].n_tokens, 1);
    assert_string_equal(r[3].tokens[0].kind, "email");
    /* line 5: 17 -> 16_17, nothing demanded in money -> none */
    assert_string_equal(s_name(TSR_CODES_AGE_BAND, r[4].age_band), "16_17");
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, r[4].amount_demanded_band), "none");
    assert_string_equal(r[4].area_code, "E06000065");
    /* line 6: version 2, 50 -> 50_99 */
    assert_int_equal(r[5].version, 2);
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, r[5].amount_paid_band), "50_99");
    /* line 9: 2500 and 2600 -> 2500_plus; crypto wallets */
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, r[8].amount_demanded_band), "2500_plus");
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, r[8].amount_paid_band), "2500_plus");
    assert_int_equal(r[8].n_tokens, 2);
    assert_string_equal(r[8].tokens[0].kind, "crypto:btc");
    assert_string_equal(r[8].tokens[1].kind, "crypto:eth");
    /* line 11: 19 -> 18_24; paid 0 -> none, paid no */
    assert_string_equal(s_name(TSR_CODES_AGE_BAND, r[10].age_band), "18_24");
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, r[10].amount_paid_band), "none");
    assert_string_equal(s_name(TSR_CODES_PAID, r[10].paid), "no");
    assert_string_equal(r[10].tokens[0].kind, "handle:x");
    /* line 12: nothing known about age or money */
    assert_string_equal(s_name(TSR_CODES_AGE_BAND, r[11].age_band), "unknown");
    assert_string_equal(s_name(TSR_CODES_GENDER, r[11].gender), "unknown");
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, r[11].amount_demanded_band), "unknown");
    assert_int_equal(r[11].n_tokens, 0);

    /* The same offender written differently at different agencies links:
     * the handle (@Jake_2009 / profile URL, lines 1 and 2), the phone
     * (07700 900123 / +44 (0)7700 900123, lines 2 and 3) and the bank
     * account (sort code + account / GB IBAN, lines 1 and 3). */
    assert_int_equal(s_shared(&r[0], &r[1]), 1);
    assert_int_equal(s_shared(&r[1], &r[2]), 1);
    assert_int_equal(s_shared(&r[0], &r[2]), 1);
    assert_string_equal(r[2].tokens[0].kind, "bank:uk"); /* a GB IBAN is a UK account */
    assert_int_equal(s_shared(&r[0], &r[11]), 0);

    /* week coarsening of the same file */
    ctx.week_coarsening = true;
    static s_file_t w;
    s_read(s_example("incidents.jsonl", path, sizeof path), &ctx, &w);
    assert_int_equal(w.n, 12);
    assert_int_equal(w.inc[0].reported_day, s_day("2026-10-05"));      /* a Monday already */
    assert_int_equal(w.inc[0].first_contact_day, s_day("2026-09-28")); /* Sunday 10-04 */
    assert_int_equal(w.inc[1].reported_day, s_day("2026-10-05"));      /* Wednesday 10-07 */
    assert_int_equal(w.inc[1].date_precision, TSR_PRECISION_ISO_WEEK);
}

/* --- the reader ------------------------------------------------------------ */

/* issue 16: a line cut short said "near end of file"; it names the
 * file's line and the column in that line */
static void test_jsonl_error_line_and_column(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    static s_file_t f;
    char want[800];
    const char *path = s_write("cut.jsonl",
                               "{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA "}\n"
                               "{\"case_ref\": \"b\"\n"
                               "{\"case_ref\":\"c\"} {}\n");
    s_read(path, &ctx, &f);
    assert_int_equal(f.n, 1);
    snprintf(want, sizeof want, "%s:2: (json): column 16: '}' expected at the end of the line",
             path);
    assert_string_equal(f.errors[0], want);
    snprintf(want, sizeof want, "%s:3: (json): column 18: one JSON object per line, but more "
             "follows near '{'", path);
    assert_string_equal(f.errors[1], want);
}

static void test_jsonl_errors_and_continues(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    static s_file_t f;
    char want[800];
    const char *bad_line = "{\"case_ref\": oops}";
    char text[1024];
    snprintf(text, sizeof text,
             "{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA "}\n"
             "\n"
             "{\"case_ref\":\"b\",\"reported_date\":\"2026-10-01\"," AREA
             ",\"contact_platforms\":[\"instagram\",\"myspace\"]}\n"
             "%s\n"
             "   \t\r\n"
             "{\"case_ref\":\"d\",\"reported_date\":\"2026-10-01\"," AREA ",\"age\":1,\"age\":2}\n"
             "[1,2]\n"
             "{\"case_ref\":\"e\",\"reported_date\":\"2026-10-01\"," AREA "}\r\n"
             "{\"case_ref\":\"f\",\"reported_date\":\"2026-10-01\"," AREA "}",
             bad_line);
    const char *path = s_write("mixed.jsonl", text);
    s_read(path, &ctx, &f);
    assert_int_equal(f.n, 3);
    assert_int_equal(f.invalid, 4);
    assert_string_equal(f.refs[0], "a");
    assert_string_equal(f.refs[1], "e");
    assert_string_equal(f.refs[2], "f"); /* last line without a newline */
    assert_int_equal(f.lines[0], 1);
    assert_int_equal(f.lines[1], 8);
    assert_int_equal(f.lines[2], 9);
    /* an unknown platform on physical line 3 (line 2 is blank) */
    snprintf(want, sizeof want,
             "%s:3: contact_platforms: 'myspace' is not one of: instagram, snapchat, tiktok, "
             "facebook, x, discord, telegram, whatsapp, kik, wizz, roblox, xbox, playstation, "
             "steam, omegle, other",
             path);
    assert_string_equal(f.errors[0], want);
    assert_int_equal(f.error_lines[0], 3);
    /* a JSON syntax error: the file's line, and the column in that line */
    (void)bad_line;
    snprintf(want, sizeof want, "%s:4: (json): column 17: invalid token near 'oops'", path);
    assert_string_equal(f.errors[1], want);
    /* a repeated key is refused, not last-one-wins */
    snprintf(want, sizeof want, "%s:6: (json): column 82: duplicate object key", path);
    assert_memory_equal(f.errors[2], want, strlen(want));
    snprintf(want, sizeof want, "%s:7: a record must be a JSON object, not an array", path);
    assert_string_equal(f.errors[3], want);

    /* a byte-order mark is skipped; an empty file has no records */
    s_read(s_write("bom.jsonl",
                   "\xEF\xBB\xBF{\"case_ref\":\"a\",\"reported_date\":\"2026-10-01\"," AREA "}\n"),
           &ctx, &f);
    assert_int_equal(f.n, 1);
    s_read(s_write("empty.jsonl", ""), &ctx, &f);
    assert_int_equal(f.n + f.invalid, 0);

    /* files that cannot be read */
    tsr_reader_t *r = (tsr_reader_t *)1;
    tsr_error_t err;
    char msg[600];
    tsr_error_clear(&err);
    assert_int_equal(tsr_reader_open(&r, "/nonexistent/x.jsonl", &err), TSR_EIO);
    assert_null(r);
    assert_string_equal(tsr_error_format(&err, msg, sizeof msg),
                        "/nonexistent/x.jsonl: cannot open: No such file or directory");
    assert_int_equal(tsr_reader_open(&r, "x.txt", &err), TSR_EINVAL);
    assert_null(r);
    assert_string_equal(err.file, "x.txt");
    tsr_reader_destroy(&r); /* NULL is fine */
}

static void test_csv_rows(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    static s_file_t f;
    char want[800];
    const char *path =
        s_write("rows.csv",
                "case_ref,reported_date,area_code,age,contact_platforms,amount_paid_gbp,id:phone,"
                "notes,local_form\n"
                "a,2026-10-01,E08000035,14, instagram ; snapchat;,12.50,07700 900123,\"x, y\",9B\n"
                "b,2026-10-01,E08000035,fourteen,,,,,\n"
                "c,2026-10-01\n"
                "d,2026-10-01,E08000035,,,,,,\n"
                "e,2026-10-01,E08000035,,,£250,,,\n"
                "f,2026-10-01,E08000035,,,1e3,,,\n"
                "g,2026-10-01,E08000035,,,\"1,000\",,,\n"
                "h,2026-10-01,E08000035,,,-5,,,\n"
                "i,2026-10-01,E08000035,,myspace,,,,\n"
                "j,2026-10-01,E08000035,,,,123,,\n"
                "k,2026-10-01,E08000035,,,,07700 900123;123,,\n"
                "l,2026-10-01,E08000035,,,,07700 900123; +44 7700 900123 ;,\"multi\n"
                "line\",\n"
                "m,2026-10-01,E08000035,1.5,,,,,\n");
    s_read(path, &ctx, &f);
    assert_int_equal(f.n, 3);
    assert_int_equal(f.invalid, 10);
    assert_string_equal(f.refs[0], "a");
    assert_int_equal(f.lines[0], 2);
    assert_int_equal(f.inc[0].contact_platforms, s_bit(TSR_CODES_PLATFORM, "instagram") |
                                                     s_bit(TSR_CODES_PLATFORM, "snapchat"));
    assert_string_equal(s_name(TSR_CODES_AGE_BAND, f.inc[0].age_band), "13_15");
    assert_string_equal(s_name(TSR_CODES_AMOUNT_BAND, f.inc[0].amount_paid_band), "1_49");
    assert_int_equal(f.inc[0].n_tokens, 1);
    assert_string_equal(f.refs[1], "d"); /* empty cells: not given */
    assert_int_equal(f.lines[1], 5);
    assert_string_equal(s_name(TSR_CODES_AGE_BAND, f.inc[1].age_band), "unknown");
    assert_string_equal(f.refs[2], "l"); /* two notations, one token */
    assert_int_equal(f.lines[2], 13);
    assert_int_equal(f.inc[2].n_tokens, 1);
    assert_memory_equal(f.inc[2].tokens[0].token, f.inc[0].tokens[0].token, TSR_TOKEN_LEN);

    static const char *const errors[8] = {
        ":3: age: 'fourteen' is not a whole number",
        ":4: has 2 cells, the header has 9",
        ":6: amount_paid_gbp: '£250' is not a plain number of pounds (e.g. 250 or 49.99; no £, "
        "commas or spaces)",
        ":7: amount_paid_gbp: '1e3' is not a plain number*",
        ":8: amount_paid_gbp: '1,000' is not a plain number*",
        ":9: amount_paid_gbp: must be 0 or more, not -5",
        ":10: contact_platforms: 'myspace' is not one of: instagram, *",
        ":11: id:phone: *", /* the column, not identifiers[0] */
    };
    for (int i = 0; i < 8; i++) {
        size_t n = strlen(errors[i]);
        bool prefix = errors[i][n - 1] == '*';
        snprintf(want, sizeof want, "%s%.*s", path, (int)(prefix ? n - 1 : n), errors[i]);
        if (prefix ? strncmp(f.errors[i], want, strlen(want)) != 0 : strcmp(f.errors[i], want) != 0)
            fail_msg("error %d: '%s', want '%s'", i, f.errors[i], want);
    }
    assert_int_equal(f.error_lines[1], 4);
    /* the second value of a cell ("07700 900123;123") names its position;
     * and a non-integer age (line 15: line 13's notes take two lines) */
    tsr_reader_t *r;
    tsr_error_t err;
    tsr_incident_t *inc = malloc(sizeof *inc);
    char ref[TSR_CASE_REF_MAX];
    assert_int_equal(tsr_reader_open(&r, path, &err), 0);
    int rc, seen = 0;
    while ((rc = tsr_reader_next(r, &ctx, inc, ref, &err)) != 0) {
        if (rc < 0 && tsr_reader_line(r) == 12) {
            assert_string_equal(err.field, "id:phone[1]");
            seen++;
        }
        if (rc < 0 && tsr_reader_line(r) == 15) {
            assert_string_equal(err.field, "age");
            assert_string_equal(err.reason, "'1.5' is not a whole number");
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    tsr_reader_destroy(&r);
    free(inc);
}

static void test_csv_header_and_syntax(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    static s_file_t f;
    tsr_reader_t *r = NULL;
    tsr_error_t err;
    char msg[800], want[800];
    static const struct {
        const char *name, *text, *error;
    } headers[] = {
        {"typo.csv", "case_ref,reported_date,contact_platfroms\na,2026-10-01,instagram\n",
         ":1: contact_platfroms: unknown field (if it is local information, prefix it with "
         "local_)"},
        {"kind.csv", "\n\ncase_ref,reported_date,id:handle:myspace\n",
         ":3: id:handle:myspace: unknown identifier kind 'handle:myspace' (kinds: *"},
        {"ids.csv", "case_ref,reported_date,identifiers\n",
         ":1: identifiers: in CSV, identifiers go in one column per kind named id:<kind>, *"},
        {"twice.csv", "case_ref,reported_date,age,age\n",
         ":1: age: column appears twice in the header"},
        {"blank.csv", "case_ref,,reported_date\n", ":1: column 2 of the header has no name"},
        {"quote.csv", "case_ref,\"reported_date\n", ":1: CSV syntax: *"},
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        const char *path = s_write(headers[i].name, headers[i].text);
        tsr_error_clear(&err);
        assert_int_equal(tsr_reader_open(&r, path, &err), TSR_EINVAL);
        assert_null(r);
        tsr_error_format(&err, msg, sizeof msg);
        size_t n = strlen(headers[i].error);
        bool prefix = headers[i].error[n - 1] == '*';
        snprintf(want, sizeof want, "%s%.*s", path, (int)(prefix ? n - 1 : n), headers[i].error);
        if (prefix ? strncmp(msg, want, strlen(want)) != 0 : strcmp(msg, want) != 0)
            fail_msg("%s: '%s', want '%s'", headers[i].name, msg, want);
    }
    /* local columns of any name, identifier shorthands, BOM, upper-case .CSV */
    s_read(s_write("ok.CSV",
                   "\xEF\xBB\xBF"
                   "case_ref,reported_date,area_code,child_name,local_x,id:handle,id:payment\n"
                   "a,2026-10-01,E08000035,Zed Example,whatever,"
                   "https://www.tiktok.com/@demo.fake,https://paypal.me/DemoFake\n"),
           &ctx, &f);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.invalid, 0);
    assert_int_equal(f.inc[0].n_tokens, 2);
    assert_string_equal(f.inc[0].tokens[0].kind, "handle:tiktok");
    assert_string_equal(f.inc[0].tokens[1].kind, "payment:paypal");
    /* only a header: no records */
    s_read(s_write("header.csv", "case_ref,reported_date\n"), &ctx, &f);
    assert_int_equal(f.n + f.invalid, 0);
    s_read(s_write("empty.csv", ""), &ctx, &f);
    assert_int_equal(f.n + f.invalid, 0);

    /* a syntax error after good rows: the rows first, then the error, then
     * the end (nothing after an unclosed quote can be trusted) */
    const char *path = s_write("late.csv", "case_ref,reported_date,area_code\n"
                                           "a,2026-10-01,E08000035\n"
                                           "b,2026-10-01,E08000035\n"
                                           "c,2026-10-01,\"E08000035\n"
                                           "d,2026-10-01,E08000035\n");
    s_read(path, &ctx, &f);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.invalid, 1);
    snprintf(want, sizeof want, "%s:5: CSV syntax: ", path);
    assert_memory_equal(f.errors[0], want, strlen(want));
}

/* --- privacy --------------------------------------------------------------- */

typedef struct {
    char (*items)[600];
    size_t n, cap;
} s_strings_t;

static void s_add(s_strings_t *s, const char *v)
{
    assert_true(s->n < s->cap);
    snprintf(s->items[s->n++], sizeof s->items[0], "%s", v);
}

/* Every raw value of the example that must stay local: the case reference,
 * each local field (named or local_*), each identifier as written and in its
 * canonical form. */
static void s_raw_values(const char *path, const tsr_record_ctx_t *ctx, s_strings_t *raw)
{
    static const char *const local[] = {"child_name", "date_of_birth", "school_name", "address",
                                        "postcode",   "notes",         "case_worker"};
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        assert_non_null(j);
        s_add(raw, json_string_value(json_object_get(j, "case_ref")));
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v)
        {
            bool is_local = strncmp(key, "local_", 6) == 0;
            for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
                is_local = is_local || strcmp(key, local[i]) == 0;
            if (is_local && json_is_string(v))
                s_add(raw, json_string_value(v));
        }
        size_t i;
        json_t *id;
        json_array_foreach(json_object_get(j, "identifiers"), i, id)
        {
            const char *kind = json_string_value(json_object_get(id, "kind"));
            const char *value = json_string_value(json_object_get(id, "value"));
            char kind_out[TSR_KIND_MAX], canon[TSR_CANON_MAX];
            tsr_error_t err;
            tsr_error_clear(&err);
            assert_int_equal(tsr_canon(kind, value, &ctx->canon, kind_out, sizeof kind_out, canon,
                                       sizeof canon, &err),
                             0);
            s_add(raw, value);
            s_add(raw, canon);
        }
        json_decref(j);
    }
    free(line);
    fclose(fp);
}

static char *s_lower(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

static void test_privacy_nothing_raw_travels(void **state)
{
    (void)state;
    tsr_record_ctx_t ctx;
    s_ctx(&ctx);
    static s_file_t files[2];
    static char items[256][600];
    s_strings_t raw = {items, 0, 256};
    char path[600];
    s_raw_values(s_example("incidents.jsonl", path, sizeof path), &ctx, &raw);
    /* a real check: names, notes, handles, phones, emails, bank details,
     * wallets, case references, schools */
    assert_true(raw.n >= 50);

    static const char *const keys[] = {"record_id",
                                       "version",
                                       "agency_type",
                                       "area_code",
                                       "reported_date",
                                       "first_contact_date",
                                       "date_precision",
                                       "age_band",
                                       "gender",
                                       "contact_platforms",
                                       "moved_to_platforms",
                                       "demands",
                                       "amount_demanded_band",
                                       "amount_paid_band",
                                       "paid",
                                       "payment_methods",
                                       "tactics",
                                       "risks",
                                       "actions",
                                       "offender_tokens"};
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    const char *names[2] = {"incidents.jsonl", "incidents.csv"};
    for (int k = 0; k < 2; k++) {
        s_read(s_example(names[k], path, sizeof path), &ctx, &files[k]);
        assert_int_equal(files[k].n, 12);
        for (int i = 0; i < files[k].n; i++) {
            json_t *j = tsr_incident_to_json(&files[k].inc[i]);
            assert_non_null(j);
            /* exactly the fields that travel, no others */
            const char *key;
            json_t *v;
            json_object_foreach(j, key, v)
            {
                bool known = false;
                for (size_t q = 0; q < sizeof keys / sizeof keys[0]; q++)
                    known = known || strcmp(key, keys[q]) == 0;
                if (!known)
                    fail_msg("unexpected key '%s' in what travels", key);
            }
            assert_null(json_object_get(j, "case_ref"));
            char *s = json_dumps(j, JSON_COMPACT);
            assert_non_null(s);
            len += (size_t)snprintf(out + len, cap - len, "%s\n", s);
            assert_true(len < cap);
            free(s);
            json_decref(j);
        }
    }
    s_lower(out);
    char needle[600];
    for (size_t i = 0; i < raw.n; i++) {
        /* short strings could turn up in hex by chance; the examples have none */
        if (strlen(raw.items[i]) < 6)
            fail_msg("raw value '%s' is too short to search for", raw.items[i]);
        snprintf(needle, sizeof needle, "%s", raw.items[i]);
        if (strstr(out, s_lower(needle)))
            fail_msg("raw value '%s' appears in what travels", raw.items[i]);
    }
    /* and the search itself works */
    assert_non_null(strstr(out, "\"area_code\":\"e08000035\""));
    assert_non_null(strstr(out, "\"handle:instagram\""));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day_parse_and_format),
        cmocka_unit_test(test_day_week_monday_and_today),
        cmocka_unit_test(test_day_months_back),
        cmocka_unit_test(test_age_bands),
        cmocka_unit_test(test_amount_bands),
        cmocka_unit_test(test_paid),
        cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_long_code_list_fits),
        cmocka_unit_test(test_defaults_local_fields_and_ids),
        cmocka_unit_test(test_null_and_empty_are_not_given),
        cmocka_unit_test(test_retired_area_names_successor),
        cmocka_unit_test(test_week_coarsening),
        cmocka_unit_test(test_two_keys_two_tokens),
        cmocka_unit_test(test_identifier_errors_and_limit),
        cmocka_unit_test(test_incident_to_json),
        cmocka_unit_test(test_examples_jsonl_equals_csv),
        cmocka_unit_test(test_example_values),
        cmocka_unit_test(test_jsonl_errors_and_continues),
        cmocka_unit_test(test_jsonl_error_line_and_column),
        cmocka_unit_test(test_csv_rows),
        cmocka_unit_test(test_csv_header_and_syntax),
        cmocka_unit_test(test_privacy_nothing_raw_travels),
    };
    return cmocka_run_group_tests_name("record", tests, s_setup, s_teardown);
}
