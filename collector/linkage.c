/* linkage.c - clusters of shared offender tokens and the linkage alerts
 * they raise (see linkage.h for the model; key encodings in
 * docs/STORAGE.md). The key set and cluster summaries are in
 * linkage_sum.c, removal and splits in linkage_remove.c, reads in
 * linkage_read.c, the alert log in alertlog.c. */
#include "bytes.h"
#include "linkage_int.h"
#include "tessera/auth.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const l_db_names[L_NDBS] = {
    "link_token", "link_record", "link_members", "link_clusters", "alerts", "link_meta",
};

static const uint32_t l_thresholds[] = {3, 5, 10, 20, 50, 100};

/* The highest victim threshold n has reached (0 below the first). */
static uint32_t l_threshold_of(uint32_t n)
{
    uint32_t t = 0;
    for (size_t i = 0; i < sizeof l_thresholds / sizeof l_thresholds[0]; i++)
        if (n >= l_thresholds[i])
            t = l_thresholds[i];
    return t;
}

/* --- open ------------------------------------------------------------------------ */

int tsr_link_open(tsr_link_t **out, tsr_kv_t *kv, MDB_dbi by_token, tsr_link_get_fn get,
                  void *get_ctx, tsr_error_t *err)
{
    *out = NULL;
    int rc = tsr_link_hash_check(err); /* fail here, not in the first apply step */
    if (rc != 0)
        return rc;
    tsr_link_t *l = calloc(1, sizeof *l);
    if (!l)
        return TSR_ENOMEM;
    rc = tsr_kv_dbis(kv, l_db_names, L_NDBS, 0, l->dbi, err);
    if (rc != 0) {
        free(l);
        return rc;
    }
    l->kv = kv;
    l->by_token = by_token;
    l->get = get;
    l->get_ctx = get_ctx;
    l->on = true;
    *out = l;
    return TSR_OK;
}

void tsr_link_close(tsr_link_t **l_p)
{
    if (!l_p || !*l_p)
        return;
    tsr_link_t *l = *l_p;
    tsr_link_pub_drop(l, 0, l->n_pub);
    free(l->pub);
    free(l->touched);
    free(l);
    *l_p = NULL;
}

void tsr_link_enable(tsr_link_t *l, bool on)
{
    l->on = on;
}

bool tsr_link_enabled(const tsr_link_t *l)
{
    return l->on;
}

void tsr_link_begin(tsr_link_t *l)
{
    l->n_touched = 0;
    tsr_link_pub_drop(l, l->n_mark, l->n_pub); /* an earlier run of this body, aborted */
}

/* --- meta counters ---------------------------------------------------------------- */

/* Returns the next value of a sequence ("cluster", "alert"), starting at 1. */
int tsr_link_next(tsr_link_t *l, MDB_txn *txn, const char *name, uint64_t *out)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    uint64_t cur = 0;
    int rc = tsr_kv_get(txn, l->dbi[L_META], &k, &v);
    if (rc == 0 && v.mv_size == 8)
        memcpy(&cur, v.mv_data, 8);
    else if (rc != TSR_ENOTFOUND)
        return rc == 0 ? TSR_ECORRUPT : rc;
    cur++;
    v.mv_size = 8;
    v.mv_data = &cur;
    *out = cur;
    return tsr_kv_put(txn, l->dbi[L_META], &k, &v, 0);
}

int tsr_link_seq_set(tsr_link_t *l, MDB_txn *txn, const char *name, uint64_t v)
{
    MDB_val k = {strlen(name), (void *)name}, val = {8, &v};
    return tsr_kv_put(txn, l->dbi[L_META], &k, &val, 0);
}

/* --- membership --------------------------------------------------------------------- */

