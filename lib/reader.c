/* reader.c - an agency's export read record by record: JSON Lines, or CSV
 * whose rows become the same JSON objects, so both meet one validation
 * path (record.c). */
#include "record_int.h"
#include "tessera/canon.h"
#include "tessera/codes.h"
#include "tessera/csv.h"
#include "tessera/err.h"
#include "tessera/token.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* --- reader -------------------------------------------------------------- */

typedef enum { S_COL_FIELD, S_COL_ID, S_COL_SKIP } s_col_kind_t;

typedef struct {
    s_col_kind_t kind;
    int field;  /* S_COL_FIELD: tsr_record_field_class()'s index */
    char *name; /* header text; for S_COL_ID the kind is name + 3 */
} s_col_t;

typedef struct {
    char **cells; /* NULL when the cell count is wrong; NULL cells are local */
    size_t n;
    long line;
} s_row_t;

struct tsr_reader {
    char *path;
    bool csv;
    bool done;
    long line; /* line of the record last returned */
    /* both formats: the file, read a line at a time */
    FILE *f;
    long physical; /* lines read so far */
    char *buf;
    size_t cap;
    /* CSV: the header (read at open), the parser, and the rows its last
     * line completed (usually one; a quoted field can hold newlines) */
    tsr_csv_t *parser;
    bool csv_done; /* end of file, or a syntax error: nothing more to feed */
    s_col_t *cols;
    size_t ncols;
    bool header_bad; /* header refused: err_open says why */
    s_row_t *rows;
    size_t nrows, rows_cap, next;
    tsr_error_t err_open;
    bool pending; /* a CSV syntax error to report after the rows */
    tsr_error_t err_pending;
};

static bool s_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool s_utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s, n;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        for (unsigned i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        s += n + 1;
    }
    return true;
}

/* Whole number: optional '-', digits only; strtoll must use every byte. */
static bool s_parse_int(const char *s, long long *out)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    if (!*p)
        return false;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0';
}

/* Plain decimal: optional '-', digits, optional '.' and digits. Refuses what
 * strtod would also take (exponents, hex, inf, nan) so "1e3" is not 1000. */
static bool s_parse_decimal(const char *s, double *out)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    size_t digits = 0, dots = 0;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && dots++ == 0)
            continue;
        else
            return false;
    }
    if (digits == 0)
        return false;
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && *end == '\0' && isfinite(*out);
}

static char *s_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Splits cell in place at ';' into its non-empty, trimmed items. *items is
 * malloc'd (free it). Returns the count, or -1 on allocation failure. */
static long s_split(char *cell, char ***items)
{
    size_t n = 1;
    for (const char *c = cell; *c; c++)
        n += *c == ';';
    char **v = malloc(n * sizeof *v);
    if (!v)
        return -1;
    long k = 0;
    for (char *p = cell;;) {
        char *semi = strchr(p, ';');
        if (semi)
            *semi = '\0';
        char *item = s_trim(p);
        if (*item)
            v[k++] = item;
        if (!semi)
            break;
        p = semi + 1;
    }
    *items = v;
    return k;
}

/* Where each identifier of a CSV row came from, to name the column in an
 * error instead of "identifiers[i]". */
typedef struct {
    size_t col;
    long pos, count; /* position in its cell, values in the cell */
} s_idsrc_t;

/* A CSV row -> the JSON object a JSON line would hold. Cells of local
 * columns were never kept. */
