/* test_store.c - the collector's store: outcomes of every kind of item,
 * indexes removed with their record, counters, and the map growing. */
#define _GNU_SOURCE /* unshare, for the full disk */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "tessera/err.h"
#include "tessera/log.h"
#include "tsr_test_disk.h"


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

/* Record n of many (n < 65,536), no two linked. */
static void s_unlinked(tsr_incident_t *inc, int n)
{
    s_incident(inc, (uint8_t)(n % 200 + 1), 1, "E08000035");
    inc->record_id[0] = (uint8_t)(n >> 8);
    inc->record_id[1] = (uint8_t)n;
    inc->tokens[0].token[0] = (uint8_t)(n >> 8);
    inc->tokens[0].token[1] = (uint8_t)n;
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

/* Opens a store named name in the test directory with the options o
 * (its directory set here). */
static tsr_store_t *s_open_opts(const char *name, tsr_store_opts_t *o)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    o->kv.dir = path;
    tsr_store_t *s;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_open(&s, o, &err), 0);
    return s;
}

static tsr_store_t *s_open_keys(const char *name, size_t map, const tsr_netkeys_t *keys)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    /* one cell-key secret for every store: two built alike end alike */
    static const uint8_t secret[TSR_CKM_SECRET_LEN] = {7};
    tsr_store_opts_t o = {.kv = {.dir = path, .map_size = map, .map_step = map},
                          .ckm_secret = secret};
    if (keys)
        o.network_keys = *keys;
    tsr_store_t *s;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_open(&s, &o, &err), 0);
    return s;
}

static tsr_store_t *s_open(const char *name, size_t map)
{
    return s_open_keys(name, map, NULL);
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

/* Counts the entries of a named database of an environment. */
static size_t s_kv_entries(tsr_kv_t *kv, const char *name)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(kv), NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    return st.ms_entries;
}

/* ... of the main environment. */
static size_t s_entries(tsr_store_t *s, const char *name)
{
    return s_kv_entries(tsr_store_kv(s), name);
}

/* The entries in the log environment's ingest_log, applied or not. */
static size_t s_log_entries(tsr_store_t *s)
{
    return s_kv_entries(tsr_store_log_kv(s), "ingest_log");
}

/* Submits inc at unix time now; returns its outcome, its detail in detail. */
static tsr_outcome_t s_at(tsr_store_t *s, const tsr_client_t *c, const tsr_incident_t *inc,
                          int64_t now, int *reason, char *detail)
{
    tsr_store_item_t it = {.incident = inc};
    tsr_store_batch_t b = {.client = c, .items = &it, .n_items = 1};
    assert_int_equal(tsr_store_apply(s, &b, 1, now), 0);
    *reason = it.reason;
    strcpy(detail, it.detail);
    return it.outcome;
}

/* Without key_ids the first key id a record brings is pinned (and kept
 * across a restart); with them, only they pass, each until its end. */
static void test_network_keys(void **state)
{
    (void)state;
    char leeds[][10] = {"E08000035"};
    tsr_client_t a = s_client("leeds-01", TSR_ROLE_AGENT, leeds, 1);
    tsr_incident_t inc;
    int reason;
    char detail[128];
    tsr_netkeys_t got;
    bool pinned;
    const int64_t now = 1700000000;
    const int32_t today = (int32_t)(now / 86400);

    tsr_store_t *s = s_open("pin", 0);
    tsr_store_network_keys(s, today, &got, &pinned);
    assert_int_equal(got.n, 0);
    assert_false(pinned);
    s_incident(&inc, 1, 1, "E08000035");
    inc.n_tokens = 0; /* a record without tokens pins nothing */
    assert_int_equal(s_at(s, &a, &inc, now, &reason, detail), TSR_OUTCOME_ACCEPTED);
    tsr_store_network_keys(s, today, &got, &pinned);
    assert_int_equal(got.n, 0);
    /* key id 0 is a token without one: refused, never pinned (issue 16) */
    s_incident(&inc, 9, 1, "E08000035");
    inc.tokens[0].key_id = 0;
    assert_int_equal(s_at(s, &a, &inc, now, &reason, detail), TSR_OUTCOME_REJECTED);
    assert_int_equal(reason, TSR_REJECT_WRONG_NETWORK_KEY);
    assert_string_equal(detail, "token under network key id 0, which no network key has; this "
                                "collector pins none yet (set [network] key_ids)");
    tsr_store_network_keys(s, today, &got, &pinned);
    assert_int_equal(got.n, 0);
    assert_false(pinned);
    s_incident(&inc, 2, 1, "E08000035");
    inc.tokens[0].key_id = 1857500892u;
    assert_int_equal(s_at(s, &a, &inc, now, &reason, detail), TSR_OUTCOME_ACCEPTED);
    tsr_store_network_keys(s, today, &got, &pinned);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.ids[0].key_id, 1857500892u);
    assert_true(pinned);
    s_incident(&inc, 3, 1, "E08000035");
    inc.tokens[0].key_id = 1974342276u;
    assert_int_equal(s_at(s, &a, &inc, now, &reason, detail), TSR_OUTCOME_REJECTED);
    assert_int_equal(reason, TSR_REJECT_WRONG_NETWORK_KEY);
    assert_string_equal(detail, "token under network key id 1974342276; this collector accepts "
                                "only 1857500892");
    assert_int_equal(tsr_store_counter(s, "rejected:wrong_network_key"), 2);
    assert_int_equal(tsr_store_counter(s, "records"), 2);
    tsr_store_close(&s);
    s = s_open("pin", 0); /* the pin outlives a restart */
    tsr_store_network_keys(s, today, &got, &pinned);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.ids[0].key_id, 1857500892u);
    assert_int_equal(s_at(s, &a, &inc, now, &reason, detail), TSR_OUTCOME_REJECTED);
    tsr_store_close(&s);

    /* configured: the old key until a day, the new with no end */
    tsr_netkeys_t keys = {{{1857500892u, today}, {1974342276u, 0}}, 2};
    s = s_open_keys("configured", 0, &keys);
    tsr_store_network_keys(s, today, &got, &pinned);
    assert_int_equal(got.n, 2);
    assert_false(pinned);
    tsr_store_network_keys(s, today + 1, &got, &pinned);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.ids[0].key_id, 1974342276u);
    s_incident(&inc, 4, 1, "E08000035");
    inc.tokens[0].key_id = 1857500892u;
    assert_int_equal(s_at(s, &a, &inc, now, &reason, detail), TSR_OUTCOME_ACCEPTED);
    s_incident(&inc, 5, 1, "E08000035");
    inc.tokens[0].key_id = 1857500892u;
    assert_int_equal(s_at(s, &a, &inc, now + 86400, &reason, detail), TSR_OUTCOME_REJECTED);
    assert_int_equal(reason, TSR_REJECT_WRONG_NETWORK_KEY);
    char until[11], want[128];
    snprintf(want, sizeof want, "token under network key id 1857500892, accepted until %s; "
             "this collector accepts 1974342276", tsr_day_format(until, today));
    assert_string_equal(detail, want);
    /* a record with a token under each key passes only while both do */
    s_incident(&inc, 6, 1, "E08000035");
    inc.n_tokens = 2;
    inc.tokens[1] = inc.tokens[0];
    inc.tokens[0].key_id = 1857500892u;
    inc.tokens[1].key_id = 1974342276u;
    assert_int_equal(s_at(s, &a, &inc, now, &reason, detail), TSR_OUTCOME_ACCEPTED);
    s_incident(&inc, 7, 1, "E08000035");
    inc.tokens[0].key_id = 7; /* never this network's, and nothing is pinned */
    assert_int_equal(s_at(s, &a, &inc, now, &reason, detail), TSR_OUTCOME_REJECTED);
    assert_string_equal(detail, "token under network key id 7; this collector accepts only "
                                "1857500892, 1974342276");
    assert_int_equal(tsr_store_counter(s, "rejected:wrong_network_key"), 2);
    tsr_store_close(&s);
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

