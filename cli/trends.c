/* trends.c - `tessera trends`: counts by one or two dimensions, with the
 * collector's disclosure control applied before anything arrives here. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "table.h"
#include "tessera/record.h"

static const char s_usage[] =
    "usage: tessera trends --by DIM[,DIM] --server-key COLLECTOR.pub --key NAME.key\n"
    "                      [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--area CODE]\n"
    "                      [--region CODE] [--platform NAME] [--where DIM=VALUE]...\n"
    "                      [--format table|csv|json] [--collector ENDPOINT]\n"
    "\n"
    "Counts of incidents by one or two dimensions: area, region, week, month,\n"
    "agency_type, age_band, gender, contact_platform, moved_to_platform, demand,\n"
    "payment_method, tactic, risk, action, paid, amount_band. Lists (platforms,\n"
    "demands, tactics...) count a record once per value it holds.\n"
    "\n"
    "Every count is released by the collector's cell-key method: it may differ\n"
    "from the true count by a little (at most the collector's max_deviation,\n"
    "5 by default) and is never 1 to k-1; the same records always give the same\n"
    "number, so repeating or reshaping a query tells nothing new. Totals (the\n"
    "Total row and column; an empty key in CSV, null in JSON) are perturbed on\n"
    "their own, so they need not equal the sum of their cells. Periods are whole\n"
    "ISO weeks, Monday to Sunday: --since and --until are widened to them, and\n"
    "a month is the weeks whose Thursday falls in it. Analysts see their own\n"
    "areas only, within a daily budget of distinct queries. docs/PRIVACY.md\n"
    "explains.\n"
    "\n"
    "  --where DIM=VALUE     only records with that value (repeatable); --area,\n"
    "                        --region and --platform (contact platform) are short\n"
    "                        for --where area=, region=, contact_platform=\n" CLI_CONN_USAGE;

static bool s_filter(tsr_query_t *q, const char *dim, const char *value)
{
    int d = tsr_dimension_parse(dim);
    if (!d || q->n_filters == TSR_QUERY_MAX_FILTERS || strlen(value) >= sizeof q->filters[0].value) {
        fprintf(stderr, "tessera trends: '%s=%s' is not a filter (dimension unknown or too many)\n",
                dim, value);
        return false;
    }
    q->filters[q->n_filters].dimension = d;
    snprintf(q->filters[q->n_filters++].value, sizeof q->filters[0].value, "%s", value);
    return true;
}

/* The sentence every table carries (docs/PRIVACY.md). */
static void s_method_note(FILE *fp, const tsr_response_t *r)
{
    if (r->max_deviation == 0)
        return; /* an older collector: its own marks say what was hidden */
    fprintf(fp, "Counts are released by the cell-key method: each may differ from the true count "
                "by up to %u and is never 1 to %u; the same records always give the same number, "
                "and totals are perturbed on their own, so they need not add up.\n",
            r->max_deviation, r->k > 0 ? r->k - 1 : 0);
}

/* Index of name in names[0..n) (every key of the response is there). */
static size_t s_slot(const char **names, size_t n, const char *name)
{
    size_t i = 0;
    while (i + 1 < n && strcmp(names[i], name) != 0)
        i++;
    return i;
}

static void s_print_json(const tsr_response_t *r, size_t n_by, const char **dims)
{
    char t[32];
    json_t *o = json_object(), *cells = json_array();
    json_object_set_new(o, "k", json_integer(r->k));
    json_object_set_new(o, "max_deviation", json_integer(r->max_deviation));
    json_object_set_new(o, "variance", json_real(r->variance));
    for (size_t i = 0; i < r->n_cells; i++) {
        json_t *c = json_object();
        for (size_t d = 0; d < n_by; d++) /* null: the total over this dimension */
            json_object_set_new(c, dims[d], r->cells[i].keys[d][0]
                                                ? json_string(r->cells[i].keys[d])
                                                : json_null());
        cli_cell_text(t, sizeof t, &r->cells[i], r->k, false);
        json_object_set_new(c, "count", r->cells[i].suppressed
                                            ? json_string(t)
                                            : json_integer((json_int_t)r->cells[i].count));
        json_array_append_new(cells, c);
    }
    json_object_set_new(o, "cells", cells);
    char *text = json_dumps(o, JSON_INDENT(1));
    if (text)
        puts(text);
    free(text);
    json_decref(o);
}

/* A cross table: rows of the first dimension, columns of the second, with
 * the totals the collector released as the last row and column. */
