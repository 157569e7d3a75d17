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
 */
#ifndef TESSERA_RECORD_H
#define TESSERA_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/canon.h"
#include "tessera/token.h"

struct tsr_error;
struct json_t;

/* Bounds of repeated fields; the wire decoder enforces the same. */
#define TSR_MAX_TOKENS 64
#define TSR_AREA_CODE_MAX 10 /* "E08000035" + NUL */
#define TSR_CASE_REF_MAX 128

typedef struct tsr_token {
    char kind[TSR_KIND_MAX];
    uint32_t key_id;
    uint8_t token[TSR_TOKEN_LEN];
} tsr_token_t;

/* Date precision values; equal to the wire enum DatePrecision. */
enum { TSR_PRECISION_DAY = 1, TSR_PRECISION_ISO_WEEK = 2 };

/* A minimised incident. Single codes are values of the lists in codes.h
 * (never 0 once valid); list fields are bitmasks: bit v set = value v. */
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
 * reference, for the local map only). On failure returns TSR_EINVAL with
 * err's field and reason set (the caller sets file and line). */
int tsr_record_minimise(tsr_incident_t *out, char case_ref[TSR_CASE_REF_MAX],
                        const struct json_t *in, const tsr_record_ctx_t *ctx,
                        struct tsr_error *err);

/* Reader over one input file: JSON Lines (.jsonl, .json, .ndjson) or CSV
 * (.csv), chosen by extension. */
typedef struct tsr_reader tsr_reader_t;

/* Opens path. Returns 0, or TSR_EIO / TSR_EINVAL with err filled. *out is
 * owned by the caller: free with tsr_reader_destroy(). */
int tsr_reader_open(tsr_reader_t **out, const char *path, struct tsr_error *err);

/* Next record. Returns 1 and fills the record, 0 at end of file, or
 * TSR_EINVAL for an invalid record with err = "FILE:LINE: FIELD: reason";
 * after an invalid record the caller may call again for the next one. */
int tsr_reader_next(tsr_reader_t *r, const tsr_record_ctx_t *ctx, tsr_incident_t *out,
                    char case_ref[TSR_CASE_REF_MAX], struct tsr_error *err);

/* Line of the record last returned (1-based). */
long tsr_reader_line(const tsr_reader_t *r);

/* Closes the file and frees the reader; sets *r_p to NULL. */
void tsr_reader_destroy(tsr_reader_t **r_p);

/* The minimised record as a JSON object, exactly the fields that travel,
 * with codes by name, days as ISO dates and tokens in hex. Caller owns the
 * returned reference (json_decref). NULL on allocation failure. */
struct json_t *tsr_incident_to_json(const tsr_incident_t *inc);

/* --- days -------------------------------------------------------------- */

/* "YYYY-MM-DD" (a real calendar date) -> days since 1970-01-01. */
int tsr_day_parse(const char *iso, int32_t *out);

/* days since 1970-01-01 -> "YYYY-MM-DD" in out (11 bytes). Returns out. */
char *tsr_day_format(char out[11], int32_t day);

/* Monday of the ISO week holding day. */
int32_t tsr_day_week_monday(int32_t day);

/* Today (UTC) in days since 1970-01-01. */
int32_t tsr_day_today(void);

#endif