static int s_row_to_json(const tsr_reader_t *r, const s_row_t *row, json_t **out,
                         s_idsrc_t **src_out, tsr_error_t *err)
{
    char shown[64];
    json_t *o = json_object(), *ids = NULL;
    s_idsrc_t *src = NULL;
    size_t nsrc = 0;
    char **items = NULL;
    int rc = TSR_ENOMEM;
    if (!o)
        goto fail;
    for (size_t i = 0; i < r->ncols; i++) {
        const s_col_t *col = &r->cols[i];
        char *cell = row->cells[i];
        if (col->kind == S_COL_SKIP || !cell || !cell[0])
            continue;
        if (!s_utf8_valid(cell)) {
            rc = tsr_error_set(err, col->name, "is not valid UTF-8 text (save the file as UTF-8)");
            goto fail;
        }
        json_t *v = NULL;
        long long n;
        double d;
        s_type_t type = col->kind == S_COL_ID ? S_IDS : tsr_record_field_type(col->field);
        switch (type) {
        case S_STRING:
            v = json_string(cell);
            break;
        case S_INT:
            if (!s_parse_int(cell, &n)) {
                rc = tsr_error_set(err, col->name, "'%s' is not a whole number",
                                   tsr_record_shorten(shown, sizeof shown, cell, 40));
                goto fail;
            }
            v = json_integer(n);
            break;
        case S_NUMBER:
            if (!s_parse_decimal(cell, &d)) {
                rc = tsr_error_set(err, col->name,
                                   "'%s' is not a plain number of pounds (e.g. 250 or 49.99; "
                                   "no £, commas or spaces)",
                                   tsr_record_shorten(shown, sizeof shown, cell, 40));
                goto fail;
            }
            v = json_real(d);
            break;
        case S_LIST:
        case S_IDS: {
            long k = s_split(cell, &items);
            if (k < 0)
                goto fail;
            if (type == S_LIST) {
                v = json_array();
                for (long j = 0; v && j < k; j++)
                    if (json_array_append_new(v, json_string(items[j])) != 0)
                        goto fail_v;
            } else {
                if (!ids && (!(ids = json_array()) || json_object_set_new(o, "identifiers", ids)))
                    goto fail;
                s_idsrc_t *grown = realloc(src, (nsrc + (size_t)k + 1) * sizeof *src);
                if (!grown)
                    goto fail;
                src = grown;
                for (long j = 0; j < k; j++) {
                    if (json_array_append_new(ids, json_pack("{s:s, s:s}", "kind", col->name + 3,
                                                             "value", items[j])) != 0)
                        goto fail;
                    src[nsrc++] = (s_idsrc_t){.col = i, .pos = j, .count = k};
                }
            }
            free(items);
            items = NULL;
            break;
        }
        }
        if (type == S_IDS)
            continue;
        if (!v || json_object_set_new(o, col->name, v) != 0)
            goto fail;
        continue;
    fail_v:
        json_decref(v);
        goto fail;
    }
    *out = o;
    *src_out = src;
    return TSR_OK;
fail:
    if (rc == TSR_ENOMEM)
        tsr_error_set(err, "", "out of memory");
    free(items);
    free(src);
    json_decref(o);
    return rc;
}

/* "identifiers[3].value" -> the CSV column ("id:phone", "id:phone[1]"). */
static void s_rename_id_field(const tsr_reader_t *r, const s_idsrc_t *src, size_t nsrc,
                              tsr_error_t *err)
{
    size_t idx;
    char rest[64];
    if (!err || sscanf(err->field, "identifiers[%zu]%63s", &idx, rest) < 1 || idx >= nsrc)
        return;
    const s_idsrc_t *s = &src[idx];
    const char *name = r->cols[s->col].name;
    if (s->count > 1)
        snprintf(err->field, sizeof err->field, "%.50s[%ld]", name, s->pos);
    else
        snprintf(err->field, sizeof err->field, "%.60s", name);
}

static void s_free_row(s_row_t *row, size_t ncols)
{
    if (row->cells)
        for (size_t i = 0; i < ncols; i++)
            free(row->cells[i]);
    free(row->cells);
    row->cells = NULL;
}

static bool s_id_kind_ok(const char *kind)
{
    /* The shorthands take a profile or payment link naming its platform. */
    return tsr_canon_kind_valid(kind) || strcmp(kind, "handle") == 0 ||
           strcmp(kind, "payment") == 0;
}

