/* record.c - the agency's raw incident -> validated, minimised record.
 *
 * One validation path: a CSV row is first turned into the same JSON object a
 * JSON line would be, then both go through tsr_record_minimise. What leaves
 * this file in a tsr_incident_t is only bands, codes, days, an area code and
 * keyed tokens (DESIGN.md section 2).
 */
#include "tessera/record.h"
#include "tessera/canon.h"
#include "tessera/codes.h"
#include "tessera/csv.h"
#include "tessera/err.h"
#include "tessera/token.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* --- days ---------------------------------------------------------------- */

/* Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian,
 * eras of 400 years): exact integer arithmetic, no time zone involved. */
static int64_t s_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void s_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned s_days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

int tsr_day_parse(const char *iso, int32_t *out)
{
    if (!iso || strlen(iso) != 10 || iso[4] != '-' || iso[7] != '-')
        return TSR_EINVAL;
    unsigned v[8], k = 0;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7)
            continue;
        if (iso[i] < '0' || iso[i] > '9')
            return TSR_EINVAL;
        v[k++] = (unsigned)(iso[i] - '0');
    }
    int64_t y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
    unsigned m = v[4] * 10 + v[5], d = v[6] * 10 + v[7];
    if (m < 1 || m > 12 || d < 1 || d > s_days_in_month(y, m))
        return TSR_EINVAL;
    *out = (int32_t)s_days_from_civil(y, m, d);
    return TSR_OK;
}

char *tsr_day_format(char out[11], int32_t day)
{
    int64_t y;
    unsigned m, d;
    s_civil_from_days(day, &y, &m, &d);
    if (y < 0 || y > 9999) {
        memcpy(out, "0000-00-00", 11);
        return out;
    }
    /* Digit by digit: the ranges are known, and snprintf's truncation
     * analysis cannot see that m <= 12 and d <= 31. */
    unsigned v[3] = {(unsigned)y, m, d}, width[3] = {4, 2, 2}, o = 0;
    for (int f = 0; f < 3; f++) {
        for (unsigned w = width[f], x = v[f]; w > 0; w--, x /= 10)
            out[o + w - 1] = (char)('0' + x % 10);
        o += width[f];
        out[o++] = f < 2 ? '-' : '\0';
    }
    return out;
}

int32_t tsr_day_week_monday(int32_t day)
{
    /* 0 = Monday: day 0, 1970-01-01, was a Thursday (3). Floor modulo so
     * days before 1970 work too; 64-bit so the extremes cannot overflow. */
    int64_t wd = (((int64_t)day + 3) % 7 + 7) % 7;
    return (int32_t)((int64_t)day - wd);
}

int32_t tsr_day_today(void)
{
    time_t t = time(NULL);
    int64_t s = (int64_t)t;
    return (int32_t)(s >= 0 ? s / 86400 : -((-s + 86399) / 86400));
}

/* --- bands --------------------------------------------------------------- */

/* Value of a code name this file relies on. The names are part of the
 * schema (schemas/codes); a missing one is a programming error that the
 * unit tests catch. */
static int s_code(tsr_codes_list_t list, const char *name)
{
    int v = tsr_codes_value(list, name);
    assert(v > 0);
    return v;
}

int tsr_record_age_band(long age)
{
    static const struct {
        long below;
        const char *name;
    } bands[] = {{11, "under_11"}, {13, "11_12"}, {16, "13_15"},
                 {18, "16_17"},    {25, "18_24"}, {121, "25_plus"}};
    if (age < 0 || age > 120)
        return TSR_EINVAL;
    for (size_t i = 0; i < sizeof bands / sizeof bands[0]; i++)
        if (age < bands[i].below)
            return s_code(TSR_CODES_AGE_BAND, bands[i].name);
    return TSR_EINVAL; /* not reached */
}

int tsr_record_amount_band(double gbp)
{
    /* Half-open bands [lower, below): 49.99 is 1_49, 50 is 50_99. */
    static const struct {
        double below;
        const char *name;
    } bands[] = {{50, "1_49"},     {100, "50_99"},    {250, "100_249"},
                 {500, "250_499"}, {1000, "500_999"}, {2500, "1000_2499"}};
    if (!isfinite(gbp) || gbp < 0)
        return TSR_EINVAL;
    if (gbp == 0)
        return s_code(TSR_CODES_AMOUNT_BAND, "none");
    for (size_t i = 0; i < sizeof bands / sizeof bands[0]; i++)
        if (gbp < bands[i].below)
            return s_code(TSR_CODES_AMOUNT_BAND, bands[i].name);
    return s_code(TSR_CODES_AMOUNT_BAND, "2500_plus");
}

/* --- fields -------------------------------------------------------------- */

typedef enum { S_STRING, S_INT, S_NUMBER, S_LIST, S_IDS } s_type_t;

/* Every input field that is read. The CSV reader uses the types to turn
 * cells into JSON values. */
static const struct {
    const char *name;
    s_type_t type;
} s_fields[] = {
    {"case_ref", S_STRING},
    {"version", S_INT},
    {"area_code", S_STRING},
    {"reported_date", S_STRING},
    {"first_contact_date", S_STRING},
    {"age", S_INT},
    {"age_band", S_STRING},
    {"gender", S_STRING},
    {"contact_platforms", S_LIST},
    {"moved_to_platforms", S_LIST},
    {"demands", S_LIST},
    {"amount_demanded_gbp", S_NUMBER},
    {"amount_paid_gbp", S_NUMBER},
    {"paid", S_STRING},
    {"payment_methods", S_LIST},
    {"tactics", S_LIST},
    {"risks", S_LIST},
    {"actions", S_LIST},
    {"identifiers", S_IDS},
};
#define S_NFIELDS (sizeof s_fields / sizeof s_fields[0])

/* Fields that real case-system exports carry and that must never leave:
 * accepted so the export needs no editing, and dropped unread. */
static const char *const s_local_fields[] = {
    "child_name", "date_of_birth", "school_name", "address", "postcode", "notes", "case_worker",
};

enum { S_FIELD_LOCAL = -1, S_FIELD_UNKNOWN = -2 };

