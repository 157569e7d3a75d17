/* spikes.c - count series and spike alerts (see spikes.h; key encodings in
 * docs/STORAGE.md). */
#include "spikes.h"
#include "bytes.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/log.h"
#include "tessera/spike.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_SERIES, P_NAMES, P_SEEN, P_NDBS };
static const char *const p_db_names[P_NDBS] = {"series", "series_names", "spike_seen"};

/* methods, as stored in spike_seen */
enum { M_C1 = 1, M_C2 = 2, M_C3 = 3, M_FARRINGTON = 4, M_CROSS = 9 };
static const char *const p_method_names[] = {"", "c1", "c2", "c3", "farrington"};

#define P_NAME_MAX 96
/* the national series: every area's records (the cross-region rule's group) */
#define P_NATION "nation:all"
#define P_KEY_MAX (1 + P_NAME_MAX + 1 + 4)
/* weeks of history Farrington flexible needs before a period (b = 3, w = 3) */
#define P_FF_WEEKS (52 * 3 + 3 + 1)
/* days of history EARS C3 needs before a day (baseline 7 + 4) + the day */
#define P_EARS_DAYS 12

typedef struct {
    uint8_t key[P_KEY_MAX];
    uint8_t len;
    int32_t delta;
} p_tally_t;

typedef struct {
    char g;
    int32_t period;
} p_period_t;

struct tsr_spikes {
    tsr_kv_t *kv;
    tsr_link_t *log;
    MDB_dbi dbi[P_NDBS];
    tsr_spikes_opts_t o;
    /* the count changes of the running transaction, one entry per series
     * and period: a drain of thousands of records touches the same few
     * thousand series over and over */
    p_tally_t *tally;
    size_t n_tally, cap_tally;
    uint32_t *slot;  /* open addressing over tally: index + 1, 0 = empty */
    size_t n_slot;   /* a power of two, at least twice n_tally */
    /* the records counted, grouped into series changes at finish */
    struct p_counted *counted;
    size_t n_counted, cap_counted;
    p_period_t *alarmed; /* (granularity, period) with a new alarm in this transaction */
    size_t n_alarmed, cap_alarmed;
    /* recent periods whose counts changed: staged by an ingest transaction,
     * pending once it committed, until an evaluation transaction commits */
    p_tally_t *staged, *pending;
    size_t n_staged, cap_staged, n_pending, cap_pending;
    /* the national series evaluated and the cross-region rule run: set by
     * the loop thread (SIGHUP), read by the one that evaluates */
    atomic_bool cross_region;
};

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
static size_t p_seen_key(uint8_t *k, char g, int32_t period, int method, const char *name)
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

/* "area:E08000035" -> "Leeds (E08000035)"; features kept as they are. */
static void p_describe(char *out, size_t cap, const char *series)
{
    if (!strcmp(series, P_NATION)) {
        snprintf(out, cap, "national");
        return;
    }
    char code[16] = "";
    const char *rest = strchr(series, '/');
    const char *colon = strchr(series, ':');
    if (colon)
        snprintf(code, sizeof code, "%.*s", (int)((rest ? rest : series + strlen(series)) - colon - 1),
                 colon + 1);
    const char *name = NULL;
    if (!strncmp(series, "area:", 5)) {
        const tsr_area_t *a = tsr_area_find(code);
        name = a ? a->name : NULL;
    } else if (!strncmp(series, "region:", 7)) {
        name = tsr_region_name(code);
    }
    snprintf(out, cap, "%s (%s)%s%s", name ? name : code, code, rest ? " " : "", rest ? rest + 1 : "");
}

/* The method's name as the docs give it: "EARS C3", "Farrington flexible". */
static const char *p_method_title(const char *method)
{
    const char *title = tsr_spike_method_title(method);
    return title ? title : method;
}

/* What a spike alert's expectation and threshold were made from, in words
 * (DETECTION.md; the numbers are R surveillance's, only explained here):
 * the baseline days of day t, and for C3 why its threshold can sit below
 * the expectation. */
