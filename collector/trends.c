/* trends.c - trend tables with disclosure control (see trends.h). */
#include "trends.h"
#include "bytes.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/kv.h"
#include "tessera/sdc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_FORMAT 1
#define P_AREA_KEY 9
/* tables larger than this are refused: the audit solves two linear programs
 * per suppressed cell, for each filter too */
#define T_MAX_CELLS 600
#define T_MAX_FILTERS 4
#define T_MAX_VALUES 32 /* values of one dimension in one record (lists) */

typedef struct {
    int32_t day;
    int precision, agency_type, age_band, gender, paid, amount_band;
    uint32_t contact, moved, demands, payments, tactics, risks, actions;
} t_profile_t;

size_t tsr_profile_pack(uint8_t out[TSR_PROFILE_LEN], const tsr_incident_t *inc)
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
    return b.bad ? 0 : b.n;
}

static bool t_unpack(const MDB_val *v, t_profile_t *p)
{
    tsr_bytes_t b = {v->mv_data, 0, v->mv_size, false};
    if (tsr_bytes_get_u8(&b) != P_FORMAT)
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
    return !b.bad;
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
    case 4: {
        char d[11];
        tsr_day_format(d, p->day);
        snprintf(out[n++], sizeof out[0], "%.7s", d);
        return n;
    }
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
} t_axis_t;

static long t_axis_find(const t_axis_t *a, const char *v)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->v[i], v))
            return (long)i;
    return -1;
}

static int t_axis_add(t_axis_t *a, const char *v)
{
    if (t_axis_find(a, v) >= 0)
        return 0;
    if (tsr_grow((void **)&a->v, &a->cap, a->n, sizeof *a->v) != 0)
        return TSR_ENOMEM;
    snprintf(a->v[a->n++], sizeof a->v[0], "%s", v);
    return 0;
}

static int t_cmp(const void *a, const void *b) { return strcmp(a, b); }

typedef struct {
    char area[16];
    t_profile_t p;
    bool match;     /* passes the query's filters */
    uint32_t fails; /* bit f: fails filter f */
} t_row_t;

/* What an analyst may know of a neighbouring query (this one plus the
 * records rest[] it adds): which of its cells it shows, i.e. which pair
 * totals are known. *same is set when it adds nothing (the same table). */
static int t_neighbour(const uint64_t *cells, const uint64_t *rest, size_t nr, size_t nc,
                       unsigned k, bool *known, bool *same)
{
    size_t n = nr * nc;
    *same = true;
    for (size_t i = 0; i < n; i++)
        *same &= rest[i] == 0;
    if (*same)
        return 0;
    uint64_t *whole = malloc(n * sizeof *whole);
    int *wm = malloc(n * sizeof *wm);
    int rc = whole && wm ? 0 : TSR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        whole[i] = cells[i] + rest[i];
    if (rc == 0 && (rc = tsr_sdc_protect(whole, nr, nc, k, wm)) == TSR_ERANGE) {
        rc = 0; /* that query is withheld: none of its totals is known */
        for (size_t i = 0; i < n; i++)
            wm[i] = TSR_SDC_SMALL;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        known[i] = wm[i] == TSR_SDC_SHOWN;
    free(whole);
    free(wm);
    return rc;
}

/* The pair (this cell, what the neighbouring query adds) protected as a
 * two-column table whose row totals are known where known[] says. Returns
 * 0 with *more set when marks were added. */
static int t_pair(const uint64_t *cells, const uint64_t *rest, const bool *known, size_t n,
                  unsigned k, int *mark, bool *more)
{
    uint64_t *pair = malloc(2 * n * sizeof *pair);
    int *pm = malloc(2 * n * sizeof *pm);
    int rc = pair && pm ? 0 : TSR_ENOMEM;
    *more = false;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        pair[2 * i] = cells[i];
        pair[2 * i + 1] = rest[i];
        pm[2 * i] = mark[i];
        pm[2 * i + 1] = TSR_SDC_SHOWN;
    }
    if (rc == 0)
        rc = tsr_sdc_protect_more(pair, n, 2, k, pm, known);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (pm[2 * i] != mark[i]) {
            mark[i] = pm[2 * i];
            *more = true;
        }
    free(pair);
    free(pm);
    return rc;
}

/* Protects the table cells[0..n) (n = nr x nc). With filters, an analyst
 * can also ask the same query without them, or without any one of them, and
 * subtract: sides[s] (n cells each) are what each such query adds. Every
 * pair is protected too, each pattern feeding the others until none needs
 * more. What each neighbouring query shows does not depend on this table's
 * marks, so it is worked out once. */
