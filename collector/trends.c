/* trends.c - trend tables through the cell-key method (see trends.h). */
#include "trends.h"
#include "bytes.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_FORMAT_1 1 /* without the cell key: computed from the record id */
#define P_FORMAT 2
#define P_AREA_KEY 9
/* A table of more cells than this (totals included) is refused; the grid
 * is counted before its empty rows go, so the work stays bounded too. */
#define T_MAX_CELLS 5000
#define T_MAX_GRID 200000
#define T_MAX_FILTERS 4
#define T_MAX_VALUES 32 /* values of one dimension in one record (lists) */
#define T_DIM_AREA 1
#define T_DIM_REGION 2
#define T_DIM_WEEK 3
#define T_DIM_MONTH 4

typedef struct {
    int32_t day;
    int precision, agency_type, age_band, gender, paid, amount_band;
    uint32_t contact, moved, demands, payments, tactics, risks, actions;
    uint32_t key; /* the record's cell key */
} t_profile_t;

size_t tsr_profile_pack(uint8_t out[TSR_PROFILE_LEN], const tsr_incident_t *inc, uint32_t key)
{
    tsr_bytes_t b = {out, 0, TSR_PROFILE_LEN, false};
    tsr_bytes_put_u8(&b, P_FORMAT);
    tsr_bytes_put_u32(&b, (uint32_t)inc->reported_day);
    tsr_bytes_put_u8(&b, (unsigned)inc->date_precision);
    tsr_bytes_put_u8(&b, (unsigned)inc->agency_type);
    tsr_bytes_put_u8(&b, (unsigned)inc->age_band);
    tsr_bytes_put_u8(&b, (unsigned)inc->gender);
    tsr_bytes_put_u8(&b, (unsigned)inc->paid);
    tsr_bytes_put_u8(&b, (unsigned)inc->amount_demanded_band);
    tsr_bytes_put_u32(&b, inc->contact_platforms);
    tsr_bytes_put_u32(&b, inc->moved_to_platforms);
    tsr_bytes_put_u32(&b, inc->demands);
    tsr_bytes_put_u32(&b, inc->payment_methods);
    tsr_bytes_put_u32(&b, inc->tactics);
    tsr_bytes_put_u32(&b, inc->risks);
    tsr_bytes_put_u32(&b, inc->actions);
    tsr_bytes_put_u32(&b, key);
    return b.bad ? 0 : b.n;
}

/* An index entry's profile. A format-1 entry (written before profiles held
 * keys) gets its key from the record id at the end of the index key. */
static bool t_unpack(const MDB_val *k, const MDB_val *v, tsr_ckm_keyer_t *keyer, t_profile_t *p)
{
    tsr_bytes_t b = {v->mv_data, 0, v->mv_size, false};
    unsigned format = tsr_bytes_get_u8(&b);
    if (format != P_FORMAT && format != P_FORMAT_1)
        return false;
    p->day = (int32_t)tsr_bytes_get_u32(&b);
    p->precision = (int)tsr_bytes_get_u8(&b);
    p->agency_type = (int)tsr_bytes_get_u8(&b);
    p->age_band = (int)tsr_bytes_get_u8(&b);
    p->gender = (int)tsr_bytes_get_u8(&b);
    p->paid = (int)tsr_bytes_get_u8(&b);
    p->amount_band = (int)tsr_bytes_get_u8(&b);
    p->contact = tsr_bytes_get_u32(&b);
    p->moved = tsr_bytes_get_u32(&b);
    p->demands = tsr_bytes_get_u32(&b);
    p->payments = tsr_bytes_get_u32(&b);
    p->tactics = tsr_bytes_get_u32(&b);
    p->risks = tsr_bytes_get_u32(&b);
    p->actions = tsr_bytes_get_u32(&b);
    if (format == P_FORMAT) {
        p->key = tsr_bytes_get_u32(&b);
        return !b.bad;
    }
    if (b.bad || !keyer || k->mv_size != P_AREA_KEY + 4 + TSR_RECORD_ID_LEN)
        return false;
    return tsr_ckm_record_key(keyer, (const uint8_t *)k->mv_data + P_AREA_KEY + 4,
                              TSR_RECORD_ID_LEN, &p->key) == 0;
}