/* Index into s_fields, S_FIELD_LOCAL or S_FIELD_UNKNOWN. */
static int s_field_class(const char *name)
{
    for (size_t i = 0; i < S_NFIELDS; i++)
        if (strcmp(s_fields[i].name, name) == 0)
            return (int)i;
    for (size_t i = 0; i < sizeof s_local_fields / sizeof s_local_fields[0]; i++)
        if (strcmp(s_local_fields[i], name) == 0)
            return S_FIELD_LOCAL;
    if (strncmp(name, "local_", 6) == 0)
        return S_FIELD_LOCAL;
    return S_FIELD_UNKNOWN;
}

static const char s_unknown_field[] =
    "unknown field (if it is local information, prefix it with local_)";

/* Copies at most max bytes of s into out (cap bytes), ending with "..." when
 * cut, never in the middle of a UTF-8 sequence. For echoing bad values. */
static const char *s_shorten(char *out, size_t cap, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (max + 4 > cap)
        max = cap - 4;
    if (n <= max) {
        memcpy(out, s, n + 1);
        return out;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    memcpy(out, s, max);
    memcpy(out + max, "...", 4);
    return out;
}

static const char *s_json_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* The field's value, or NULL when it is absent or null ("not given"). */
static json_t *s_opt(const json_t *in, const char *name)
{
    json_t *v = json_object_get(in, name);
    return v && !json_is_null(v) ? v : NULL;
}

/* True when the field holds something: not absent, null or "". */
static bool s_given(const json_t *in, const char *name)
{
    json_t *v = s_opt(in, name);
    return v && !(json_is_string(v) && json_string_length(v) == 0);
}

/* A string field. *out is NULL when not given; an empty string counts as not
 * given too, as an empty CSV cell does. */
static int s_string(const json_t *in, const char *name, bool required, const char **out,
                    tsr_error_t *err)
{
    json_t *v = s_opt(in, name);
    *out = NULL;
    if (v && !json_is_string(v))
        return tsr_error_set(err, name, "must be a string, not %s", s_json_type(v));
    if (v && json_string_length(v) > 0)
        *out = json_string_value(v);
    if (!*out && required)
        return tsr_error_set(err, name, "is required");
    return TSR_OK;
}

/* "'x' is not one of: a, b, c". err->reason has room for 255 bytes and the
 * tactic names alone take 233, so when the sentence does not fit, the list
 * loses its spaces and the bad value is cut to fit. */
static int s_bad_code(tsr_error_t *err, const char *field, tsr_codes_list_t list, const char *value)
{
    const size_t room = sizeof err->reason - 1, fixed = strlen("'' is not one of: ");
    char names[512], shown[64];
    tsr_codes_expected(list, names, sizeof names);
    s_shorten(shown, sizeof shown, value, 40);
    if (fixed + strlen(shown) + strlen(names) > room) {
        size_t o = 0;
        for (const char *c = names; *c; c++)
            if (!(*c == ' ' && c > names && c[-1] == ','))
                names[o++] = *c; /* o never passes c: in place is safe */
        names[o] = '\0';
        size_t left = fixed + o < room ? room - fixed - o : 0;
        s_shorten(shown, sizeof shown, value, left > 3 ? left - 3 : 0);
    }
    return tsr_error_set(err, field, "'%s' is not one of: %s", shown, names);
}

/* A single code from `list`; dflt (a name) when not given. */
static int s_code_field(const json_t *in, const char *name, tsr_codes_list_t list, const char *dflt,
                        int *out, tsr_error_t *err)
{
    const char *s;
    int rc = s_string(in, name, false, &s, err);
    if (rc != 0)
        return rc;
    if (!s) {
        *out = s_code(list, dflt);
        return TSR_OK;
    }
    int v = tsr_codes_value(list, s);
    if (v <= 0)
        return s_bad_code(err, name, list, s);
    *out = v;
    return TSR_OK;
}

/* An array of code names from `list` -> bitmask. Duplicates are harmless. */
static int s_list_field(const json_t *in, const char *name, tsr_codes_list_t list, uint32_t *out,
                        tsr_error_t *err)
{
    json_t *arr = s_opt(in, name), *item;
    size_t i;
    *out = 0;
    if (!arr)
        return TSR_OK;
    if (!json_is_array(arr))
        return tsr_error_set(err, name, "must be an array of names, not %s", s_json_type(arr));
    json_array_foreach(arr, i, item)
    {
        if (!json_is_string(item))
            return tsr_error_set(err, name, "item %zu must be a name (a string), not %s", i,
                                 s_json_type(item));
        int v = tsr_codes_value(list, json_string_value(item));
        if (v <= 0)
            return s_bad_code(err, name, list, json_string_value(item));
        *out |= UINT32_C(1) << v;
    }
    return TSR_OK;
}

/* A date field -> day, checked against 2000-01-01 .. today + 1. *out is 0
 * when not given. */
static int s_date_field(const json_t *in, const char *name, bool required, int32_t today,
                        int32_t *out, tsr_error_t *err)
{
    const char *s;
    char shown[64], a[11], b[11];
    int rc = s_string(in, name, required, &s, err);
    *out = 0;
    if (rc != 0 || !s)
        return rc;
    int32_t day;
    if (tsr_day_parse(s, &day) != 0)
        return tsr_error_set(err, name, "'%s' is not a real date written YYYY-MM-DD",
                             s_shorten(shown, sizeof shown, s, 40));
    /* From 2000 (anything earlier is a typing error) to tomorrow (today in
     * some time zone). */
    if (day < TSR_RECORD_EARLIEST_DAY || day > today + 1)
        return tsr_error_set(err, name, "%s is outside %s to %s (tomorrow)", s,
                             tsr_day_format(a, TSR_RECORD_EARLIEST_DAY),
                             tsr_day_format(b, today + 1));
    *out = day;
    return TSR_OK;
}

/* An amount in GBP -> band; band unknown and *gbp -1 when not given. */
static int s_amount_field(const json_t *in, const char *name, int *band, double *gbp,
                          tsr_error_t *err)
{
    json_t *v = s_opt(in, name);
    *gbp = -1;
    if (!v) {
        *band = s_code(TSR_CODES_AMOUNT_BAND, "unknown");
        return TSR_OK;
    }
    if (!json_is_number(v))
        return tsr_error_set(err, name, "must be a number of pounds (e.g. 250 or 49.99), not %s",
                             s_json_type(v));
    *gbp = json_number_value(v);
    *band = tsr_record_amount_band(*gbp);
    if (*band < 0)
        return tsr_error_set(err, name, "must be 0 or more, not %g", *gbp);
    return TSR_OK;
}

static int s_token_cmp(const void *a, const void *b)
{
    const tsr_token_t *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    if (c != 0)
        return c;
    if (x->key_id != y->key_id)
        return x->key_id < y->key_id ? -1 : 1;
    return memcmp(x->token, y->token, TSR_TOKEN_LEN);
}

/* Adds t unless an equal token is already there. */
static int s_add_token(tsr_incident_t *out, const tsr_token_t *t, tsr_error_t *err)
{
    for (size_t i = 0; i < out->n_tokens; i++)
        if (s_token_cmp(&out->tokens[i], t) == 0)
            return TSR_OK;
    if (out->n_tokens == TSR_MAX_TOKENS)
        return tsr_error_set(err, "identifiers",
                             "too many identifiers: a record holds at most %d tokens "
                             "(one per identifier and network key)",
                             TSR_MAX_TOKENS);
    out->tokens[out->n_tokens++] = *t;
    return TSR_OK;
}

/* One identifier -> canonical form (canon.h) -> one token per network key. */
static int s_identifier(tsr_incident_t *out, const json_t *id, size_t i,
                        const tsr_record_ctx_t *ctx, tsr_error_t *err)
{
    char field[64];
    const char *key;
    json_t *v;
    if (!json_is_object(id)) {
        snprintf(field, sizeof field, "identifiers[%zu]", i);
        return tsr_error_set(err, field,
                             "must be an object {\"kind\": ..., \"value\": ...}, not %s",
                             s_json_type(id));
    }
    json_object_foreach((json_t *)id, key, v)
    {
        if (strcmp(key, "kind") != 0 && strcmp(key, "value") != 0) {
            snprintf(field, sizeof field, "identifiers[%zu].%s", i, key);
            return tsr_error_set(err, field, "unknown key (an identifier has only kind and value)");
        }
    }
    const char *parts[2] = {"kind", "value"};
    const char *str[2];
    for (int p = 0; p < 2; p++) {
        v = json_object_get(id, parts[p]);
        snprintf(field, sizeof field, "identifiers[%zu].%s", i, parts[p]);
        if (!v || json_is_null(v))
            return tsr_error_set(err, field, "is required");
        if (!json_is_string(v))
            return tsr_error_set(err, field, "must be a string, not %s", s_json_type(v));
        str[p] = json_string_value(v);
    }

    char kind[TSR_KIND_MAX], canon[TSR_CANON_MAX];
    tsr_error_t cerr;
    tsr_error_clear(&cerr);
    int rc = tsr_canon(str[0], str[1], &ctx->canon, kind, sizeof kind, canon, sizeof canon, &cerr);
    if (rc == TSR_ERANGE) {
        snprintf(field, sizeof field, "identifiers[%zu].value", i);
        return tsr_error_set(err, field, "too long (at most %d bytes)", TSR_CANON_MAX - 1);
    }
    if (rc != 0) {
        snprintf(field, sizeof field, "identifiers[%zu].%s", i,
                 strcmp(cerr.field, "kind") == 0 ? "kind" : "value");
        tsr_error_set(err, field, "%s", cerr.reason[0] ? cerr.reason : tsr_strerror(rc));
        return rc == TSR_EINVAL ? TSR_EINVAL : rc;
    }
    for (size_t k = 0; k < ctx->n_keys; k++) {
        tsr_token_t t;
        memset(&t, 0, sizeof t);
        snprintf(t.kind, sizeof t.kind, "%s", kind);
        t.key_id = ctx->keys[k]->key_id;
        rc = tsr_token_compute(t.token, ctx->keys[k], kind, canon);
        if (rc != 0) {
            tsr_error_set(err, "identifiers", "could not compute a token: %s", tsr_strerror(rc));
            return rc;
        }
        rc = s_add_token(out, &t, err);
        if (rc != 0)
            return rc;
    }
    return TSR_OK;
}

static int s_identifiers(tsr_incident_t *out, const json_t *in, const tsr_record_ctx_t *ctx,
                         tsr_error_t *err)
{
    json_t *ids = s_opt(in, "identifiers"), *id;
    size_t i;
    if (!ids)
        return TSR_OK;
    if (!json_is_array(ids))
        return tsr_error_set(err, "identifiers",
                             "must be an array of {\"kind\": ..., \"value\": ...} objects, not %s",
                             s_json_type(ids));
    json_array_foreach(ids, i, id)
    {
        int rc = s_identifier(out, id, i, ctx, err);
        if (rc != 0)
            return rc;
    }
    qsort(out->tokens, out->n_tokens, sizeof out->tokens[0], s_token_cmp);
    return TSR_OK;
}

/* The case reference: required, trimmed of surrounding blanks (so " C-1"
 * and "C-1" are one case), 1..127 bytes, no control characters. */
static int s_case_ref(const json_t *in, char case_ref[TSR_CASE_REF_MAX], tsr_error_t *err)
{
    const char *s;
    int rc = s_string(in, "case_ref", true, &s, err);
    if (rc != 0)
        return rc;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0)
        return tsr_error_set(err, "case_ref", "is required (it is empty)");
    if (n >= TSR_CASE_REF_MAX)
        return tsr_error_set(err, "case_ref", "too long: %zu bytes (at most %d)", n,
                             TSR_CASE_REF_MAX - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return tsr_error_set(err, "case_ref", "holds a control character");
    memcpy(case_ref, s, n);
    case_ref[n] = '\0';
    return TSR_OK;
}

static int s_check_ctx(const tsr_record_ctx_t *ctx, tsr_error_t *err)
{
    if (!ctx->agency_id || !ctx->agency_id[0])
        return tsr_error_set(err, "", "agent configuration: no agency id");
    if (ctx->n_keys < 1 || ctx->n_keys > 2 || !ctx->keys[0] || (ctx->n_keys == 2 && !ctx->keys[1]))
        return tsr_error_set(err, "", "agent configuration: needs one or two network keys");
    if (!tsr_codes_name(TSR_CODES_AGENCY_TYPE, ctx->agency_type))
        return tsr_error_set(err, "", "agent configuration: unknown agency type %d",
                             ctx->agency_type);
    return TSR_OK;
}

int tsr_record_minimise(tsr_incident_t *out, char case_ref[TSR_CASE_REF_MAX], const json_t *in,
                        const tsr_record_ctx_t *ctx, tsr_error_t *err)
{
    assert(out && case_ref && ctx);
    const char *key, *s;
    json_t *v;
    char shown[64];
    int rc;

    memset(out, 0, sizeof *out);
    case_ref[0] = '\0';
    if ((rc = s_check_ctx(ctx, err)) != 0)
        return rc;
    if (!in || !json_is_object(in))
        return tsr_error_set(err, "", "a record must be a JSON object, not %s",
                             in ? s_json_type(in) : "nothing");

    /* Unknown fields first: a typo must not pass as a missing field.
     * (jansson's iterator takes a non-const object; it only reads.) */
    json_object_foreach((json_t *)in, key, v)
    {
        if (s_field_class(key) != S_FIELD_UNKNOWN)
            continue;
        if (strncmp(key, "id:", 3) == 0)
            return tsr_error_set(err, key,
                                 "id:<kind> columns are for CSV; in JSON put identifiers "
                                 "in the identifiers array");
        return tsr_error_set(err, s_shorten(shown, sizeof shown, key, 40), "%s", s_unknown_field);
    }

    if ((rc = s_case_ref(in, case_ref, err)) != 0)
        return rc;

    out->version = 1;
    if ((v = s_opt(in, "version"))) {
        if (!json_is_integer(v))
            return tsr_error_set(err, "version", "must be a whole number, not %s", s_json_type(v));
        json_int_t n = json_integer_value(v);
        if (n < 1 || n > (json_int_t)UINT32_MAX)
            return tsr_error_set(err, "version", "must be a whole number from 1 to %lu, not %lld",
                                 (unsigned long)UINT32_MAX, (long long)n);
        out->version = (uint32_t)n;
    }

    out->agency_type = ctx->agency_type;

    if ((rc = s_string(in, "area_code", false, &s, err)) != 0)
        return rc;
    if (!s)
        s = ctx->default_area;
    if (!s)
        return tsr_error_set(err, "area_code",
                             "is required: the record has none and no default area is configured");
    if ((rc = tsr_area_check(s, "area_code", err)) != 0)
        return rc;
    snprintf(out->area_code, sizeof out->area_code, "%s", tsr_area_find(s)->code);

    int32_t today = ctx->today ? ctx->today : tsr_day_today();
    if ((rc = s_date_field(in, "reported_date", true, today, &out->reported_day, err)) != 0)
        return rc;
    if ((rc = s_date_field(in, "first_contact_date", false, today, &out->first_contact_day, err)) !=
        0)
        return rc;
    if (out->first_contact_day > out->reported_day) {
        char a[11], b[11];
        return tsr_error_set(err, "first_contact_date", "%s is after reported_date %s",
                             tsr_day_format(a, out->first_contact_day),
                             tsr_day_format(b, out->reported_day));
    }
    out->date_precision = TSR_PRECISION_DAY;
    if (ctx->week_coarsening) {
        out->reported_day = tsr_day_week_monday(out->reported_day);
        if (out->first_contact_day)
            out->first_contact_day = tsr_day_week_monday(out->first_contact_day);
        out->date_precision = TSR_PRECISION_ISO_WEEK;
    }

    json_t *age = s_opt(in, "age");
    if (age) {
        if (s_given(in, "age_band"))
            return tsr_error_set(err, "age_band", "give age or age_band, not both");
        if (!json_is_integer(age))
            return tsr_error_set(err, "age", "must be a whole number of years, not %s",
                                 s_json_type(age));
        json_int_t n = json_integer_value(age);
        out->age_band = n < 0 || n > 120 ? TSR_EINVAL : tsr_record_age_band((long)n);
        if (out->age_band < 0)
            return tsr_error_set(err, "age", "%lld is outside 0..120", (long long)n);
    } else if ((rc = s_code_field(in, "age_band", TSR_CODES_AGE_BAND, "unknown", &out->age_band,
                                  err)) != 0) {
        return rc;
    }
    if ((rc = s_code_field(in, "gender", TSR_CODES_GENDER, "unknown", &out->gender, err)) != 0)
        return rc;

    static const struct {
        const char *name;
        tsr_codes_list_t list;
        size_t offset;
    } lists[] = {
        {"contact_platforms", TSR_CODES_PLATFORM, offsetof(tsr_incident_t, contact_platforms)},
        {"moved_to_platforms", TSR_CODES_PLATFORM, offsetof(tsr_incident_t, moved_to_platforms)},
        {"demands", TSR_CODES_DEMAND, offsetof(tsr_incident_t, demands)},
        {"payment_methods", TSR_CODES_PAYMENT_METHOD, offsetof(tsr_incident_t, payment_methods)},
        {"tactics", TSR_CODES_TACTIC, offsetof(tsr_incident_t, tactics)},
        {"risks", TSR_CODES_RISK, offsetof(tsr_incident_t, risks)},
        {"actions", TSR_CODES_ACTION, offsetof(tsr_incident_t, actions)},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        uint32_t *bits = (uint32_t *)((char *)out + lists[i].offset);
        if ((rc = s_list_field(in, lists[i].name, lists[i].list, bits, err)) != 0)
            return rc;
    }

    double demanded, paid_gbp;
    if ((rc = s_amount_field(in, "amount_demanded_gbp", &out->amount_demanded_band, &demanded,
                             err)) != 0)
        return rc;
    if ((rc = s_amount_field(in, "amount_paid_gbp", &out->amount_paid_band, &paid_gbp, err)) != 0)
        return rc;
    /* An amount paid implies paid = yes; an explicit "no" contradicts it and
     * is refused rather than guessed at. */
    const char *dflt_paid = paid_gbp > 0 ? "yes" : "unknown";
    if ((rc = s_code_field(in, "paid", TSR_CODES_PAID, dflt_paid, &out->paid, err)) != 0)
        return rc;
    if (paid_gbp > 0 && out->paid == s_code(TSR_CODES_PAID, "no"))
        return tsr_error_set(err, "paid", "is 'no' but amount_paid_gbp is %g", paid_gbp);

    if ((rc = s_identifiers(out, in, ctx, err)) != 0)
        return rc;

    rc = tsr_record_id_compute(out->record_id, ctx->keys[0], ctx->agency_id, case_ref);
    if (rc != 0) {
        tsr_error_set(err, "case_ref", "could not compute the record id: %s", tsr_strerror(rc));
        return rc;
    }
    return TSR_OK;
}

/* --- output -------------------------------------------------------------- */

/* Sets o[k] = v (stolen); -1 when v is NULL or the set fails. */
static int s_set(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0 ? 0 : -1;
}

static json_t *s_name(tsr_codes_list_t list, int value)
{
    const char *n = tsr_codes_name(list, value);
    return n ? json_string(n) : NULL;
}

/* Bitmask -> array of names in value order; NULL if a bit is not a value. */
static json_t *s_names(tsr_codes_list_t list, uint32_t bits)
{
    json_t *a = json_array();
    for (int v = 0; a && v <= TSR_CODES_MAX_VALUE; v++) {
        if (!(bits & (UINT32_C(1) << v)))
            continue;
        const char *n = tsr_codes_name(list, v);
        if (!n || json_array_append_new(a, json_string(n)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *s_day(int32_t day)
{
    char buf[11];
    return json_string(tsr_day_format(buf, day));
}

json_t *tsr_incident_to_json(const tsr_incident_t *inc)
{
    char hex[2 * TSR_TOKEN_LEN + 1];
    json_t *o = json_object();
    if (!o)
        return NULL;
    const char *precision = inc->date_precision == TSR_PRECISION_DAY        ? "day"
                            : inc->date_precision == TSR_PRECISION_ISO_WEEK ? "iso_week"
                                                                            : NULL;
    int bad = !precision || inc->version < 1 ||
              memchr(inc->area_code, '\0', TSR_AREA_CODE_MAX) == NULL ||
              inc->n_tokens > TSR_MAX_TOKENS;
    bad = bad || s_set(o, "record_id",
                       json_string(tsr_hex_encode(hex, inc->record_id, TSR_RECORD_ID_LEN)));
    bad = bad || s_set(o, "version", json_integer(inc->version));
    bad = bad || s_set(o, "agency_type", s_name(TSR_CODES_AGENCY_TYPE, inc->agency_type));
    bad = bad || s_set(o, "area_code", json_string(inc->area_code));
    bad = bad || s_set(o, "reported_date", s_day(inc->reported_day));
    if (inc->first_contact_day)
        bad = bad || s_set(o, "first_contact_date", s_day(inc->first_contact_day));
    bad = bad || s_set(o, "date_precision", precision ? json_string(precision) : NULL);
    bad = bad || s_set(o, "age_band", s_name(TSR_CODES_AGE_BAND, inc->age_band));
    bad = bad || s_set(o, "gender", s_name(TSR_CODES_GENDER, inc->gender));
    bad = bad || s_set(o, "contact_platforms", s_names(TSR_CODES_PLATFORM, inc->contact_platforms));
    bad =
        bad || s_set(o, "moved_to_platforms", s_names(TSR_CODES_PLATFORM, inc->moved_to_platforms));
    bad = bad || s_set(o, "demands", s_names(TSR_CODES_DEMAND, inc->demands));
    bad = bad || s_set(o, "amount_demanded_band",
                       s_name(TSR_CODES_AMOUNT_BAND, inc->amount_demanded_band));
    bad = bad || s_set(o, "amount_paid_band", s_name(TSR_CODES_AMOUNT_BAND, inc->amount_paid_band));
    bad = bad || s_set(o, "paid", s_name(TSR_CODES_PAID, inc->paid));
    bad =
        bad || s_set(o, "payment_methods", s_names(TSR_CODES_PAYMENT_METHOD, inc->payment_methods));
    bad = bad || s_set(o, "tactics", s_names(TSR_CODES_TACTIC, inc->tactics));
    bad = bad || s_set(o, "risks", s_names(TSR_CODES_RISK, inc->risks));
    bad = bad || s_set(o, "actions", s_names(TSR_CODES_ACTION, inc->actions));
    json_t *toks = bad ? NULL : json_array();
    bad = bad || s_set(o, "offender_tokens", toks);
    for (size_t i = 0; !bad && i < inc->n_tokens; i++) {
        const tsr_token_t *t = &inc->tokens[i];
        json_t *j = memchr(t->kind, '\0', sizeof t->kind) ? json_object() : NULL;
        int tbad = !j || s_set(j, "kind", json_string(t->kind)) ||
                   s_set(j, "key_id", json_integer(t->key_id)) ||
                   s_set(j, "token", json_string(tsr_hex_encode(hex, t->token, TSR_TOKEN_LEN)));
        if (tbad) {
            json_decref(j);
            bad = 1;
        } else {
            bad = json_array_append_new(toks, j) != 0;
        }
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* --- reader -------------------------------------------------------------- */

typedef enum { S_COL_FIELD, S_COL_ID, S_COL_SKIP } s_col_kind_t;

typedef struct {
    s_col_kind_t kind;
    int field;  /* S_COL_FIELD: index into s_fields */
    char *name; /* header text; for S_COL_ID the kind is name + 3 */
} s_col_t;

typedef struct {
    char **cells; /* NULL when the cell count is wrong; NULL cells are local */
    size_t n;
    long line;
} s_row_t;

struct tsr_reader {
    char *path;
    bool csv;
    bool done;
    long line; /* line of the record last returned */
    /* both formats: the file, read a line at a time */
    FILE *f;
    long physical; /* lines read so far */
    char *buf;
    size_t cap;
    /* CSV: the header (read at open), the parser, and the rows its last
     * line completed (usually one; a quoted field can hold newlines) */
    tsr_csv_t *parser;
    bool csv_done; /* end of file, or a syntax error: nothing more to feed */
    s_col_t *cols;
    size_t ncols;
    bool header_bad; /* header refused: err_open says why */
    s_row_t *rows;
    size_t nrows, rows_cap, next;
    tsr_error_t err_open;
    bool pending; /* a CSV syntax error to report after the rows */
    tsr_error_t err_pending;
};

static bool s_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool s_utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s, n;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        for (unsigned i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        s += n + 1;
    }
    return true;
}

/* Whole number: optional '-', digits only; strtoll must use every byte. */
static bool s_parse_int(const char *s, long long *out)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    if (!*p)
        return false;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0';
}

/* Plain decimal: optional '-', digits, optional '.' and digits. Refuses what
 * strtod would also take (exponents, hex, inf, nan) so "1e3" is not 1000. */
static bool s_parse_decimal(const char *s, double *out)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    size_t digits = 0, dots = 0;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && dots++ == 0)
            continue;
        else
            return false;
    }
    if (digits == 0)
        return false;
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && *end == '\0' && isfinite(*out);
}

static char *s_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Splits cell in place at ';' into its non-empty, trimmed items. *items is
 * malloc'd (free it). Returns the count, or -1 on allocation failure. */
static long s_split(char *cell, char ***items)
{
    size_t n = 1;
    for (const char *c = cell; *c; c++)
        n += *c == ';';
    char **v = malloc(n * sizeof *v);
    if (!v)
        return -1;
    long k = 0;
    for (char *p = cell;;) {
        char *semi = strchr(p, ';');
        if (semi)
            *semi = '\0';
        char *item = s_trim(p);
        if (*item)
            v[k++] = item;
        if (!semi)
            break;
        p = semi + 1;
    }
    *items = v;
    return k;
}

/* Where each identifier of a CSV row came from, to name the column in an
 * error instead of "identifiers[i]". */
typedef struct {
    size_t col;
    long pos, count; /* position in its cell, values in the cell */
} s_idsrc_t;

/* A CSV row -> the JSON object a JSON line would hold. Cells of local
 * columns were never kept. */
static int s_row_to_json(const tsr_reader_t *r, const s_row_t *row, json_t **out,
                         s_idsrc_t **src_out, tsr_error_t *err)
{
    char shown[64];
    json_t *o = json_object(), *ids = NULL;
    s_idsrc_t *src = NULL;
    size_t nsrc = 0;
    char **items = NULL;
    int rc = TSR_ENOMEM;
    if (!o)
        goto fail;
    for (size_t i = 0; i < r->ncols; i++) {
        const s_col_t *col = &r->cols[i];
        char *cell = row->cells[i];
        if (col->kind == S_COL_SKIP || !cell || !cell[0])
            continue;
        if (!s_utf8_valid(cell)) {
            rc = tsr_error_set(err, col->name, "is not valid UTF-8 text (save the file as UTF-8)");
            goto fail;
        }
        json_t *v = NULL;
        long long n;
        double d;
        s_type_t type = col->kind == S_COL_ID ? S_IDS : s_fields[col->field].type;
        switch (type) {
        case S_STRING:
            v = json_string(cell);
            break;
        case S_INT:
            if (!s_parse_int(cell, &n)) {
                rc = tsr_error_set(err, col->name, "'%s' is not a whole number",
                                   s_shorten(shown, sizeof shown, cell, 40));
                goto fail;
            }
            v = json_integer(n);
            break;
        case S_NUMBER:
            if (!s_parse_decimal(cell, &d)) {
                rc = tsr_error_set(err, col->name,
                                   "'%s' is not a plain number of pounds (e.g. 250 or 49.99; "
                                   "no £, commas or spaces)",
                                   s_shorten(shown, sizeof shown, cell, 40));
                goto fail;
            }
            v = json_real(d);
            break;
        case S_LIST:
        case S_IDS: {
            long k = s_split(cell, &items);
            if (k < 0)
                goto fail;
            if (type == S_LIST) {
                v = json_array();
                for (long j = 0; v && j < k; j++)
                    if (json_array_append_new(v, json_string(items[j])) != 0)
                        goto fail_v;
            } else {
                if (!ids && (!(ids = json_array()) || json_object_set_new(o, "identifiers", ids)))
                    goto fail;
                s_idsrc_t *grown = realloc(src, (nsrc + (size_t)k + 1) * sizeof *src);
                if (!grown)
                    goto fail;
                src = grown;
                for (long j = 0; j < k; j++) {
                    if (json_array_append_new(ids, json_pack("{s:s, s:s}", "kind", col->name + 3,
                                                             "value", items[j])) != 0)
                        goto fail;
                    src[nsrc++] = (s_idsrc_t){.col = i, .pos = j, .count = k};
                }
            }
            free(items);
            items = NULL;
            break;
        }
        }
        if (type == S_IDS)
            continue;
        if (!v || json_object_set_new(o, col->name, v) != 0)
            goto fail;
        continue;
    fail_v:
        json_decref(v);
        goto fail;
    }
    *out = o;
    *src_out = src;
    return TSR_OK;
fail:
    if (rc == TSR_ENOMEM)
        tsr_error_set(err, "", "out of memory");
    free(items);
    free(src);
    json_decref(o);
    return rc;
}

/* "identifiers[3].value" -> the CSV column ("id:phone", "id:phone[1]"). */
static void s_rename_id_field(const tsr_reader_t *r, const s_idsrc_t *src, size_t nsrc,
                              tsr_error_t *err)
{
    size_t idx;
    char rest[64];
    if (!err || sscanf(err->field, "identifiers[%zu]%63s", &idx, rest) < 1 || idx >= nsrc)
        return;
    const s_idsrc_t *s = &src[idx];
    const char *name = r->cols[s->col].name;
    if (s->count > 1)
        snprintf(err->field, sizeof err->field, "%.50s[%ld]", name, s->pos);
    else
        snprintf(err->field, sizeof err->field, "%.60s", name);
}

static void s_free_row(s_row_t *row, size_t ncols)
{
    if (row->cells)
        for (size_t i = 0; i < ncols; i++)
            free(row->cells[i]);
    free(row->cells);
    row->cells = NULL;
}

static bool s_id_kind_ok(const char *kind)
{
    /* The shorthands take a profile or payment link naming its platform. */
    return tsr_canon_kind_valid(kind) || strcmp(kind, "handle") == 0 ||
           strcmp(kind, "payment") == 0;
}

/* Header row -> columns; on a bad column fills r->err_open. */
static int s_header(tsr_reader_t *r, char **f, size_t n, long line)
{
    r->cols = calloc(n ? n : 1, sizeof *r->cols);
    if (!r->cols)
        return TSR_ENOMEM;
    tsr_error_at(&r->err_open, r->path, line);
    for (size_t i = 0; i < n; i++) {
        s_col_t *c = &r->cols[i];
        const char *name = f[i];
        char shown[64];
        s_shorten(shown, sizeof shown, name, 40);
        if (!(c->name = strdup(name)))
            return TSR_ENOMEM;
        r->ncols = i + 1;
        r->header_bad = true;
        if (!name[0])
            return tsr_error_set(&r->err_open, "", "column %zu of the header has no name", i + 1);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->cols[j].name, name) == 0)
                return tsr_error_set(&r->err_open, shown, "column appears twice in the header");
        if (strncmp(name, "id:", 3) == 0) {
            if (!s_id_kind_ok(name + 3))
                return tsr_error_set(&r->err_open, shown,
                                     "unknown identifier kind '%s' (kinds: handle:<platform>, "
                                     "handle, email, phone, bank:uk, bank:iban, "
                                     "payment:<service>, payment, crypto:btc, crypto:eth, url)",
                                     name + 3);
            c->kind = S_COL_ID;
        } else if (strcmp(name, "identifiers") == 0) {
            return tsr_error_set(&r->err_open, shown,
                                 "in CSV, identifiers go in one column per kind named "
                                 "id:<kind>, e.g. id:phone or id:handle:instagram");
        } else {
            int k = s_field_class(name);
            if (k == S_FIELD_UNKNOWN)
                return tsr_error_set(&r->err_open, shown, "%s", s_unknown_field);
            c->kind = k == S_FIELD_LOCAL ? S_COL_SKIP : S_COL_FIELD;
            c->field = k;
        }
        r->header_bad = false;
    }
    return TSR_OK;
}