/* The cluster a record or token map names in *cid (0: none). */
int tsr_link_get_cid(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t klen, uint64_t *cid)
{
    MDB_val k = {klen, (void *)key}, v;
    *cid = 0;
    int rc = tsr_kv_get(txn, dbi, &k, &v);
    if (rc == 0 && v.mv_size != 8)
        rc = TSR_ECORRUPT;
    if (rc == 0)
        memcpy(cid, v.mv_data, 8);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

static int l_put_cid(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t klen, uint64_t cid)
{
    MDB_val k = {klen, (void *)key}, v = {8, &cid};
    return tsr_kv_put(txn, dbi, &k, &v, 0);
}

static void l_member_key(uint8_t mk[8 + TSR_RECORD_ID_LEN], uint64_t cid, const uint8_t *rid)
{
    tsr_bytes_be64(mk, cid);
    memcpy(mk + 8, rid, TSR_RECORD_ID_LEN);
}

/* Puts rid (with tokens) into cluster cid: record map, member list, token map. */
static int l_join(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const tsr_incident_t *inc)
{
    uint8_t mk[8 + TSR_RECORD_ID_LEN];
    l_member_key(mk, cid, inc->record_id);
    MDB_val k = {sizeof mk, mk}, v = {0, ""};
    int rc = l_put_cid(txn, l->dbi[L_REC], inc->record_id, TSR_RECORD_ID_LEN, cid);
    if (rc == 0)
        rc = tsr_kv_put(txn, l->dbi[L_MEMBERS], &k, &v, 0);
    for (size_t i = 0; rc == 0 && i < inc->n_tokens; i++)
        rc = l_put_cid(txn, l->dbi[L_TOK], inc->tokens[i].token, TSR_TOKEN_LEN, cid);
    return rc;
}

int tsr_link_member_del(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const uint8_t *rid)
{
    uint8_t mk[8 + TSR_RECORD_ID_LEN];
    l_member_key(mk, cid, rid);
    MDB_val k = {sizeof mk, mk};
    int rc = tsr_kv_del(txn, l->dbi[L_MEMBERS], &k);
    return rc == TSR_ENOTFOUND ? 0 : rc;
}

/* Calls fn for every record id of cluster cid (in id order). fn may not
 * change the member list; collect first when it must. */
int tsr_link_members(tsr_link_t *l, MDB_txn *txn, uint64_t cid,
                     int (*fn)(void *ctx, const uint8_t *rid), void *ctx)
{
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, l->dbi[L_MEMBERS], &c);
    if (rc != 0)
        return rc;
    uint8_t kb[8];
    tsr_bytes_be64(kb, cid);
    MDB_val k = {8, kb}, v;
    int out = 0; /* fn's code: its TSR_ENOTFOUND is not the cursor's end */
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 + TSR_RECORD_ID_LEN || memcmp(k.mv_data, kb, 8) != 0)
            break;
        if ((out = fn(ctx, (uint8_t *)k.mv_data + 8)) != 0)
            break;
    }
    tsr_kv_cursor_close(c);
    return out != 0 ? out : rc == TSR_ENOTFOUND ? 0 : rc;
}

int tsr_link_collect(void *ctx, const uint8_t *rid)
{
    l_ids_t *ids = ctx;
    if (tsr_grow((void **)&ids->ids, &ids->cap, ids->n, sizeof *ids->ids) != 0)
        return TSR_ENOMEM;
    memcpy(ids->ids[ids->n++], rid, TSR_RECORD_ID_LEN);
    return 0;
}

/* Moves the records in ids from cluster `from` to cluster `to`. */
int tsr_link_relabel(tsr_link_t *l, MDB_txn *txn, const l_ids_t *ids, uint64_t from, uint64_t to)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ids->n; i++) {
        rc = l->get(l->get_ctx, txn, ids->ids[i], &l->tmp, l->tmp_agency);
        if (rc == 0)
            rc = tsr_link_member_del(l, txn, from, ids->ids[i]);
        if (rc == 0)
            rc = l_join(l, txn, to, &l->tmp);
    }
    return rc;
}

l_touch_t *tsr_link_touch(tsr_link_t *l, uint64_t cid)
{
    for (size_t i = 0; i < l->n_touched; i++)
        if (l->touched[i].cid == cid) {
            l->touched[i].dead = false;
            return &l->touched[i];
        }
    if (tsr_grow((void **)&l->touched, &l->cap_touched, l->n_touched, sizeof *l->touched) != 0)
        return NULL;
    l->touched[l->n_touched] = (l_touch_t){.cid = cid};
    return &l->touched[l->n_touched++];
}

