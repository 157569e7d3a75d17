/* bench_trends.c - what the cell-key method costs a trend query (issue 14):
 * N records (default 1,000,000; argv[1]) of 24 areas of one region over two
 * years written straight into an area/day index as the store writes it,
 * then each query shape answered with the perturbation and without (true
 * counts, which only a benchmark may ask for), interleaved, several times.
 * Prints the median milliseconds of each and the difference. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "tessera/ckm.h"
#include "tessera/codes.h"
#include "trends.h"

static double s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static unsigned long s_state = 2026;
static uint32_t s_rand(void)
{
    s_state = s_state * 6364136223846793005ul + 1442695040888963407ul;
    return (uint32_t)(s_state >> 33);
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void s_check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench_trends: %s: %d\n", what, rc);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    char dir[] = "/tmp/tsr-bench-trends-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    s_check(mdb_env_create(&env), "env");
    mdb_env_set_mapsize(env, (size_t)4 << 30);
    mdb_env_set_maxdbs(env, 4);
    s_check(mdb_env_open(env, dir, MDB_NOSYNC, 0600), "open");
    /* the areas of Yorkshire and The Humber, and more of the North West */
    const char *areas[24];
    int na = 0;
    for (int i = 0; i < tsr_area_count() && na < 24; i++) {
        const tsr_area_t *a = tsr_area_at(i);
        if (!strcmp(a->region_code, "E12000003") || !strcmp(a->region_code, "E12000002"))
            areas[na++] = a->code;
    }
    int32_t today = tsr_day_today(), first = today - 730;
    double t0 = s_ms();
    for (long done = 0; done < n;) {
        s_check(mdb_txn_begin(env, NULL, 0, &txn), "txn");
        s_check(mdb_dbi_open(txn, "by_area_day", MDB_CREATE, &dbi), "dbi");
        for (long i = 0; i < 100000 && done < n; i++, done++) {
            tsr_incident_t inc;
            memset(&inc, 0, sizeof inc);
            snprintf(inc.area_code, sizeof inc.area_code, "%s", areas[s_rand() % (uint32_t)na]);
            inc.reported_day = first + (int32_t)(s_rand() % 730);
            inc.agency_type = 1 + (int)(s_rand() % 4);
            inc.age_band = 1 + (int)(s_rand() % 4);
            inc.gender = 1 + (int)(s_rand() % 4);
            inc.paid = 1 + (int)(s_rand() % 3);
            inc.amount_demanded_band = 1 + (int)(s_rand() % 4);
            inc.contact_platforms = 1u << (1 + s_rand() % 8) | 1u << (1 + s_rand() % 8);
            inc.moved_to_platforms = 1u << (1 + s_rand() % 8);
            inc.demands = 1u << (1 + s_rand() % 3);
            inc.payment_methods = 1u << (1 + s_rand() % 4);
            inc.tactics = 1u << (1 + s_rand() % 5);
            uint8_t key[9 + 4 + TSR_RECORD_ID_LEN] = {0}, prof[TSR_PROFILE_LEN];
            memcpy(key, inc.area_code, strnlen(inc.area_code, 9));
            tsr_bytes_day(key + 9, inc.reported_day);
            for (size_t b = 0; b < TSR_RECORD_ID_LEN; b++)
                key[13 + b] = (uint8_t)s_rand();
            MDB_val k = {sizeof key, key}, v = {tsr_profile_pack(prof, &inc, s_rand()), prof};
            s_check(mdb_put(txn, dbi, &k, &v, 0), "put");
        }
        s_check(mdb_txn_commit(txn), "commit");
    }
    printf("bench_trends: %ld records in %d areas over 730 days, written in %.1f s\n", n, na,
           (s_ms() - t0) / 1000);
    tsr_ckm_table_t table;
    s_check(tsr_ckm_table_build(&table, 5, 5, 4, NULL, 0), "table");
    tsr_client_t analyst;
    memset(&analyst, 0, sizeof analyst);
    analyst.role = TSR_ROLE_ANALYST;
    analyst.all_areas = true;
    static const struct {
        const char *name;
        int by0, by1;
        const char *filter_dim, *filter_value;
    } shapes[] = {
        {"--by area", 1, 0, NULL, NULL},
        {"--by week", 3, 0, NULL, NULL},
        {"--by month,contact_platform", 4, 8, NULL, NULL},
        {"--by area,week --region E12000003", 1, 3, "region", "E12000003"},
        {"--by age_band,gender --where tactic=...", 6, 7, "tactic", NULL},
    };
    printf("%-42s %12s %12s %9s\n", "query (all records, two years)", "true ms", "ckm ms",
           "added");
    s_check(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), "read txn");
    s_check(mdb_dbi_open(txn, "by_area_day", 0, &dbi), "dbi");
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        tsr_query_t q;
        memset(&q, 0, sizeof q);
        q.kind = TSR_QUERY_TRENDS;
        q.by[0] = shapes[s].by0;
        q.by[1] = shapes[s].by1;
        q.n_by = shapes[s].by1 ? 2 : 1;
        if (shapes[s].filter_dim) {
            q.filters[0].dimension = tsr_dimension_parse(shapes[s].filter_dim);
            snprintf(q.filters[0].value, sizeof q.filters[0].value, "%s",
                     shapes[s].filter_value ? shapes[s].filter_value
                                            : tsr_codes_name(TSR_CODES_TACTIC, 1));
            q.n_filters = 1;
        }
        double ms[2][64];
        for (int r = 0; r < runs && r < 64; r++)
            for (int with = 0; with < 2; with++) {
                tsr_trends_opts_t o = {.k = 5, .table = with ? &table : NULL,
                                       .first_day = first, .today = today};
                tsr_response_t resp;
                memset(&resp, 0, sizeof resp);
                char why[256];
                double a = s_ms();
                int rc = tsr_trends(txn, dbi, &q, &analyst, &o, &resp, why, sizeof why);
                ms[with][r] = s_ms() - a;
                if (rc != 0) {
                    fprintf(stderr, "bench_trends: %s: %s\n", shapes[s].name, why);
                    return 1;
                }
                free(resp.cells);
            }
        qsort(ms[0], (size_t)runs, sizeof ms[0][0], s_cmp);
        qsort(ms[1], (size_t)runs, sizeof ms[1][0], s_cmp);
        double t = ms[0][runs / 2], c = ms[1][runs / 2], added = 100 * (c - t) / t;
        worst = added > worst ? added : worst;
        printf("%-42s %12.1f %12.1f %8.1f%%\n", shapes[s].name, t, c, added);
    }
    printf("bench_trends: median of %d runs each; largest added time %.1f%% (target < 10%%)\n",
           runs, worst);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
