/* test_store.c - the collector's store: outcomes of every kind of item,
 * indexes removed with their record, counters, and the map growing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "tessera/err.h"
#include "tessera/log.h"


static int s_setup(void **state)
{
    (void)state;
    return tsr_test_dir_make("store");
}

static void s_incident(tsr_incident_t *inc, uint8_t id, uint32_t version, const char *area)
{
    memset(inc, 0, sizeof *inc);
    memset(inc->record_id, id, TSR_RECORD_ID_LEN);
    inc->version = version;
    inc->agency_type = 1;
    snprintf(inc->area_code, sizeof inc->area_code, "%s", area);
    inc->reported_day = 20500 + id;
    inc->date_precision = 1;
    inc->age_band = 3;
    inc->gender = 1;
    inc->contact_platforms = 1u << 1;
    inc->amount_demanded_band = 9;
    inc->amount_paid_band = 9;
    inc->paid = 3;
    inc->n_tokens = 1;
    snprintf(inc->tokens[0].kind, TSR_KIND_MAX, "phone");
    inc->tokens[0].key_id = 7;
    memset(inc->tokens[0].token, 0xA0 + id, TSR_TOKEN_LEN);
}

static tsr_client_t s_client(const char *id, tsr_role_t role, char (*areas)[10], size_t n)
{
    tsr_client_t c = {.role = role, .areas = areas, .n_areas = n};
    snprintf(c.id, sizeof c.id, "%s", id);
    return c;
}

/* Gives one item to fn (tsr_store_apply or tsr_store_submit); returns its
 * outcome. */
static tsr_outcome_t s_item(tsr_store_t *s, int (*fn)(tsr_store_t *, tsr_store_batch_t *, size_t, int64_t),
                            const tsr_client_t *c, const tsr_incident_t *inc,
                            const uint8_t *retract_id, uint32_t retract_version, int *reason)
{
    tsr_store_item_t it = {.incident = inc, .version = retract_version};
    if (retract_id)
        memcpy(it.record_id, retract_id, TSR_RECORD_ID_LEN);
    tsr_store_batch_t b = {.client = c, .items = &it, .n_items = 1};
    assert_int_equal(fn(s, &b, 1, 1700000000), 0);
    if (reason)
        *reason = it.reason;
    return it.outcome;
}

/* Submits one item and applies it. */
static tsr_outcome_t s_one(tsr_store_t *s, const tsr_client_t *c, const tsr_incident_t *inc,
                           const uint8_t *retract_id, uint32_t retract_version, int *reason)
{
    return s_item(s, tsr_store_apply, c, inc, retract_id, retract_version, reason);
}

static tsr_store_t *s_open(const char *name, size_t map)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    /* one cell-key secret for every store: two built alike end alike */
    static const uint8_t secret[TSR_CKM_SECRET_LEN] = {7};
    tsr_store_opts_t o = {.kv = {.dir = path, .map_size = map, .map_step = map},
                          .ckm_secret = secret};
    tsr_store_t *s;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_open(&s, &o, &err), 0);
    return s;
}