static int s_csv_row(void *ctx, char **f, size_t n, long line)
{
    tsr_reader_t *r = ctx;
    if (!r->cols) {
        int rc = s_header(r, f, n, line);
        return rc != 0 ? rc : (r->header_bad ? TSR_EINVAL : 0);
    }
    if (r->nrows == r->rows_cap) {
        size_t cap = r->rows_cap ? r->rows_cap * 2 : 64;
        s_row_t *rows = realloc(r->rows, cap * sizeof *rows);
        if (!rows)
            return TSR_ENOMEM;
        r->rows = rows;
        r->rows_cap = cap;
    }
    s_row_t *row = &r->rows[r->nrows++];
    *row = (s_row_t){.n = n, .line = line};
    if (n != r->ncols)
        return 0; /* reported when reached; the cells are not needed */
    if (!(row->cells = calloc(n, sizeof *row->cells)))
        return TSR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* Local columns (names, notes...) are not even copied. */
        if (r->cols[i].kind == S_COL_SKIP)
            continue;
        if (!(row->cells[i] = strdup(f[i])))
            return TSR_ENOMEM;
    }
    return 0;
}

/* Feeds the CSV parser the next line of the file (at its end, finishes
 * it): rows it completes join r->rows. Returns 0, TSR_EINVAL for a CSV
 * syntax error or a refused header (perr, or r->err_open, says why),
 * TSR_EIO or TSR_ENOMEM; after any of them, or the end, csv_done is set. */