/* Header row -> columns; on a bad column fills r->err_open. */
static int s_header(tsr_reader_t *r, char **f, size_t n, long line)
{
    r->cols = calloc(n ? n : 1, sizeof *r->cols);
    if (!r->cols)
        return TSR_ENOMEM;
    tsr_error_at(&r->err_open, r->path, line);
    for (size_t i = 0; i < n; i++) {
        s_col_t *c = &r->cols[i];
        const char *name = f[i];
        char shown[64];
        tsr_record_shorten(shown, sizeof shown, name, 40);
        if (!(c->name = strdup(name)))
            return TSR_ENOMEM;
        r->ncols = i + 1;
        r->header_bad = true;
        if (!name[0])
            return tsr_error_set(&r->err_open, "", "column %zu of the header has no name", i + 1);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->cols[j].name, name) == 0)
                return tsr_error_set(&r->err_open, shown, "column appears twice in the header");
        if (strncmp(name, "id:", 3) == 0) {
            if (!s_id_kind_ok(name + 3))
                return tsr_error_set(&r->err_open, shown,
                                     "unknown identifier kind '%s' (kinds: handle:<platform>, "
                                     "handle, email, phone, bank:uk, bank:iban, "
                                     "payment:<service>, payment, crypto:btc, crypto:eth, url)",
                                     name + 3);
            c->kind = S_COL_ID;
        } else if (strcmp(name, "identifiers") == 0) {
            return tsr_error_set(&r->err_open, shown,
                                 "in CSV, identifiers go in one column per kind named "
                                 "id:<kind>, e.g. id:phone or id:handle:instagram");
        } else {
            int k = tsr_record_field_class(name);
            if (k == S_FIELD_UNKNOWN)
                return tsr_error_set(&r->err_open, shown, "%s", S_UNKNOWN_FIELD);
            c->kind = k == S_FIELD_LOCAL ? S_COL_SKIP : S_COL_FIELD;
            c->field = k;
        }
        r->header_bad = false;
    }
    return TSR_OK;
}

static int s_csv_row(void *ctx, char **f, size_t n, long line)
{
    tsr_reader_t *r = ctx;
    if (!r->cols) {
        int rc = s_header(r, f, n, line);
        return rc != 0 ? rc : (r->header_bad ? TSR_EINVAL : 0);
    }
    if (r->nrows == r->rows_cap) {
        size_t cap = r->rows_cap ? r->rows_cap * 2 : 64;
        s_row_t *rows = realloc(r->rows, cap * sizeof *rows);
        if (!rows)
            return TSR_ENOMEM;
        r->rows = rows;
        r->rows_cap = cap;
    }
    s_row_t *row = &r->rows[r->nrows++];
    *row = (s_row_t){.n = n, .line = line};
    if (n != r->ncols)
        return 0; /* reported when reached; the cells are not needed */
    if (!(row->cells = calloc(n, sizeof *row->cells)))
        return TSR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* Local columns (names, notes...) are not even copied. */
        if (r->cols[i].kind == S_COL_SKIP)
            continue;
        if (!(row->cells[i] = strdup(f[i])))
            return TSR_ENOMEM;
    }
    return 0;
}

/* Feeds the CSV parser the next line of the file (at its end, finishes
 * it): rows it completes join r->rows. Returns 0, TSR_EINVAL for a CSV
 * syntax error or a refused header (perr, or r->err_open, says why),
 * TSR_EIO or TSR_ENOMEM; after any of them, or the end, csv_done is set. */