static void test_outcomes(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("outcomes", 0);
    char leeds[][10] = {"E08000035"};
    tsr_client_t a = s_client("leeds-01", TSR_ROLE_AGENT, leeds, 1);
    tsr_client_t other = s_client("leeds-02", TSR_ROLE_AGENT, leeds, 1);
    tsr_client_t analyst = s_client("an-1", TSR_ROLE_ANALYST, NULL, 0);
    analyst.all_areas = true;
    tsr_incident_t inc, got;
    int reason;
    char agency[TSR_CLIENT_ID_MAX];
    int64_t at;

    s_incident(&inc, 1, 1, "E08000035");
    assert_int_equal(s_one(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
    assert_int_equal(tsr_store_get(s, inc.record_id, &got, agency, &at), 0);
    assert_memory_equal(&got, &inc, sizeof inc);
    assert_string_equal(agency, "leeds-01");
    assert_int_equal(at, 1700000000);
    assert_int_equal(s_one(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_DUPLICATE);
    assert_int_equal(tsr_store_counter(s, "records"), 1);

    /* version 2 replaces; version 1 again is then a duplicate */
    inc.version = 2;
    inc.age_band = 4;
    assert_int_equal(s_one(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_REPLACED);
    assert_int_equal(tsr_store_get(s, inc.record_id, &got, NULL, NULL), 0);
    assert_int_equal(got.age_band, 4);
    inc.version = 1;
    assert_int_equal(s_one(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_DUPLICATE);
    assert_int_equal(tsr_store_counter(s, "records"), 1);

    /* another agency cannot touch it; an analyst cannot submit; a foreign area is refused */
    inc.version = 3;
    assert_int_equal(s_one(s, &other, &inc, NULL, 0, &reason), TSR_OUTCOME_REJECTED);
    assert_int_equal(reason, TSR_REJECT_NOT_PERMITTED);
    assert_int_equal(s_one(s, &analyst, &inc, NULL, 0, &reason), TSR_OUTCOME_REJECTED);
    assert_int_equal(reason, TSR_REJECT_NOT_PERMITTED);
    tsr_incident_t york;
    s_incident(&york, 2, 1, "E06000014");
    assert_int_equal(s_one(s, &a, &york, NULL, 0, &reason), TSR_OUTCOME_REJECTED);
    assert_int_equal(reason, TSR_REJECT_AREA_NOT_BOUND);
    assert_int_equal(tsr_store_get(s, york.record_id, &got, NULL, NULL), TSR_ENOTFOUND);

    /* retraction removes it; a stale resend of version 2 stays out; version 3 returns */
    assert_int_equal(s_one(s, &other, NULL, inc.record_id, 2, &reason), TSR_OUTCOME_REJECTED);
    assert_int_equal(s_one(s, &a, NULL, inc.record_id, 1, &reason), TSR_OUTCOME_REJECTED);
    assert_int_equal(reason, TSR_REJECT_STALE_VERSION);
    assert_int_equal(s_one(s, &a, NULL, inc.record_id, 2, NULL), TSR_OUTCOME_RETRACTED);
    assert_int_equal(tsr_store_get(s, inc.record_id, &got, NULL, NULL), TSR_ENOTFOUND);
    assert_int_equal(tsr_store_counter(s, "records"), 0);
    assert_int_equal(s_one(s, &a, NULL, inc.record_id, 2, NULL), TSR_OUTCOME_DUPLICATE);
    inc.version = 2;
    assert_int_equal(s_one(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_DUPLICATE);
    inc.version = 3;
    assert_int_equal(s_one(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
    assert_int_equal(tsr_store_counter(s, "records"), 1);

    assert_int_equal(tsr_store_counter(s, "accepted"), 2);
    assert_int_equal(tsr_store_counter(s, "duplicates"), 4);
    assert_int_equal(tsr_store_counter(s, "replaced"), 1);
    assert_int_equal(tsr_store_counter(s, "retracted"), 1);
    assert_int_equal(tsr_store_counter(s, "rejected:not_permitted"), 3);
    assert_int_equal(tsr_store_counter(s, "rejected:area_not_bound"), 1);
    assert_int_equal(tsr_store_counter(s, "rejected:stale_version"), 1);
    assert_int_equal(tsr_store_counter(s, "batches"), 13);
    tsr_store_close(&s);
}

/* Counts the entries of a named database. */
static size_t s_entries(tsr_store_t *s, const char *name)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_kv(s)), NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    return st.ms_entries;
}

static void test_group_commit_and_indexes(void **state)
{
    (void)state;
    /* a small map: 300 records must make it grow inside one apply */
    tsr_store_t *s = s_open("group", 128 * 1024);
    char all[][10] = {"E08000035"};
    tsr_client_t a = s_client("a", TSR_ROLE_AGENT, all, 1);
    tsr_client_t b = s_client("b", TSR_ROLE_AGENT, all, 1);
    enum { N = 150 };
    static tsr_incident_t incs[2][N];
    static tsr_store_item_t items[2][N];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < N; i++) {
            s_incident(&incs[k][i], 0, 1, "E08000035");
            incs[k][i].record_id[0] = (uint8_t)k;
            incs[k][i].record_id[1] = (uint8_t)i;
            incs[k][i].n_tokens = 2;
            incs[k][i].tokens[1] = incs[k][i].tokens[0];
            incs[k][i].tokens[1].token[0] = (uint8_t)i; /* one shared, one own */
            items[k][i].incident = &incs[k][i];
        }
    tsr_store_batch_t batches[2] = {{&a, items[0], N}, {&b, items[1], N}};
    assert_int_equal(tsr_store_apply(s, batches, 2, 1), 0);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < N; i++)
            assert_int_equal(items[k][i].outcome, TSR_OUTCOME_ACCEPTED);
    assert_int_equal(tsr_store_counter(s, "records"), 2 * N);
    assert_int_equal(tsr_store_counter(s, "batches"), 2);
    assert_int_equal(tsr_store_counter(s, "agency:a"), N);
    assert_int_equal(s_entries(s, "by_area_day"), 2 * N);
    assert_int_equal(s_entries(s, "by_token"), 4 * N);
    size_t map, used;
    assert_int_equal(tsr_kv_usage(tsr_store_kv(s), &map, &used), 0);
    assert_true(map > 128 * 1024);

    /* retracting every record of agency a removes all its index entries */
    for (int i = 0; i < N; i++) {
        items[0][i].incident = NULL;
        memcpy(items[0][i].record_id, incs[0][i].record_id, TSR_RECORD_ID_LEN);
        items[0][i].version = 1;
    }
    assert_int_equal(tsr_store_apply(s, batches, 1, 2), 0);
    assert_int_equal(items[0][7].outcome, TSR_OUTCOME_RETRACTED);
    assert_int_equal(tsr_store_counter(s, "records"), N);
    assert_int_equal(s_entries(s, "by_area_day"), N);
    assert_int_equal(s_entries(s, "by_token"), 2 * N);
    assert_int_equal(s_entries(s, "tombstones"), N);
    tsr_store_close(&s);
}

/* Submits one item without applying the log. */
static tsr_outcome_t s_sub(tsr_store_t *s, const tsr_client_t *c, const tsr_incident_t *inc,
                           const uint8_t *retract_id, uint32_t retract_version, int *reason)
{
    return s_item(s, tsr_store_submit, c, inc, retract_id, retract_version, reason);
}

/* Every named database but the ingest log, key and value, in one buffer
 * (malloc'd; *n its length): two stores hold the same when these are equal. */
static uint8_t *s_contents(tsr_store_t *s, size_t *n)
{
    MDB_txn *txn;
    MDB_cursor *names, *c;
    MDB_val k, v, nk, nv;
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    *n = 0;
    assert_non_null(buf);
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_kv(s)), NULL, MDB_RDONLY, &txn), 0);
    MDB_dbi main_dbi;
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &main_dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, main_dbi, &names), 0);
    for (int op = MDB_FIRST; mdb_cursor_get(names, &nk, &nv, (MDB_cursor_op)op) == 0;
         op = MDB_NEXT) {
        char name[64];
        MDB_dbi dbi;
        snprintf(name, sizeof name, "%.*s", (int)nk.mv_size, (char *)nk.mv_data);
        if (!strcmp(name, "ingest_log"))
            continue;
        assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
        assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
        for (int o = MDB_FIRST; mdb_cursor_get(c, &k, &v, (MDB_cursor_op)o) == 0; o = MDB_NEXT) {
            size_t need = strlen(name) + k.mv_size + v.mv_size + 2;
            while (*n + need > cap)
                assert_non_null(buf = realloc(buf, cap *= 2));
            memcpy(buf + *n, name, strlen(name) + 1);
            *n += strlen(name) + 1;
            memcpy(buf + *n, k.mv_data, k.mv_size);
            *n += k.mv_size;
            buf[(*n)++] = '=';
            memcpy(buf + *n, v.mv_data, v.mv_size);
            *n += v.mv_size;
        }
        mdb_cursor_close(c);
    }
    mdb_cursor_close(names);
    mdb_txn_abort(txn);
    return buf;
}