/* A month: the ISO weeks whose Thursday falls in it (as ISO years are
 * made), labelled YYYY-MM, so no month splits a week. */
static void t_month(char out[64], int32_t day)
{
    char d[11];
    tsr_day_format(d, tsr_day_week_monday(day) + 3);
    snprintf(out, 64, "%.7s", d);
}

typedef char t_value_t[64]; /* as the reply keys (tsr_name_t) */

/* The values a record has in a dimension (several for lists). */
static size_t t_values(int dim, const char *area, const t_profile_t *p, t_value_t *out)
{
    const tsr_area_t *a = tsr_area_find(area);
    size_t n = 0;
    uint32_t mask = 0;
    tsr_codes_list_t list = TSR_CODES_PLATFORM;
    int single = -1;
    switch (dim) {
    case 1: snprintf(out[n++], sizeof out[0], "%s", area); return n;
    case 2: snprintf(out[n++], sizeof out[0], "%s", a ? a->region_code : "unknown"); return n;
    case 3: tsr_day_format(out[n++], tsr_day_week_monday(p->day)); return n;
    case 4: t_month(out[n++], p->day); return n;
    case 5: list = TSR_CODES_AGENCY_TYPE; single = p->agency_type; break;
    case 6: list = TSR_CODES_AGE_BAND; single = p->age_band; break;
    case 7: list = TSR_CODES_GENDER; single = p->gender; break;
    case 8: mask = p->contact; break;
    case 9: mask = p->moved; break;
    case 10: list = TSR_CODES_DEMAND; mask = p->demands; break;
    case 11: list = TSR_CODES_PAYMENT_METHOD; mask = p->payments; break;
    case 12: list = TSR_CODES_TACTIC; mask = p->tactics; break;
    case 13: list = TSR_CODES_RISK; mask = p->risks; break;
    case 14: list = TSR_CODES_ACTION; mask = p->actions; break;
    case 15: list = TSR_CODES_PAID; single = p->paid; break;
    case 16: list = TSR_CODES_AMOUNT_BAND; single = p->amount_band; break;
    default: return 0;
    }
    if (single >= 0) {
        const char *name = tsr_codes_name(list, single);
        snprintf(out[n++], sizeof out[0], "%s", name ? name : "unknown");
        return n;
    }
    for (int v = 1; v <= TSR_CODES_MAX_VALUE && n < T_MAX_VALUES; v++) {
        const char *name = mask & (1u << v) ? tsr_codes_name(list, v) : NULL;
        if (name)
            snprintf(out[n++], sizeof out[0], "%s", name);
    }
    if (n == 0)
        snprintf(out[n++], sizeof out[0], "none");
    return n;
}


/* A sorted set of distinct values of one dimension. */
typedef struct {
    t_value_t *v;
    size_t n, cap;
    bool period; /* weeks or months: a fixed grid, zeros kept */
} t_axis_t;

static int t_cmp(const void *a, const void *b) { return strcmp(a, b); }

/* Index of v in the sorted axis, or -1. */
static long t_axis_find(const t_axis_t *a, const char *v)
{
    if (a->n == 0)
        return -1; /* an empty axis has no array (bsearch wants one) */
    const t_value_t *hit = bsearch(v, a->v, a->n, sizeof a->v[0], t_cmp);
    return hit ? (long)(hit - a->v) : -1;
}

/* Appends v (the caller sorts and removes repeats once at the end). */
static int t_axis_add(t_axis_t *a, const char *v)
{
    if (tsr_grow((void **)&a->v, &a->cap, a->n, sizeof *a->v) != 0)
        return TSR_ENOMEM;
    snprintf(a->v[a->n++], sizeof a->v[0], "%s", v);
    return 0;
}

