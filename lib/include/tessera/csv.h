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

#endif