static int s_csv_step(tsr_reader_t *r, tsr_error_t *perr)
{
    if (r->csv_done)
        return 0;
    errno = 0;
    ssize_t n = getline(&r->buf, &r->cap, r->f);
    int rc;
    if (n < 0 && ferror(r->f)) {
        tsr_error_at(perr, r->path, r->physical + 1);
        tsr_error_set(perr, "", "read error: %s", strerror(errno));
        rc = TSR_EIO;
    } else if (n < 0) {
        rc = tsr_csv_finish(r->parser, perr);
        r->csv_done = true;
        return rc;
    } else {
        const char *p = r->buf;
        size_t len = (size_t)n;
        if (r->physical++ == 0 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
            p += 3, len -= 3;
        rc = tsr_csv_feed(r->parser, p, len, perr);
    }
    if (rc != 0)
        r->csv_done = true;
    return rc;
}

/* Opens a CSV file and reads as far as its header. */
static int s_open_csv(tsr_reader_t *r, tsr_error_t *err)
{
    if (!(r->f = fopen(r->path, "rb"))) {
        tsr_error_set(err, "", "cannot open: %s", strerror(errno));
        return TSR_EIO;
    }
    if (tsr_csv_new(&r->parser, s_csv_row, r) != 0) {
        tsr_error_set(err, "", "out of memory");
        return TSR_ENOMEM;
    }
    tsr_error_t perr;
    tsr_error_clear(&perr);
    int rc = 0;
    while (rc == 0 && !r->cols && !r->csv_done)
        rc = s_csv_step(r, &perr);
    if (r->header_bad) {
        if (err)
            *err = r->err_open;
        return TSR_EINVAL;
    }
    if (rc == TSR_EINVAL && r->cols) {
        /* Syntax error after the header: deliver the rows before it first. */
        r->pending = true;
        r->err_pending = perr;
        tsr_error_at(&r->err_pending, r->path, perr.line);
        return TSR_OK;
    }
    if (rc == TSR_EINVAL || rc == TSR_EIO) {
        tsr_error_at(err, r->path, perr.line);
        tsr_error_set(err, perr.field, "%s", perr.reason);
        return rc;
    }
    if (rc != 0)
        tsr_error_set(err, "", "%s", tsr_strerror(rc));
    return rc;
}

int tsr_reader_open(tsr_reader_t **out, const char *path, tsr_error_t *err)
{
    *out = NULL;
    tsr_error_at(err, path, 0);
    const char *dot = strrchr(path, '.');
    bool csv = dot && strcasecmp(dot, ".csv") == 0;
    bool jsonl = dot && (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".json") == 0 ||
                         strcasecmp(dot, ".ndjson") == 0);
    if (!csv && !jsonl)
        return tsr_error_set(err, "",
                             "unknown file type: name it .jsonl (JSON Lines, also .json or "
                             ".ndjson) or .csv");
    tsr_reader_t *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        tsr_error_set(err, "", "out of memory");
        return TSR_ENOMEM;
    }
    r->csv = csv;
    int rc = TSR_OK;
    if (csv) {
        rc = s_open_csv(r, err);
    } else if (!(r->f = fopen(path, "r"))) {
        tsr_error_set(err, "", "cannot open: %s", strerror(errno));
        rc = TSR_EIO;
    }
    if (rc != 0) {
        tsr_reader_destroy(&r);
        return rc;
    }
    *out = r;
    return TSR_OK;
}