static int s_csv_step(tsr_reader_t *r, tsr_error_t *perr)
{
    if (r->csv_done)
        return 0;
    errno = 0;
    ssize_t n = getline(&r->buf, &r->cap, r->f);
    int rc;
    if (n < 0 && errno == ENOMEM) { /* not the end of the file: see s_next_jsonl */
        tsr_error_at(perr, r->path, r->physical + 1);
        tsr_error_set(perr, "", "out of memory reading this line");
        rc = TSR_ENOMEM;
    } else if (n < 0 && (ferror(r->f) || !feof(r->f))) {
        tsr_error_at(perr, r->path, r->physical + 1);
        tsr_error_set(perr, "", "read error: %s", strerror(errno ? errno : EIO));
        rc = TSR_EIO;
    } else if (n < 0) {
        rc = tsr_csv_finish(r->parser, perr);
        r->csv_done = true;
        return rc;
    } else {
        const char *p = r->buf;
        size_t len = (size_t)n;
        if (r->physical++ == 0 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
            p += 3, len -= 3;
        rc = tsr_csv_feed(r->parser, p, len, perr);
    }
    if (rc != 0)
        r->csv_done = true;
    return rc;
}

/* Opens a CSV file and reads as far as its header. */
static int s_open_csv(tsr_reader_t *r, tsr_error_t *err)
{
    if (!(r->f = fopen(r->path, "rb"))) {
        tsr_error_set(err, "", "cannot open: %s", strerror(errno));
        return TSR_EIO;
    }
    if (tsr_csv_new(&r->parser, s_csv_row, r) != 0) {
        tsr_error_set(err, "", "out of memory");
        return TSR_ENOMEM;
    }
    tsr_error_t perr;
    tsr_error_clear(&perr);
    int rc = 0;
    while (rc == 0 && !r->cols && !r->csv_done)
        rc = s_csv_step(r, &perr);
    if (r->header_bad) {
        if (err)
            *err = r->err_open;
        return TSR_EINVAL;
    }
    if (rc == TSR_EINVAL && r->cols) {
        /* Syntax error after the header: deliver the rows before it first. */
        r->pending = true;
        r->err_pending = perr;
        tsr_error_at(&r->err_pending, r->path, perr.line);
        return TSR_OK;
    }
    if (rc == TSR_EINVAL || rc == TSR_EIO) {
        tsr_error_at(err, r->path, perr.line);
        tsr_error_set(err, perr.field, "%s", perr.reason);
        return rc;
    }
    if (rc != 0)
        tsr_error_set(err, "", "%s", tsr_strerror(rc));
    return rc;
}

int tsr_reader_open(tsr_reader_t **out, const char *path, tsr_error_t *err)
{
    *out = NULL;
    tsr_error_at(err, path, 0);
    const char *dot = strrchr(path, '.');
    bool csv = dot && strcasecmp(dot, ".csv") == 0;
    bool jsonl = dot && (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".json") == 0 ||
                         strcasecmp(dot, ".ndjson") == 0);
    if (!csv && !jsonl)
        return tsr_error_set(err, "",
                             "unknown file type: name it .jsonl (JSON Lines, also .json or "
                             ".ndjson) or .csv");
    tsr_reader_t *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        tsr_error_set(err, "", "out of memory");
        return TSR_ENOMEM;
    }
    r->csv = csv;
    int rc = TSR_OK;
    if (csv) {
        rc = s_open_csv(r, err);
    } else if (!(r->f = fopen(path, "r"))) {
        tsr_error_set(err, "", "cannot open: %s", strerror(errno));
        rc = TSR_EIO;
    }
    if (rc != 0) {
        tsr_reader_destroy(&r);
        return rc;
    }
    *out = r;
    return TSR_OK;
}

/* jansson parsed one line as a whole document: its "end of file" is the
 * end of the line, and its column is the line's (issue 16: a bad line 2
 * once said "near end of file"). */
static int s_json_error(tsr_error_t *err, const json_error_t *jerr)
{
    char text[sizeof jerr->text + 64];
    snprintf(text, sizeof text, "%s", jerr->text);
    static const struct {
        const char *from, *to;
    } words[] = {{"end of file expected", "one JSON object per line, but more follows"},
                 {"near end of file", "at the end of the line"}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        char *at = strstr(text, words[i].from);
        if (!at)
            continue;
        char rest[sizeof text];
        snprintf(rest, sizeof rest, "%s", at + strlen(words[i].from));
        snprintf(at, sizeof text - (size_t)(at - text), "%s%s", words[i].to, rest);
    }
    if (jerr->column > 0)
        return tsr_error_set(err, "(json)", "column %d: %s", jerr->column, text);
    return tsr_error_set(err, "(json)", "%s", text);
}