static void p_explain(const tsr_alert_t *a, char *out, size_t cap)
{
    char d1[11], d2[11], d3[11], d4[11], d5[11];
    int32_t t = a->period_day;
    const char *m = a->method;
    if (!strcmp(m, "c1"))
        snprintf(out, cap, "expected %.1f (the mean of the 7 days %s to %s); EARS C1 flags more "
                 "than %.1f", a->expected, tsr_day_format(d1, t - 7), tsr_day_format(d2, t - 1),
                 a->upperbound);
    else if (!strcmp(m, "c2"))
        snprintf(out, cap, "expected %.1f (the mean of the 7 days %s to %s, the two days before "
                 "left out); EARS C2 flags more than %.1f", a->expected,
                 tsr_day_format(d1, t - 9), tsr_day_format(d2, t - 3), a->upperbound);
    else if (!strcmp(m, "c3"))
        snprintf(out, cap, "expected %.1f (the mean of the 7 days %s to %s); EARS C3 adds up how "
                 "far %s, %s and %s each rose over their own 7-day baselines, so the rises of "
                 "the two days before carry over: after them, more than %.1f on %s passed its "
                 "threshold", a->expected, tsr_day_format(d1, t - 9), tsr_day_format(d2, t - 3),
                 tsr_day_format(d3, t - 2), tsr_day_format(d4, t - 1), tsr_day_format(d5, t),
                 a->upperbound, d5);
    else if (!strcmp(m, "farrington"))
        snprintf(out, cap, "expected %.1f (from the same weeks of earlier years); Farrington "
                 "flexible flags more than %.1f", a->expected, a->upperbound);
    else
        snprintf(out, cap, "expected %.1f, threshold %.1f (%s)", a->expected, a->upperbound, m);
}

/* A cross-area alert's text; a cross-region one (the national series)
 * names its regions, which the alert's areas hold. */
static void p_cross_text(const tsr_alert_t *a, const char *what, const char *period,
                         const char *day, char *out, size_t cap)
{
    bool national = !strcmp(a->series, P_NATION);
    int n = snprintf(out, cap, "%s: %s, %s %s: %s", national ? "cross-region" : "cross-area", what,
                     period, day, a->trigger);
    for (size_t i = 0; national && n > 0 && (size_t)n < cap && i < a->n_areas; i++) {
        const char *name = tsr_region_name(a->areas[i]);
        n += snprintf(out + n, cap - (size_t)n, "%s%s (%s)", i ? ", " : "; regions: ",
                      name ? name : a->areas[i], a->areas[i]);
    }
}

void tsr_spikes_summary(const tsr_alert_t *a, unsigned k, char *out, size_t cap)
{
    char what[160], day[11], why[384];
    p_describe(what, sizeof what, a->series);
    tsr_day_format(day, a->period_day);
    const char *period = !strcmp(a->method, "farrington") ? "week of" : "day";
    if (a->kind == TSR_ALERT_CROSS_AREA) {
        p_cross_text(a, what, period, day, out, cap);
    } else if (k > 0 && a->observed < k) { /* the bound would tell how many */
        snprintf(out, cap, "spike: %s, %s %s: <%u reports (%s)", what, period, day, k,
                 p_method_title(a->method));
    } else {
        p_explain(a, why, sizeof why);
        snprintf(out, cap, "spike: %s, %s %s: %llu reports, %s", what, period, day,
                 (unsigned long long)a->observed, why);
    }
}

void tsr_spikes_summary_released(const tsr_alert_t *a, unsigned k, char *out, size_t cap)
{
    char what[160], day[11], d1[11], d2[11];
    p_describe(what, sizeof what, a->series);
    tsr_day_format(day, a->period_day);
    bool weekly = !strcmp(a->method, "farrington");
    const char *period = weekly ? "week of" : "day";
    /* the four whole ISO weeks before the period's week (main.c, s_alert_release) */
    int32_t before = tsr_day_week_monday(a->period_day) - 28;
    if (a->kind == TSR_ALERT_CROSS_AREA)
        p_cross_text(a, what, period, day, out, cap);
    else if (a->observed_suppressed)
        snprintf(out, cap, "spike: %s, %s %s: <%u reports (%s)", what, period, day, k,
                 p_method_title(a->method));
    else
        snprintf(out, cap, "spike: %s, %s %s: %llu reports against %.1f a %s in the four weeks "
                 "%s to %s; %s flagged it (its threshold is made from exact counts, so it is not "
                 "shown)", what, period, day, (unsigned long long)a->observed, a->expected,
                 weekly ? "week" : "day", tsr_day_format(d1, before),
                 tsr_day_format(d2, before + 27), p_method_title(a->method));
}