static int t_protect(const uint64_t *cells, const uint64_t *sides, size_t n_sides, size_t nr,
                     size_t nc, unsigned k, int *mark)
{
    size_t n = nr * nc;
    bool *known = malloc((n_sides * n + 1) * sizeof *known), *same = calloc(n_sides + 1, 1);
    int rc = known && same ? tsr_sdc_protect(cells, nr, nc, k, mark) : TSR_ENOMEM;
    for (size_t s = 0; rc == 0 && s < n_sides; s++)
        rc = t_neighbour(cells, sides + s * n, nr, nc, k, known + s * n, &same[s]);
    for (size_t round = 0; rc == 0 && round <= n; round++) {
        bool changed = false;
        for (size_t s = 0; rc == 0 && s < n_sides; s++) {
            bool more = false;
            if (!same[s])
                rc = t_pair(cells, sides + s * n, known + s * n, n, k, mark, &more);
            changed |= more;
        }
        if (rc != 0 || !changed)
            break;
        rc = tsr_sdc_protect_more(cells, nr, nc, k, mark, NULL);
    }
    free(known);
    free(same);
    return rc;
}

int tsr_trends(MDB_txn *txn, MDB_dbi by_area_day, const tsr_query_t *q, const tsr_client_t *who,
               unsigned k, tsr_response_t *resp, char *why, size_t cap)
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
    /* whole weeks only: a difference of two queries a day apart must not
     * isolate a day's cases */
    int32_t since = q->since_day ? tsr_day_week_monday(q->since_day) : INT32_MIN;
    int32_t until = q->until_day ? tsr_day_week_monday(q->until_day) + 6 : INT32_MAX;
    /* the records that count, as profiles */
    t_row_t *rows = NULL;
    size_t nrows = 0, rcap = 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, by_area_day, &c);
    if (rc != 0)
        return tsr_kv_code(rc);
    MDB_val kv, vv;
    /* Per area in scope, only its entries within the dates: the index is
     * keyed area, day, record. (Filters do not narrow the scan: records
     * failing them count on the other side of the protection below.) */
    int ai = 0;
    char scope[16] = "";
    for (rc = MDB_NOTFOUND;;) {
        if (rc != 0) { /* next area */
            if (ai >= tsr_area_count()) {
                rc = MDB_NOTFOUND;
                break;
            }
            const char *code = tsr_area_at(ai++)->code;
            if (who->role == TSR_ROLE_ANALYST && !tsr_client_area_allowed(who, code))
                continue;
            uint8_t key[P_AREA_KEY + 4] = {0};
            memcpy(key, code, strnlen(code, P_AREA_KEY));
            tsr_bytes_day(key + P_AREA_KEY, since); /* no lower bound: 00 00 00 00 */
            snprintf(scope, sizeof scope, "%.*s", P_AREA_KEY, code);
            kv = (MDB_val){sizeof key, key};
            rc = mdb_cursor_get(c, &kv, &vv, MDB_SET_RANGE);
            if (rc != 0 && rc != MDB_NOTFOUND)
                break;
            if (rc != 0)
                continue;
        } else if ((rc = mdb_cursor_get(c, &kv, &vv, MDB_NEXT)) != 0) {
            if (rc != MDB_NOTFOUND)
                break;
            continue;
        }
        char area[16];
        t_profile_t p;
        if (kv.mv_size < P_AREA_KEY) {
            rc = MDB_NOTFOUND;
            continue;
        }
        snprintf(area, sizeof area, "%.*s", P_AREA_KEY, (const char *)kv.mv_data);
        if (strcmp(area, scope) != 0) {
            rc = MDB_NOTFOUND; /* past this area */
            continue;
        }
        if (!t_unpack(&vv, &p) || p.day < since)
            continue;
        if (p.day > until) {
            rc = MDB_NOTFOUND;
            continue;
        }
        /* records failing a filter are kept too: the table is protected
         * against the same query without its filters */
        uint32_t fails = 0;
        for (size_t f = 0; f < q->n_filters; f++) {
            t_value_t vals[T_MAX_VALUES];
            size_t nv = t_values(q->filters[f].dimension, area, &p, vals);
            bool ok = false;
            for (size_t i = 0; i < nv && !ok; i++)
                ok = !strcmp(vals[i], q->filters[f].value);
            if (!ok)
                fails |= 1u << f;
        }
        bool keep = fails == 0;
        if (tsr_grow((void **)&rows, &rcap, nrows, sizeof *rows) != 0) {
            rc = ENOMEM;
            break;
        }
        snprintf(rows[nrows].area, sizeof rows[0].area, "%s", area);
        rows[nrows].match = keep;
        rows[nrows].fails = fails;
        rows[nrows++].p = p;
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND) {
        free(rows);
        return rc == ENOMEM ? TSR_ENOMEM : tsr_kv_code(rc);
    }
    size_t nmatch = 0;
    for (size_t i = 0; i < nrows; i++)
        nmatch += rows[i].match;
    if (nmatch < k) {
        free(rows);
        snprintf(why, cap, "fewer than %u records match: nothing can be released", k);
        return TSR_ERANGE;
    }
    /* the axes, then the counts */
    t_axis_t ax[2] = {{0}, {0}};
    rc = 0;
    for (size_t i = 0; rc == 0 && i < nrows; i++)
        for (size_t d = 0; rc == 0 && d < q->n_by; d++) {
            t_value_t vals[T_MAX_VALUES];
            size_t nv = t_values(q->by[d], rows[i].area, &rows[i].p, vals);
            for (size_t j = 0; rc == 0 && j < nv; j++)
                rc = t_axis_add(&ax[d], vals[j]);
        }
    size_t nr = ax[0].n, nc = q->n_by == 2 ? ax[1].n : 1;
    if (rc == 0 && nr * nc > T_MAX_CELLS) {
        snprintf(why, cap, "%zu x %zu cells is more than %d: narrow the dates or filter", nr, nc,
                 T_MAX_CELLS);
        rc = TSR_EINVAL;
    }
    size_t n = nr * nc;
    /* blocks of n: this query; then what the query without any filter adds;
     * then, with two filters or more, what dropping filter f adds */
    size_t n_sides = q->n_filters == 0 ? 0 : q->n_filters == 1 ? 1 : 1 + q->n_filters;
    uint64_t *cells = rc == 0 ? calloc((1 + n_sides) * n + 1, sizeof *cells) : NULL;
    int *mark = rc == 0 ? calloc(n + 1, sizeof *mark) : NULL;
    if (rc == 0 && (!cells || !mark))
        rc = TSR_ENOMEM;
    if (rc == 0) {
        qsort(ax[0].v, ax[0].n, sizeof ax[0].v[0], t_cmp);
        if (q->n_by == 2)
            qsort(ax[1].v, ax[1].n, sizeof ax[1].v[0], t_cmp);
        for (size_t i = 0; i < nrows; i++) {
            t_value_t v0[T_MAX_VALUES], v1[T_MAX_VALUES];
            size_t n0 = t_values(q->by[0], rows[i].area, &rows[i].p, v0);
            size_t n1 = q->n_by == 2 ? t_values(q->by[1], rows[i].area, &rows[i].p, v1) : 1;
            for (size_t a = 0; a < n0; a++)
                for (size_t b = 0; b < n1; b++) {
                    long r0 = t_axis_find(&ax[0], v0[a]);
                    long r1 = q->n_by == 2 ? t_axis_find(&ax[1], v1[b]) : 0;
                    size_t x = (size_t)r0 * nc + (size_t)r1;
                    if (rows[i].match) {
                        cells[x]++;
                        continue;
                    }
                    cells[n + x]++; /* the query without filters has it */
                    for (size_t f = 0; n_sides > 1 && f < q->n_filters; f++)
                        if (rows[i].fails == 1u << f) /* ...and the query without filter f */
                            cells[(2 + f) * n + x]++;
                }
        }
        rc = t_protect(cells, cells + n, n_sides, nr, nc, k, mark);
        if (rc == TSR_ERANGE)
            snprintf(why, cap, "the table cannot be released without disclosing small counts: "
                     "widen the query");
    }
    if (rc == 0) {
        resp->cells = calloc(nr * nc + 1, sizeof *resp->cells);
        if (!resp->cells)
            rc = TSR_ENOMEM;
    }
    for (size_t x = 0; rc == 0 && x < nr * nc; x++) {
        tsr_trend_cell_t *cell = &resp->cells[resp->n_cells++];
        snprintf(cell->keys[0], sizeof cell->keys[0], "%s", ax[0].v[x / nc]);
        if (q->n_by == 2)
            snprintf(cell->keys[1], sizeof cell->keys[1], "%s", ax[1].v[x % nc]);
        cell->n_keys = q->n_by;
        cell->suppressed = mark[x] != TSR_SDC_SHOWN;
        cell->protective = mark[x] == TSR_SDC_PROTECTIVE;
        cell->count = cell->suppressed ? 0 : cells[x];
    }
    resp->k = k;
    free(cells);
    free(mark);
    free(ax[0].v);
    free(ax[1].v);
    free(rows);
    return rc;
}