static int s_next_jsonl(tsr_reader_t *r, const tsr_record_ctx_t *ctx, tsr_incident_t *out,
                        char case_ref[TSR_CASE_REF_MAX], tsr_error_t *err)
{
    for (;;) {
        errno = 0;
        ssize_t n = getline(&r->buf, &r->cap, r->f);
        if (n < 0) {
            r->done = true;
            /* getline fails without the error flag when a long line's
             * buffer cannot grow: that is not the end of the file (issue
             * 16: the rest of the file was once dropped without a word) */
            if (errno == ENOMEM) {
                tsr_error_at(err, r->path, r->physical + 1);
                tsr_error_set(err, "", "out of memory reading this line");
                return TSR_ENOMEM;
            }
            if (ferror(r->f) || !feof(r->f)) {
                tsr_error_at(err, r->path, r->physical + 1);
                tsr_error_set(err, "", "read error: %s", strerror(errno ? errno : EIO));
                return TSR_EIO;
            }
            return 0;
        }
        r->physical++;
        const char *p = r->buf;
        size_t len = (size_t)n;
        if (r->physical == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
            p += 3, len -= 3;
        if (s_blank(p, len))
            continue;
        r->line = r->physical;
        tsr_error_at(err, r->path, r->line);
        while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
            len--; /* so jansson's columns stay on this line */
        json_error_t jerr;
        json_t *obj = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj)
            return s_json_error(err, &jerr);
        int rc = tsr_record_minimise(out, case_ref, obj, ctx, err);
        json_decref(obj);
        return rc == 0 ? 1 : rc;
    }
}

static int s_next_csv(tsr_reader_t *r, const tsr_record_ctx_t *ctx, tsr_incident_t *out,
                      char case_ref[TSR_CASE_REF_MAX], tsr_error_t *err)
{
    /* the next row: fed from the file a line at a time, never more */
    while (r->next == r->nrows && !r->csv_done) {
        r->next = r->nrows = 0;
        tsr_error_t perr;
        tsr_error_clear(&perr);
        int rc = s_csv_step(r, &perr);
        if (rc == TSR_EINVAL) {
            /* Syntax error: deliver the rows before it first. */
            r->pending = true;
            r->err_pending = perr;
            tsr_error_at(&r->err_pending, r->path, perr.line);
        } else if (rc != 0) {
            if (err)
                *err = perr;
            if (rc == TSR_ENOMEM)
                tsr_error_set(err, "", "out of memory");
            r->done = true;
            return rc;
        }
    }
    if (r->next < r->nrows) {
        s_row_t *row = &r->rows[r->next++];
        r->line = row->line;
        tsr_error_at(err, r->path, row->line);
        if (row->n != r->ncols)
            return tsr_error_set(err, "", "has %zu cells, the header has %zu", row->n, r->ncols);
        json_t *obj;
        s_idsrc_t *src;
        int rc = s_row_to_json(r, row, &obj, &src, err);
        s_free_row(row, r->ncols); /* done with it either way */
        if (rc != 0)
            return rc;
        rc = tsr_record_minimise(out, case_ref, obj, ctx, err);
        if (rc != 0)
            s_rename_id_field(r, src, json_array_size(json_object_get(obj, "identifiers")), err);
        free(src);
        json_decref(obj);
        return rc == 0 ? 1 : rc;
    }
    r->done = true;
    if (r->pending) {
        r->pending = false;
        r->line = r->err_pending.line;
        if (err)
            *err = r->err_pending;
        return TSR_EINVAL;
    }
    return 0;
}

int tsr_reader_next(tsr_reader_t *r, const tsr_record_ctx_t *ctx, tsr_incident_t *out,
                    char case_ref[TSR_CASE_REF_MAX], tsr_error_t *err)
{
    case_ref[0] = '\0';
    if (r->done && !r->pending)
        return 0;
    int rc =
        r->csv ? s_next_csv(r, ctx, out, case_ref, err) : s_next_jsonl(r, ctx, out, case_ref, err);
    if (rc == TSR_ENOMEM || rc == TSR_EIO) {
        r->done = true; /* nothing later in the file can be trusted */
        r->pending = false;
    }
    return rc;
}

long tsr_reader_line(const tsr_reader_t *r)
{
    return r->line;
}

void tsr_reader_destroy(tsr_reader_t **r_p)
{
    if (!r_p || !*r_p)
        return;
    tsr_reader_t *r = *r_p;
    if (r->f)
        fclose(r->f);
    tsr_csv_destroy(&r->parser);
    free(r->buf);
    for (size_t i = 0; i < r->nrows; i++)
        s_free_row(&r->rows[i], r->ncols);
    free(r->rows);
    for (size_t i = 0; i < r->ncols; i++)
        free(r->cols[i].name);
    free(r->cols);
    free(r->path);
    free(r);
    *r_p = NULL;
}