static void t_axis_sort(t_axis_t *a)
{
    if (a->n == 0)
        return; /* no array to sort: an analyst's scope can be empty */
    qsort(a->v, a->n, sizeof a->v[0], t_cmp);
    size_t w = 0;
    for (size_t r = 0; r < a->n; r++)
        if (w == 0 || strcmp(a->v[w - 1], a->v[r]) != 0)
            memmove(a->v[w++], a->v[r], sizeof a->v[0]);
    a->n = w;
}

/* Every value a dimension can take in scope, whether or not a record has
 * it: which rows a table has must not tell that a record exists (a row of
 * released zeros is dropped afterwards, which tells nothing more than the
 * zeros). */
static int t_axis_domain(t_axis_t *ax, int dim, const char *const *areas, size_t n_areas,
                         int32_t since, int32_t until)
{
    int rc = 0;
    ax->period = dim == T_DIM_WEEK || dim == T_DIM_MONTH;
    if (dim == T_DIM_AREA || dim == T_DIM_REGION) {
        for (size_t i = 0; rc == 0 && i < n_areas; i++) {
            const tsr_area_t *a = tsr_area_find(areas[i]);
            rc = t_axis_add(ax, dim == T_DIM_AREA ? areas[i] : a ? a->region_code : "unknown");
        }
    } else if (ax->period) {
        for (int32_t w = since; rc == 0 && w <= until; w += 7) {
            t_value_t v;
            if (dim == T_DIM_WEEK)
                tsr_day_format(v, w);
            else
                t_month(v, w);
            rc = t_axis_add(ax, v);
        }
    } else {
        /* the code names: a profile whose code has every value 1..max set
         * (the lists), or each single value in turn */
        t_profile_t p;
        memset(&p, 0, sizeof p);
        for (int v = 0; rc == 0 && v <= TSR_CODES_MAX_VALUE; v++) {
            p.agency_type = p.age_band = p.gender = p.paid = p.amount_band = v;
            p.contact = p.moved = p.demands = p.payments = p.tactics = p.risks = p.actions =
                v == 0 ? 0 : 1u << v;
            t_value_t vals[T_MAX_VALUES];
            size_t nv = t_values(dim, "", &p, vals);
            for (size_t i = 0; rc == 0 && i < nv; i++)
                rc = t_axis_add(ax, vals[i]);
        }
    }
    if (rc == 0)
        t_axis_sort(ax);
    return rc;
}

/* The areas a query reads: the caller's (an analyst's own), narrowed by
 * area and region filters so the scan skips the rest. */
static int t_scope(const tsr_query_t *q, const tsr_client_t *who, const char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char **v = calloc((size_t)tsr_area_count() + 1, sizeof *v);
    if (!v)
        return TSR_ENOMEM;
    for (int i = 0; i < tsr_area_count(); i++) {
        const tsr_area_t *a = tsr_area_at(i);
        bool in = who->role != TSR_ROLE_ANALYST || tsr_client_area_allowed(who, a->code);
        for (size_t f = 0; in && f < q->n_filters; f++) {
            if (q->filters[f].dimension == T_DIM_AREA)
                in = !strcmp(q->filters[f].value, a->code);
            else if (q->filters[f].dimension == T_DIM_REGION)
                in = !strcmp(q->filters[f].value, a->region_code);
        }
        if (in)
            v[(*n)++] = a->code;
    }
    *out = v;
    return 0;
}

/* Calls fn for each record of areas[0..n) reported from day `from` to `to`
 * (the index is keyed area, day, record: a seek per area). */
typedef int (*t_visit_fn)(void *ctx, const char *area, const t_profile_t *p);