/* Merges cluster `from` into `into` (whose summary is *into_sum). */
static int l_merge(tsr_link_t *l, MDB_txn *txn, uint64_t from, uint64_t into, l_sum_t *into_sum)
{
    l_sum_t fs;
    l_ids_t ids = {0};
    int rc = tsr_link_sum_load(l, txn, from, &fs);
    if (rc == 0)
        rc = tsr_link_members(l, txn, from, tsr_link_collect, &ids);
    if (rc == 0)
        rc = tsr_link_relabel(l, txn, &ids, from, into);
    for (size_t i = 0; rc == 0 && i < fs.areas.n; i++)
        rc = tsr_link_list_add(&into_sum->areas, fs.areas.v[i].name, (int)fs.areas.v[i].count,
                               fs.areas.v[i].alerted);
    for (size_t i = 0; rc == 0 && i < fs.ag.n; i++)
        rc = tsr_link_list_add(&into_sum->ag, fs.ag.v[i].name, (int)fs.ag.v[i].count,
                               fs.ag.v[i].alerted);
    into_sum->n += fs.n;
    bool both_alerted = fs.alerted && into_sum->alerted;
    if (rc == 0) {
        into_sum->alerted |= fs.alerted;
        if (fs.threshold > into_sum->threshold)
            into_sum->threshold = fs.threshold;
        rc = tsr_link_sum_del(l, txn, from);
    }
    l_touch_t *tf = rc == 0 ? tsr_link_touch(l, from) : NULL;
    if (tf)
        tf->dead = true;
    l_touch_t *ti = rc == 0 ? tsr_link_touch(l, into) : NULL;
    if (rc == 0 && (!tf || !ti))
        rc = TSR_ENOMEM;
    if (rc == 0 && both_alerted && ti->n_joined < L_MAX_JOINED)
        ti->joined[ti->n_joined++] = from;
    free(ids.ids);
    tsr_link_sum_free(&fs);
    return rc;
}

/* Puts inc into the cluster of its tokens, merging every cluster they (and
 * member_of, the record's cluster before an update; 0 for a new record)
 * reach into the largest. Counts the record in when it is new. */
int tsr_link_attach(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *inc, const char *agency,
                    uint64_t member_of)
{
    uint64_t cids[TSR_MAX_TOKENS + 1];
    size_t nc = 0;
    l_ids_t singles = {0};
    int rc = 0;
    if (member_of)
        cids[nc++] = member_of;
    for (size_t i = 0; rc == 0 && i < inc->n_tokens; i++) {
        const uint8_t *t = inc->tokens[i].token;
        uint8_t other[TSR_RECORD_ID_LEN];
        uint64_t cid = 0;
        int carried = tsr_link_other_carrier(l, txn, t, inc->record_id, other);
        if (carried < 0) {
            rc = carried;
            break;
        }
        if (carried == 0)
            continue; /* no one else carries it: it links nothing */
        if ((rc = tsr_link_get_cid(txn, l->dbi[L_TOK], t, TSR_TOKEN_LEN, &cid)) != 0)
            break;
        if (cid == 0) {
            /* an unmapped token has one other carrier, a record on its own
             * so far: it joins the cluster with this one */
            size_t j;
            for (j = 0; j < singles.n && memcmp(singles.ids[j], other, TSR_RECORD_ID_LEN); j++)
                ;
            if (j == singles.n && tsr_link_collect(&singles, other) != 0)
                rc = TSR_ENOMEM;
            continue;
        }
        size_t j;
        for (j = 0; j < nc && cids[j] != cid; j++)
            ;
        if (j == nc)
            cids[nc++] = cid;
    }
    if (rc != 0 || (nc == 0 && singles.n == 0)) {
        free(singles.ids);
        return rc; /* linked to nothing: a cluster of one is not stored */
    }
    l_sum_t sum = {0};
    uint64_t into = 0;
    if (nc == 0) {
        rc = tsr_link_next(l, txn, "cluster", &into);
    } else {
        /* the largest keeps its id; the others are relabelled into it */
        uint32_t best = 0;
        for (size_t i = 0; rc == 0 && i < nc; i++) {
            l_sum_t s;
            rc = tsr_link_sum_load(l, txn, cids[i], &s);
            if (rc == 0 && (into == 0 || s.n > best)) {
                best = s.n;
                into = cids[i];
            }
            tsr_link_sum_free(&s);
        }
        if (rc == 0)
            rc = tsr_link_sum_load(l, txn, into, &sum);
        for (size_t i = 0; rc == 0 && i < nc; i++)
            if (cids[i] != into)
                rc = l_merge(l, txn, cids[i], into, &sum);
    }
    for (size_t i = 0; rc == 0 && i < singles.n; i++) {
        rc = l->get(l->get_ctx, txn, singles.ids[i], &l->tmp, l->tmp_agency);
        if (rc == 0)
            rc = l_join(l, txn, into, &l->tmp);
        if (rc == 0)
            rc = tsr_link_sum_count(&sum, l->tmp.area_code, l->tmp_agency, 1);
    }
    free(singles.ids);
    if (rc == 0)
        rc = l_join(l, txn, into, inc);
    if (rc == 0 && !member_of)
        rc = tsr_link_sum_count(&sum, inc->area_code, agency, 1);
    if (rc == 0)
        rc = tsr_link_sum_save(l, txn, into, &sum);
    if (rc == 0 && !tsr_link_touch(l, into))
        rc = TSR_ENOMEM;
    tsr_link_sum_free(&sum);
    return rc;
}