/* Asserts that two stores hold the same, database by database and byte
 * for byte (s_contents). */
static void s_same_contents(tsr_store_t *a, tsr_store_t *b)
{
    size_t n0, n1;
    uint8_t *c0 = s_contents(a, &n0), *c1 = s_contents(b, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(c0, c1, n0);
    free(c0);
    free(c1);
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
        assert_int_equal(s_log_entries(s), 6);
        assert_int_equal(s_entries(s, "ingest_log"), 0); /* main's own: only from before */

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
            /* stopped between the apply's commit and the trim: the two
             * applied entries are still in the log, below `applied` */
            assert_int_equal(s_log_entries(s), 6);
            tsr_store_close(&st[1]);
            st[1] = s = s_open("log-crash", 0);
            assert_int_equal(tsr_store_logged(s), 4);
            assert_int_equal(tsr_store_applied(s), 2);
            assert_int_equal(tsr_store_last_logged(s), 6);
        }
        /* a submit deletes the applied entries (the first two) */
        assert_int_equal(s_sub(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_DUPLICATE);
        assert_int_equal(s_log_entries(s), 4);
        assert_int_equal(tsr_store_drain(s, 0, 1700000200, &applied), 0);
        assert_int_equal(applied, 4);
        assert_int_equal(tsr_store_logged(s), 0);
        assert_int_equal(s_log_entries(s), 4); /* applied, kept until a trim */
        assert_int_equal(tsr_store_trim(s, 0), 0);
        assert_int_equal(s_log_entries(s), 0);
        assert_int_equal(tsr_store_get(s, inc.record_id, &got, NULL, NULL), 0);
        assert_int_equal(got.version, 3);
        assert_int_equal(tsr_store_counter(s, "records"), 3);
        assert_int_equal(s_entries(s, "by_area_day"), 3);
        assert_int_equal(s_entries(s, "by_token"), 3);
        assert_int_equal(s_entries(s, "tombstones"), 0);
        /* area and region, daily and weekly, plus contact_platform of each;
         * and the national total, daily and weekly */
        assert_int_equal(s_entries(s, "series_names"), 10);
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

/* Moves the log environment's entries into main's own ingest_log, as a
 * store from before the log environment held them (raw LMDB: the test
 * builds an old layout on purpose). */
static void s_make_old_layout(tsr_store_t *s)
{
    MDB_txn *lt, *mt;
    MDB_dbi ld, md;
    MDB_cursor *c;
    MDB_val k, v;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_log_kv(s)), NULL, MDB_RDONLY, &lt), 0);
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_kv(s)), NULL, 0, &mt), 0);
    assert_int_equal(mdb_dbi_open(lt, "ingest_log", 0, &ld), 0);
    assert_int_equal(mdb_dbi_open(mt, "ingest_log", 0, &md), 0);
    assert_int_equal(mdb_cursor_open(lt, ld, &c), 0);
    for (int op = MDB_FIRST; mdb_cursor_get(c, &k, &v, (MDB_cursor_op)op) == 0; op = MDB_NEXT)
        assert_int_equal(mdb_put(mt, md, &k, &v, MDB_APPEND), 0);
    mdb_cursor_close(c);
    assert_int_equal(mdb_txn_commit(mt), 0);
    mdb_txn_abort(lt);
}

/* Upgrade (docs/STORAGE.md): a store from before the log environment, with
 * acknowledged entries waiting in main's own ingest_log, opens, applies
 * them once (in main, deleting them there) and goes on numbering after
 * them; it ends byte for byte as a store that applied them from its log. */