static int s_next_jsonl(tsr_reader_t *r, const tsr_record_ctx_t *ctx, tsr_incident_t *out,
                        char case_ref[TSR_CASE_REF_MAX], tsr_error_t *err)
{
    for (;;) {
        errno = 0;
        ssize_t n = getline(&r->buf, &r->cap, r->f);
        if (n < 0) {
            r->done = true;
            if (ferror(r->f)) {
                tsr_error_at(err, r->path, r->physical + 1);
                tsr_error_set(err, "", "read error: %s", strerror(errno));
                return TSR_EIO;
            }
            return 0;
        }
        r->physical++;
        const char *p = r->buf;
        size_t len = (size_t)n;
        if (r->physical == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
            p += 3, len -= 3;
        if (s_blank(p, len))
            continue;
        r->line = r->physical;
        tsr_error_at(err, r->path, r->line);
        json_error_t jerr;
        json_t *obj = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj)
            return tsr_error_set(err, "(json)", "%s", jerr.text);
        int rc = tsr_record_minimise(out, case_ref, obj, ctx, err);
        json_decref(obj);
        return rc == 0 ? 1 : rc;
    }
}

static int s_next_csv(tsr_reader_t *r, const tsr_record_ctx_t *ctx, tsr_incident_t *out,
                      char case_ref[TSR_CASE_REF_MAX], tsr_error_t *err)
{
    /* the next row: fed from the file a line at a time, never more */
    while (r->next == r->nrows && !r->csv_done) {
        r->next = r->nrows = 0;
        tsr_error_t perr;
        tsr_error_clear(&perr);
        int rc = s_csv_step(r, &perr);
        if (rc == TSR_EINVAL) {
            /* Syntax error: deliver the rows before it first. */
            r->pending = true;
            r->err_pending = perr;
            tsr_error_at(&r->err_pending, r->path, perr.line);
        } else if (rc != 0) {
            if (err)
                *err = perr;
            if (rc == TSR_ENOMEM)
                tsr_error_set(err, "", "out of memory");
            r->done = true;
            return rc;
        }
    }
    if (r->next < r->nrows) {
        s_row_t *row = &r->rows[r->next++];
        r->line = row->line;
        tsr_error_at(err, r->path, row->line);
        if (row->n != r->ncols)
            return tsr_error_set(err, "", "has %zu cells, the header has %zu", row->n, r->ncols);
        json_t *obj;
        s_idsrc_t *src;
        int rc = s_row_to_json(r, row, &obj, &src, err);
        s_free_row(row, r->ncols); /* done with it either way */
        if (rc != 0)
            return rc;
        rc = tsr_record_minimise(out, case_ref, obj, ctx, err);
        if (rc != 0)
            s_rename_id_field(r, src, json_array_size(json_object_get(obj, "identifiers")), err);
        free(src);
        json_decref(obj);
        return rc == 0 ? 1 : rc;
    }
    r->done = true;
    if (r->pending) {
        r->pending = false;
        r->line = r->err_pending.line;
        if (err)
            *err = r->err_pending;
        return TSR_EINVAL;
    }
    return 0;
}

