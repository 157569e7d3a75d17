/* record.h - the incident record: the agency's raw input, and the minimised
 * record that may travel (DESIGN.md sections 2 and 4).
 *
 * Input is JSON Lines (schemas/incident.schema.json) or CSV with a header row
 * of the same field names (lists separated by ';'). The reader validates each
 * line, minimises it (age -> band, dates -> day or ISO-week Monday, amounts ->
 * bands, identifiers -> tokens) and drops everything that is local only
 * (names, dates of birth, addresses, school names, notes). The case reference
 * never leaves: it is hashed into the record id, and handed back to the caller
 * only so the agent can keep its local record id -> case reference map.
 *
 * Strictness: a field the schema does not know is an error, not ignored, so a
 * typo ("contact_platfroms") never loses data silently. Fields that are local
 * information (child_name, date_of_birth, school_name, address, postcode,
 * notes, case_worker, and any name starting with "local_") are accepted and
 * dropped without being looked at.
 */
#ifndef TESSERA_RECORD_H
#define TESSERA_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/canon.h"
#include "tessera/date.h"
#include "tessera/token.h"

struct tsr_error;
struct json_t;

/* Bounds of repeated fields; the wire decoder enforces the same. */
#define TSR_MAX_TOKENS 64
/* An area code ("E08000035") is 9 bytes in stored records and index keys
 * (NUL-padded, no NUL), TSR_AREA_CODE_MAX with its NUL in memory. */
#define TSR_AREA_KEY_LEN 9
#define TSR_AREA_CODE_MAX (TSR_AREA_KEY_LEN + 1)
#define TSR_CASE_REF_MAX 128 /* 127 bytes + NUL */
/* A relayed record's agency id (wire Incident.agency_id; issue 19): 1-63
 * bytes and its NUL. */
#define TSR_AGENCY_ID_MAX 64

/* Dates before this day (2000-01-01) are refused as typing errors. With week
 * coarsening a day may become the Monday before it (1999-12-27 at worst). */
#define TSR_RECORD_EARLIEST_DAY 10957

typedef struct tsr_token {
    char kind[TSR_KIND_MAX];
    uint32_t key_id;
    uint8_t token[TSR_TOKEN_LEN];
} tsr_token_t;

/* Date precision values; equal to the wire enum DatePrecision. */
enum { TSR_PRECISION_DAY = 1, TSR_PRECISION_ISO_WEEK = 2 };

/* A minimised incident. Single codes are values of the lists in codes.h
 * (never 0 once valid); list fields are bitmasks: bit v set = value v.
 * tokens[] is sorted (kind, then key_id, then token bytes) and holds no
 * duplicates, so the same incident gives the same record whatever the order
 * of its identifiers in the input. */
typedef struct tsr_incident {
    uint8_t record_id[TSR_RECORD_ID_LEN];
    uint32_t version;                 /* >= 1 */
    int agency_type;                  /* TSR_CODES_AGENCY_TYPE */
    char area_code[TSR_AREA_CODE_MAX];
    int32_t reported_day;             /* days since 1970-01-01 */
    int32_t first_contact_day;        /* days since 1970-01-01; 0 = not known */
    int date_precision;               /* TSR_PRECISION_* */
    int age_band;                     /* TSR_CODES_AGE_BAND */
    int gender;                       /* TSR_CODES_GENDER */
    uint32_t contact_platforms;       /* TSR_CODES_PLATFORM bits */
    uint32_t moved_to_platforms;      /* TSR_CODES_PLATFORM bits */
    uint32_t demands;                 /* TSR_CODES_DEMAND bits */
    int amount_demanded_band;         /* TSR_CODES_AMOUNT_BAND */
    int amount_paid_band;             /* TSR_CODES_AMOUNT_BAND */
    int paid;                         /* TSR_CODES_PAID */
    uint32_t payment_methods;         /* TSR_CODES_PAYMENT_METHOD bits */
    uint32_t tactics;                 /* TSR_CODES_TACTIC bits */
    uint32_t risks;                   /* TSR_CODES_RISK bits */
    uint32_t actions;                 /* TSR_CODES_ACTION bits */
    size_t n_tokens;
    tsr_token_t tokens[TSR_MAX_TOKENS];
    /* Set only by a relay (a collector forwarding upstream): the agency id
     * its own agent authenticated as; "" from an agent. Never stored as
     * such: the store namespaces it by the relay (store.h). */
    char agency_id[TSR_AGENCY_ID_MAX];
} tsr_incident_t;

/* What the agency's configuration adds to every record. */
typedef struct tsr_record_ctx {
    const char *agency_id;      /* agent's id, hashed into record ids */
    int agency_type;            /* TSR_CODES_AGENCY_TYPE value */
    const char *default_area;   /* used when a record has no area_code; may be NULL */
    bool week_coarsening;       /* dates -> Monday of their ISO week */
    tsr_canon_opts_t canon;     /* phone default country code */
    /* Network keys: tokens are made with each (two during a key rotation).
     * keys[0] makes the record id. */
    const tsr_netkey_t *keys[2];
    size_t n_keys;
    int32_t today;              /* days since epoch; 0 = the real today (UTC) */
} tsr_record_ctx_t;

