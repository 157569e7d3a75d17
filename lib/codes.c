/* codes.c - closed code lists and areas, parsed once from the embedded CSVs. */
#include "tessera/codes.h"
#include "tessera/csv.h"
#include "tessera/err.h"
#include "codes_embedded.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *file;     /* "platforms" */
    int max;
    char *names[TSR_CODES_MAX_VALUE + 1];
    char *labels[TSR_CODES_MAX_VALUE + 1];
} s_list_t;

static s_list_t s_lists[TSR_CODES__COUNT] = {
    [TSR_CODES_AGENCY_TYPE] = {.file = "agency_types"},
    [TSR_CODES_AGE_BAND] = {.file = "age_bands"},
    [TSR_CODES_GENDER] = {.file = "genders"},
    [TSR_CODES_PLATFORM] = {.file = "platforms"},
    [TSR_CODES_SERVICE] = {.file = "services"},
    [TSR_CODES_DEMAND] = {.file = "demands"},
    [TSR_CODES_AMOUNT_BAND] = {.file = "amount_bands"},
    [TSR_CODES_PAID] = {.file = "paid"},
    [TSR_CODES_PAYMENT_METHOD] = {.file = "payment_methods"},
    [TSR_CODES_TACTIC] = {.file = "tactics"},
    [TSR_CODES_RISK] = {.file = "risks"},
    [TSR_CODES_ACTION] = {.file = "actions"},
};