static void test_upgrade(void **state)
{
    (void)state;
    enum { N = 300 };
    tsr_store_t *st[2] = {s_open("upg-new", 0), s_open("upg-old", 0)};
    char leeds[][10] = {"E08000035"};
    tsr_client_t a = s_client("leeds-01", TSR_ROLE_AGENT, leeds, 1);
    static tsr_incident_t inc[N];
    static tsr_store_item_t items[N];
    for (int i = 0; i < N; i++) {
        s_unlinked(&inc[i], i);
        items[i] = (tsr_store_item_t){.incident = &inc[i]};
    }
    tsr_store_batch_t b = {&a, items, N};
    for (int k = 0; k < 2; k++)
        assert_int_equal(tsr_store_submit(st[k], &b, 1, 1700000000), 0);
    assert_int_equal(tsr_store_drain_all(st[0], 1700000100), 0);
    s_make_old_layout(st[1]);
    tsr_store_close(&st[1]);
    char log[160];
    snprintf(log, sizeof log, "rm -rf %s/upg-old/log", s_dir);
    assert_int_equal(system(log), 0);
    st[1] = s_open("upg-old", 0);
    /* applied at open, from main's log, which is left empty */
    assert_int_equal(s_entries(st[1], "ingest_log"), 0);
    assert_int_equal(tsr_store_logged(st[1]), 0);
    assert_int_equal(tsr_store_applied(st[1]), N);
    assert_int_equal(tsr_store_last_logged(st[1]), N);
    assert_int_equal(tsr_store_counter(st[1], "records"), N);
    s_same_contents(st[0], st[1]);
    /* the next entry is N + 1, in the new log; a resend is a duplicate */
    assert_int_equal(s_sub(st[1], &a, &inc[0], NULL, 0, NULL), TSR_OUTCOME_DUPLICATE);
    tsr_incident_t more;
    s_incident(&more, 250, 1, "E08000035");
    more.record_id[0] = 0xee;
    more.tokens[0].token[0] = 0xee;
    assert_int_equal(s_sub(st[1], &a, &more, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
    assert_int_equal(tsr_store_last_logged(st[1]), N + 1);
    assert_int_equal(tsr_store_drain_all(st[1], 1700000200), 0);
    assert_int_equal(tsr_store_counter(st[1], "records"), N + 1);
    for (int k = 0; k < 2; k++)
        tsr_store_close(&st[k]);
}

/* A main environment restored from a backup older than its log (entries
 * trimmed from the log that the old main never applied): the store refuses
 * to open, naming both sequences, rather than run with a gap. */
static void test_log_gap(void **state)
{
    (void)state;
    char leeds[][10] = {"E08000035"}, cmd[400], msg[768];
    tsr_client_t a = s_client("leeds-01", TSR_ROLE_AGENT, leeds, 1);
    tsr_store_t *s = s_open("gap", 0);
    snprintf(cmd, sizeof cmd, "cp %s/gap/data.mdb %s/gap-old.mdb", s_dir, s_dir);
    assert_int_equal(system(cmd), 0); /* main with nothing applied */
    for (uint8_t i = 1; i <= 3; i++) {
        tsr_incident_t inc;
        s_incident(&inc, i, 1, "E08000035");
        inc.tokens[0].token[0] = i;
        assert_int_equal(s_sub(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
        if (i < 3)
            assert_int_equal(tsr_store_drain_all(s, 1700000100), 0); /* the next submit trims */
    }
    assert_int_equal(s_log_entries(s), 1); /* entry 3; 1 and 2 applied and trimmed */
    tsr_store_close(&s);
    snprintf(cmd, sizeof cmd, "cp %s/gap-old.mdb %s/gap/data.mdb", s_dir, s_dir);
    assert_int_equal(system(cmd), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/gap", s_dir);
    static const uint8_t secret[TSR_CKM_SECRET_LEN] = {7};
    tsr_store_opts_t o = {.kv = {.dir = path}, .ckm_secret = secret};
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_open(&s, &o, &err), TSR_ECORRUPT);
    assert_null(s);
    tsr_error_format(&err, msg, sizeof msg);
    assert_non_null(strstr(msg, "ingest_log: the log starts at entry 3, but the store has applied "
                                "only up to 0: entries are missing"));
}

/* A drain bounded in time (drain_ms) stops taking entries once its time is
 * spent, commits what it applied (at least one entry), and the drains that
 * follow finish the log: the store ends byte for byte as one drain leaves it. */
static void test_drain_time_bound(void **state)
{
    (void)state;
    enum { N = 2000, PER_BATCH = 500 };
    char path[128];
    static const uint8_t secret[TSR_CKM_SECRET_LEN] = {7};
    tsr_store_t *st[2] = {s_open("bound-none", 0), NULL};
    snprintf(path, sizeof path, "%s/%s", s_dir, "bound-1ms");
    tsr_store_opts_t o = {.kv = {.dir = path}, .ckm_secret = secret, .drain_ms = 1};
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_open(&st[1], &o, &err), 0);
    char leeds[][10] = {"E08000035"};
    tsr_client_t a = s_client("leeds-01", TSR_ROLE_AGENT, leeds, 1);
    tsr_incident_t *inc = calloc(PER_BATCH, sizeof *inc);
    tsr_store_item_t *items = calloc(PER_BATCH, sizeof *items);
    assert_non_null(inc);
    assert_non_null(items);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < N; i += PER_BATCH) {
            for (int j = 0; j < PER_BATCH; j++) {
                int n = i + j;
                s_unlinked(&inc[j], n);
                items[j] = (tsr_store_item_t){.incident = &inc[j]};
            }
            tsr_store_batch_t b = {&a, items, PER_BATCH};
            assert_int_equal(tsr_store_submit(st[k], &b, 1, 1700000000), 0);
        }
        assert_int_equal(tsr_store_logged(st[k]), N);
    }
    size_t applied, drains = 0, total = 0;
    assert_int_equal(tsr_store_drain(st[0], 0, 1700000100, &applied), 0);
    assert_int_equal(applied, N);
    do {
        assert_int_equal(tsr_store_drain(st[1], 0, 1700000100, &applied), 0);
        assert_true(applied >= 1);
        total += applied;
        drains++;
    } while (tsr_store_logged(st[1]) > 0);
    assert_int_equal(total, N);
    assert_true(drains >= 2); /* 2,000 records are not applied in 1 ms */
    assert_int_equal(tsr_store_counter(st[1], "records"), N);
    s_same_contents(st[0], st[1]);
    free(inc);
    free(items);
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

/* --- errors: what the store says is TSR_E*, named by tsr_strerror --- */

/* Submits batches of n new records from agent a (ids from *next on) until
 * a submit fails; returns its code (0 when `tries` all went in). */
static int s_fill_until_error(tsr_store_t *s, const tsr_client_t *a, int *next, int n, int tries)
{
    static tsr_incident_t incs[100];
    static tsr_store_item_t items[100];
    int rc = 0;
    for (int t = 0; rc == 0 && t < tries; t++) {
        for (int i = 0; i < n; i++) {
            s_incident(&incs[i], 0, 1, "E08000035");
            incs[i].record_id[0] = (uint8_t)(*next >> 8);
            incs[i].record_id[1] = (uint8_t)*next;
            incs[i].record_id[2] = 0x5A;
            (*next)++;
            items[i] = (tsr_store_item_t){.incident = &incs[i]};
        }
        tsr_store_batch_t b = {a, items, (size_t)n};
        rc = tsr_store_submit(s, &b, 1, 1700000000);
    }
    return rc;
}

/* A map at map_max is TSR_EFULL from a submit (answered RETRY_LATER), and
 * nothing of the refused group is in the log. */
static void test_map_at_max(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/mapmax", s_dir);
    tsr_store_opts_t o = {.kv = {.dir = path, .map_size = 256 << 10, .map_step = 256 << 10,
                                 .map_max = 512 << 10}};
    tsr_store_t *s;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_open(&s, &o, &err), 0);
    char leeds[][10] = {"E08000035"};
    tsr_client_t a = s_client("leeds-01", TSR_ROLE_AGENT, leeds, 1);
    int next = 0;
    assert_int_equal(s_fill_until_error(s, &a, &next, 50, 200), TSR_EFULL);
    assert_string_equal(tsr_strerror(TSR_EFULL), "storage full");
    /* every logged entry is of a committed group: whole groups only */
    assert_int_equal(tsr_store_logged(s) % 50, 0);
    assert_int_equal(tsr_store_logged(s), (size_t)next - 50);
    assert_int_equal(tsr_store_counter(s, "accepted"), (uint64_t)next - 50);
    tsr_store_close(&s);
}

/* Overwrites a stored record with bytes that are not one. */
static void s_damage_record(tsr_store_t *s, const uint8_t *rid)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_kv(s)), NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "records", 0, &dbi), 0);
    MDB_val k = {TSR_RECORD_ID_LEN, (void *)rid}, v = {3, "\x01\x05x"};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

/* A record whose stored bytes are damaged is TSR_ECORRUPT, not a record,
 * and nothing is decided or applied against it. */
