/* tsr_detect.h - what the detection tests (test_detect.c, test_spikes.c)
 * share: a store in the scratch directory, records made for an area and a
 * day, a transaction applied and evaluated at the collector time of DAY,
 * and the alerts of one kind. Include after cmocka.h and tsr_test.h. */
#ifndef TSR_DETECT_H
#define TSR_DETECT_H

#include <stdint.h>
#include <string.h>

#include "store.h"
#include "tessera/err.h"

#define DAY 20780 /* the burst day (2026-11-23); the collector's "today" */

/* A store in s_dir/db; spikes NULL: the defaults. */
static inline tsr_store_t *tsr_detect_open(const tsr_spikes_opts_t *spikes)
{
    char path[128];
    snprintf(path, sizeof path, "%s/db", s_dir);
    tsr_store_opts_t o = {.kv = {.dir = path, .map_size = 16u << 20}};
    if (spikes) {
        o.spikes_set = true;
        o.spikes = *spikes;
    }
    tsr_store_t *s;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_open(&s, &o, &err), 0);
    return s;
}

static uint32_t s_next_id = 1;

/* A record of area on day (exact), contacted on instagram, a money demand. */
static inline void tsr_detect_record(tsr_incident_t *inc, const char *area, int32_t day)
{
    memset(inc, 0, sizeof *inc);
    uint32_t id = s_next_id++;
    memcpy(inc->record_id, &id, sizeof id);
    inc->version = 1;
    inc->agency_type = 1;
    snprintf(inc->area_code, sizeof inc->area_code, "%s", area);
    inc->reported_day = day;
    inc->date_precision = TSR_PRECISION_DAY;
    inc->age_band = 3;
    inc->gender = 1;
    inc->contact_platforms = 1u << 1;
    inc->demands = 1u << 1;
    inc->amount_demanded_band = 9;
    inc->amount_paid_band = 9;
    inc->paid = 3;
}

/* Stores n records in one transaction at the collector time of DAY noon;
 * returns the alerts raised. */
static inline size_t tsr_detect_store(tsr_store_t *s, tsr_incident_t *incs, size_t n)
{
    tsr_client_t c = {.role = TSR_ROLE_AGENT, .all_areas = true};
    snprintf(c.id, sizeof c.id, "agency-1");
    tsr_store_item_t *items = calloc(n, sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i].incident = &incs[i];
    tsr_store_batch_t b = {&c, items, n};
    assert_int_equal(tsr_store_apply(s, &b, 1, (int64_t)DAY * 86400 + 43200), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(items[i].outcome, TSR_OUTCOME_REJECTED);
    free(items);
    /* detection runs in its own transaction after the ingest one */
    size_t np;
    assert_true(tsr_store_pending(s));
    assert_int_equal(tsr_store_evaluate(s, (int64_t)DAY * 86400 + 43200), 0);
    assert_false(tsr_store_pending(s));
    tsr_store_published(s, &np);
    return np;
}

/* How many alerts of kind the log holds (series NULL: any, else only those
 * on that series); *last (if not NULL) gets the last of them, which the
 * caller clears. */
static inline size_t tsr_detect_count_on(tsr_store_t *s, int kind, const char *series,
                                         tsr_alert_t *last)
{
    tsr_response_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(tsr_store_alerts(s, 0, 1000, NULL, NULL, &r), 0);
    size_t n = 0;
    for (size_t i = 0; i < r.n_alerts; i++)
        if (r.alerts[i].kind == kind && (!series || !strcmp(r.alerts[i].series, series))) {
            n++;
            if (last) {
                tsr_alert_clear(last);
                *last = r.alerts[i];
                memset(&r.alerts[i], 0, sizeof r.alerts[i]);
            }
        }
    tsr_msg_t m = {.kind = TSR_MSG_RESPONSE};
    m.u.response = r;
    tsr_msg_clear(&m);
    return n;
}

static inline size_t tsr_detect_count(tsr_store_t *s, int kind, tsr_alert_t *last)
{
    return tsr_detect_count_on(s, kind, NULL, last);
}

#endif
