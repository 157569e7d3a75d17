/* csv.h - CSV reading through libcsv, with line numbers for error messages.
 *
 * RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines.
 * Leading and trailing spaces of unquoted fields are trimmed.
 */
#ifndef TESSERA_CSV_H
#define TESSERA_CSV_H

#include <stddef.h>

struct tsr_error;

/* Called once per row with its fields (NUL-terminated, owned by the parser,
 * valid only during the call) and the line on which the row starts (1-based).
 * Blank lines are skipped. Return 0 to go on, or a negative TSR_E* code to
 * stop the parse with that code. */
typedef int (*tsr_csv_row_fn)(void *ctx, char **fields, size_t nfields, long line);

/* Parses the buffer. On a CSV syntax error fills err (with the line) and
 * returns TSR_EINVAL; otherwise returns what the last callback returned or 0. */
int tsr_csv_parse(const char *data, size_t len, tsr_csv_row_fn fn, void *ctx,
                  struct tsr_error *err);

/* The same parse, fed a line at a time, so a file of any size is read with
 * one line in memory (plus the row a quoted field keeps open).
 *
 *   tsr_csv_new     a parser calling fn(ctx, ...) for each row; *out owned by
 *                   the caller (tsr_csv_destroy). TSR_ENOMEM.
 *   tsr_csv_feed    one physical line with its '\n' (the last may have none);
 *                   rows it completes are passed to fn during the call.
 *                   Returns 0, what fn returned to stop, or TSR_EINVAL with
 *                   err = the line and "CSV syntax: ..." on a syntax error.
 *   tsr_csv_finish  end of input: the last row, or the syntax error of an
 *                   unterminated quoted field (on the last line fed).
 *
 * After an error, or after finish, feed and finish only return an error. */
typedef struct tsr_csv tsr_csv_t;

int tsr_csv_new(tsr_csv_t **out, tsr_csv_row_fn fn, void *ctx);
int tsr_csv_feed(tsr_csv_t *p, const char *line, size_t len, struct tsr_error *err);
int tsr_csv_finish(tsr_csv_t *p, struct tsr_error *err);
void tsr_csv_destroy(tsr_csv_t **p_p);

#endif
