/* codes.h - the closed code lists and the ONS area list.
 *
 * Source of truth: the CSV files in schemas/codes/, embedded into the library at build
 * time (cmake/embed.cmake), so programs need no data directory. A list's
 * values are its CSV `value` column and equal the wire enum numbers of
 * proto/tessera.proto; 0 is never a valid value. Tables are parsed once, on
 * first use, and are read-only afterwards (safe to share between threads).
 */
#ifndef TESSERA_CODES_H
#define TESSERA_CODES_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    TSR_CODES_AGENCY_TYPE = 0,
    TSR_CODES_AGE_BAND,
    TSR_CODES_GENDER,
    TSR_CODES_PLATFORM,
    TSR_CODES_SERVICE,
    TSR_CODES_DEMAND,
    TSR_CODES_AMOUNT_BAND,
    TSR_CODES_PAID,
    TSR_CODES_PAYMENT_METHOD,
    TSR_CODES_TACTIC,
    TSR_CODES_RISK,
    TSR_CODES_ACTION,
    TSR_CODES__COUNT
} tsr_codes_list_t;

/* Largest value a list can hold; lists are stored as bitmasks of uint32_t. */
#define TSR_CODES_MAX_VALUE 31

/* The list's file stem ("platforms") and singular field name ("platform"). */
const char *tsr_codes_list_file(tsr_codes_list_t list);

/* Value of `name` in list (> 0), or TSR_ENOTFOUND. Exact match. */
int tsr_codes_value(tsr_codes_list_t list, const char *name);

/* Name of `value` in list, or NULL when the value is not in the list. The
 * string lives as long as the program. */
const char *tsr_codes_name(tsr_codes_list_t list, int value);

/* Human label (the CSV description) of `value`, or NULL. */
const char *tsr_codes_label(tsr_codes_list_t list, int value);

/* Highest value in list (values run 1..max without gaps). */
int tsr_codes_max(tsr_codes_list_t list);

/* Writes into buf a comma-separated list of the valid names (for error
 * messages: "expected one of: ..."). Returns buf. */
const char *tsr_codes_expected(tsr_codes_list_t list, char *buf, unsigned cap);

/* --- Areas (schemas/codes/areas.csv) ------------------------------------ */

typedef struct tsr_area {
    const char *code;        /* "E08000035" */
    const char *name;        /* "Leeds" */
    const char *tier;        /* "metropolitan_district", ... */
    const char *region_code; /* "E12000003" */
    const char *region_name; /* "Yorkshire and The Humber" */
} tsr_area_t;

/* The area with that ONS code, or NULL. */
const tsr_area_t *tsr_area_find(const char *code);

/* For a code retired by a reorganisation, the successor code(s) separated by
 * ", " ("E06000063, E06000064"); NULL if the code was never retired. */
const char *tsr_area_successors(const char *code);

/* Number of areas, and the i-th (0-based, file order). */
int tsr_area_count(void);
const tsr_area_t *tsr_area_at(int i);

/* True when code is a region code of some area (E12000003, W92000004...). */
bool tsr_region_exists(const char *code);

/* The name of a region ("Yorkshire and The Humber"), or NULL. */
const char *tsr_region_name(const char *code);

/* Checks that the area code is current; on failure fills err (field names
 * `field`) with the reason, naming the successor for a retired code. */
struct tsr_error;
int tsr_area_check(const char *code, const char *field, struct tsr_error *err);

#endif
