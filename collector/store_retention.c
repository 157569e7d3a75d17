/* store_retention.c - retention: the cutoff day, and the purge of the
 * records reported before it with everything derived from them. */
#include "bytes.h"
#include "store_int.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- retention ----------------------------------------------------------------- */

int32_t tsr_store_retention_cutoff(int months, int64_t now)
{
    return tsr_day_months_back((int32_t)(now / 86400), months);
}

#define S_PURGE_CHUNK 2000

typedef struct {
    tsr_store_t *s;
    int32_t before;
    int64_t now;
    uint8_t (*ids)[TSR_RECORD_ID_LEN]; /* purged in this transaction */
    size_t n;
    size_t changed; /* alerts rewritten by this transaction */
} s_purge_t;

static int s_cmp_rid(const void *a, const void *b)
{
    return memcmp(a, b, TSR_RECORD_ID_LEN);
}

static int s_purge_txn(MDB_txn *txn, void *arg)
{
    s_purge_t *p = arg;
    tsr_store_t *s = p->s;
    p->n = 0;
    p->changed = 0;
    s->ntally = 0;
    /* find up to a chunk of old records through the area/day index: each
     * area's entries sort by day, so its old ones come first, and at its
     * first entry still kept the scan jumps to the next area (a seek per
     * area, not a read of every record kept) */
    MDB_cursor *c;
    int rc = tsr_kv_cursor_open(txn, s->dbi[S_BY_AREA_DAY], &c);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    uint8_t past[TSR_AREA_KEY_LEN + 4 + TSR_RECORD_ID_LEN];
    for (rc = tsr_kv_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && p->n < S_PURGE_CHUNK;) {
        const uint8_t *kp = k.mv_data;
        MDB_cursor_op next = MDB_NEXT;
        if (k.mv_size == sizeof past) {
            if (tsr_bytes_from_day(kp + TSR_AREA_KEY_LEN) < p->before) {
                memcpy(p->ids[p->n++], kp + TSR_AREA_KEY_LEN + 4, TSR_RECORD_ID_LEN);
            } else {
                /* the highest key this area can have; unless this is it,
                 * on to the first key after it */
                memcpy(past, kp, TSR_AREA_KEY_LEN);
                memset(past + TSR_AREA_KEY_LEN, 0xff, sizeof past - TSR_AREA_KEY_LEN);
                if (memcmp(kp, past, sizeof past) != 0) {
                    k = (MDB_val){sizeof past, past};
                    next = MDB_SET_RANGE;
                }
            }
        }
        rc = tsr_kv_cursor_get(c, &k, &v, next);
    }
    tsr_kv_cursor_close(c);
    if (rc != 0 && rc != TSR_ENOTFOUND)
        return rc;
    rc = 0;
    tsr_incident_t *old = malloc(sizeof *old);
    if (!old)
        return TSR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        char agency[TSR_CLIENT_ID_MAX];
        MDB_val rk = {TSR_RECORD_ID_LEN, p->ids[i]};
        rc = tsr_store_record_read(s, txn, p->ids[i], old, agency);
        if (rc == TSR_ENOTFOUND)
            rc = TSR_ECORRUPT; /* the index names a record that is not there */
        if (rc == 0)
            rc = tsr_store_index(s, txn, old, false);
        if (rc == 0)
            rc = tsr_kv_del(txn, s->dbi[S_RECORDS], &rk);
        if (rc == 0)
            rc = tsr_link_remove(s->link, txn, old, agency);
        if (rc == 0)
            rc = tsr_store_count(s, txn, "records", -1);
        if (rc == 0)
            rc = tsr_store_count(s, txn, "purged", 1);
        if (rc == 0) /* upstream the purge is a retraction of what was held */
            rc = tsr_store_upstream_retraction(s, txn, p->ids[i], old->version, agency);
    }
    free(old);
    if (rc == 0)
        rc = tsr_link_finish(s->link, txn, p->now);
    /* the alerts lose these ids in the same transaction: a purge stopped
     * half way leaves no purged id behind in the log */
    size_t changed = 0;
    qsort(p->ids, p->n, TSR_RECORD_ID_LEN, s_cmp_rid);
    if (rc == 0)
        rc = tsr_link_scrub(s->link, txn, (const uint8_t(*)[TSR_RECORD_ID_LEN])p->ids, p->n,
                            &changed);
    p->changed = changed;
    return rc == 0 ? tsr_store_count_flush(s, txn) : rc;
}

int tsr_store_purge(tsr_store_t *s, int32_t before_day, int64_t now, uint64_t *purged)
{
    s_purge_t p = {s, before_day, now, malloc(S_PURGE_CHUNK * TSR_RECORD_ID_LEN), 0, 0};
    int rc = p.ids ? 0 : TSR_ENOMEM;
    size_t changed = 0;
    *purged = 0;
    if (rc == 0)
        rc = tsr_store_drain_all(s, now); /* the index must show every acknowledged record */
    while (rc == 0) {
        rc = tsr_store_write(s, s_purge_txn, &p);
        if (rc != 0 || p.n == 0)
            break;
        *purged += p.n;
        changed += p.changed;
    }
    if (rc == 0 && *purged > 0)
        tsr_info("retention",
                 "purged %llu record(s) reported before day %d; %zu alert(s) no "
                 "longer name them event=purge records=%llu before_day=%d alerts_changed=%zu",
                 (unsigned long long)*purged, before_day, changed, (unsigned long long)*purged,
                 before_day, changed);
    if (rc != 0)
        tsr_store_log_err("retention", "purge stopped", rc);
    free(p.ids);
    return rc;
}