static void test_damaged_record(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("damaged", 0);
    char leeds[][10] = {"E08000035"};
    tsr_client_t a = s_client("leeds-01", TSR_ROLE_AGENT, leeds, 1);
    tsr_incident_t inc, other, got;
    s_incident(&inc, 9, 1, "E08000035");
    s_incident(&other, 10, 1, "E08000035");
    assert_int_equal(s_one(s, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
    assert_int_equal(s_one(s, &a, &other, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
    /* version 2 waits in the log when its record is damaged */
    inc.version = 2;
    assert_int_equal(s_item(s, tsr_store_submit, &a, &inc, NULL, 0, NULL), TSR_OUTCOME_REPLACED);
    s_damage_record(s, inc.record_id);
    assert_int_equal(tsr_store_get(s, inc.record_id, &got, NULL, NULL), TSR_ECORRUPT);
    assert_string_equal(tsr_strerror(TSR_ECORRUPT), "stored data damaged");
    size_t applied = 99;
    assert_int_equal(tsr_store_drain(s, 0, 1700000000, &applied), TSR_ECORRUPT);
    assert_int_equal(applied, 0);
    assert_int_equal(tsr_store_logged(s), 1); /* kept for the next try */
    /* a new version of a damaged record is not decided against a guess:
     * the submit fails, nothing acknowledged, nothing logged */
    s_damage_record(s, other.record_id);
    other.version = 2;
    tsr_store_item_t it = {.incident = &other};
    tsr_store_batch_t b = {&a, &it, 1};
    assert_int_equal(tsr_store_submit(s, &b, 1, 1700000000), TSR_ECORRUPT);
    assert_int_equal(tsr_store_logged(s), 1);
    tsr_store_close(&s);
}

/* What the full-disk child returns. */
enum { S_DISK_OK = 0, S_DISK_OPEN, S_DISK_NEVER_FULL, S_DISK_LOST, S_DISK_CODE /* + -code */ };

static int s_disk_child(const char *dir)
{
    char path[160];
    snprintf(path, sizeof path, "%s/db", dir);
    tsr_store_opts_t o = {.kv = {.dir = path}}; /* a 64 MiB map on a 512 KiB disk */
    tsr_store_t *s;
    if (tsr_store_open(&s, &o, NULL) != 0)
        return S_DISK_OPEN;
    char leeds[][10] = {"E08000035"};
    tsr_client_t a = s_client("leeds-01", TSR_ROLE_AGENT, leeds, 1);
    int next = 0;
    int rc = s_fill_until_error(s, &a, &next, 50, 400);
    if (rc == 0)
        return S_DISK_NEVER_FULL;
    if (rc != TSR_ENOSPC)
        return S_DISK_CODE - rc;
    /* the group that did not fit is not in the log; the others are */
    if (tsr_store_logged(s) != (size_t)next - 50 ||
        tsr_store_counter(s, "accepted") != (uint64_t)next - 50)
        return S_DISK_LOST;
    tsr_store_close(&s);
    return S_DISK_OK;
}

/* A full disk is TSR_ENOSPC from a submit: nothing of the group is
 * acknowledged, and the log line says to free space (s_log_err). */
static void test_disk_full(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/disk", s_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    int rc = tsr_test_on_small_disk(dir, "512k", s_disk_child);
    if (rc == TSR_TEST_DISK_SKIP)
        skip(); /* no user namespaces here */
    assert_int_equal(rc, S_DISK_OK);
}

/* --- the audit log: an entry that cannot be read is named, never skipped --- */

/* Writes val under key in the audit log behind the store's back, as damage
 * (a bad disk, a hand edit) would. */
static void s_audit_damage(tsr_store_t *s, const void *key, size_t kn, const void *val, size_t vn)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_audit_kv(s)), NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "audit", 0, &dbi), 0);
    MDB_val k = {kn, (void *)key}, v = {vn, (void *)val};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

/* An audit value as the store writes it: i64 time (LE), id, role, request
 * (a length byte each), u64 result size; `extra` bytes more after it. */
static size_t s_audit_value(uint8_t *out, int64_t time, const char *id, size_t extra)
{
    size_t n = 0;
    for (int i = 0; i < 8; i++)
        out[n++] = (uint8_t)((uint64_t)time >> (8 * i));
    const char *strs[] = {id, "admin", "stats -> ok"};
    for (int i = 0; i < 3; i++) {
        out[n++] = (uint8_t)strlen(strs[i]);
        memcpy(out + n, strs[i], strlen(strs[i]));
        n += strlen(strs[i]);
    }
    for (int i = 0; i < 8; i++)
        out[n++] = i == 0 ? 3 : 0;
    for (size_t i = 0; i < extra; i++)
        out[n++] = 0xEE;
    return n;
}

static int s_count_entry(void *ctx, const tsr_audit_entry_t *e)
{
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

/* Lists the audit log; returns the code and, on error, err as one line. */
static int s_audit_list(tsr_store_t *s, const char *id, tsr_response_t *resp, char *msg)
{
    tsr_error_t err;
    tsr_error_clear(&err);
    memset(resp, 0, sizeof *resp);
    int rc = tsr_store_audit_list(s, 0, id, 100, resp, &err);
    tsr_error_format(&err, msg, 512);
    return rc;
}

static void test_audit_damaged(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("audit", 0);
    tsr_audit_entry_t e = {.result_size = 3};
    snprintf(e.id, sizeof e.id, "admin-1");
    snprintf(e.role, sizeof e.role, "admin");
    snprintf(e.request, sizeof e.request, "stats -> ok");
    for (int i = 0; i < 3; i++) {
        e.time = 1700000000 + i;
        assert_int_equal(tsr_store_audit(s, &e), 0);
    }
    tsr_response_t resp;
    char msg[512];
    assert_int_equal(s_audit_list(s, NULL, &resp, msg), 0);
    assert_int_equal(resp.n_audit, 3);
    assert_int_equal(resp.audit[1].time, 1700000001);
    assert_string_equal(resp.audit[1].id, "admin-1");
    assert_string_equal(resp.audit[1].request, "stats -> ok");
    assert_int_equal(resp.audit[1].result_size, 3);
    free(resp.audit);

    /* entry 2 is seven bytes of garbage: the list fails, naming it, and
     * carries no entry at all rather than two that look like the whole */
    const uint8_t k2[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    s_audit_damage(s, k2, sizeof k2, "garbage", 7);
    assert_int_equal(s_audit_list(s, NULL, &resp, msg), TSR_ECORRUPT);
    assert_string_equal(msg, "audit: entry 2 cannot be read: its 7 bytes end inside its fields "
                             "(the audit log is damaged: docs/STORAGE.md, Errors)");
    assert_int_equal(resp.n_audit, 0);
    assert_null(resp.audit);
    /* asked for another caller's entries: entry 2 may be one, so the same */
    assert_int_equal(s_audit_list(s, "liaison-1", &resp, msg), TSR_ECORRUPT);
    assert_string_equal(msg, "audit: entry 2 cannot be read: its 7 bytes end inside its fields "
                             "(the audit log is damaged: docs/STORAGE.md, Errors)");
    /* the budget's walk at start-up logs it and goes on: entries 3 and 1 */
    int n = 0;
    assert_int_equal(tsr_store_audit_each(s, 0, s_count_entry, &n), 0);
    assert_int_equal(n, 2);

    /* a whole entry with a byte after it is damaged too */
    uint8_t v[64];
    s_audit_damage(s, k2, sizeof k2, v, s_audit_value(v, 1700000001, "admin-1", 1));
    assert_int_equal(s_audit_list(s, NULL, &resp, msg), TSR_ECORRUPT);
    assert_string_equal(msg, "audit: entry 2 cannot be read: 1 byte after its last field "
                             "(the audit log is damaged: docs/STORAGE.md, Errors)");
    /* mended, it lists again */
    s_audit_damage(s, k2, sizeof k2, v, s_audit_value(v, 1700000001, "admin-1", 0));
    assert_int_equal(s_audit_list(s, NULL, &resp, msg), 0);
    assert_int_equal(resp.n_audit, 3);
    assert_int_equal(resp.audit[1].time, 1700000001);
    free(resp.audit);

    /* a key that is not a sequence: named by its bytes; and no entry is
     * appended after it (the log would hide it behind a sequence) */
    s_audit_damage(s, "xx", 2, "y", 1);
    assert_int_equal(s_audit_list(s, NULL, &resp, msg), TSR_ECORRUPT);
    assert_string_equal(msg, "audit: an entry with key 7878 (2 bytes, not 8) cannot be read "
                             "(the audit log is damaged: docs/STORAGE.md, Errors)");
    assert_int_equal(tsr_store_audit(s, &e), TSR_ECORRUPT);
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
    assert_int_equal(tsr_store_audit_list(s, 0, NULL, 100000, &r, NULL), 0);
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
    assert_int_equal(tsr_store_audit_list(s, 0, NULL, 10, &r, NULL), 0);
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
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_audit_kv(s)), NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "audit", 0, &dbi), 0);
    uint8_t kb[8] = {0, 0, 0, 0, 0, 0, 0, 100}; /* after every entry so far */
    MDB_val k = {8, kb}, v = {3, "bad"};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    s_audit_at(s, 6000, "h"); /* sequence 101 */
    assert_int_equal(tsr_store_audit_purge(s, 100000, &purged), TSR_ECORRUPT);
    assert_int_equal(purged, 2); /* f and g */
    assert_int_equal(tsr_store_counter(s, "audit_purged"), 7);
    /* the damaged entry and h are left */
    MDB_stat st;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_audit_kv(s)), NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    assert_int_equal(st.ms_entries, 2);
    tsr_store_close(&s);
}

/* Puts entries 1..n (times 1700000000 + seq, ids "old-SEQ") into main's own
 * audit database, as a collector of format 2 wrote them, with an
 * audit_purged counter of 4 beside them, and marks the store format 2. */
