/* date.h - days since 1970-01-01 (UTC, proleptic Gregorian), the one
 * representation of a date in records, series, alerts and queries. Text
 * (YYYY-MM-DD) only at the edges: parsed from input, formatted for people;
 * arithmetic on days is done on the integers, never through text. */
#ifndef TESSERA_DATE_H
#define TESSERA_DATE_H

#include <stdint.h>

/* "YYYY-MM-DD" (a real calendar date, proleptic Gregorian, exactly 10
 * characters) -> days since 1970-01-01. TSR_EINVAL otherwise (*out unset).
 * Pure arithmetic: no time zone, no mktime. */
int tsr_day_parse(const char *iso, int32_t *out);

/* days since 1970-01-01 -> "YYYY-MM-DD" in out (11 bytes). Returns out.
 * A day outside the years 0000..9999 gives "0000-00-00". */
char *tsr_day_format(char out[11], int32_t day);

/* Monday of the ISO week holding day (weeks start on Monday). */
int32_t tsr_day_week_monday(int32_t day);

/* Today (UTC) in days since 1970-01-01. */
int32_t tsr_day_today(void);

/* The same day of the month `months` months before day (months >= 0),
 * or that month's last day when it is shorter (31 March, 1 month back:
 * 28 or 29 February). */
int32_t tsr_day_months_back(int32_t day, int months);

#endif
