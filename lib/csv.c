/* csv.c - libcsv wrapper that collects each row and knows its line. */
#include "tessera/csv.h"
#include "tessera/err.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char **fields;
    size_t n, cap;
    long line;      /* line currently being fed */
    long row_line;  /* line on which the current row started */
    int between_rows; /* no row in progress: the next non-blank line starts one */
    tsr_csv_row_fn fn;
    void *ctx;
    int rc;         /* first error from fn or allocation */
} s_state_t;

static void s_field(void *data, size_t len, void *p)
{
    s_state_t *s = p;
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

static void s_free_row(s_state_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->fields[i]);
    s->n = 0;
}

static void s_row(int c, void *p)
{
    (void)c;
    s_state_t *s = p;
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

int tsr_csv_parse(const char *data, size_t len, tsr_csv_row_fn fn, void *ctx,
                  tsr_error_t *err)
{
    struct csv_parser p;
    /* Strict: a stray quote or an unterminated quoted field is an error,
     * not a guess. */
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        return TSR_ENOMEM;
    s_state_t s = {.line = 1, .fn = fn, .ctx = ctx, .between_rows = 1};
    int rc = 0;
    size_t pos = 0;
    /* Feed line by line so each row knows the line it starts on. */
    while (pos < len && !s.rc) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t chunk = nl ? (size_t)(nl - (data + pos)) + 1 : len - pos;
        /* A field's callback comes when the field ends, which for a quoted
         * field with newlines is lines later: note where the row begins. */
        if (s.between_rows && !s_blank(data + pos, chunk)) {
            s.row_line = s.line;
            s.between_rows = 0;
        }
        if (csv_parse(&p, data + pos, chunk, s_field, s_row, &s) != chunk) {
            tsr_error_at(err, NULL, s.line);
            rc = tsr_error_set(err, "", "CSV syntax: %s", csv_strerror(csv_error(&p)));
            goto out;
        }
        pos += chunk;
        s.line++;
    }
    if (!s.rc && csv_fini(&p, s_field, s_row, &s) != 0) {
        tsr_error_at(err, NULL, s.line - 1);
        rc = tsr_error_set(err, "", "CSV syntax: %s", csv_strerror(csv_error(&p)));
        goto out;
    }
    rc = s.rc;
out:
    s_free_row(&s);
    free(s.fields);
    csv_free(&p);
    return rc;
}