static int t_scan(MDB_txn *txn, MDB_dbi dbi, const char *const *areas, size_t n, int32_t from,
                  int32_t to, tsr_ckm_keyer_t *keyer, t_visit_fn fn, void *ctx)
{
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, dbi, &c);
    if (rc != 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t key[P_AREA_KEY + 4] = {0};
        memcpy(key, areas[i], strnlen(areas[i], P_AREA_KEY));
        tsr_bytes_day(key + P_AREA_KEY, from);
        MDB_val kv = {sizeof key, key}, vv;
        int g = tsr_kv_cursor_get(c, &kv, &vv, MDB_SET_RANGE);
        for (; g == 0; g = tsr_kv_cursor_get(c, &kv, &vv, MDB_NEXT)) {
            if (kv.mv_size < P_AREA_KEY + 4 || memcmp(kv.mv_data, key, P_AREA_KEY) != 0)
                break; /* past this area */
            t_profile_t p;
            if (!t_unpack(&kv, &vv, keyer, &p)) {
                rc = TSR_ECORRUPT; /* an entry that cannot be read is not skipped */
                break;
            }
            if (p.day > to)
                break;
            if (p.day >= from && (rc = fn(ctx, areas[i], &p)) != 0)
                break;
        }
        if (rc == 0 && g != 0 && g != TSR_ENOTFOUND)
            rc = g;
    }
    tsr_kv_cursor_close(c);
    return rc;
}

/* Whether a record passes every filter (a list passes when one of its
 * values is the filter's). */
static bool t_match(const tsr_filter_t *filters, size_t n, const char *area, const t_profile_t *p)
{
    for (size_t f = 0; f < n; f++) {
        t_value_t vals[T_MAX_VALUES];
        size_t nv = t_values(filters[f].dimension, area, p, vals);
        bool ok = false;
        for (size_t i = 0; i < nv && !ok; i++)
            ok = !strcmp(vals[i], filters[f].value);
        if (!ok)
            return false;
    }
    return true;
}

/* A cell being counted: how many records, and the sum of their keys. */
typedef struct {
    uint64_t n;
    uint32_t key;
} t_cell_t;

static void t_cell_add(t_cell_t *c, const t_profile_t *p)
{
    c->n++;
    c->key += p->key; /* modulo 2^32 */
}

static uint64_t t_release(const tsr_trends_opts_t *o, const t_cell_t *c)
{
    return o->table ? tsr_ckm_perturb(o->table, c->n, c->key) : c->n;
}

/* The table being counted: the grid, a total per row and per column, and
 * the grand total, each its own set of records. */
typedef struct {
    const tsr_query_t *q;
    t_axis_t ax[2];
    size_t nr, nc;
    t_cell_t *grid, *rows, *cols, grand;
} t_table_t;

static int t_count(void *ctx, const char *area, const t_profile_t *p)
{
    t_table_t *t = ctx;
    const tsr_query_t *q = t->q;
    if (!t_match(q->filters, q->n_filters, area, p))
        return 0;
    t_value_t v0[T_MAX_VALUES], v1[T_MAX_VALUES];
    long r[T_MAX_VALUES], c[T_MAX_VALUES] = {0};
    size_t n0 = t_values(q->by[0], area, p, v0);
    size_t n1 = q->n_by == 2 ? t_values(q->by[1], area, p, v1) : 1;
    for (size_t a = 0; a < n0; a++)
        if ((r[a] = t_axis_find(&t->ax[0], v0[a])) < 0)
            return TSR_ECORRUPT; /* a value outside its dimension's domain */
    for (size_t b = 0; q->n_by == 2 && b < n1; b++)
        if ((c[b] = t_axis_find(&t->ax[1], v1[b])) < 0)
            return TSR_ECORRUPT;
    /* a list's values are distinct, so each total counts the record once */
    for (size_t a = 0; a < n0; a++) {
        t_cell_add(&t->rows[r[a]], p);
        for (size_t b = 0; b < n1; b++)
            t_cell_add(&t->grid[(size_t)r[a] * t->nc + (size_t)c[b]], p);
    }
    for (size_t b = 0; q->n_by == 2 && b < n1; b++)
        t_cell_add(&t->cols[c[b]], p);
    t_cell_add(&t->grand, p);
    return 0;
}

