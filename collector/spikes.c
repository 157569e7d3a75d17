/* spikes.c - count series and spike alerts (see spikes.h; key encodings in
 * docs/STORAGE.md). The cross-area and cross-region rules are in
 * spikes_cross.c, alerts' text in spikes_text.c; spikes_int.h is what they
 * share. */
#include "bytes.h"
#include "spikes_int.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/log.h"
#include "tessera/spike.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const p_db_names[P_NDBS] = {"series", "series_names", "spike_seen"};

const char *const tsr_spikes_method_names[] = {"", "c1", "c2", "c3", "farrington"};

/* weeks of history Farrington flexible needs before a period (b = 3, w = 3) */
#define P_FF_WEEKS (52 * 3 + 3 + 1)
/* days of history EARS C3 needs before a day (baseline 7 + 4) + the day */
#define P_EARS_DAYS 12

void tsr_spikes_defaults(tsr_spikes_opts_t *o)
{
    *o = (tsr_spikes_opts_t){.c1 = true, .c2 = true, .c3 = true, .farrington = true,
                             .recent_days = 14, .recent_weeks = 4, .min_cases = 3};
}


int tsr_spikes_open(tsr_spikes_t **out, tsr_kv_t *kv, tsr_link_t *log, const tsr_spikes_opts_t *o,
                    tsr_error_t *err)
{
    *out = NULL;
    tsr_spikes_t *s = calloc(1, sizeof *s);
    if (!s)
        return TSR_ENOMEM;
    int rc = tsr_kv_dbis(kv, p_db_names, P_NDBS, 0, s->dbi, err);
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->kv = kv;
    s->log = log;
    if (o)
        s->o = *o;
    else
        tsr_spikes_defaults(&s->o);
    atomic_init(&s->cross_region, s->o.cross_region);
    *out = s;
    return 0;
}

void tsr_spikes_close(tsr_spikes_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    free((*s_p)->tally);
    free((*s_p)->slot);
    free((*s_p)->counted);
    free((*s_p)->alarmed);
    free((*s_p)->staged);
    free((*s_p)->pending);
    free(*s_p);
    *s_p = NULL;
}

void tsr_spikes_cross_region(tsr_spikes_t *s, bool on) { atomic_store(&s->cross_region, on); }

void tsr_spikes_begin(tsr_spikes_t *s)
{
    if (s->n_tally > 0)
        memset(s->slot, 0, s->n_slot * sizeof *s->slot);
    s->n_tally = 0;
    s->n_counted = 0;
    s->n_alarmed = 0;
    s->n_staged = 0;
}

void tsr_spikes_committed(tsr_spikes_t *s)
{
    for (size_t i = 0; i < s->n_staged; i++) {
        if (tsr_grow((void **)&s->pending, &s->cap_pending, s->n_pending, sizeof *s->pending) != 0)
            break; /* out of memory: the day-boundary run evaluates it */
        s->pending[s->n_pending++] = s->staged[i];
    }
    s->n_staged = 0;
}

bool tsr_spikes_pending(const tsr_spikes_t *s) { return s->n_pending > 0; }

void tsr_spikes_evaluated(tsr_spikes_t *s) { s->n_pending = 0; }

/* --- keys -------------------------------------------------------------------------- */

/* series key: granularity, name, NUL, period (big-endian, sign flipped) */
static size_t p_series_key(uint8_t *k, char g, const char *name, int32_t period)
{
    size_t n = strlen(name);
    k[0] = (uint8_t)g;
    memcpy(k + 1, name, n);
    k[1 + n] = 0;
    tsr_bytes_day(k + 2 + n, period);
    return 2 + n + 4;
}

/* spike_seen key: granularity, period, method, name */
size_t tsr_spikes_seen_key(uint8_t *k, char g, int32_t period, int method, const char *name)
{
    k[0] = (uint8_t)g;
    tsr_bytes_day(k + 1, period);
    k[5] = (uint8_t)method;
    size_t n = strlen(name);
    memcpy(k + 6, name, n);
    return 6 + n;
}

/* --- counting ------------------------------------------------------------------------- */

