/* table.c - rows printed as a table, CSV or JSON (table.h). */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/err.h"

struct cli_table {
    const cli_col_t *cols;
    size_t ncols;
    char **cells; /* rows * ncols, row-major */
    size_t rows, cap;
};

int cli_format_parse(const char *name, cli_format_t *out)
{
    static const struct {
        const char *name;
        cli_format_t f;
    } forms[] = {{"table", CLI_FORMAT_TABLE}, {"csv", CLI_FORMAT_CSV}, {"json", CLI_FORMAT_JSON}};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (!strcmp(name, forms[i].name)) {
            *out = forms[i].f;
            return 0;
        }
    return -1;
}

int cli_format_option(const char *cmd, const char *name, cli_format_t *out)
{
    if (cli_format_parse(name, out) == 0)
        return 0;
    fprintf(stderr, "tessera %s: --format %s: write table, csv or json\n", cmd, name);
    return 2;
}

int cli_table_new(cli_table_t **out, const cli_col_t *cols, size_t ncols)
{
    cli_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return TSR_ENOMEM;
    t->cols = cols;
    t->ncols = ncols;
    *out = t;
    return 0;
}

int cli_table_add(cli_table_t *t, const char *const *cells)
{
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **grown = realloc(t->cells, cap * t->ncols * sizeof *grown);
        if (!grown)
            return TSR_ENOMEM;
        t->cells = grown;
        t->cap = cap;
    }
    char **row = &t->cells[t->rows * t->ncols];
    for (size_t c = 0; c < t->ncols; c++) {
        row[c] = strdup(cells[c] ? cells[c] : "");
        if (!row[c]) {
            while (c > 0)
                free(row[--c]);
            return TSR_ENOMEM;
        }
    }
    t->rows++;
    return 0;
}

size_t cli_table_rows(const cli_table_t *t)
{
    return t->rows;
}

int cli_table_finish(const char *cmd, cli_table_t **t_p, int rc, cli_format_t f)
{
    if (rc == 0)
        rc = cli_table_print(*t_p, f, stdout);
    cli_table_destroy(t_p);
    if (rc != 0)
        fprintf(stderr, "tessera %s: %s\n", cmd, tsr_strerror(rc));
    return rc != 0;
}

void cli_table_destroy(cli_table_t **t_p)
{
    cli_table_t *t = *t_p;
    if (!t)
        return;
    for (size_t i = 0; i < t->rows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
    *t_p = NULL;
}

/* One cell as JSON, typed by its column; NULL for an INT that is not one. */
static json_t *s_json_cell(const cli_col_t *col, const char *s)
{
    switch (col->type) {
    case CLI_COL_INT: {
        if (!*s)
            return json_null();
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        return errno || *end ? NULL : json_integer((json_int_t)v);
    }
    case CLI_COL_BOOL:
        return json_boolean(!strcmp(s, "yes"));
    case CLI_COL_LIST: {
        json_t *a = json_array();
        for (const char *p = s; a && *p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (json_array_append_new(a, json_stringn(p, len)) != 0) {
                json_decref(a);
                return NULL;
            }
            p += len + (comma ? 1 : 0);
        }
        return a;
    }
    case CLI_COL_TEXT:
    case CLI_COL_QUOTED:
        break;
    }
    return *s ? json_string(s) : json_null();
}

json_t *cli_table_json(const cli_table_t *t)
{
    json_t *arr = json_array();
    for (size_t r = 0; arr && r < t->rows; r++) {
        json_t *o = json_object();
        if (!o || json_array_append_new(arr, o) != 0)
            goto fail;
        for (size_t c = 0; c < t->ncols; c++) {
            json_t *v = s_json_cell(&t->cols[c], t->cells[r * t->ncols + c]);
            if (!v || json_object_set_new(o, t->cols[c].name, v) != 0)
                goto fail;
        }
    }
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

void cli_csv_field(FILE *fp, const char *s, bool always_quote)
{
    size_t n = strlen(s);
    bool quote = always_quote || strpbrk(s, ",\"\r\n") != NULL ||
                 (n > 0 && (s[0] == ' ' || s[n - 1] == ' ' || s[0] == '\t' || s[n - 1] == '\t'));
    if (!quote) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', fp);
        fputc(*p, fp);
    }
    fputc('"', fp);
}

/* A table cell as shown: "-" for an empty one. */
static const char *s_shown(const char *s)
{
    return *s ? s : "-";
}

/* Columns s takes on a terminal: its UTF-8 code points (area names are
 * not all ASCII), not its bytes. */
static size_t s_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void s_print_table(const cli_table_t *t, FILE *fp, size_t *w)
{
    for (size_t c = 0; c < t->ncols; c++)
        w[c] = s_width(t->cols[c].name);
    for (size_t i = 0; i < t->rows * t->ncols; i++) {
        size_t n = s_width(s_shown(t->cells[i]));
        if (n > w[i % t->ncols])
            w[i % t->ncols] = n;
    }
    for (size_t r = 0; r <= t->rows; r++) { /* r == 0: the header */
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = r == 0 ? t->cols[c].name : s_shown(t->cells[(r - 1) * t->ncols + c]);
            bool last = c + 1 == t->ncols;
            int pad = (int)(w[c] - s_width(s));
            if (t->cols[c].right)
                fprintf(fp, "%*s%s", pad, "", s);
            else
                fprintf(fp, "%s%*s", s, last ? 0 : pad, "");
            fputs(last ? "\n" : "  ", fp);
        }
    }
}

int cli_table_print(const cli_table_t *t, cli_format_t f, FILE *fp)
{
    if (f == CLI_FORMAT_JSON) {
        json_t *arr = cli_table_json(t);
        char *text = arr ? json_dumps(arr, JSON_INDENT(1)) : NULL;
        json_decref(arr);
        if (!text)
            return TSR_ENOMEM;
        fputs(text, fp);
        fputc('\n', fp);
        free(text);
    } else if (f == CLI_FORMAT_CSV) {
        for (size_t r = 0; r <= t->rows; r++)
            for (size_t c = 0; c < t->ncols; c++) {
                const char *s = r == 0 ? t->cols[c].name : t->cells[(r - 1) * t->ncols + c];
                cli_csv_field(fp, s, r > 0 && t->cols[c].type == CLI_COL_QUOTED);
                fputc(c + 1 == t->ncols ? '\n' : ',', fp);
            }
    } else {
        size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof *w);
        if (!w)
            return TSR_ENOMEM;
        s_print_table(t, fp, w);
        free(w);
    }
    return ferror(fp) ? TSR_EIO : 0;
}