static int t_check(const tsr_query_t *q, char *why, size_t cap)
{
    if (q->n_by < 1 || q->n_by > 2 || !tsr_dimension_name(q->by[0]) ||
        (q->n_by == 2 && (!tsr_dimension_name(q->by[1]) || q->by[1] == q->by[0]))) {
        snprintf(why, cap, "--by takes one or two different dimensions");
        return TSR_EINVAL;
    }
    if (q->n_filters > T_MAX_FILTERS) {
        snprintf(why, cap, "at most %d filters", T_MAX_FILTERS);
        return TSR_EINVAL;
    }
    for (size_t f = 0; f < q->n_filters; f++)
        if (!tsr_dimension_name(q->filters[f].dimension)) {
            snprintf(why, cap, "unknown filter dimension");
            return TSR_EINVAL;
        }
    if (q->since_day && q->until_day && q->since_day > q->until_day) {
        snprintf(why, cap, "--since is after --until");
        return TSR_EINVAL;
    }
    return 0;
}

/* Appends one released cell to resp (keys "" stand for a total). */
static void t_emit(tsr_response_t *resp, const tsr_query_t *q, const char *k0, const char *k1,
                   uint64_t count)
{
    tsr_trend_cell_t *cell = &resp->cells[resp->n_cells++];
    snprintf(cell->keys[0], sizeof cell->keys[0], "%s", k0);
    if (q->n_by == 2)
        snprintf(cell->keys[1], sizeof cell->keys[1], "%s", k1);
    cell->n_keys = q->n_by;
    cell->count = count;
}

/* Releases the counted table into resp: every cell through the
 * perturbation; rows and columns of a code or area dimension whose
 * released cells are all zero left out (periods keep theirs). */
static int t_release_table(const t_table_t *t, const tsr_trends_opts_t *o, tsr_response_t *resp,
                           char *why, size_t cap)
{
    const tsr_query_t *q = t->q;
    size_t nr = t->nr, nc = t->nc;
    uint64_t *grid = calloc(nr * nc + 1, sizeof *grid), *rows = calloc(nr + 1, sizeof *rows),
             *cols = calloc(nc + 1, sizeof *cols);
    bool *keep_r = calloc(nr + 1, 1), *keep_c = calloc(nc + 1, 1);
    int rc = grid && rows && cols && keep_r && keep_c ? 0 : TSR_ENOMEM;
    uint64_t grand = t_release(o, &t->grand);
    size_t kr = 0, kc = 0;
    for (size_t i = 0; rc == 0 && i < nr; i++) {
        rows[i] = t_release(o, &t->rows[i]);
        keep_r[i] = t->ax[0].period || rows[i] > 0;
    }
    for (size_t j = 0; rc == 0 && q->n_by == 2 && j < nc; j++) {
        cols[j] = t_release(o, &t->cols[j]);
        keep_c[j] = t->ax[1].period || cols[j] > 0;
    }
    for (size_t x = 0; rc == 0 && x < nr * nc; x++) {
        grid[x] = t_release(o, &t->grid[x]);
        if (grid[x] > 0) {
            keep_r[x / nc] = true;
            keep_c[x % nc] = true;
        }
    }
    for (size_t i = 0; i < nr; i++)
        kr += keep_r[i];
    for (size_t j = 0; j < nc; j++)
        kc += q->n_by == 2 ? keep_c[j] : 0;
    size_t n = q->n_by == 2 ? kr * kc + kr + kc + 1 : kr + 1;
    if (rc == 0 && grand == 0) {
        snprintf(why, cap, "too few records match this query: nothing can be released");
        rc = TSR_ERANGE;
    } else if (rc == 0 && n > T_MAX_CELLS) {
        snprintf(why, cap, "%zu cells is more than %d: narrow the dates or filter", n,
                 T_MAX_CELLS);
        rc = TSR_EINVAL;
    }
    if (rc == 0 && !(resp->cells = calloc(n + 1, sizeof *resp->cells)))
        rc = TSR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < nr; i++)
        for (size_t j = 0; keep_r[i] && j < nc; j++)
            if (q->n_by == 1)
                t_emit(resp, q, t->ax[0].v[i], "", grid[i]);
            else if (keep_c[j])
                t_emit(resp, q, t->ax[0].v[i], t->ax[1].v[j], grid[i * nc + j]);
    for (size_t i = 0; rc == 0 && q->n_by == 2 && i < nr; i++)
        if (keep_r[i])
            t_emit(resp, q, t->ax[0].v[i], "", rows[i]);
    for (size_t j = 0; rc == 0 && q->n_by == 2 && j < nc; j++)
        if (keep_c[j])
            t_emit(resp, q, "", t->ax[1].v[j], cols[j]);
    if (rc == 0)
        t_emit(resp, q, "", "", grand);
    free(grid);
    free(rows);
    free(cols);
    free(keep_r);
    free(keep_c);
    return rc;
}