/* The slot of key in s->slot: its tally entry's, or the empty one where it goes. */
static uint32_t *p_slot(tsr_spikes_t *s, const uint8_t *key, size_t len)
{
    size_t mask = s->n_slot - 1;
    for (size_t i = tsr_fnv1a(key, len) & mask;; i = (i + 1) & mask) {
        uint32_t *sl = &s->slot[i];
        if (*sl == 0 ||
            (s->tally[*sl - 1].len == len && !memcmp(s->tally[*sl - 1].key, key, len)))
            return sl;
    }
}

static int p_add(tsr_spikes_t *s, char g, const char *name, int32_t period, int delta)
{
    if (strlen(name) >= P_NAME_MAX)
        return 0;
    uint8_t key[P_KEY_MAX];
    size_t len = p_series_key(key, g, name, period);
    if ((s->n_tally + 1) * 2 > s->n_slot) {
        size_t n = s->n_slot ? s->n_slot * 2 : 4096;
        uint32_t *grown = calloc(n, sizeof *grown);
        if (!grown)
            return TSR_ENOMEM;
        free(s->slot);
        s->slot = grown;
        s->n_slot = n;
        for (size_t i = 0; i < s->n_tally; i++)
            *p_slot(s, s->tally[i].key, s->tally[i].len) = (uint32_t)i + 1;
    }
    uint32_t *sl = p_slot(s, key, len);
    if (*sl != 0) {
        s->tally[*sl - 1].delta += delta;
        return 0;
    }
    if (tsr_grow((void **)&s->tally, &s->cap_tally, s->n_tally, sizeof *s->tally) != 0)
        return TSR_ENOMEM;
    p_tally_t *t = &s->tally[s->n_tally++];
    memcpy(t->key, key, len);
    t->len = (uint8_t)len;
    t->delta = delta;
    *sl = (uint32_t)s->n_tally;
    return 0;
}

static const struct {
    const char *name;
    tsr_codes_list_t list;
    size_t offset;
} p_features[] = {
    {"contact_platform", TSR_CODES_PLATFORM, offsetof(tsr_incident_t, contact_platforms)},
    {"moved_to_platform", TSR_CODES_PLATFORM, offsetof(tsr_incident_t, moved_to_platforms)},
    {"payment_method", TSR_CODES_PAYMENT_METHOD, offsetof(tsr_incident_t, payment_methods)},
    {"demand", TSR_CODES_DEMAND, offsetof(tsr_incident_t, demands)},
    {"tactic", TSR_CODES_TACTIC, offsetof(tsr_incident_t, tactics)},
};

#define P_NFEATURES (sizeof p_features / sizeof p_features[0])

/* A record counted in the running transaction: what decides its series. */
typedef struct p_counted {
    char area[TSR_AREA_CODE_MAX];
    uint8_t daily; /* the day is exact: daily series too */
    int8_t delta;
    int32_t day;
    uint32_t mask[P_NFEATURES];
} p_counted_t;

int tsr_spikes_count(tsr_spikes_t *s, const tsr_incident_t *inc, int delta)
{
    if (tsr_grow((void **)&s->counted, &s->cap_counted, s->n_counted, sizeof *s->counted) != 0)
        return TSR_ENOMEM;
    p_counted_t *c = &s->counted[s->n_counted++];
    memset(c, 0, sizeof *c);
    snprintf(c->area, sizeof c->area, "%s", inc->area_code);
    /* daily series only from records that give the day: week-coarsened
     * dates would make every Monday a spike */
    c->daily = inc->date_precision == TSR_PRECISION_DAY;
    c->delta = (int8_t)(delta < 0 ? -1 : 1);
    c->day = inc->reported_day;
    for (size_t f = 0; f < P_NFEATURES; f++)
        memcpy(&c->mask[f], (const uint8_t *)inc + p_features[f].offset, sizeof c->mask[f]);
    return 0;
}

static int p_cmp_counted(const void *a, const void *b)
{
    const p_counted_t *x = a, *y = b;
    int c = strcmp(x->area, y->area);
    if (c == 0)
        c = (x->day > y->day) - (x->day < y->day);
    return c ? c : (int)x->daily - (int)y->daily;
}