/* The ingest log: outcomes are decided at submit, against the store and the
 * entries still waiting; nothing but the log and the outcome counters
 * changes until a drain; and a store closed (as by a crash) with entries
 * waiting, reopened and drained, holds exactly what one that never stopped
 * holds, database by database and byte by byte. */
static void test_ingest_log(void **state)
{
    (void)state;
    tsr_store_t *st[2] = {s_open("log-steady", 0), s_open("log-crash", 0)};
    char leeds[][10] = {"E08000035"};
    tsr_client_t a = s_client("leeds-01", TSR_ROLE_AGENT, leeds, 1);
    tsr_client_t other = s_client("leeds-02", TSR_ROLE_AGENT, leeds, 1);
    for (int k = 0; k < 2; k++) {
        tsr_store_t *s = st[k];
        tsr_incident_t inc, inc2, got;
        int reason;
        s_incident(&inc, 1, 1, "E08000035");
        s_incident(&inc2, 2, 1, "E08000035");
        inc2.tokens[0] = inc.tokens[0]; /* linked to inc */
        assert_int_equal(s_sub(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
        assert_int_equal(tsr_store_get(s, inc.record_id, &got, NULL, NULL), TSR_ENOTFOUND);
        assert_int_equal(s_sub(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_DUPLICATE);
        inc.version = 2;
        assert_int_equal(s_sub(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_REPLACED);
        assert_int_equal(s_sub(s, &a, NULL, inc.record_id, 1, &reason), TSR_OUTCOME_REJECTED);
        assert_int_equal(reason, TSR_REJECT_STALE_VERSION);
        assert_int_equal(s_sub(s, &a, NULL, inc.record_id, 2, NULL), TSR_OUTCOME_RETRACTED);
        assert_int_equal(s_sub(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_DUPLICATE);
        inc.version = 3;
        assert_int_equal(s_sub(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
        inc.version = 4;
        assert_int_equal(s_sub(s, &other, &inc, NULL, 0, &reason), TSR_OUTCOME_REJECTED);
        assert_int_equal(reason, TSR_REJECT_NOT_PERMITTED);
        /* the same record twice in one transaction */
        tsr_incident_t inc3;
        s_incident(&inc3, 3, 1, "E08000035");
        tsr_store_item_t two[2] = {{.incident = &inc3}, {.incident = &inc3}};
        tsr_store_batch_t b = {&a, two, 2};
        assert_int_equal(tsr_store_submit(s, &b, 1, 1700000000), 0);
        assert_int_equal(two[0].outcome, TSR_OUTCOME_ACCEPTED);
        assert_int_equal(two[1].outcome, TSR_OUTCOME_DUPLICATE);
        assert_int_equal(s_sub(s, &a, &inc2, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);

        /* logged: inc v1, v2, its retraction, v3, inc3, inc2; nothing applied */
        assert_int_equal(tsr_store_logged(s), 6);
        assert_int_equal(tsr_store_counter(s, "accepted"), 4) /* inc v1, v3 (after its tombstone), inc3, inc2 */;
        assert_int_equal(tsr_store_counter(s, "records"), 0);
        assert_int_equal(s_entries(s, "by_area_day"), 0);
        assert_int_equal(s_entries(s, "ingest_log"), 6);

        if (k == 1) { /* stop with the log full, as a crash would */
            tsr_store_close(&st[1]);
            st[1] = s = s_open("log-crash", 0);
            assert_int_equal(tsr_store_logged(s), 6);
            inc.version = 3; /* waiting, so still a duplicate after the restart */
            assert_int_equal(s_sub(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_DUPLICATE);
        } else {
            inc.version = 3;
            assert_int_equal(s_sub(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_DUPLICATE);
        }
        size_t applied;
        assert_int_equal(tsr_store_drain(s, 2, 1700000100, &applied), 0);
        assert_int_equal(applied, 2);
        assert_int_equal(tsr_store_logged(s), 4);
        assert_int_equal(tsr_store_get(s, inc.record_id, &got, NULL, NULL), 0);
        assert_int_equal(got.version, 2);
        if (k == 1) {
            tsr_store_close(&st[1]);
            st[1] = s = s_open("log-crash", 0);
            assert_int_equal(tsr_store_logged(s), 4);
        }
        assert_int_equal(s_sub(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_DUPLICATE);
        assert_int_equal(tsr_store_drain(s, 0, 1700000200, &applied), 0);
        assert_int_equal(applied, 4);
        assert_int_equal(tsr_store_logged(s), 0);
        assert_int_equal(s_entries(s, "ingest_log"), 0);
        assert_int_equal(tsr_store_get(s, inc.record_id, &got, NULL, NULL), 0);
        assert_int_equal(got.version, 3);
        assert_int_equal(tsr_store_counter(s, "records"), 3);
        assert_int_equal(s_entries(s, "by_area_day"), 3);
        assert_int_equal(s_entries(s, "by_token"), 3);
        assert_int_equal(s_entries(s, "tombstones"), 0);
        /* area and region, daily and weekly, plus contact_platform of each */
        assert_int_equal(s_entries(s, "series_names"), 8);
        assert_int_not_equal(tsr_store_record_cluster(s, inc2.record_id), 0);
        assert_int_equal(tsr_store_record_cluster(s, inc2.record_id),
                         tsr_store_record_cluster(s, inc.record_id));
        assert_int_equal(tsr_store_counter(s, "duplicates"), 5);
    }
    size_t n0, n1;
    uint8_t *c0 = s_contents(st[0], &n0), *c1 = s_contents(st[1], &n1);
    assert_true(n0 > 1000); /* records, indexes, clusters, alerts, series */
    assert_int_equal(n0, n1);
    assert_memory_equal(c0, c1, n0);
    free(c0);
    free(c1);
    tsr_store_close(&st[0]);
    tsr_store_close(&st[1]);
}

/* The largest record the wire allows (every token, kinds of the longest
 * length) is logged and stored whole. */
static void test_largest_record(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("largest", 0);
    char leeds[][10] = {"E08000035"};
    tsr_client_t a = s_client("an-agency-id-of-sixty-three-characters-xxxxxxxxxxxxxxxxxxxxxxxx",
                              TSR_ROLE_AGENT, leeds, 1);
    assert_int_equal(strlen(a.id), TSR_CLIENT_ID_MAX - 1);
    tsr_incident_t inc, got;
    char agency[TSR_CLIENT_ID_MAX];
    s_incident(&inc, 5, 1, "E08000035");
    inc.n_tokens = TSR_MAX_TOKENS;
    for (int i = 0; i < TSR_MAX_TOKENS; i++) {
        memset(inc.tokens[i].kind, 'k', TSR_KIND_MAX - 1);
        inc.tokens[i].kind[TSR_KIND_MAX - 1] = '\0';
        inc.tokens[i].key_id = 7;
        memset(inc.tokens[i].token, i + 1, TSR_TOKEN_LEN);
    }
    assert_int_equal(s_one(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
    assert_int_equal(tsr_store_get(s, inc.record_id, &got, agency, NULL), 0);
    assert_memory_equal(&got, &inc, sizeof inc);
    assert_string_equal(agency, a.id);
    assert_int_equal(s_entries(s, "by_token"), TSR_MAX_TOKENS);
    tsr_store_close(&s);
}

static void test_prerejected_items_count(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("pre", 0);
    char all[][10] = {"E08000035"};
    tsr_client_t a = s_client("a", TSR_ROLE_AGENT, all, 1);
    tsr_incident_t inc;
    s_incident(&inc, 9, 1, "E08000035");
    tsr_store_item_t items[2] = {{.incident = &inc, .pre_reason = TSR_REJECT_BAD_TOKEN},
                                 {.incident = &inc}};
    snprintf(items[0].pre_detail, sizeof items[0].pre_detail, "offender_tokens[0]: 31 bytes");
    tsr_store_batch_t b = {&a, items, 2};
    assert_int_equal(tsr_store_apply(s, &b, 1, 1), 0);
    assert_int_equal(items[0].outcome, TSR_OUTCOME_REJECTED);
    assert_string_equal(items[0].detail, "offender_tokens[0]: 31 bytes");
    assert_int_equal(items[1].outcome, TSR_OUTCOME_ACCEPTED);
    assert_int_equal(tsr_store_counter(s, "rejected:bad_token"), 1);
    tsr_store_close(&s);
}

static void s_audit_at(tsr_store_t *s, int64_t time, const char *id)
{
    tsr_audit_entry_t e = {.time = time, .result_size = 1};
    snprintf(e.id, sizeof e.id, "%s", id);
    snprintf(e.role, sizeof e.role, "admin");
    snprintf(e.request, sizeof e.request, "stats -> ok");
    assert_int_equal(tsr_store_audit(s, &e), 0);
}

static size_t s_audit_count(tsr_store_t *s)
{
    tsr_response_t r = {0};
    assert_int_equal(tsr_store_audit_list(s, 0, NULL, 100000, &r), 0);
    size_t n = r.n_audit;
    free(r.audit);
    return n;
}

/* Audit retention (issue 15): entries before the cutoff go, oldest first,
 * counted in "audit_purged"; the rest stay; a damaged entry stops it. */
static void test_audit_purge(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("auditpurge", 0);
    s_audit_at(s, 1000, "a");
    s_audit_at(s, 1999, "b");
    s_audit_at(s, 2000, "c");
    s_audit_at(s, 2000, "d");
    s_audit_at(s, 3000, "e");
    uint64_t purged = 99;
    assert_int_equal(tsr_store_audit_purge(s, 500, &purged), 0);
    assert_int_equal(purged, 0);
    assert_int_equal(tsr_store_counter(s, "audit_purged"), 0);
    assert_int_equal(tsr_store_audit_purge(s, 2000, &purged), 0);
    assert_int_equal(purged, 2);
    assert_int_equal(s_audit_count(s), 3);
    assert_int_equal(tsr_store_counter(s, "audit_purged"), 2);
    tsr_response_t r = {0};
    assert_int_equal(tsr_store_audit_list(s, 0, NULL, 10, &r), 0);
    assert_string_equal(r.audit[0].id, "c");
    free(r.audit);
    /* appended after a purge: the sequence goes on */
    s_audit_at(s, 4000, "f");
    assert_int_equal(tsr_store_audit_purge(s, 3001, &purged), 0);
    assert_int_equal(purged, 3);
    assert_int_equal(s_audit_count(s), 1);
    assert_int_equal(tsr_store_counter(s, "audit_purged"), 5);

    /* a damaged entry after an old one: the old one goes, the damaged one
     * and everything after it stay, and the purge says so */
    s_audit_at(s, 5000, "g");
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_kv(s)), NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "audit", 0, &dbi), 0);
    uint8_t kb[8] = {0, 0, 0, 0, 0, 0, 0, 100}; /* after every entry so far */
    MDB_val k = {8, kb}, v = {3, "bad"};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    s_audit_at(s, 6000, "h"); /* sequence 101 */
    assert_int_equal(tsr_store_audit_purge(s, 100000, &purged), TSR_ESTORE);
    assert_int_equal(purged, 2); /* f and g */
    assert_int_equal(tsr_store_counter(s, "audit_purged"), 7);
    /* the damaged entry and h are left */
    MDB_stat st;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_kv(s)), NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    assert_int_equal(st.ms_entries, 2);
    tsr_store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_purge),
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_group_commit_and_indexes),
        cmocka_unit_test(test_prerejected_items_count),
        cmocka_unit_test(test_ingest_log),
        cmocka_unit_test(test_largest_record),
    };
    return cmocka_run_group_tests_name("store", tests, s_setup, tsr_test_dir_remove);
}