/* Raises a spike alert unless this series, method and period had one. */
static int p_raise(tsr_spikes_t *s, MDB_txn *txn, char g, const char *name, int32_t period,
                   int method, double observed, double expected, double upper, int64_t now)
{
    uint8_t kb[P_KEY_MAX + 8];
    MDB_val k = {p_seen_key(kb, g, period, method, name), kb}, v;
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
    snprintf(a.method, sizeof a.method, "%s", p_method_names[method]);
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
static int p_point(tsr_spikes_t *s, MDB_txn *txn, char g, const char *name, int32_t period,
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

/* --- cross-area and cross-region ------------------------------------------------------- */

#define P_MAX_AREAS 64

/* The two levels the cross rules work at: a region's areas, and (on the
 * national tier, issue 19) the nation's regions. At each, a group's
 * members alarming together, the group's own series alarming with its
 * excess spread over its members, or one feature alarming in several
 * members make one alert per group and period. */
typedef struct {
    const char *member; /* series prefix of a member: "area:", "region:" */
    const char *group;  /* of the group: "region:", "nation:" */
    const char *plural; /* "areas", "regions" */
    const char *spread; /* condition (b), in words */
} p_level_t;

static const p_level_t p_levels[] = {
    {"area:", "region:", "areas", "the region's excess is spread over its areas"},
    {"region:", "nation:", "regions", "the national excess is spread over its regions"},
};

typedef struct {
    char code[16];                  /* the group: a region code, or "all" */
    tsr_area_code_t members[P_MAX_AREAS]; /* members whose own series alarmed */
    size_t n_members;
    bool group_alarm;
    int group_method; /* a method under which the group's own series alarmed */
    char methods[64];
    char features[P_MAX_AREAS][P_NAME_MAX]; /* "feature:value member" alarms */
    size_t n_features;
} p_scope_t;

static p_scope_t *p_scope(p_scope_t *r, size_t *n, const char *code)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(r[i].code, code))
            return &r[i];
    if (*n == 16)
        return NULL;
    memset(&r[*n], 0, sizeof r[*n]);
    snprintf(r[*n].code, sizeof r[*n].code, "%s", code);
    return &r[(*n)++];
}

static bool p_has(const tsr_area_code_t *list, size_t n, const char *v)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], v))
            return true;
    return false;
}

static void p_add_unique(tsr_area_code_t *list, size_t *n, const char *v)
{
    if (!p_has(list, *n, v) && *n < P_MAX_AREAS)
        snprintf(list[(*n)++], sizeof *list, "%s", v);
}

static void p_append(char *out, size_t cap, const char *item)
{
    size_t n = strlen(out);
    if (!strstr(out, item))
        snprintf(out + n, cap - n, "%s%s", n ? ", " : "", item);
}

/* The group of a member at a level: an area's region; every known region's
 * is the nation ("all"). NULL for an unknown area or region. */
static const char *p_group_of(int level, const char *member)
{
    if (level == 0) {
        const tsr_area_t *a = tsr_area_find(member);
        return a ? a->region_code : NULL;
    }
    return tsr_region_exists(member) ? "all" : NULL;
}

/* Group excess spread: true when no single member accounts for more than
 * half of the group's excess over its expectation (condition b). */
static int p_spread(tsr_spikes_t *s, MDB_txn *txn, int level, char g, const char *group,
                    int32_t period, int method, bool *spread, char *why, size_t cap)
{
    const p_level_t *L = &p_levels[level];
    char name[P_NAME_MAX];
    snprintf(name, sizeof name, "%s%.15s", L->group, group);
    tsr_spike_point_t pt;
    double obs;
    int rc = p_point(s, txn, g, name, period, method, &pt, &obs);
    *spread = false;
    if (rc != 0 || !pt.evaluated || isnan(pt.expected))
        return rc;
    double excess = obs - pt.expected, top = 0;
    const char *top_name = "";
    tsr_area_code_t done[P_MAX_AREAS];
    size_t n_done = 0;
    for (int i = 0; rc == 0 && i < tsr_area_count(); i++) {
        const tsr_area_t *a = tsr_area_at(i);
        const char *member = level == 0 ? a->code : a->region_code;
        const char *in = p_group_of(level, member);
        if (!in || strcmp(in, group) != 0 || p_has(done, n_done, member))
            continue;
        if (level == 1)
            p_add_unique(done, &n_done, member); /* each region once */
        snprintf(name, sizeof name, "%s%s", L->member, member);
        tsr_spike_point_t ap = {0};
        double aobs = 0;
        rc = p_point(s, txn, g, name, period, method, &ap, &aobs);
        double ax = rc == 0 && ap.evaluated && !isnan(ap.expected) ? aobs - ap.expected : aobs;
        if (ax > top) {
            top = ax;
            top_name = level == 0 ? a->name : a->region_name;
        }
    }
    *spread = excess > 0 && top <= 0.5 * excess;
    /* no counts in the text: analysts may not be shown small ones */
    if (*spread)
        snprintf(why, cap, "%s (largest share: %s)", L->spread, top_name);
    return rc;
}