/* The series changes of records c[0..n), which share area, day and
 * precision: per area and region, the total and each feature value any of
 * them has (a change may net to 0: the period is still evaluated again);
 * nationally, the total. The national series is counted on every collector
 * (two counts per group), so turning the cross-region rule on finds its
 * history complete; it is evaluated only where the rule is on. */
static int p_group(tsr_spikes_t *s, const p_counted_t *c, size_t n)
{
    int32_t total = 0, feat[P_NFEATURES][TSR_CODES_MAX_VALUE + 1] = {{0}};
    uint32_t seen[P_NFEATURES] = {0};
    for (size_t i = 0; i < n; i++) {
        total += c[i].delta;
        for (size_t f = 0; f < P_NFEATURES; f++) {
            seen[f] |= c[i].mask[f];
            for (uint32_t m = c[i].mask[f] & ~1u; m; m &= m - 1) /* values 1..31 */
                feat[f][__builtin_ctz(m)] += c[i].delta;
        }
    }
    const tsr_area_t *area = tsr_area_find(c->area);
    char names[2][P_NAME_MAX];
    snprintf(names[0], sizeof names[0], "area:%s", c->area);
    snprintf(names[1], sizeof names[1], "region:%s", area ? area->region_code : "unknown");
    int32_t monday = tsr_day_week_monday(c->day);
    int rc = c->daily ? p_add(s, 'd', P_NATION, c->day, total) : 0;
    if (rc == 0)
        rc = p_add(s, 'w', P_NATION, monday, total);
    for (int a = 0; rc == 0 && a < 2; a++) {
        if (c->daily)
            rc = p_add(s, 'd', names[a], c->day, total);
        if (rc == 0)
            rc = p_add(s, 'w', names[a], monday, total);
        for (size_t f = 0; rc == 0 && f < P_NFEATURES; f++)
            for (int v = 1; rc == 0 && v <= TSR_CODES_MAX_VALUE; v++) {
                const char *vn = seen[f] & (1u << v) ? tsr_codes_name(p_features[f].list, v) : NULL;
                if (!vn)
                    continue;
                char name[2 * P_NAME_MAX + 64];
                snprintf(name, sizeof name, "%s/%s:%s", names[a], p_features[f].name, vn);
                if (c->daily)
                    rc = p_add(s, 'd', name, c->day, feat[f][v]);
                if (rc == 0)
                    rc = p_add(s, 'w', name, monday, feat[f][v]);
            }
    }
    return rc;
}

/* The counted records into the tally, a group of equal area, day and
 * precision at a time: a drain's thousands of records share few of them. */
static int p_tally_counted(tsr_spikes_t *s)
{
    if (s->n_counted == 0)
        return 0;
    qsort(s->counted, s->n_counted, sizeof *s->counted, p_cmp_counted);
    int rc = 0;
    for (size_t i = 0, j; rc == 0 && i < s->n_counted; i = j) {
        for (j = i + 1; j < s->n_counted && p_cmp_counted(&s->counted[i], &s->counted[j]) == 0;)
            j++;
        rc = p_group(s, &s->counted[i], j - i);
    }
    s->n_counted = 0;
    return rc;
}

static int p_cmp_tally(const void *a, const void *b)
{
    const p_tally_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (int)x->len - (int)y->len;
}

/* Reads a series' counts for periods from..to (step 1 or 7) into y. */
static int p_read(tsr_spikes_t *s, MDB_txn *txn, char g, const char *name, int32_t from, int32_t to,
                  int step, double *y)
{
    size_t n = (size_t)((to - from) / step + 1);
    for (size_t i = 0; i < n; i++)
        y[i] = 0;
    uint8_t kb[P_KEY_MAX];
    size_t klen = p_series_key(kb, g, name, from), prefix = klen - 4;
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, s->dbi[P_SERIES], &c);
    if (rc != 0)
        return rc;
    MDB_val k = {klen, kb}, v;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != klen || memcmp(k.mv_data, kb, prefix) != 0)
            break;
        int32_t p = tsr_bytes_from_day((uint8_t *)k.mv_data + prefix);
        if (p > to)
            break;
        uint32_t cnt = 0;
        if (v.mv_size == 4)
            memcpy(&cnt, v.mv_data, 4);
        if ((p - from) % step == 0)
            y[(p - from) / step] = cnt;
    }
    tsr_kv_cursor_close(c);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