/* The query's period in whole ISO weeks, Monday to Sunday: no two queries
 * can differ by part of a week. Held within the weeks records can be in
 * (retention to today), so a week axis never runs over empty decades. */
static void t_period(const tsr_query_t *q, const tsr_trends_opts_t *o, int32_t *since,
                     int32_t *until)
{
    int32_t from = q->since_day && q->since_day > o->first_day ? q->since_day : o->first_day;
    int32_t to = q->until_day && q->until_day < o->today ? q->until_day : o->today;
    *since = tsr_day_week_monday(from);
    *until = tsr_day_week_monday(to < from ? from : to) + 6;
}

int tsr_trends(MDB_txn *txn, MDB_dbi by_area_day, const tsr_query_t *q, const tsr_client_t *who,
               const tsr_trends_opts_t *o, tsr_response_t *resp, char *why, size_t cap)
{
    int rc = t_check(q, why, cap);
    if (rc != 0)
        return rc;
    int32_t since, until;
    t_period(q, o, &since, &until);
    const char **areas = NULL;
    size_t n_areas = 0;
    t_table_t t = {.q = q};
    rc = t_scope(q, who, &areas, &n_areas);
    for (size_t d = 0; rc == 0 && d < q->n_by; d++)
        rc = t_axis_domain(&t.ax[d], q->by[d], areas, n_areas, since, until);
    t.nr = t.ax[0].n;
    t.nc = q->n_by == 2 ? t.ax[1].n : 1;
    if (rc == 0 && t.nr * t.nc > T_MAX_GRID) {
        snprintf(why, cap, "%zu x %zu cells is more than %d: narrow the dates or filter", t.nr,
                 t.nc, T_MAX_GRID);
        rc = TSR_EINVAL;
    }
    if (rc == 0) {
        t.grid = calloc(t.nr * t.nc + 1, sizeof *t.grid);
        t.rows = calloc(t.nr + 1, sizeof *t.rows);
        t.cols = calloc(t.nc + 1, sizeof *t.cols);
        if (!t.grid || !t.rows || !t.cols)
            rc = TSR_ENOMEM;
    }
    if (rc == 0)
        rc = t_scan(txn, by_area_day, areas, n_areas, since, until, o->keyer, t_count, &t);
    if (rc == 0)
        rc = t_release_table(&t, o, resp, why, cap);
    if (rc == 0) {
        resp->k = o->k;
        resp->max_deviation = o->table ? o->table->d : 0;
        resp->variance = o->table ? o->table->v : 0;
    }
    free(t.grid);
    free(t.rows);
    free(t.cols);
    free(t.ax[0].v);
    free(t.ax[1].v);
    free(areas);
    return rc;
}

typedef struct {
    const tsr_filter_t *filters;
    size_t n_filters;
    t_cell_t cell;
} t_one_t;

static int t_count_one(void *ctx, const char *area, const t_profile_t *p)
{
    t_one_t *one = ctx;
    if (t_match(one->filters, one->n_filters, area, p))
        t_cell_add(&one->cell, p);
    return 0;
}

int tsr_trends_cell(MDB_txn *txn, MDB_dbi by_area_day, const char *const *area_codes,
                    size_t n_areas, int32_t from, int32_t to, const tsr_filter_t *filters,
                    size_t n_filters, const tsr_trends_opts_t *o, uint64_t *released,
                    uint64_t *count)
{
    t_one_t one = {filters, n_filters, {0, 0}};
    int rc = t_scan(txn, by_area_day, area_codes, n_areas, from, to, o->keyer, t_count_one, &one);
    if (rc == 0) {
        *released = t_release(o, &one.cell);
        *count = one.cell.n;
    }
    return rc;
}