int tsr_reader_next(tsr_reader_t *r, const tsr_record_ctx_t *ctx, tsr_incident_t *out,
                    char case_ref[TSR_CASE_REF_MAX], tsr_error_t *err)
{
    case_ref[0] = '\0';
    if (r->done && !r->pending)
        return 0;
    int rc =
        r->csv ? s_next_csv(r, ctx, out, case_ref, err) : s_next_jsonl(r, ctx, out, case_ref, err);
    if (rc == TSR_ENOMEM || rc == TSR_EIO) {
        r->done = true; /* nothing later in the file can be trusted */
        r->pending = false;
    }
    return rc;
}

long tsr_reader_line(const tsr_reader_t *r)
{
    return r->line;
}

void tsr_reader_destroy(tsr_reader_t **r_p)
{
    if (!r_p || !*r_p)
        return;
    tsr_reader_t *r = *r_p;
    if (r->f)
        fclose(r->f);
    tsr_csv_destroy(&r->parser);
    free(r->buf);
    for (size_t i = 0; i < r->nrows; i++)
        s_free_row(&r->rows[i], r->ncols);
    free(r->rows);
    for (size_t i = 0; i < r->ncols; i++)
        free(r->cols[i].name);
    free(r->cols);
    free(r->path);
    free(r);
    *r_p = NULL;
}