/* --- alerts ---------------------------------------------------------------------------- */

/* Raises a spike alert unless this series, method and period had one. */
static int p_raise(tsr_spikes_t *s, MDB_txn *txn, char g, const char *name, int32_t period,
                   int method, double observed, double expected, double upper, int64_t now)
{
    uint8_t kb[P_KEY_MAX + 8];
    MDB_val k = {tsr_spikes_seen_key(kb, g, period, method, name), kb}, v;
    int rc = tsr_kv_get(txn, s->dbi[P_SEEN], &k, &v);
    if (rc != TSR_ENOTFOUND)
        return rc; /* 0: alerted already */
    tsr_alert_t a = {.kind = TSR_ALERT_SPIKE,
                     .created_at = now,
                     .period_day = period,
                     .observed = (uint64_t)observed,
                     .expected = expected,
                     .upperbound = upper};
    snprintf(a.series, sizeof a.series, "%s", name);
    snprintf(a.method, sizeof a.method, "%s", tsr_spikes_method_names[method]);
    tsr_spikes_summary(&a, 0, a.summary, sizeof a.summary);
    if ((rc = tsr_link_append(s->log, txn, &a)) != 0)
        return rc;
    v.mv_size = 8;
    v.mv_data = &a.seq;
    if ((rc = tsr_kv_put(txn, s->dbi[P_SEEN], &k, &v, 0)) != 0)
        return rc;
    for (size_t i = 0; i < s->n_alarmed; i++)
        if (s->alarmed[i].g == g && s->alarmed[i].period == period)
            return 0;
    if (tsr_grow((void **)&s->alarmed, &s->cap_alarmed, s->n_alarmed, sizeof *s->alarmed) != 0)
        return TSR_ENOMEM;
    s->alarmed[s->n_alarmed++] = (p_period_t){g, period};
    return 0;
}

/* The first period with cases of a series (INT32_MAX when none). */
static int p_first(tsr_spikes_t *s, MDB_txn *txn, char g, const char *name, int32_t *first)
{
    uint8_t kb[P_KEY_MAX];
    size_t klen = p_series_key(kb, g, name, INT32_MIN), prefix = klen - 4;
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, s->dbi[P_SERIES], &c);
    if (rc != 0)
        return rc;
    MDB_val k = {klen, kb}, v;
    *first = INT32_MAX;
    rc = tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && k.mv_size == klen && memcmp(k.mv_data, kb, prefix) == 0)
        *first = tsr_bytes_from_day((uint8_t *)k.mv_data + prefix);
    tsr_kv_cursor_close(c);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

/* The counts a method sees for a period: the period last. */
typedef struct {
    double y[P_FF_WEEKS];
    size_t n;     /* P_EARS_DAYS (daily) or P_FF_WEEKS (weekly) */
    bool enough;  /* the full history since the series' first case */
    double obs;   /* the period's own count */
} p_history_t;

/* Reads a series' history up to a period. Periods before its first case are
 * unknown, not zero (the collector was not receiving then): without the
 * method's full history since that first case the period is not evaluated,
 * as R leaves the start of a series. */
static int p_history(tsr_spikes_t *s, MDB_txn *txn, char g, const char *name, int32_t period,
                     p_history_t *h)
{
    int32_t first = INT32_MAX;
    int rc = p_first(s, txn, g, name, &first);
    h->n = g == 'd' ? P_EARS_DAYS : P_FF_WEEKS;
    int step = g == 'd' ? 1 : 7;
    h->enough = first != INT32_MAX && (period - first) / step >= (int32_t)h->n - 1;
    if (rc == 0)
        rc = p_read(s, txn, g, name, period - step * (int32_t)(h->n - 1), period, step, h->y);
    h->obs = rc == 0 ? h->y[h->n - 1] : 0;
    return rc;
}