static void s_audit_in_main(const char *dir, int n)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi audit, counters, meta;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(env, 64u << 20), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "audit", 0, &audit), 0);
    assert_int_equal(mdb_dbi_open(txn, "counters", 0, &counters), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    for (int i = 1; i <= n; i++) {
        uint8_t kb[8] = {0, 0, 0, 0, 0, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i}, vb[64];
        char id[16];
        snprintf(id, sizeof id, "old-%d", i);
        MDB_val k = {8, kb}, v = {s_audit_value(vb, 1700000000 + i, id, 0), vb};
        assert_int_equal(mdb_put(txn, audit, &k, &v, 0), 0);
    }
    uint64_t four = 4;
    MDB_val k = {12, "audit_purged"}, v = {8, &four};
    assert_int_equal(mdb_put(txn, counters, &k, &v, 0), 0);
    uint8_t v2[4] = {2, 0, 0, 0};
    MDB_val fk = {14, "format_version"}, fv = {4, v2};
    assert_int_equal(mdb_put(txn, meta, &fk, &fv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* The entries of the database "audit" of kv (main's, or the audit
 * environment's). */
static size_t s_audit_entries_in(tsr_kv_t *kv)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(kv), NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "audit", 0, &dbi), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    return st.ms_entries;
}

static size_t s_main_audit_entries(tsr_store_t *s)
{
    return s_audit_entries_in(tsr_store_kv(s));
}

/* Format 3: a store of format 2 kept its audit log in main. Opened, its
 * entries move to the audit environment in order, main keeps none, the
 * sequence goes on after them and audit_purged still counts main's
 * purges. A crash after the copy and before main is emptied leaves both:
 * the next open copies the same entries over themselves, no twice. */
static void test_audit_moved(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("auditmove", 0);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/auditmove", s_dir);
    tsr_store_close(&s);
    s_audit_in_main(dir, 3);
    s = s_open("auditmove", 0);
    assert_int_equal(s_main_audit_entries(s), 0);
    tsr_response_t r = {0};
    assert_int_equal(tsr_store_audit_list(s, 0, NULL, 100, &r, NULL), 0);
    assert_int_equal(r.n_audit, 3);
    assert_string_equal(r.audit[0].id, "old-1");
    assert_string_equal(r.audit[2].id, "old-3");
    assert_int_equal(r.audit[2].time, 1700000003);
    free(r.audit);
    assert_int_equal(tsr_store_counter(s, "audit_purged"), 4);
    s_audit_at(s, 1800000000, "new");
    uint64_t purged;
    assert_int_equal(tsr_store_audit_purge(s, 1700000002, &purged), 0);
    assert_int_equal(purged, 1);
    assert_int_equal(tsr_store_counter(s, "audit_purged"), 5);
    tsr_store_close(&s);
    tsr_store_summary_t sum;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_summary(dir, &sum, &err), 0);
    assert_int_equal(sum.format, 3);

    /* the crash: main holds entries 2 and 3 (and 1, purged since) again */
    s_audit_in_main(dir, 3);
    s = s_open("auditmove", 0);
    assert_int_equal(s_main_audit_entries(s), 0);
    r = (tsr_response_t){0};
    assert_int_equal(tsr_store_audit_list(s, 0, NULL, 100, &r, NULL), 0);
    assert_int_equal(r.n_audit, 4); /* 1 back, 2, 3, new: none twice */
    assert_string_equal(r.audit[0].id, "old-1");
    assert_string_equal(r.audit[3].id, "new");
    free(r.audit);
    s_audit_at(s, 1800000001, "newer"); /* sequence 5 */
    r = (tsr_response_t){0};
    assert_int_equal(tsr_store_audit_list(s, 0, NULL, 100, &r, NULL), 0);
    assert_int_equal(r.n_audit, 5);
    assert_string_equal(r.audit[4].id, "newer");
    free(r.audit);
    tsr_store_close(&s);

    /* a long log moves in chunks of 10,000, none lost or twice, and a
     * damaged key moves as it is (named where it is read, as before); the
     * audit environment's map (1 MiB, as main's) grows under the move */
    s = s_open("auditmove2", 1u << 20);
    snprintf(dir, sizeof dir, "%s/auditmove2", s_dir);
    tsr_store_close(&s);
    s_audit_in_main(dir, 25001);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "audit", 0, &dbi), 0);
    MDB_val k = {2, "xx"}, v = {1, "y"};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    s = s_open("auditmove2", 1u << 20);
    assert_int_equal(s_main_audit_entries(s), 0);
    assert_int_equal(s_audit_entries_in(tsr_store_audit_kv(s)), 25002);
    size_t map = 0, used = 0;
    assert_int_equal(tsr_kv_usage(tsr_store_audit_kv(s), &map, &used), 0);
    assert_true(map > (1u << 20));
    int n = 0; /* the walk passes over the damaged one, naming it */
    assert_int_equal(tsr_store_audit_each(s, 0, s_count_entry, &n), 0);
    assert_int_equal(n, 25001);
    r = (tsr_response_t){0};
    tsr_error_t lerr;
    tsr_error_clear(&lerr);
    assert_int_equal(tsr_store_audit_list(s, 0, NULL, 30000, &r, &lerr), TSR_ECORRUPT);
    assert_non_null(strstr(lerr.reason, "an entry with key 7878 (2 bytes, not 8)"));
    tsr_store_close(&s);
}

/* Copies the fixture store of format `format` (tests/fixtures/make_store_v*.sh)
 * into a directory of its own under s_dir. */
static void s_fixture_copy(char *dir, size_t cap, const char *name, int format)
{
    snprintf(dir, cap, "%s/%s", s_dir, name);
    assert_int_equal(mkdir(dir, 0700), 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp %s/tests/fixtures/store-v%d/data.mdb %s/data.mdb",
             TSR_TEST_SOURCE_DIR, format, dir);
    assert_int_equal(system(cmd), 0);
}

/* The store tessera 0.1.0 wrote (format 1, no version recorded) opens in
 * this collector: migrated to format 2 once, every record and alert
 * readable, the alerts counted by kind. */
static void test_fixture_v1(void **state)
{
    (void)state;
    char dir[256];
    s_fixture_copy(dir, sizeof dir, "fixture-v1", 1);
    tsr_store_summary_t sum;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_summary(dir, &sum, &err), 0);
    assert_int_equal(sum.format, 1);
    assert_int_equal(sum.records, 5);
    assert_int_equal(sum.last_alert, 2);
    assert_int_equal(sum.logged, 0);

    tsr_store_opts_t o = {.kv = {.dir = dir}};
    tsr_store_t *s;
    assert_int_equal(tsr_store_open(&s, &o, &err), 0);
    assert_int_equal(tsr_store_counter(s, "records"), 5);
    assert_int_equal(tsr_store_counter(s, "agency:leeds-school"), 2);
    uint64_t kinds[TSR_ALERT_KINDS + 1];
    memset(kinds, 0xff, sizeof kinds); /* every count is written */
    assert_int_equal(tsr_store_alert_counts(s, kinds), 0);
    assert_int_equal(kinds[TSR_ALERT_LINKAGE], 2);
    assert_int_equal(kinds[TSR_ALERT_SPIKE], 0);
    assert_int_equal(kinds[TSR_ALERT_CROSS_AREA], 0);
    tsr_msg_t m = {.kind = TSR_MSG_RESPONSE};
    assert_int_equal(tsr_store_alerts(s, 0, 100, NULL, NULL, &m.u.response), 0);
    assert_int_equal(m.u.response.n_alerts, 2);
    assert_int_equal(m.u.response.last_seq, 2);
    const tsr_alert_t *a = &m.u.response.alerts[1];
    assert_int_equal(a->seq, 2);
    assert_int_equal(a->kind, TSR_ALERT_LINKAGE);
    assert_int_equal(a->n_record_ids, 3);
    assert_int_equal(a->n_areas, 2);
    /* each linked record reads back whole: the phone token, an area of the
     * cluster, reported in October 2026 (days 20727..20757) */
    for (size_t i = 0; i < a->n_record_ids; i++) {
        tsr_incident_t inc;
        char agency[TSR_CLIENT_ID_MAX];
        int64_t at;
        assert_int_equal(tsr_store_get(s, a->record_ids[i], &inc, agency, &at), 0);
        assert_true(!strcmp(inc.area_code, "E08000035") || !strcmp(inc.area_code, "E08000032"));
        assert_true(inc.reported_day >= 20727 && inc.reported_day <= 20757);
        assert_int_equal(inc.n_tokens, 1);
        assert_string_equal(inc.tokens[0].kind, "phone");
        assert_true(!strcmp(agency, "leeds-school") || !strcmp(agency, "leeds-police") ||
                    !strcmp(agency, "bradford-school"));
        assert_int_equal(tsr_store_record_cluster(s, a->record_ids[i]), a->cluster_id);
    }
    tsr_msg_clear(&m);
    tsr_store_close(&s);
    assert_int_equal(tsr_store_summary(dir, &sum, &err), 0);
    assert_int_equal(sum.format, TSR_STORE_FORMAT);
    /* opened again: nothing to migrate, the counts stand */
    assert_int_equal(tsr_store_open(&s, &o, &err), 0);
    assert_int_equal(tsr_store_alert_counts(s, kinds), 0);
    assert_int_equal(kinds[TSR_ALERT_LINKAGE], 2);
    tsr_store_close(&s);
}

