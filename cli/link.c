/* link.c - `tessera lookup` and `tessera cluster`: police liaison asking
 * whether an identifier is known, and what a cluster holds. The identifier
 * is canonicalised and tokenised here with the network key; only its token
 * leaves the client. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "table.h"
#include "tessera/canon.h"
#include "tessera/client.h"
#include "tessera/netkeys.h"
#include "tessera/record.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/token.h"

static const char s_lookup_usage[] =
    "usage: tessera lookup --kind KIND --network-key FILE --server-key COLLECTOR.pub\n"
    "                      --key NAME.key [--next-network-key FILE] [--country-code CC]\n"
    "                      [--format table|csv|json] [--collector ENDPOINT] VALUE\n"
    "\n"
    "Says whether an offender identifier is known to the collector: the cluster\n"
    "it is in, its size, areas, agencies, record ids and first/last reported day.\n"
    "VALUE is canonicalised and keyed here with the network key; it never leaves\n"
    "this machine. Liaison role only.\n"
    "\n"
    "  --kind KIND           phone, email, handle:PLATFORM, bank:uk, bank:iban,\n"
    "                        payment:SERVICE, crypto:btc, crypto:eth, url (a profile\n"
    "                        URL may use just 'handle')\n"
    "  --network-key FILE    the network key agencies use (network.key)\n"
    "  --next-network-key F  during a key rotation, the new key as well\n"
    "  --country-code CC     for national phone numbers (default 44)\n"
    "  --format F            table (default, for people), csv (a header and one row)\n"
    "                        or json (one object)\n" CLI_CONN_USAGE
    "7 wrong network key: the collector accepts another than --network-key's\n"
    "(nothing is looked up).\n";

static const char s_cluster_usage[] =
    "usage: tessera cluster --server-key COLLECTOR.pub --key NAME.key\n"
    "                       [--format table|csv|json] [--collector ENDPOINT] CLUSTER_ID\n"
    "\n"
    "Lists a cluster's records (id, agency, area, reported day, age band,\n"
    "platforms, demands, tactics) and the identifier kinds that join each to the\n"
    "others. Liaison role only. Ask the agency to resolve a record id.\n"
    "\n"
    "  --format F            table (default), csv (one row per record) or json\n"
    "                        ({\"cluster\": ID, \"records\": [...]})\n" CLI_CONN_USAGE;

/* Loads a network key and adds the token of (kind, canonical) under it. */
static int s_token(const char *path, const char *kind, const char *canon, tsr_token_t *out)
{
    tsr_netkey_t key;
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    if (tsr_netkey_load(&key, path, &err) != 0) {
        fprintf(stderr, "tessera lookup: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return 1;
    }
    snprintf(out->kind, sizeof out->kind, "%s", kind);
    out->key_id = key.key_id;
    int rc = tsr_token_compute(out->token, &key, kind, canon);
    tsr_netkey_clear(&key); /* frees the MAC context and wipes the key */
    if (rc != 0)
        fprintf(stderr, "tessera lookup: could not compute the token\n");
    return rc != 0;
}

/* The columns of a lookup's csv and json rows. */
static const cli_col_t s_lookup_cols[] = {
    {"kind", CLI_COL_TEXT, false},          {"value", CLI_COL_TEXT, false},
    {"known", CLI_COL_BOOL, false},         {"cluster", CLI_COL_INT, false},
    {"cluster_records", CLI_COL_INT, false}, {"areas", CLI_COL_LIST, false},
    {"agencies", CLI_COL_LIST, false},      {"first_reported", CLI_COL_TEXT, false},
    {"last_reported", CLI_COL_TEXT, false}, {"record_ids", CLI_COL_LIST, false},
};
#define S_LOOKUP_COLS (sizeof s_lookup_cols / sizeof s_lookup_cols[0])

/* A lookup's answer for people. */
static void s_lookup_text(const tsr_response_t *r, const char *kind, const char *canon)
{
    if (!r->known) {
        printf("%s %s: not known to the collector\n", kind, canon);
        return;
    }
    char d1[11], d2[11];
    printf("%s %s: known\n", kind, canon);
    if (r->cluster_id)
        printf("  cluster:   %" PRIu64 " (%u record%s in %zu area%s from %zu agenc%s)\n",
               r->cluster_id, r->cluster_records, r->cluster_records == 1 ? "" : "s", r->n_areas,
               r->n_areas == 1 ? "" : "s", r->n_agencies, r->n_agencies == 1 ? "y" : "ies");
    else
        printf("  cluster:   none (1 record in 1 area from 1 agency; it shares no other "
               "identifier)\n");
    printf("  areas:     ");
    cli_print_areas(stdout, r->areas, r->n_areas);
    printf("\n  agencies:  ");
    for (size_t i = 0; i < r->n_agencies; i++)
        printf("%s%s", i ? ", " : "", r->agencies[i]);
    printf("\n  reported:  %s to %s\n  records:   ", cli_day(d1, r->first_day),
           cli_day(d2, r->last_day));
    cli_print_ids(stdout, "             ", r->record_ids, r->n_record_ids);
}

/* A lookup's answer as one csv row or one json object. Returns the exit
 * code. */
static int s_lookup_rows(const tsr_response_t *r, const char *kind, const char *canon,
                         cli_format_t f)
{
    char *areas = NULL, *agencies = NULL, *ids = NULL, cid[24] = "", n[16] = "", d1[11] = "",
         d2[11] = "", hex[2 * TSR_RECORD_ID_LEN + 1];
    size_t len;
    FILE *fa = open_memstream(&areas, &len), *fg = open_memstream(&agencies, &len),
         *fi = open_memstream(&ids, &len);
    int rc = 1;
    if (!fa || !fg || !fi)
        goto out;
    for (size_t i = 0; r->known && i < r->n_areas; i++)
        fprintf(fa, "%s%s", i ? "," : "", r->areas[i]);
    for (size_t i = 0; r->known && i < r->n_agencies; i++)
        fprintf(fg, "%s%s", i ? "," : "", r->agencies[i]);
    for (size_t i = 0; r->known && i < r->n_record_ids; i++)
        fprintf(fi, "%s%s", i ? "," : "", tsr_hex_encode(hex, r->record_ids[i], TSR_RECORD_ID_LEN));
    fclose(fa);
    fclose(fg);
    fclose(fi);
    fa = fg = fi = NULL;
    if (r->known && r->cluster_id)
        snprintf(cid, sizeof cid, "%" PRIu64, r->cluster_id);
    if (r->known)
        snprintf(n, sizeof n, "%u", r->cluster_id ? r->cluster_records : 1u);
    if (r->known) {
        cli_day(d1, r->first_day);
        cli_day(d2, r->last_day);
    }
    const char *row[S_LOOKUP_COLS] = {kind, canon, r->known ? "yes" : "no", cid, n, areas,
                                      agencies, d1, d2, ids};
    cli_table_t *t = NULL;
    if (cli_table_new(&t, s_lookup_cols, S_LOOKUP_COLS) != 0 || cli_table_add(t, row) != 0) {
        cli_table_destroy(&t);
        goto out;
    }
    if (f == CLI_FORMAT_JSON) { /* one object, not an array of one */
        json_t *arr = cli_table_json(t);
        char *text = arr ? json_dumps(json_array_get(arr, 0), JSON_INDENT(1)) : NULL;
        if (text)
            puts(text);
        free(text);
        json_decref(arr);
        rc = text ? 0 : 1;
    } else {
        rc = cli_table_print(t, f, stdout) == 0 ? 0 : 1;
    }
    cli_table_destroy(&t);
out:
    if (fa)
        fclose(fa);
    if (fg)
        fclose(fg);
    if (fi)
        fclose(fi);
    free(areas);
    free(agencies);
    free(ids);
    if (rc != 0)
        fprintf(stderr, "tessera lookup: out of memory\n");
    return rc;
}

int cli_cmd_lookup(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"kind", required_argument, NULL, 't'},
        {"network-key", required_argument, NULL, 'n'},
        {"next-network-key", required_argument, NULL, 'N'},
        {"country-code", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    cli_conn_opts_t co;
    cli_conn_defaults(&co);
    const char *kind = NULL, *netkey = NULL, *next = NULL;
    cli_format_t format = CLI_FORMAT_TABLE;
    tsr_canon_opts_t copts = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_conn_option(&co, c, optarg))
            continue;
        switch (c) {
        case 't': kind = optarg; break;
        case 'n': netkey = optarg; break;
        case 'N': next = optarg; break;
        case 'c': copts.default_country_code = optarg; break;
        case 'f':
            if (cli_format_option("lookup", optarg, &format) != 0)
                return 2;
            break;
        case 'h': fputs(s_lookup_usage, stdout); return 0;
        default: fputs(s_lookup_usage, stderr); return 2;
        }
    }
    if (!kind || !netkey || optind != argc - 1) {
        fputs(s_lookup_usage, stderr);
        return 2;
    }
    if (!cli_conn_complete(&co, "lookup"))
        return 2;
    char kind_out[TSR_KIND_MAX], canon[TSR_CANON_MAX], msg[768];
    tsr_error_t err;
    tsr_error_clear(&err);
    if (tsr_canon(kind, argv[optind], &copts, kind_out, sizeof kind_out, canon, sizeof canon,
                  &err) != 0) {
        fprintf(stderr, "tessera lookup: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return 1;
    }
    tsr_token_t toks[2];
    size_t n = 0;
    if (s_token(netkey, kind_out, canon, &toks[n++]) != 0 ||
        (next && s_token(next, kind_out, canon, &toks[n++]) != 0))
        return 1;
    tsr_msg_t req = {.kind = TSR_MSG_QUERY}, reply;
    req.u.query.request_id = 1;
    req.u.query.kind = TSR_QUERY_LOOKUP;
    req.u.query.tokens = toks;
    req.u.query.n_tokens = n;
    int rc = cli_request("lookup", &co, &req, &reply);
    if (rc == TSR_EXIT_WRONG_NETWORK_KEY) {
        char ids[96];
        tsr_netkeys_format_ids(&reply.u.response.network_keys, ids, sizeof ids);
        for (size_t i = 0; i < n; i++)
            if (!tsr_netkeys_accepts(&reply.u.response.network_keys, toks[i].key_id,
                                     tsr_day_today()))
                fprintf(stderr, "tessera lookup: %s %s has key id %u, but the collector accepts "
                                "only %s: nothing was looked up. Use the network's key (key id "
                                "%s), the one the agencies hold.\n",
                        i == 0 ? "--network-key" : "--next-network-key", i == 0 ? netkey : next,
                        toks[i].key_id, ids, ids);
    }
    if (rc != 0) {
        tsr_msg_clear(&reply);
        return rc;
    }
    const tsr_response_t *r = &reply.u.response;
    if (format == CLI_FORMAT_TABLE)
        s_lookup_text(r, kind_out, canon);
    else
        rc = s_lookup_rows(r, kind_out, canon, format);
    tsr_msg_clear(&reply);
    return rc;
}

