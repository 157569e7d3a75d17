/* record.c - the agency's raw incident -> validated, minimised record.
 *
 * One validation path: a CSV row is first turned into the same JSON object a
 * JSON line would be, then both go through tsr_record_minimise. What leaves
 * this file in a tsr_incident_t is only bands, codes, days, an area code and
 * keyed tokens (DESIGN.md section 2).
 */
#include "record_int.h"
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

/* Index into s_fields, S_FIELD_LOCAL or S_FIELD_UNKNOWN. */
int tsr_record_field_class(const char *name)
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

s_type_t tsr_record_field_type(int field)
{
    return s_fields[field].type;
}

/* Copies at most max bytes of s into out (cap bytes), ending with "..." when
 * cut, never in the middle of a UTF-8 sequence. For echoing bad values. */
const char *tsr_record_shorten(char *out, size_t cap, const char *s, size_t max)
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
    tsr_record_shorten(shown, sizeof shown, value, 40);
    if (fixed + strlen(shown) + strlen(names) > room) {
        size_t o = 0;
        for (const char *c = names; *c; c++)
            if (!(*c == ' ' && c > names && c[-1] == ','))
                names[o++] = *c; /* o never passes c: in place is safe */
        names[o] = '\0';
        size_t left = fixed + o < room ? room - fixed - o : 0;
        tsr_record_shorten(shown, sizeof shown, value, left > 3 ? left - 3 : 0);
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
                             tsr_record_shorten(shown, sizeof shown, s, 40));
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

/* Unknown fields first: a typo must not pass as a missing field.
 * (jansson's iterator takes a non-const object; it only reads.) */
static int s_unknown_fields(const json_t *in, tsr_error_t *err)
{
    const char *key;
    json_t *v;
    char shown[64];
    json_object_foreach((json_t *)in, key, v)
    {
        if (tsr_record_field_class(key) != S_FIELD_UNKNOWN)
            continue;
        if (strncmp(key, "id:", 3) == 0)
            return tsr_error_set(err, key,
                                 "id:<kind> columns are for CSV; in JSON put identifiers "
                                 "in the identifiers array");
        return tsr_error_set(err, tsr_record_shorten(shown, sizeof shown, key, 40), "%s",
                             S_UNKNOWN_FIELD);
    }
    return TSR_OK;
}

/* The area (or the configured default) and the dates, coarsened to ISO
 * weeks when the agent is configured so. */
static int s_area_and_dates(tsr_incident_t *out, const json_t *in, const tsr_record_ctx_t *ctx,
                            tsr_error_t *err)
{
    const char *s;
    int rc;
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

    return TSR_OK;
}

/* An age becomes its band at once; age and age_band together are refused. */
static int s_age(tsr_incident_t *out, const json_t *in, tsr_error_t *err)
{
    int rc;
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
    return TSR_OK;
}

int tsr_record_minimise(tsr_incident_t *out, char case_ref[TSR_CASE_REF_MAX], const json_t *in,
                        const tsr_record_ctx_t *ctx, tsr_error_t *err)
{
    assert(out && case_ref && ctx);
    json_t *v;
    int rc;

    memset(out, 0, sizeof *out);
    case_ref[0] = '\0';
    if ((rc = s_check_ctx(ctx, err)) != 0)
        return rc;
    if (!in || !json_is_object(in))
        return tsr_error_set(err, "", "a record must be a JSON object, not %s",
                             in ? s_json_type(in) : "nothing");

    if ((rc = s_unknown_fields(in, err)) != 0)
        return rc;

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

    if ((rc = s_area_and_dates(out, in, ctx, err)) != 0)
        return rc;
    if ((rc = s_age(out, in, err)) != 0)
        return rc;
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