/* The store collectors of format 2 wrote (b53667a: the audit log in
 * main) opens in this one: its two audit entries moved to the audit
 * environment, in order, and none left in main; the record readable. */
static void test_fixture_v2(void **state)
{
    (void)state;
    char dir[256];
    s_fixture_copy(dir, sizeof dir, "fixture-v2", 2);
    tsr_store_summary_t sum;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_summary(dir, &sum, &err), 0);
    assert_int_equal(sum.format, 2);
    assert_int_equal(sum.records, 1);

    tsr_store_opts_t o = {.kv = {.dir = dir}};
    tsr_store_t *s;
    assert_int_equal(tsr_store_open(&s, &o, &err), 0);
    assert_int_equal(tsr_store_counter(s, "records"), 1); /* main's (outcomes are the log's) */
    assert_int_equal(s_main_audit_entries(s), 0);
    tsr_response_t r = {0};
    assert_int_equal(tsr_store_audit_list(s, 0, NULL, 100, &r, NULL), 0);
    assert_int_equal(r.n_audit, 2);
    for (size_t i = 0; i < r.n_audit; i++) {
        assert_string_equal(r.audit[i].id, "admin-1");
        assert_string_equal(r.audit[i].role, "admin");
        assert_string_equal(r.audit[i].request, "stats -> ok");
    }
    assert_true(r.audit[0].time <= r.audit[1].time);
    free(r.audit);
    tsr_store_close(&s);
    assert_int_equal(tsr_store_summary(dir, &sum, &err), 0);
    assert_int_equal(sum.format, TSR_STORE_FORMAT);
}

/* A store of a later format is refused, naming both versions, and left
 * as it was. */
static void test_format_newer(void **state)
{
    (void)state;
    char dir[256];
    s_fixture_copy(dir, sizeof dir, "fixture-newer", 1);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    uint8_t v99[4] = {99, 0, 0, 0};
    MDB_val k = {14, "format_version"}, v = {4, v99};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    tsr_store_opts_t o = {.kv = {.dir = dir}};
    tsr_store_t *s = NULL;
    tsr_error_t err;
    tsr_error_clear(&err);
    assert_int_equal(tsr_store_open(&s, &o, &err), TSR_ERANGE);
    assert_null(s);
    char msg[768];
    tsr_error_format(&err, msg, sizeof msg);
    char want[512];
    snprintf(want, sizeof want,
             "%s: format_version: this store is in format 99, newer than "
             "this collector reads (formats 1 to %d)",
             dir, TSR_STORE_FORMAT);
    assert_non_null(strstr(msg, want));
    tsr_store_summary_t sum;
    assert_int_equal(tsr_store_summary(dir, &sum, &err), 0);
    assert_int_equal(sum.format, 99);
    assert_int_equal(sum.records, 5);
}

/* Federation (issue 19): a relay's records are stored under RELAY/AGENCY,
 * only in its bound areas; a payload's agency id is never taken from an
 * agent, and no other role submits. */
static void test_relay_agency(void **state)
{
    (void)state;
    tsr_store_t *s = s_open("relay", 0);
    char yh[][10] = {"E08000035", "E06000014"};
    tsr_client_t relay = s_client("yh-collector", TSR_ROLE_RELAY, yh, 2);
    tsr_client_t agent = s_client("leeds-cs-01", TSR_ROLE_AGENT, yh, 1);
    tsr_client_t analyst = s_client("an-1", TSR_ROLE_ANALYST, yh, 2);
    tsr_incident_t inc, got;
    char agency[TSR_CLIENT_ID_MAX], detail[128];
    int reason;

    s_incident(&inc, 1, 1, "E08000035");
    snprintf(inc.agency_id, sizeof inc.agency_id, "leeds-cs-01");
    assert_int_equal(s_at(s, &relay, &inc, 1700000000, &reason, detail), TSR_OUTCOME_ACCEPTED);
    assert_int_equal(tsr_store_get(s, inc.record_id, &got, agency, NULL), 0);
    assert_string_equal(agency, "yh-collector/leeds-cs-01");
    /* the relay's own namespace: the agent of that name cannot touch it */
    inc.version = 2;
    inc.agency_id[0] = '\0';
    assert_int_equal(s_at(s, &agent, &inc, 1700000000, &reason, detail), TSR_OUTCOME_REJECTED);
    assert_int_equal(reason, TSR_REJECT_NOT_PERMITTED);
    assert_string_equal(detail, "record id belongs to another agency");

    /* an area outside the relay's line, per record */
    tsr_incident_t london;
    s_incident(&london, 2, 1, "E09000001");
    snprintf(london.agency_id, sizeof london.agency_id, "city-01");
    assert_int_equal(s_at(s, &relay, &london, 1700000000, &reason, detail), TSR_OUTCOME_REJECTED);
    assert_int_equal(reason, TSR_REJECT_AREA_NOT_BOUND);
    assert_string_equal(detail, "area E09000001 is not bound to yh-collector");

    /* a relay names every record's agency; an agent names none */
    tsr_incident_t york;
    s_incident(&york, 3, 1, "E06000014");
    assert_int_equal(s_at(s, &relay, &york, 1700000000, &reason, detail), TSR_OUTCOME_REJECTED);
    assert_int_equal(reason, TSR_REJECT_INVALID_FIELD);
    assert_string_equal(detail, "agency_id: a relay must name each record's agency");
    snprintf(york.agency_id, sizeof york.agency_id, "york-01");
    assert_int_equal(s_at(s, &agent, &york, 1700000000, &reason, detail), TSR_OUTCOME_REJECTED);
    assert_int_equal(reason, TSR_REJECT_NOT_PERMITTED);
    assert_string_equal(detail, "agency_id: only a relay may name a record's agency, and this "
                                "key is listed as an agent");
    assert_int_equal(s_at(s, &analyst, &york, 1700000000, &reason, detail),
                     TSR_OUTCOME_REJECTED);
    assert_string_equal(detail, "only agents and relays may submit");
    /* RELAY/AGENCY must fit an id */
    memset(york.agency_id, 'a', 55);
    york.agency_id[55] = '\0';
    assert_int_equal(s_at(s, &relay, &york, 1700000000, &reason, detail), TSR_OUTCOME_REJECTED);
    assert_string_equal(detail, "agency_id: 68 characters with the relay's id and '/' (63 at most)");

    /* retractions name their agency too */
    tsr_store_item_t it = {.version = 1};
    memcpy(it.record_id, inc.record_id, TSR_RECORD_ID_LEN);
    snprintf(it.agency_id, sizeof it.agency_id, "bradford-01");
    tsr_store_batch_t b = {.client = &relay, .items = &it, .n_items = 1};
    assert_int_equal(tsr_store_apply(s, &b, 1, 1700000000), 0);
    assert_int_equal(it.outcome, TSR_OUTCOME_REJECTED);
    assert_string_equal(it.detail, "record id belongs to another agency");
    snprintf(it.agency_id, sizeof it.agency_id, "leeds-cs-01");
    assert_int_equal(tsr_store_apply(s, &b, 1, 1700000000), 0);
    assert_int_equal(it.outcome, TSR_OUTCOME_RETRACTED);
    assert_int_equal(tsr_store_get(s, inc.record_id, &got, agency, NULL), TSR_ENOTFOUND);

    /* forward = linkage: a record with a profile is refused; counted by mode */
    tsr_incident_t bare;
    s_incident(&bare, 4, 1, "E06000014");
    snprintf(bare.agency_id, sizeof bare.agency_id, "york-01");
    tsr_store_item_t li = {.incident = &bare, .forward = TSR_FORWARD_LINKAGE};
    tsr_store_batch_t lb = {.client = &relay, .items = &li, .n_items = 1};
    assert_int_equal(tsr_store_apply(s, &lb, 1, 1700000000), 0);
    assert_int_equal(li.outcome, TSR_OUTCOME_REJECTED);
    assert_string_equal(li.detail, "a linkage-only relay's record carries a case profile "
                                   "(forward = linkage sends tokens, area, day and ids only)");
    tsr_store_linkage_only(&bare);
    assert_int_equal(tsr_store_apply(s, &lb, 1, 1700000000), 0);
    assert_int_equal(li.outcome, TSR_OUTCOME_ACCEPTED);
    assert_int_equal(tsr_store_counter(s, "relay:yh-collector:linkage"), 1);
    assert_int_equal(tsr_store_counter(s, "relay:yh-collector:records"), 1);
    tsr_store_close(&s);
}

