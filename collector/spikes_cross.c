/* spikes_cross.c - the cross-area and cross-region rules: alarms of one
 * period gathered by region (and, on the national tier, by nation), and
 * at most one cross alert per group and period (docs/DETECTION.md). */
#include "spikes_int.h"
#include "tessera/codes.h"
#include "tessera/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A code too long for the list is not an area code; it is left out rather
 * than cut short into one that is. */
static void p_add_unique(tsr_area_code_t *list, size_t *n, const char *v)
{
    size_t len = strlen(v);
    if (len >= sizeof *list || p_has(list, *n, v) || *n >= P_MAX_AREAS)
        return;
    memcpy(list[(*n)++], v, len + 1);
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
    int rc = tsr_spikes_point(s, txn, g, name, period, method, &pt, &obs);
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
        rc = tsr_spikes_point(s, txn, g, name, period, method, &ap, &aobs);
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
    size_t plen = tsr_spikes_seen_key(kb, g, period, 0, "") - 1; /* granularity + period */
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
            p_append(r->methods, sizeof r->methods, tsr_spikes_method_names[method]);
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
                p_append(r->methods, sizeof r->methods, tsr_spikes_method_names[method]);
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
        MDB_val skv = {tsr_spikes_seen_key(sk, g, period, M_CROSS, name), sk}, sv;
        rc = tsr_kv_get(txn, s->dbi[P_SEEN], &skv, &sv);
        if (rc == 0)
            continue; /* one cross alert per group and period */
        if (rc != TSR_ENOTFOUND)
            break;
        double obs;
        tsr_spike_point_t rp = {.expected = NAN, .upperbound = NAN};
        rc = tsr_spikes_point(s, txn, g, name, period, g == 'd' ? M_C1 : M_FARRINGTON, &rp, &obs);
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
int tsr_spikes_cross_alarmed(tsr_spikes_t *s, MDB_txn *txn, int64_t now)
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