/* Validates and minimises one input object (a parsed JSON line, or a CSV row
 * turned into the same shape). Fills out and case_ref (the agency's
 * reference, for the local map only). in is only read; the caller keeps it.
 *
 * On failure returns TSR_EINVAL with err's field and reason set, keeping err's
 * file and line (the caller sets them); field names the input field, e.g.
 * "contact_platforms" or "identifiers[2].value". out is then unspecified and
 * case_ref holds the record's case reference if that field itself was valid
 * (so the agency can find the case to fix), else "". Also TSR_EINVAL, field
 * "", when ctx is unusable (no agency id, no key, unknown agency type).
 * Failures that are not the input's fault keep their own code (TSR_ENOMEM,
 * TSR_ECRYPTO from the token module), with err's reason saying so.
 *
 * Other rules: an explicit paid "no" with amount_paid_gbp above 0 is refused
 * as a contradiction; the case reference is trimmed of surrounding blanks.
 * JSON null in an optional field means "not given". ctx->today 0 means the
 * real today (UTC); dates after today + 1 are refused (the +1 allows for
 * time zones). */
int tsr_record_minimise(tsr_incident_t *out, char case_ref[TSR_CASE_REF_MAX],
                        const struct json_t *in, const tsr_record_ctx_t *ctx,
                        struct tsr_error *err);

/* Reader over one input file: JSON Lines (.jsonl, .json, .ndjson) or CSV
 * (.csv), chosen by extension (case-insensitive). A UTF-8 byte-order mark at
 * the start of the file is skipped.
 *
 * JSON Lines: one object per physical line; blank lines are skipped; a line
 * that is not valid JSON is an invalid record ("FILE:LINE: (json): <jansson's
 * message>") and the reader goes on with the next line.
 *
 * CSV (RFC 4180, via tsr_csv_parse): the first row is the header, with the
 * JSON field names plus one column per identifier kind named "id:<kind>"
 * (e.g. "id:phone"). An empty cell means "not given"; list cells and id:
 * cells hold several values separated by ';' (blank items are skipped);
 * numbers must be plain decimals such as 250 or 49.99 (no exponent, '£' or
 * thousands separators). Columns of local fields are not even copied. Each
 * row is turned into the JSON shape and validated by tsr_record_minimise, so
 * both formats follow one set of rules; an identifier error names its column
 * ("id:phone", or "id:phone[1]" for the second value of a cell). A CSV
 * syntax error (such as an unclosed quote) is reported after the rows before
 * it, and ends the file, because nothing after it can be trusted to be split
 * correctly.
 *
 * Both formats are read a line at a time (a CSV row whose quoted field holds
 * newlines, until it closes): the reader's memory does not grow with the
 * file, and a file can be a pipe. */
typedef struct tsr_reader tsr_reader_t;

/* Opens path. Returns 0, or TSR_EIO / TSR_EINVAL / TSR_ENOMEM with err
 * filled (file set; for a bad CSV header also line and the column as field:
 * an unknown or repeated column refuses the whole file, since every row
 * would fail). *out is owned by the caller: free with tsr_reader_destroy(). */
int tsr_reader_open(tsr_reader_t **out, const char *path, struct tsr_error *err);

/* Next record. Returns 1 and fills the record, 0 at end of file, or
 * TSR_EINVAL for an invalid record with err = "FILE:LINE: FIELD: reason";
 * after an invalid record the caller may call again for the next one.
 * case_ref as for tsr_record_minimise ("" when the line could not be read).
 * TSR_EIO (read error) and TSR_ENOMEM end the file: later calls return 0. */
int tsr_reader_next(tsr_reader_t *r, const tsr_record_ctx_t *ctx, tsr_incident_t *out,
                    char case_ref[TSR_CASE_REF_MAX], struct tsr_error *err);

/* Line of the record last returned (1-based). */
long tsr_reader_line(const tsr_reader_t *r);

/* Closes the file and frees the reader; sets *r_p to NULL. */
void tsr_reader_destroy(tsr_reader_t **r_p);

/* The minimised record as a JSON object, exactly the fields that travel,
 * with codes by name, days as ISO dates and tokens in hex:
 *   record_id, version, agency_type, area_code, reported_date,
 *   first_contact_date (left out when 0), date_precision ("day"/"iso_week"),
 *   age_band, gender, contact_platforms[], moved_to_platforms[], demands[],
 *   amount_demanded_band, amount_paid_band, paid, payment_methods[],
 *   tactics[], risks[], actions[], offender_tokens[{kind, key_id, token}].
 * Lists are always present (possibly empty), names in value order. Caller
 * owns the returned reference (json_decref). NULL on allocation failure, or
 * when inc holds a value outside its code list (it was not made by
 * tsr_record_minimise or checked by the wire decoder). */
struct json_t *tsr_incident_to_json(const tsr_incident_t *inc);

/* --- bands ------------------------------------------------------------- */

/* Age in whole years (0..120) -> TSR_CODES_AGE_BAND value: under_11 (< 11),
 * 11_12, 13_15, 16_17, 18_24, 25_plus. TSR_EINVAL outside 0..120. */
int tsr_record_age_band(long age);

/* Amount in GBP (>= 0) -> TSR_CODES_AMOUNT_BAND value: none (0), 1_49 (more
 * than 0, under 50), 50_99, 100_249, 250_499, 500_999, 1000_2499, 2500_plus.
 * Bands are half-open, so 49.99 is 1_49 and 50 is 50_99. TSR_EINVAL for a
 * negative or non-finite amount. */
int tsr_record_amount_band(double gbp);

#endif
