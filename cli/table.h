/* table.h - what `tessera` prints as rows: one table, three forms
 * (--format table|csv|json).
 *
 * A command describes its columns once, adds its rows as text, and prints
 * them as a table for people (every column as wide as its widest cell, so a
 * long agency id never shifts the others), as RFC 4180 CSV (a field with a
 * comma, quote, CR or LF, or spaces at either end, is quoted, quotes
 * doubled), or as JSON through jansson (an array of objects keyed by the
 * column names, values typed by the column).
 */
#ifndef CLI_TABLE_H
#define CLI_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { CLI_FORMAT_TABLE = 1, CLI_FORMAT_CSV, CLI_FORMAT_JSON } cli_format_t;

/* "table", "csv" or "json" into *out: 0, or -1 for anything else. */
int cli_format_parse(const char *name, cli_format_t *out);

/* cli_format_parse for `tessera CMD --format NAME`: 0, or 2 (the usage
 * exit code) after saying on stderr which names there are. */
int cli_format_option(const char *cmd, const char *name, cli_format_t *out);

typedef enum {
    CLI_COL_TEXT = 1, /* a string; "" is JSON null, "-" in a table */
    CLI_COL_INT,      /* a whole number in decimal; JSON integer ("" is null) */
    CLI_COL_BOOL,     /* "yes" or "no"; JSON true or false */
    CLI_COL_LIST,     /* comma-separated; a JSON array of strings ("" is []) */
    CLI_COL_QUOTED,   /* CLI_COL_TEXT, always quoted in CSV (scripts match on the quote) */
} cli_col_type_t;

typedef struct {
    const char *name; /* header and JSON key */
    cli_col_type_t type;
    bool right; /* right-aligned in a table (counts) */
} cli_col_t;

typedef struct cli_table cli_table_t;

/* A table of ncols columns (cols is kept, not copied: it must outlive the
 * table) into *out; free with cli_table_destroy. Returns 0 or TSR_ENOMEM. */
int cli_table_new(cli_table_t **out, const cli_col_t *cols, size_t ncols);

/* Adds a row of ncols cells (copied; NULL is ""). Returns 0 or TSR_ENOMEM. */
int cli_table_add(cli_table_t *t, const char *const *cells);

/* The rows added so far. */
size_t cli_table_rows(const cli_table_t *t);

/* The rows as a JSON array of objects (a new reference; NULL when out of
 * memory, or when an INT cell is not a number: a programming error). */
json_t *cli_table_json(const cli_table_t *t);

/* Prints the header and the rows in format f to fp: a table with two
 * spaces between columns and no trailing spaces, CSV with a header line,
 * or the JSON array, indented. Returns 0, TSR_ENOMEM or TSR_EIO. */
int cli_table_print(const cli_table_t *t, cli_format_t f, FILE *fp);

/* The end of a command's rows: when rc (of filling *t_p) is 0 prints them
 * in format f to stdout; destroys *t_p either way; on a failure says so as
 * "tessera CMD: why". Returns the exit code: 0, or 1. */
int cli_table_finish(const char *cmd, cli_table_t **t_p, int rc, cli_format_t f);

/* Frees t and sets *t_p to NULL; NULL is fine. */
void cli_table_destroy(cli_table_t **t_p);

/* Writes s as one CSV field (quoted when it must be, or always). */
void cli_csv_field(FILE *fp, const char *s, bool always_quote);

#endif