static tsr_area_t *s_areas;
static int s_nareas;
static const tsr_area_t **s_by_code; /* sorted by code, for bsearch: every record is checked */
static char **s_retired; /* pairs: code, "successor, successor" */
static int s_nretired;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static const tsr_embedded_file_t *s_file(const char *name)
{
    for (const tsr_embedded_file_t *f = tsr_embedded_codes; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* The embedded files are part of the build: any problem with them is a
 * programming error, caught by the unit tests, so it aborts loudly. */
static void s_die(const char *file, long line, const char *why)
{
    fprintf(stderr, "fatal codes: schemas/codes/%s:%ld: %s\n", file, line, why);
    abort();
}

static int s_list_row(void *ctx, char **f, size_t n, long line)
{
    s_list_t *l = ctx;
    if (line == 1)
        return 0; /* header */
    if (n != 3)
        s_die(l->file, line, "expected value,name,description");
    int v = atoi(f[0]);
    if (v != l->max + 1 || v > TSR_CODES_MAX_VALUE)
        s_die(l->file, line, "values must run 1, 2, 3... without gaps");
    l->names[v] = strdup(f[1]);
    l->labels[v] = strdup(f[2]);
    if (!l->names[v] || !l->labels[v])
        s_die(l->file, line, "out of memory");
    l->max = v;
    return 0;
}

static int s_area_row(void *ctx, char **f, size_t n, long line)
{
    (void)ctx;
    if (line == 1)
        return 0;
    if (n != 5)
        s_die("areas.csv", line, "expected code,name,tier,region_code,region_name");
    tsr_area_t *a = realloc(s_areas, (size_t)(s_nareas + 1) * sizeof *a);
    if (!a)
        s_die("areas.csv", line, "out of memory");
    s_areas = a;
    a = &s_areas[s_nareas++];
    a->code = strdup(f[0]);
    a->name = strdup(f[1]);
    a->tier = strdup(f[2]);
    a->region_code = strdup(f[3]);
    a->region_name = strdup(f[4]);
    return 0;
}

static int s_retired_row(void *ctx, char **f, size_t n, long line)
{
    (void)ctx;
    if (line == 1)
        return 0;
    if (n != 3)
        s_die("areas_retired.csv", line, "expected code,name,successors");
    char **r = realloc(s_retired, (size_t)(s_nretired + 1) * 2 * sizeof *r);
    if (!r)
        s_die("areas_retired.csv", line, "out of memory");
    s_retired = r;
    r[s_nretired * 2] = strdup(f[0]);
    /* "A;B" -> "A, B" for messages */
    char *succ = malloc(strlen(f[2]) * 2 + 1), *o = succ;
    for (const char *c = f[2]; succ && *c; c++) {
        if (*c == ';') {
            *o++ = ',';
            *o++ = ' ';
        } else {
            *o++ = *c;
        }
    }
    if (succ)
        *o = '\0';
    r[s_nretired * 2 + 1] = succ;
    s_nretired++;
    return 0;
}

static void s_parse(const char *name, tsr_csv_row_fn fn, void *ctx)
{
    const tsr_embedded_file_t *f = s_file(name);
    if (!f)
        s_die(name, 0, "not embedded");
    tsr_error_t err;
    tsr_error_clear(&err);
    if (tsr_csv_parse(f->data, f->size, fn, ctx, &err) != 0)
        s_die(name, err.line, err.reason);
}

static int s_cmp_area(const void *a, const void *b)
{
    return strcmp((*(const tsr_area_t *const *)a)->code, (*(const tsr_area_t *const *)b)->code);
}

static void s_load(void)
{
    char name[64];
    for (int i = 0; i < TSR_CODES__COUNT; i++) {
        snprintf(name, sizeof name, "%s.csv", s_lists[i].file);
        s_parse(name, s_list_row, &s_lists[i]);
    }
    s_parse("areas.csv", s_area_row, NULL);
    s_parse("areas_retired.csv", s_retired_row, NULL);
    s_by_code = malloc((size_t)s_nareas * sizeof *s_by_code);
    if (!s_by_code)
        s_die("areas.csv", 0, "out of memory");
    for (int i = 0; i < s_nareas; i++)
        s_by_code[i] = &s_areas[i];
    qsort(s_by_code, (size_t)s_nareas, sizeof *s_by_code, s_cmp_area);
}

static void s_init(void) { pthread_once(&s_once, s_load); }

static bool s_valid_list(tsr_codes_list_t list)
{
    return (int)list >= 0 && list < TSR_CODES__COUNT;
}

const char *tsr_codes_list_file(tsr_codes_list_t list)
{
    return s_valid_list(list) ? s_lists[list].file : NULL;
}

int tsr_codes_value(tsr_codes_list_t list, const char *name)
{
    s_init();
    if (!s_valid_list(list) || !name)
        return TSR_ENOTFOUND;
    const s_list_t *l = &s_lists[list];
    for (int v = 1; v <= l->max; v++)
        if (strcmp(l->names[v], name) == 0)
            return v;
    return TSR_ENOTFOUND;
}

const char *tsr_codes_name(tsr_codes_list_t list, int value)
{
    s_init();
    if (!s_valid_list(list) || value < 1 || value > s_lists[list].max)
        return NULL;
    return s_lists[list].names[value];
}

const char *tsr_codes_label(tsr_codes_list_t list, int value)
{
    s_init();
    if (!s_valid_list(list) || value < 1 || value > s_lists[list].max)
        return NULL;
    return s_lists[list].labels[value];
}

int tsr_codes_max(tsr_codes_list_t list)
{
    s_init();
    return s_valid_list(list) ? s_lists[list].max : 0;
}

const char *tsr_codes_expected(tsr_codes_list_t list, char *buf, unsigned cap)
{
    s_init();
    size_t n = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    if (!s_valid_list(list))
        return buf;
    for (int v = 1; v <= s_lists[list].max; v++) {
        int w = snprintf(buf + n, cap - n, "%s%s", v > 1 ? ", " : "", s_lists[list].names[v]);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    return buf;
}

const tsr_area_t *tsr_area_find(const char *code)
{
    s_init();
    if (!code)
        return NULL;
    tsr_area_t key = {.code = code};
    const tsr_area_t *kp = &key;
    const tsr_area_t **hit = bsearch(&kp, s_by_code, (size_t)s_nareas, sizeof *s_by_code, s_cmp_area);
    return hit ? *hit : NULL;
}

const char *tsr_area_successors(const char *code)
{
    s_init();
    for (int i = 0; code && i < s_nretired; i++)
        if (strcmp(s_retired[i * 2], code) == 0)
            return s_retired[i * 2 + 1];
    return NULL;
}

int tsr_area_count(void)
{
    s_init();
    return s_nareas;
}

const tsr_area_t *tsr_area_at(int i)
{
    s_init();
    return i >= 0 && i < s_nareas ? &s_areas[i] : NULL;
}

const char *tsr_region_name(const char *code)
{
    s_init();
    for (int i = 0; code && i < s_nareas; i++)
        if (strcmp(s_areas[i].region_code, code) == 0)
            return s_areas[i].region_name;
    return NULL;
}

bool tsr_region_exists(const char *code) { return tsr_region_name(code) != NULL; }

int tsr_area_check(const char *code, const char *field, tsr_error_t *err)
{
    if (tsr_area_find(code))
        return TSR_OK;
    const char *succ = tsr_area_successors(code);
    if (succ)
        return tsr_error_set(err, field,
                             "area code %s was retired by a reorganisation; use %s", code, succ);
    return tsr_error_set(err, field,
                         "'%s' is not a current upper-tier local-authority code "
                         "(see schemas/codes/areas.csv)", code ? code : "");
}
