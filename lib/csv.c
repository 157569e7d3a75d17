/* csv.c - libcsv wrapper that collects each row and knows its line, over a
 * whole buffer or fed a line at a time. */
#include "tessera/csv.h"
#include "tessera/err.h"

#include <csv.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct tsr_csv {
    struct csv_parser p;
    char **fields;
    size_t n, cap;
    long line;        /* line currently being fed */
    long row_line;    /* line on which the current row started */
    int between_rows; /* no row in progress: the next non-blank line starts one */
    tsr_csv_row_fn fn;
    void *ctx;
    int rc;     /* first error from fn or allocation */
    bool ended; /* a syntax error or tsr_csv_finish: nothing more is parsed */
};

static void s_field(void *data, size_t len, void *p)
{
    tsr_csv_t *s = p;
    if (s->rc)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **f = realloc(s->fields, cap * sizeof *f);
        if (!f) {
            s->rc = TSR_ENOMEM;
            return;
        }
        s->fields = f;
        s->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        s->rc = TSR_ENOMEM;
        return;
    }
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    s->fields[s->n++] = copy;
}

static void s_free_row(tsr_csv_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->fields[i]);
    s->n = 0;
}

static void s_row(int c, void *p)
{
    (void)c;
    tsr_csv_t *s = p;
    if (!s->rc && s->n > 0) {
        /* A lone empty field is a blank line. */
        if (!(s->n == 1 && s->fields[0][0] == '\0'))
            s->rc = s->fn(s->ctx, s->fields, s->n, s->row_line);
    }
    s_free_row(s);
    s->between_rows = 1;
}

static int s_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != '\r' && p[i] != '\n')
            return 0;
    return 1;
}

int tsr_csv_new(tsr_csv_t **out, tsr_csv_row_fn fn, void *ctx)
{
    *out = NULL;
    tsr_csv_t *s = calloc(1, sizeof *s);
    if (!s)
        return TSR_ENOMEM;
    /* Strict: a stray quote or an unterminated quoted field is an error,
     * not a guess. */
    if (csv_init(&s->p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        free(s);
        return TSR_ENOMEM;
    }
    s->line = 1;
    s->fn = fn;
    s->ctx = ctx;
    s->between_rows = 1;
    *out = s;
    return TSR_OK;
}

int tsr_csv_feed(tsr_csv_t *s, const char *line, size_t len, tsr_error_t *err)
{
    if (s->rc || s->ended)
        return s->rc ? s->rc : TSR_EINVAL;
    /* A field's callback comes when the field ends, which for a quoted
     * field with newlines is lines later: note where the row begins. */
    if (s->between_rows && !s_blank(line, len)) {
        s->row_line = s->line;
        s->between_rows = 0;
    }
    if (csv_parse(&s->p, line, len, s_field, s_row, s) != len) {
        s->ended = true;
        tsr_error_at(err, NULL, s->line);
        return tsr_error_set(err, "", "CSV syntax: %s", csv_strerror(csv_error(&s->p)));
    }
    s->line++;
    return s->rc;
}

int tsr_csv_finish(tsr_csv_t *s, tsr_error_t *err)
{
    if (s->rc || s->ended)
        return s->rc ? s->rc : TSR_EINVAL;
    s->ended = true;
    if (csv_fini(&s->p, s_field, s_row, s) != 0) {
        tsr_error_at(err, NULL, s->line - 1);
        return tsr_error_set(err, "", "CSV syntax: %s", csv_strerror(csv_error(&s->p)));
    }
    return s->rc;
}

void tsr_csv_destroy(tsr_csv_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    tsr_csv_t *s = *s_p;
    s_free_row(s);
    free(s->fields);
    csv_free(&s->p);
    free(s);
    *s_p = NULL;
}

int tsr_csv_parse(const char *data, size_t len, tsr_csv_row_fn fn, void *ctx, tsr_error_t *err)
{
    tsr_csv_t *s;
    int rc = tsr_csv_new(&s, fn, ctx);
    if (rc != 0)
        return rc;
    /* Fed line by line so each row knows the line it starts on. */
    for (size_t pos = 0; pos < len && rc == 0;) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t chunk = nl ? (size_t)(nl - (data + pos)) + 1 : len - pos;
        rc = tsr_csv_feed(s, data + pos, chunk, err);
        pos += chunk;
    }
    if (rc == 0)
        rc = tsr_csv_finish(s, err);
    tsr_csv_destroy(&s);
    return rc;
}