static int p_cmp_code(const void *a, const void *b) { return strcmp(a, b); }

/* Every alarm of a period, whichever transaction raised it, gathered by
 * group at a level. */
static int p_gather(tsr_spikes_t *s, MDB_txn *txn, int level, char g, int32_t period,
                    p_scope_t *scopes, size_t *ns)
{
    const p_level_t *L = &p_levels[level];
    size_t ml = strlen(L->member), gl = strlen(L->group);
    uint8_t kb[P_KEY_MAX + 8];
    size_t plen = p_seen_key(kb, g, period, 0, "") - 1; /* granularity + period */
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, s->dbi[P_SEEN], &c);
    if (rc != 0)
        return rc;
    MDB_val k = {plen, kb}, v;
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= plen + 1 || memcmp(k.mv_data, kb, plen) != 0)
            break;
        const uint8_t *kp = k.mv_data;
        int method = kp[plen];
        if (method == M_CROSS)
            continue;
        char name[P_NAME_MAX];
        snprintf(name, sizeof name, "%.*s", (int)(k.mv_size - plen - 1), (const char *)kp + plen + 1);
        char code[16];
        const char *slash = strchr(name, '/');
        if (!strncmp(name, L->member, ml)) {
            snprintf(code, sizeof code, "%.*s", (int)strcspn(name + ml, "/"), name + ml);
            const char *group = p_group_of(level, code);
            p_scope_t *r = group ? p_scope(scopes, ns, group) : NULL;
            if (!r)
                continue;
            p_append(r->methods, sizeof r->methods, p_method_names[method]);
            if (!slash) {
                p_add_unique(r->members, &r->n_members, code);
            } else {
                char entry[P_NAME_MAX];
                snprintf(entry, sizeof entry, "%s %s", slash + 1, code);
                bool have = false;
                for (size_t f = 0; f < r->n_features && !have; f++)
                    have = !strcmp(r->features[f], entry);
                if (!have && r->n_features < P_MAX_AREAS)
                    memcpy(r->features[r->n_features++], entry, sizeof entry);
            }
        } else if (!strncmp(name, L->group, gl) && !slash) {
            snprintf(code, sizeof code, "%.15s", name + gl);
            p_scope_t *r = p_scope(scopes, ns, code);
            if (r) {
                r->group_alarm = true;
                r->group_method = method;
                p_append(r->methods, sizeof r->methods, p_method_names[method]);
            }
        }
    }
    tsr_kv_cursor_close(c);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

/* Raises at most one cross alert per group and period at a level: a
 * cross-area alert per region (level 0), a cross-region alert for the
 * nation (level 1). */