/* One method on a history; res->evaluated is false without enough of it. */
static int p_method(const p_history_t *h, int method, tsr_spike_point_t *res)
{
    res->evaluated = false;
    if (!h->enough)
        return 0;
    tsr_spike_point_t *out = malloc(h->n * sizeof *out);
    if (!out)
        return TSR_ENOMEM;
    int rc;
    if (method == M_FARRINGTON) {
        tsr_farrington_opts_t o;
        tsr_farrington_defaults(&o);
        rc = tsr_farrington(h->y, h->n, &o, out);
    } else {
        tsr_ears_opts_t o;
        tsr_ears_defaults(&o, (tsr_ears_method_t)method);
        rc = tsr_ears(h->y, h->n, &o, out);
    }
    if (rc == 0)
        *res = out[h->n - 1];
    free(out);
    return rc;
}

/* Evaluates one period of one series with a method: *res gets the point,
 * *obs the period's count. */
int tsr_spikes_point(tsr_spikes_t *s, MDB_txn *txn, char g, const char *name, int32_t period,
                     int method, tsr_spike_point_t *res, double *obs)
{
    p_history_t *h = malloc(sizeof *h);
    int rc = h ? p_history(s, txn, g, name, period, h) : TSR_ENOMEM;
    if (rc == 0)
        rc = p_method(h, method, res);
    *obs = rc == 0 ? h->obs : 0;
    free(h);
    return rc;
}

/* Evaluates a series at a period with every method on for its granularity,
 * reading its history once. */
static int p_evaluate(tsr_spikes_t *s, MDB_txn *txn, char g, const char *name, int32_t period,
                      int64_t now)
{
    int methods[3], n = 0;
    if (g == 'd') {
        if (s->o.c1)
            methods[n++] = M_C1;
        if (s->o.c2)
            methods[n++] = M_C2;
        if (s->o.c3)
            methods[n++] = M_C3;
    } else if (s->o.farrington) {
        methods[n++] = M_FARRINGTON;
    }
    if (n == 0 || (!strcmp(name, P_NATION) && !atomic_load(&s->cross_region)))
        return 0;
    p_history_t *h = malloc(sizeof *h);
    int rc = h ? p_history(s, txn, g, name, period, h) : TSR_ENOMEM;
    for (int i = 0; rc == 0 && h->enough && i < n; i++) {
        tsr_spike_point_t pt;
        rc = p_method(h, methods[i], &pt);
        /* On sparse series a single case after a quiet week is an alarm
         * (the bound is the mean when the spread is 0): no one can act on
         * that, so it takes min_cases to make an alert. */
        if (rc == 0 && pt.evaluated && pt.alarm == TSR_ALARM_YES && h->obs >= s->o.min_cases)
            rc = p_raise(s, txn, g, name, period, methods[i], h->obs, pt.expected, pt.upperbound,
                         now);
    }
    free(h);
    return rc;
}

/* --- transaction end and boundary runs -------------------------------------------------- */

static bool p_recent(const tsr_spikes_t *s, char g, int32_t period, int32_t today)
{
    if (g == 'd')
        return period <= today && period > today - s->o.recent_days;
    int32_t monday = tsr_day_week_monday(today);
    return period <= monday && period > monday - 7 * s->o.recent_weeks;
}