int tsr_link_add(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *inc, const char *agency)
{
    if (!l->on || inc->n_tokens == 0)
        return 0;
    return tsr_link_attach(l, txn, inc, agency, 0);
}

/* --- alerts --------------------------------------------------------------------------- */

/* For each member: its day and which of its token kinds another member shares. */
int tsr_link_detail_one(void *ctx, const uint8_t *rid)
{
    l_detail_t *d = ctx;
    int rc = d->l->get(d->l->get_ctx, d->txn, rid, &d->l->tmp, d->l->tmp_agency);
    if (rc != 0)
        return rc;
    if (tsr_link_collect(&d->ids, rid) != 0)
        return TSR_ENOMEM;
    const tsr_incident_t *r = &d->l->tmp;
    if (d->first_day == 0 || r->reported_day < d->first_day)
        d->first_day = r->reported_day;
    if (r->reported_day > d->last_day)
        d->last_day = r->reported_day;
    for (size_t i = 0; i < r->n_tokens; i++) {
        int a = tsr_link_set_add(&d->toks, r->tokens[i].token);
        if (a < 0)
            return TSR_ENOMEM;
        if (a == 1)
            continue;
        size_t k;
        for (k = 0; k < d->n_kinds && strcmp(d->kinds[k], r->tokens[i].kind); k++)
            ;
        if (k == d->n_kinds && k < sizeof d->kinds / sizeof d->kinds[0])
            snprintf(d->kinds[d->n_kinds++], sizeof d->kinds[0], "%s", r->tokens[i].kind);
    }
    return 0;
}

int tsr_link_cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void l_list_append(char *out, size_t cap, const char *item)
{
    size_t n = strlen(out);
    snprintf(out + n, cap - n, "%s%s", n ? ", " : "", item);
}

/* Federation (issue 19): on a national collector an agency id is
 * "RELAY/AGENCY", the relay being the region's collector. Writes " in N
 * region(s) (A, B)" for the relays among the sorted ids into out and
 * returns N (0: no relayed record, out left empty). */
static size_t l_relays(const tsr_name_t *ags, size_t n, char *out, size_t cap)
{
    char list[160] = "", last[64] = "";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *slash = strchr(ags[i], '/');
        if (!slash)
            continue;
        char relay[64];
        snprintf(relay, sizeof relay, "%.*s", (int)(slash - ags[i]), ags[i]);
        if (!strcmp(relay, last))
            continue; /* sorted: a relay's agencies are together */
        snprintf(last, sizeof last, "%s", relay);
        l_list_append(list, sizeof list, relay);
        k++;
    }
    if (k)
        snprintf(out, cap, " in %zu region%s (%s)", k, k == 1 ? "" : "s", list);
    return k;
}