/* Frees a batch tsr_store_upstream_peek filled. */
static void s_batch_free(tsr_batch_t *b)
{
    free(b->incidents);
    free(b->retractions);
    memset(b, 0, sizeof *b);
}

static size_t s_waiting(tsr_store_t *s)
{
    size_t n = 99;
    assert_int_equal(tsr_store_upstream_waiting(s, &n), 0);
    return n;
}

/* Federation (issue 19): every change applied is queued upstream in its
 * transaction, in order, under its agency; a batch never holds one record
 * twice; entries leave only when acknowledged; forward = linkage keeps no
 * profile; a retention purge goes upstream as a retraction. */
static void test_upstream_queue(void **state)
{
    (void)state;
    tsr_store_opts_t o = {.upstream = true, .retention_months = 24};
    tsr_store_t *s = s_open_opts("upstream", &o);
    char yh[][10] = {"E08000035"};
    tsr_client_t a = s_client("leeds-cs-01", TSR_ROLE_AGENT, yh, 1);
    tsr_incident_t A, B;
    s_incident(&A, 1, 1, "E08000035");
    s_incident(&B, 2, 1, "E08000035");
    int64_t now = (int64_t)(20510 + 30) * 86400;
    assert_int_equal(s_one(s, &a, &A, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
    assert_int_equal(s_waiting(s), 1);
    assert_int_equal(s_one(s, &a, &A, NULL, 0, NULL), TSR_OUTCOME_DUPLICATE);
    assert_int_equal(s_waiting(s), 1); /* nothing applied, nothing queued */
    assert_int_equal(s_one(s, &a, &B, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
    A.version = 2;
    A.age_band = 4;
    assert_int_equal(s_one(s, &a, &A, NULL, 0, NULL), TSR_OUTCOME_REPLACED);
    assert_int_equal(s_one(s, &a, NULL, B.record_id, 1, NULL), TSR_OUTCOME_RETRACTED);
    assert_int_equal(s_waiting(s), 4);

    /* A v1, B v1; A v2 waits for the next batch */
    tsr_batch_t b;
    uint64_t last;
    assert_int_equal(tsr_store_upstream_peek(s, 10, false, &b, &last), 0);
    assert_int_equal(b.n_incidents, 2);
    assert_int_equal(b.n_retractions, 0);
    assert_int_equal(last, 2);
    assert_int_equal(b.batch_id, 1);
    assert_int_equal(b.incidents[0].version, 1);
    assert_int_equal(b.incidents[0].age_band, 3);
    assert_string_equal(b.incidents[0].agency_id, "leeds-cs-01");
    assert_memory_equal(b.incidents[1].record_id, B.record_id, TSR_RECORD_ID_LEN);
    s_batch_free(&b);
    /* not acknowledged: the same again */
    assert_int_equal(tsr_store_upstream_peek(s, 1, false, &b, &last), 0);
    assert_int_equal(b.n_incidents, 1);
    assert_int_equal(last, 1);
    s_batch_free(&b);
    size_t removed;
    assert_int_equal(tsr_store_upstream_done(s, 2, &removed), 0);
    assert_int_equal(removed, 2);
    assert_int_equal(s_waiting(s), 2);

    /* linkage only: tokens, area, day, id and version; no profile */
    assert_int_equal(tsr_store_upstream_peek(s, 10, true, &b, &last), 0);
    assert_int_equal(last, 4);
    assert_int_equal(b.batch_id, 3);
    assert_int_equal(b.n_incidents, 1);
    assert_int_equal(b.n_retractions, 1);
    tsr_incident_t *l = &b.incidents[0];
    assert_int_equal(l->version, 2);
    assert_string_equal(l->area_code, "E08000035");
    assert_int_equal(l->reported_day, A.reported_day);
    assert_int_equal(l->n_tokens, 1);
    assert_memory_equal(l->tokens[0].token, A.tokens[0].token, TSR_TOKEN_LEN);
    assert_int_equal(l->age_band, 7);  /* unknown */
    assert_int_equal(l->gender, 4);    /* unknown */
    assert_int_equal(l->contact_platforms, 0);
    tsr_wire_verdict_t v;
    assert_int_equal(tsr_wire_check_incident(l, NULL, &v), 0);
    assert_memory_equal(b.retractions[0].record_id, B.record_id, TSR_RECORD_ID_LEN);
    assert_int_equal(b.retractions[0].version, 1);
    assert_string_equal(b.retractions[0].agency_id, "leeds-cs-01");
    s_batch_free(&b);
    assert_int_equal(tsr_store_upstream_done(s, 4, &removed), 0);
    assert_int_equal(removed, 2);
    assert_int_equal(s_waiting(s), 0);
    assert_int_equal(tsr_store_upstream_peek(s, 10, false, &b, &last), 0);
    assert_int_equal(last, 0);
    s_batch_free(&b);

    /* a purge: A (reported on day 20501) goes upstream as a retraction of v2 */
    uint64_t purged;
    assert_int_equal(tsr_store_purge(s, 20502, now, &purged), 0);
    assert_int_equal(purged, 1);
    assert_int_equal(tsr_store_upstream_peek(s, 10, false, &b, &last), 0);
    assert_int_equal(b.n_incidents, 0);
    assert_int_equal(b.n_retractions, 1);
    assert_int_equal(last, 5); /* the sequence goes on after the queue emptied */
    assert_memory_equal(b.retractions[0].record_id, A.record_id, TSR_RECORD_ID_LEN);
    assert_int_equal(b.retractions[0].version, 2);
    s_batch_free(&b);
    tsr_store_close(&s);

    /* without an upstream nothing is queued */
    tsr_store_t *plain = s_open("noupstream", 0);
    s_incident(&A, 1, 1, "E08000035");
    assert_int_equal(s_one(plain, &a, &A, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
    assert_int_equal(s_waiting(plain), 0);
    tsr_store_close(&plain);
}

/* Federation joined late (docs/FEDERATION.md, "Backfill"): a store first
 * opened with an upstream after it held records queues each record it
 * holds once (the replaced one at its version, the retracted one not), and
 * nothing on the next open; one whose backfill a crash interrupted resumes
 * after the record id it recorded, or starts over if changes were applied
 * meanwhile; one that forwarded before this existed sends its records too
 * (duplicates upstream at worst). */
static void s_three(tsr_store_t *s, const tsr_client_t *a)
{
    tsr_incident_t X;
    for (uint8_t id = 1; id <= 3; id++) {
        s_incident(&X, id, 1, "E08000035");
        assert_int_equal(s_one(s, a, &X, NULL, 0, NULL), TSR_OUTCOME_ACCEPTED);
    }
}

static void s_meta_put(tsr_store_t *s, const char *key, const void *val, size_t n)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_kv(s)), NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k = {strlen(key), (void *)key}, v = {n, (void *)val};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

/* meta[key] into out (at most cap bytes); returns its size */
static size_t s_meta_get(tsr_store_t *s, const char *key, void *out, size_t cap)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(tsr_kv_env(tsr_store_kv(s)), NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k = {strlen(key), (void *)key}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    size_t n = v.mv_size;
    memcpy(out, v.mv_data, n < cap ? n : cap);
    mdb_txn_abort(txn);
    return n;
}

/* The backfill's position "after record 1" as a crash would leave it, with
 * `applied` as it is (moved: one less). */
static void s_stopped_after_one(tsr_store_t *s, bool moved)
{
    uint8_t le[8], pos[TSR_RECORD_ID_LEN + 8];
    assert_int_equal(s_meta_get(s, "applied", le, sizeof le), 8);
    uint64_t applied = 0;
    for (int i = 7; i >= 0; i--)
        applied = applied << 8 | le[i];
    applied -= moved;
    memset(pos, 1, TSR_RECORD_ID_LEN);
    for (int i = 0; i < 8; i++)
        pos[TSR_RECORD_ID_LEN + i] = (uint8_t)(applied >> (56 - 8 * i));
    s_meta_put(s, "upstream_backfill", pos, sizeof pos);
}

/* Record ids (their first byte) and versions of the queue, "1:1 2:2 " */
static void s_queued(tsr_store_t *s, char *out, size_t cap)
{
    tsr_batch_t b;
    uint64_t last;
    assert_int_equal(tsr_store_upstream_peek(s, 10, false, &b, &last), 0);
    out[0] = 0;
    for (size_t i = 0; i < b.n_incidents; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%d:%u ", b.incidents[i].record_id[0],
                 b.incidents[i].version);
    assert_int_equal(b.n_retractions, 0);
    s_batch_free(&b);
}

enum { S_STOPPED, S_STOPPED_MOVED, S_FORWARDED };

/* Three records in a store without an upstream, left as `how` says; the
 * queue after it opens with one must be `want`. */
static void s_backfill_case(const char *name, int how, const char *want)
{
    char yh[][10] = {"E08000035"}, q[64];
    tsr_client_t a = s_client("leeds-cs-01", TSR_ROLE_AGENT, yh, 1);
    tsr_store_t *s = s_open(name, 0);
    s_three(s, &a);
    if (how == S_FORWARDED) {
        uint8_t acked[8] = {0, 0, 0, 0, 0, 0, 0, 9};
        s_meta_put(s, "upstream_acked", acked, sizeof acked);
    } else {
        s_stopped_after_one(s, how == S_STOPPED_MOVED);
    }
    tsr_store_close(&s);
    tsr_store_opts_t o = {.upstream = true};
    s = s_open_opts(name, &o);
    s_queued(s, q, sizeof q);
    assert_string_equal(q, want);
    tsr_store_close(&s);
}

static void test_upstream_backfill(void **state)
{
    (void)state;
    char yh[][10] = {"E08000035"}, q[64];
    tsr_client_t a = s_client("leeds-cs-01", TSR_ROLE_AGENT, yh, 1);
    tsr_store_t *s = s_open("backfill", 0);
    s_three(s, &a);
    tsr_incident_t B;
    s_incident(&B, 2, 2, "E08000035");
    assert_int_equal(s_one(s, &a, &B, NULL, 0, NULL), TSR_OUTCOME_REPLACED);
    uint8_t c_id[TSR_RECORD_ID_LEN];
    memset(c_id, 3, sizeof c_id);
    assert_int_equal(s_one(s, &a, NULL, c_id, 1, NULL), TSR_OUTCOME_RETRACTED);
    assert_int_equal(s_waiting(s), 0);
    tsr_store_close(&s);

    tsr_store_opts_t o = {.upstream = true};
    s = s_open_opts("backfill", &o);
    s_queued(s, q, sizeof q);
    assert_string_equal(q, "1:1 2:2 ");
    uint8_t mark[32];
    assert_int_equal(s_meta_get(s, "upstream_backfill", mark, sizeof mark), 1);
    assert_int_equal(mark[0], 1);
    tsr_store_close(&s);
    s = s_open_opts("backfill", &o);
    assert_int_equal(s_waiting(s), 2); /* once in the store's life */
    tsr_store_close(&s);

    /* a backfill that a crash stopped after record 1: 2 and 3 follow ... */
    s_backfill_case("backfill-resume", S_STOPPED, "2:1 3:1 ");
    /* ... but with changes applied since (without an upstream): all again */
    s_backfill_case("backfill-moved", S_STOPPED_MOVED, "1:1 2:1 3:1 ");
    /* forwarded before backfills existed (an acknowledged sequence): sent too */
    s_backfill_case("backfill-forwarded", S_FORWARDED, "1:1 2:1 3:1 ");

    /* 4,097 records: a chunk of 4,096, then one more in a second chunk */
    enum { N = 4097, PER = 1000 };
    s = s_open("backfill-chunks", 0);
    tsr_incident_t *incs = calloc(PER, sizeof *incs);
    tsr_store_item_t *items = calloc(PER, sizeof *items);
    assert_non_null(incs);
    assert_non_null(items);
    for (int from = 0; from < N; from += PER) {
        size_t n = from + PER <= N ? PER : (size_t)(N - from);
        for (size_t i = 0; i < n; i++) {
            s_unlinked(&incs[i], from + (int)i);
            items[i] = (tsr_store_item_t){.incident = &incs[i]};
        }
        tsr_store_batch_t batch = {.client = &a, .items = items, .n_items = n};
        assert_int_equal(tsr_store_apply(s, &batch, 1, 1700000000), 0);
    }
    free(incs);
    free(items);
    tsr_store_close(&s);
    s = s_open_opts("backfill-chunks", &o);
    assert_int_equal(s_waiting(s), N);
    assert_int_equal(s_meta_get(s, "upstream_backfill", mark, sizeof mark), 1);
    tsr_store_close(&s);

    /* records under network key 7 (pinned), then the region configures key
     * 8 only: upstream would refuse key 7 and hold the queue, so none goes */
    s = s_open("backfill-retired", 0);
    s_three(s, &a);
    tsr_store_close(&s);
    tsr_store_opts_t o8 = {.upstream = true, .network_keys = {{{8, 0}}, 1}};
    s = s_open_opts("backfill-retired", &o8);
    assert_int_equal(s_waiting(s), 0);
    assert_int_equal(s_meta_get(s, "upstream_backfill", mark, sizeof mark), 1);
    tsr_store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_purge),
        cmocka_unit_test(test_audit_moved),
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_fixture_v1),
        cmocka_unit_test(test_fixture_v2),
        cmocka_unit_test(test_format_newer),
        cmocka_unit_test(test_network_keys),
        cmocka_unit_test(test_group_commit_and_indexes),
        cmocka_unit_test(test_prerejected_items_count),
        cmocka_unit_test(test_ingest_log),
        cmocka_unit_test(test_drain_time_bound),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_log_gap),
        cmocka_unit_test(test_largest_record),
        cmocka_unit_test(test_audit_damaged),
        cmocka_unit_test(test_map_at_max),
        cmocka_unit_test(test_damaged_record),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_relay_agency),
        cmocka_unit_test(test_upstream_queue),
        cmocka_unit_test(test_upstream_backfill),
    };
    return cmocka_run_group_tests_name("store", tests, s_setup, tsr_test_dir_remove);
}