static int p_cross(tsr_spikes_t *s, MDB_txn *txn, int level, char g, int32_t period, int64_t now)
{
    const p_level_t *L = &p_levels[level];
    p_scope_t scopes[16];
    size_t nr = 0;
    int rc = p_gather(s, txn, level, g, period, scopes, &nr);
    for (size_t i = 0; rc == 0 && i < nr; i++) {
        p_scope_t *r = &scopes[i];
        char why[256] = "", item[200];
        tsr_area_code_t members[P_MAX_AREAS];
        size_t na = 0;
        if (r->n_members >= 2) {
            snprintf(item, sizeof item, "%zu %s alarm together", r->n_members, L->plural);
            p_append(why, sizeof why, item);
            for (size_t a = 0; a < r->n_members && na < P_MAX_AREAS; a++)
                snprintf(members[na++], sizeof members[0], "%s", r->members[a]);
        }
        if (r->group_alarm) {
            bool spread = false;
            rc = p_spread(s, txn, level, g, r->code, period, r->group_method, &spread, item,
                          sizeof item);
            if (rc == 0 && spread)
                p_append(why, sizeof why, item);
        }
        /* the same feature in two or more members */
        char feats[256] = "";
        size_t n_feats = 0;
        for (size_t f = 0; rc == 0 && f < r->n_features; f++) {
            char feat[P_NAME_MAX];
            snprintf(feat, sizeof feat, "%s", r->features[f]);
            char *sp = strrchr(feat, ' ');
            if (!sp)
                continue;
            *sp = '\0';
            size_t count = 0, fl = strlen(feat);
            for (size_t h = 0; h < r->n_features; h++)
                if (!strncmp(r->features[h], feat, fl) && r->features[h][fl] == ' ')
                    count++;
            if (count < 2)
                continue;
            snprintf(item, sizeof item, "%s (%zu)", feat, count);
            if (!strstr(feats, item) && n_feats++ < 4)
                p_append(feats, sizeof feats, item);
            for (size_t h = 0; h < r->n_features; h++) {
                const char *member = r->features[h] + fl + 1;
                if (!strncmp(r->features[h], feat, fl) && r->features[h][fl] == ' ' &&
                    !p_has(members, na, member) && na < P_MAX_AREAS)
                    snprintf(members[na++], sizeof members[0], "%s", member);
            }
        }
        if (n_feats > 0) {
            snprintf(item, sizeof item, "same feature in several %s: %s%s", L->plural, feats,
                     n_feats > 4 ? ", ..." : "");
            p_append(why, sizeof why, item);
        }
        if (rc != 0 || !why[0])
            continue;
        char name[P_NAME_MAX];
        snprintf(name, sizeof name, "%s%.15s", L->group, r->code);
        uint8_t sk[P_KEY_MAX + 8];
        MDB_val skv = {p_seen_key(sk, g, period, M_CROSS, name), sk}, sv;
        rc = tsr_kv_get(txn, s->dbi[P_SEEN], &skv, &sv);
        if (rc == 0)
            continue; /* one cross alert per group and period */
        if (rc != TSR_ENOTFOUND)
            break;
        double obs;
        tsr_spike_point_t rp = {.expected = NAN, .upperbound = NAN};
        rc = p_point(s, txn, g, name, period, g == 'd' ? M_C1 : M_FARRINGTON, &rp, &obs);
        if (rc != 0)
            break;
        qsort(members, na, sizeof members[0], p_cmp_code);
        tsr_alert_t a = {.kind = TSR_ALERT_CROSS_AREA,
                         .created_at = now,
                         .period_day = period,
                         .observed = (uint64_t)obs,
                         .expected = rp.expected,
                         .upperbound = rp.upperbound,
                         .areas = members,
                         .n_areas = na};
        snprintf(a.series, sizeof a.series, "%s", name);
        snprintf(a.method, sizeof a.method, "%s", g == 'd' ? "ears" : "farrington");
        snprintf(a.trigger, sizeof a.trigger, "%s (%s)", why, r->methods);
        tsr_spikes_summary(&a, 0, a.summary, sizeof a.summary);
        if ((rc = tsr_link_append(s->log, txn, &a)) == 0) {
            sv.mv_size = 8;
            sv.mv_data = &a.seq;
            rc = tsr_kv_put(txn, s->dbi[P_SEEN], &skv, &sv, 0);
        }
    }
    return rc;
}

/* The cross rules for the periods that alarmed in this transaction: per
 * region, and across regions where they are on (the national tier). */
static int p_cross_alarmed(tsr_spikes_t *s, MDB_txn *txn, int64_t now)
{
    int rc = 0;
    bool regions = atomic_load(&s->cross_region);
    for (size_t i = 0; rc == 0 && i < s->n_alarmed; i++) {
        rc = p_cross(s, txn, 0, s->alarmed[i].g, s->alarmed[i].period, now);
        if (rc == 0 && regions)
            rc = p_cross(s, txn, 1, s->alarmed[i].g, s->alarmed[i].period, now);
    }
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
    return rc == 0 ? p_cross_alarmed(s, txn, now) : rc;
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
    return rc == 0 ? p_cross_alarmed(s, txn, now) : rc;
}