/* Writes one alert for cluster cid (summary s) with the given trigger. */
static int l_raise(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const l_sum_t *s, const char *trigger,
                   int64_t now)
{
    l_detail_t d = {.l = l, .txn = txn, .toks.klen = TSR_TOKEN_LEN};
    int rc = tsr_link_members(l, txn, cid, tsr_link_detail_one, &d);
    tsr_msg_t m = {.kind = TSR_MSG_ALERT};
    tsr_alert_t *a = &m.u.alert;
    tsr_area_code_t *areas = calloc(s->areas.n + 1, sizeof *areas);
    tsr_name_t *ags = calloc(s->ag.n + 1, sizeof *ags);
    if (rc == 0 && (!areas || !ags))
        rc = TSR_ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < s->areas.n; i++)
            snprintf(areas[i], sizeof areas[i], "%.*s", TSR_AREA_KEY_LEN, s->areas.v[i].name);
        for (size_t i = 0; i < s->ag.n; i++)
            snprintf(ags[i], sizeof ags[i], "%s", s->ag.v[i].name);
        qsort(areas, s->areas.n, sizeof *areas, tsr_link_cmp_str);
        qsort(ags, s->ag.n, sizeof *ags, tsr_link_cmp_str);
        qsort(d.kinds, d.n_kinds, sizeof d.kinds[0], tsr_link_cmp_str);
        a->kind = TSR_ALERT_LINKAGE;
        a->created_at = now;
        a->cluster_id = cid;
        snprintf(a->trigger, sizeof a->trigger, "%s", trigger);
        a->areas = areas;
        a->n_areas = s->areas.n;
        a->agencies = ags;
        a->n_agencies = s->ag.n;
        a->record_ids = d.ids.ids;
        a->n_record_ids = d.ids.n < L_ALERT_MAX_RECORDS ? d.ids.n : L_ALERT_MAX_RECORDS;
        a->token_kinds = d.kinds;
        a->n_token_kinds = d.n_kinds;
        a->first_day = d.first_day;
        a->last_day = d.last_day;
        char kinds[160] = "";
        for (size_t i = 0; i < d.n_kinds; i++)
            l_list_append(kinds, sizeof kinds, d.kinds[i]);
        char regions[200] = "";
        size_t n_regions = l_relays(ags, s->ag.n, regions, sizeof regions);
        snprintf(a->summary, sizeof a->summary,
                 "cluster %llu: %u victim record(s) in %zu area(s) from %zu agenc%s%s, linked by %s",
                 (unsigned long long)cid, s->n, s->areas.n, s->ag.n, s->ag.n == 1 ? "y" : "ies",
                 n_regions ? regions : "", d.n_kinds ? kinds : "one record's identifiers");
    }
    if (rc == 0)
        rc = tsr_link_append(l, txn, a);
    free(areas);
    free(ags);
    free(d.ids.ids);
    tsr_link_set_free(&d.toks);
    return rc;
}

/* Decides whether cluster t->cid needs an alert now, and raises it. */
static int l_evaluate(tsr_link_t *l, MDB_txn *txn, const l_touch_t *t, int64_t now)
{
    l_sum_t s;
    int rc = tsr_link_sum_load(l, txn, t->cid, &s);
    if (rc == TSR_ENOTFOUND)
        return 0; /* a cluster this transaction made and dissolved again */
    if (rc != 0)
        return rc;
    char trigger[128] = "", item[96];
    uint32_t th = l_threshold_of(s.n);
    if (tsr_link_sum_spans(&s) && !s.alerted) {
        snprintf(item, sizeof item, "first linked across %zu area%s and %zu agenc%s", s.areas.n,
                 s.areas.n == 1 ? "" : "s", s.ag.n, s.ag.n == 1 ? "y" : "ies");
        l_list_append(trigger, sizeof trigger, item);
        if (th > 0) {
            snprintf(item, sizeof item, "victims reached %u", th);
            l_list_append(trigger, sizeof trigger, item);
        }
    } else if (s.alerted) {
        for (size_t i = 0; i < t->n_joined; i++) {
            snprintf(item, sizeof item, "joined cluster %llu", (unsigned long long)t->joined[i]);
            l_list_append(trigger, sizeof trigger, item);
        }
        for (size_t i = 0; i < s.areas.n; i++)
            if (!s.areas.v[i].alerted) {
                snprintf(item, sizeof item, "new area %s", s.areas.v[i].name);
                l_list_append(trigger, sizeof trigger, item);
            }
        if (th > s.threshold) {
            snprintf(item, sizeof item, "victims reached %u", th);
            l_list_append(trigger, sizeof trigger, item);
        }
    }
    if (trigger[0]) {
        rc = l_raise(l, txn, t->cid, &s, trigger, now);
        s.alerted = true;
        s.threshold = th > s.threshold ? th : s.threshold;
        for (size_t i = 0; i < s.areas.n; i++)
            s.areas.v[i].alerted = true;
        for (size_t i = 0; i < s.ag.n; i++)
            s.ag.v[i].alerted = true;
        if (rc == 0)
            rc = tsr_link_sum_save(l, txn, t->cid, &s);
    }
    tsr_link_sum_free(&s);
    return rc;
}

int tsr_link_finish(tsr_link_t *l, MDB_txn *txn, int64_t now)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < l->n_touched; i++)
        if (!l->touched[i].dead)
            rc = l_evaluate(l, txn, &l->touched[i], now);
    return rc;
}