static void s_print_cross(const tsr_response_t *r, const char **dims)
{
    const char **rows = calloc(r->n_cells + 2, sizeof *rows),
               **cols = calloc(r->n_cells + 2, sizeof *cols);
    const tsr_trend_cell_t **at = NULL;
    size_t nr = 0, nc = 0;
    if (rows && cols) { /* totals ("") last */
        nr = cli_trends_axis(r, 0, rows, r->n_cells);
        nc = cli_trends_axis(r, 1, cols, r->n_cells);
        rows[nr++] = "";
        cols[nc++] = "";
        at = calloc(nr * nc, sizeof *at);
    }
    if (!rows || !cols || !at) {
        fprintf(stderr, "tessera trends: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < r->n_cells; i++)
        at[s_slot(rows, nr, r->cells[i].keys[0]) * nc + s_slot(cols, nc, r->cells[i].keys[1])] =
            &r->cells[i];
    /* every column as wide as its name or widest count, none cut */
    int w = (int)strlen(dims[0]), cw = 5; /* "Total" */
    for (size_t i = 0; i < nr; i++)
        w = (int)strlen(rows[i]) > w ? (int)strlen(rows[i]) : w;
    for (size_t j = 0; j < nc; j++)
        cw = (int)strlen(cols[j]) > cw ? (int)strlen(cols[j]) : cw;
    printf("%-*s", w, dims[0]);
    for (size_t j = 0; j < nc; j++)
        printf("  %*s", cw, cols[j][0] ? cols[j] : "Total");
    putchar('\n');
    for (size_t i = 0; i < nr; i++) {
        printf("%-*s", w, rows[i][0] ? rows[i] : "Total");
        for (size_t j = 0; j < nc; j++) {
            char t[32] = "";
            if (at[i * nc + j])
                cli_cell_text(t, sizeof t, at[i * nc + j], r->k, false);
            printf("  %*s", cw, t);
        }
        putchar('\n');
    }
out:
    free(rows);
    free(cols);
    free(at);
}

static void s_print(const tsr_response_t *r, size_t n_by, const char *format, const char **dims)
{
    char t[32];
    if (!strcmp(format, "json")) {
        s_print_json(r, n_by, dims);
        return;
    }
    if (!strcmp(format, "csv")) { /* an empty key is the total over that dimension */
        printf("%s%s%s,count\n", dims[0], n_by > 1 ? "," : "", n_by > 1 ? dims[1] : "");
        for (size_t i = 0; i < r->n_cells; i++)
            printf("%s%s%s,%s\n", r->cells[i].keys[0], n_by > 1 ? "," : "",
                   n_by > 1 ? r->cells[i].keys[1] : "",
                   cli_cell_text(t, sizeof t, &r->cells[i], r->k, false));
        return;
    }
    if (n_by == 1) {
        const cli_col_t tcols[] = {{dims[0], CLI_COL_TEXT, false}, {"count", CLI_COL_TEXT, true}};
        cli_table_t *tab = NULL;
        int rc = cli_table_new(&tab, tcols, 2);
        for (size_t i = 0; rc == 0 && i < r->n_cells; i++)
            rc = cli_table_add(tab, (const char *[]){r->cells[i].keys[0][0] ? r->cells[i].keys[0]
                                                                            : "Total",
                                                     cli_cell_text(t, sizeof t, &r->cells[i], r->k,
                                                                   false)});
        cli_table_finish("trends", &tab, rc, CLI_FORMAT_TABLE);
    } else {
        s_print_cross(r, dims);
    }
    s_method_note(stdout, r);
}

int cli_cmd_trends(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_CONN_LONG_OPTIONS,
        {"by", required_argument, NULL, 'b'},
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"area", required_argument, NULL, 'a'},
        {"region", required_argument, NULL, 'r'},
        {"platform", required_argument, NULL, 'p'},
        {"where", required_argument, NULL, 'w'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    cli_conn_opts_t co;
    cli_conn_defaults(&co);
    tsr_msg_t req = {.kind = TSR_MSG_QUERY}, reply;
    tsr_query_t *q = &req.u.query;
    q->request_id = 1;
    q->kind = TSR_QUERY_TRENDS;
    const char *format = "table", *dims[2] = {NULL, NULL};
    char by[128] = "";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (cli_conn_option(&co, c, optarg))
            continue;
        switch (c) {
        case 'b': snprintf(by, sizeof by, "%s", optarg); break;
        case 's':
        case 'u':
            if (tsr_day_parse(optarg, c == 's' ? &q->since_day : &q->until_day) != 0) {
                fprintf(stderr, "tessera trends: '%s' is not a date (YYYY-MM-DD)\n", optarg);
                return 2;
            }
            break;
        case 'a':
            if (!s_filter(q, "area", optarg))
                return 2;
            break;
        case 'r':
            if (!s_filter(q, "region", optarg))
                return 2;
            break;
        case 'p':
            if (!s_filter(q, "contact_platform", optarg))
                return 2;
            break;
        case 'w': {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                fprintf(stderr, "tessera trends: --where wants DIM=VALUE, not '%s'\n", optarg);
                return 2;
            }
            *eq = '\0';
            if (!s_filter(q, optarg, eq + 1))
                return 2;
            break;
        }
        case 'f': format = optarg; break;
        case 'h': fputs(s_usage, stdout); return 0;
        default: fputs(s_usage, stderr); return 2;
        }
    }
    char *comma = strchr(by, ',');
    if (comma)
        *comma = '\0';
    dims[0] = by;
    dims[1] = comma ? comma + 1 : NULL;
    q->n_by = comma ? 2 : 1;
    q->by[0] = tsr_dimension_parse(dims[0]);
    q->by[1] = comma ? tsr_dimension_parse(dims[1]) : 0;
    if (!by[0] || !q->by[0] || (comma && !q->by[1]) || optind != argc ||
        (strcmp(format, "table") && strcmp(format, "csv") && strcmp(format, "json"))) {
        fprintf(stderr, "tessera trends: %s\n\n%s",
                !by[0] ? "--by is required" : "unknown dimension or format", s_usage);
        return 2;
    }
    if (!cli_conn_complete(&co, "trends"))
        return 2;
    int rc = cli_request("trends", &co, &req, &reply);
    if (rc == 0)
        s_print(&reply.u.response, q->n_by, format, dims);
    tsr_msg_clear(&reply);
    return rc;
}