/* Names of the bits set in mask, comma-separated, into out. */
static const char *s_names(tsr_codes_list_t list, uint32_t mask, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (int v = 1; v <= TSR_CODES_MAX_VALUE; v++) {
        const char *name = mask & (1u << v) ? tsr_codes_name(list, v) : NULL;
        if (name)
            n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", n ? "," : "", name);
    }
    return out;
}

static const cli_col_t s_cluster_cols[] = {
    {"record", CLI_COL_TEXT, false},   {"agency", CLI_COL_TEXT, false},
    {"area", CLI_COL_TEXT, false},     {"reported", CLI_COL_TEXT, false},
    {"age", CLI_COL_TEXT, false},      {"linked_by", CLI_COL_LIST, false},
    {"platforms", CLI_COL_LIST, false}, {"demands", CLI_COL_LIST, false},
    {"tactics", CLI_COL_LIST, false},
};
#define S_CLUSTER_COLS (sizeof s_cluster_cols / sizeof s_cluster_cols[0])

/* A cluster's records in format f: a table (columns as wide as their
 * widest cell) under a line naming the cluster, CSV rows, or one JSON
 * object. Returns the exit code. */
static int s_cluster_print(const tsr_response_t *r, cli_format_t f)
{
    cli_table_t *t = NULL;
    int rc = cli_table_new(&t, s_cluster_cols, S_CLUSTER_COLS);
    for (size_t i = 0; rc == 0 && i < r->n_records; i++) {
        const tsr_cluster_record_t *x = &r->records[i];
        char hex[2 * TSR_RECORD_ID_LEN + 1], day[11], p[256], d[256], tt[256], k[256] = "";
        for (size_t j = 0; j < x->n_token_kinds; j++)
            snprintf(k + strlen(k), sizeof k - strlen(k), "%s%s", j ? "," : "",
                     x->token_kinds[j]);
        const char *age = tsr_codes_name(TSR_CODES_AGE_BAND, x->age_band);
        const char *row[S_CLUSTER_COLS] = {
            tsr_hex_encode(hex, x->record_id, TSR_RECORD_ID_LEN), x->agency_id, x->area_code,
            cli_day(day, x->reported_day), age ? age : "?", k,
            s_names(TSR_CODES_PLATFORM, x->contact_platforms, p, sizeof p),
            s_names(TSR_CODES_DEMAND, x->demands, d, sizeof d),
            s_names(TSR_CODES_TACTIC, x->tactics, tt, sizeof tt)};
        rc = cli_table_add(t, row);
    }
    if (rc == 0 && f == CLI_FORMAT_JSON) {
        json_t *o = json_object(), *recs = cli_table_json(t);
        char *text = NULL;
        if (o && recs && json_object_set_new(o, "cluster", json_integer((json_int_t)r->cluster_id)) == 0 &&
            json_object_set(o, "records", recs) == 0)
            text = json_dumps(o, JSON_INDENT(1));
        if (text)
            puts(text);
        else
            rc = TSR_ENOMEM;
        free(text);
        json_decref(recs);
        json_decref(o);
    } else if (rc == 0) {
        if (f == CLI_FORMAT_TABLE)
            printf("cluster %" PRIu64 ": %zu record%s\n", r->cluster_id, r->n_records,
                   r->n_records == 1 ? "" : "s");
        rc = cli_table_print(t, f, stdout);
    }
    cli_table_destroy(&t);
    if (rc != 0)
        fprintf(stderr, "tessera cluster: %s\n", tsr_strerror(rc));
    return rc != 0;
}