int tsr_spikes_finish(tsr_spikes_t *s, MDB_txn *txn, int32_t today)
{
    int rc = p_tally_counted(s);
    if (rc != 0 || s->n_tally == 0)
        return rc;
    /* entries are one per key (p_add); in key order, the writes go through
     * the B-tree in order. The sort leaves s->slot stale: nothing counts
     * after finish until tsr_spikes_begin clears it. */
    qsort(s->tally, s->n_tally, sizeof *s->tally, p_cmp_tally);
    /* one cursor: each count is found once and written where it was found */
    MDB_cursor *c = NULL;
    rc = tsr_kv_cursor_open(txn, s->dbi[P_SERIES], &c);
    for (size_t i = 0; rc == 0 && i < s->n_tally; i++) {
        p_tally_t *t = &s->tally[i];
        int64_t delta = t->delta;
        if (delta == 0)
            continue;
        MDB_val k = {t->len, t->key}, v;
        uint32_t cnt = 0;
        int found = tsr_kv_cursor_get(c, &k, &v, MDB_SET_KEY);
        if (found == 0 && v.mv_size == 4)
            memcpy(&cnt, v.mv_data, 4);
        else if (found != TSR_ENOTFOUND && found != 0)
            rc = found;
        int64_t nc = (int64_t)cnt + delta;
        if (rc != 0) {
            break;
        } else if (nc <= 0) {
            rc = found == 0 ? tsr_kv_cursor_del(c) : 0;
        } else {
            uint32_t nv32 = (uint32_t)nc;
            MDB_val nv = {4, &nv32};
            rc = tsr_kv_cursor_put(c, &k, &nv, found == 0 ? MDB_CURRENT : 0);
            /* the name, for the boundary runs: once per series */
            MDB_val nk = {(size_t)t->len - 5, t->key}, empty = {0, ""};
            if (rc == 0 && cnt == 0) {
                rc = tsr_kv_put(txn, s->dbi[P_NAMES], &nk, &empty, MDB_NOOVERWRITE);
                rc = rc == TSR_EEXIST ? 0 : rc;
            }
        }
    }
    tsr_kv_cursor_close(c);
    /* the recent periods that changed wait for the evaluation transaction,
     * which runs when ingest is idle (or every 200 ms under load) */
    for (size_t i = 0; rc == 0 && i < s->n_tally; i++) {
        p_tally_t *t = &s->tally[i];
        if (!p_recent(s, (char)t->key[0], tsr_bytes_from_day(t->key + t->len - 4), today))
            continue;
        if (tsr_grow((void **)&s->staged, &s->cap_staged, s->n_staged, sizeof *s->staged) != 0)
            return TSR_ENOMEM;
        s->staged[s->n_staged++] = *t;
    }
    return rc;
}

int tsr_spikes_evaluate_pending(tsr_spikes_t *s, MDB_txn *txn, int32_t today, int64_t now)
{
    s->n_alarmed = 0;
    qsort(s->pending, s->n_pending, sizeof *s->pending, p_cmp_tally);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->n_pending; i++) {
        p_tally_t *t = &s->pending[i];
        if (i > 0 && p_cmp_tally(&s->pending[i - 1], t) == 0)
            continue;
        char g = (char)t->key[0];
        int32_t period = tsr_bytes_from_day(t->key + t->len - 4);
        if (!p_recent(s, g, period, today))
            continue;
        char name[P_NAME_MAX];
        snprintf(name, sizeof name, "%.*s", (int)(t->len - 6), (const char *)t->key + 1);
        rc = p_evaluate(s, txn, g, name, period, now);
    }
    return rc == 0 ? tsr_spikes_cross_alarmed(s, txn, now) : rc;
}

int tsr_spikes_evaluate_day(tsr_spikes_t *s, MDB_txn *txn, int32_t day, int64_t now)
{
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, s->dbi[P_NAMES], &c);
    if (rc != 0)
        return rc;
    /* collect the names first: evaluation writes to other databases only,
     * but keep the cursor's life simple */
    char (*names)[P_NAME_MAX + 1] = NULL;
    size_t n = 0, cap = 0;
    MDB_val k, v;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 2 || k.mv_size > P_NAME_MAX)
            continue;
        if (tsr_grow((void **)&names, &cap, n, sizeof *names) != 0) {
            rc = TSR_ENOMEM;
            break;
        }
        snprintf(names[n++], sizeof *names, "%.*s", (int)k.mv_size, (const char *)k.mv_data);
    }
    tsr_kv_cursor_close(c);
    rc = rc == TSR_ENOTFOUND ? 0 : rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char g = names[i][0];
        int32_t period = g == 'd' ? day : tsr_day_week_monday(day);
        double obs;
        rc = p_read(s, txn, g, names[i] + 1, period, period, 1, &obs);
        if (rc == 0 && obs > 0 && (g == 'd' || day == period + 6))
            rc = p_evaluate(s, txn, g, names[i] + 1, period, now);
    }
    free(names);
    return rc == 0 ? tsr_spikes_cross_alarmed(s, txn, now) : rc;
}