int cli_cmd_cluster(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    cli_conn_opts_t co;
    cli_conn_defaults(&co);
    cli_format_t format = CLI_FORMAT_TABLE;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_conn_option(&co, c, optarg))
            continue;
        if (c == 'h') {
            fputs(s_cluster_usage, stdout);
            return 0;
        }
        if (c == 'f') {
            if (cli_format_option("cluster", optarg, &format) != 0)
                return 2;
            continue;
        }
        fputs(s_cluster_usage, stderr);
        return 2;
    }
    char *end;
    errno = 0;
    uint64_t cid = optind == argc - 1 ? strtoull(argv[optind], &end, 10) : 0;
    if (optind != argc - 1 || errno || *end || cid == 0) {
        fputs(s_cluster_usage, stderr);
        return 2;
    }
    if (!cli_conn_complete(&co, "cluster"))
        return 2;
    tsr_msg_t req = {.kind = TSR_MSG_QUERY}, reply;
    req.u.query.request_id = 1;
    req.u.query.kind = TSR_QUERY_CLUSTER;
    req.u.query.cluster_id = cid;
    int rc = cli_request("cluster", &co, &req, &reply);
    if (rc == 0)
        rc = s_cluster_print(&reply.u.response, format);
    tsr_msg_clear(&reply);
    return rc;
}
