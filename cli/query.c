/* query.c - what every `tessera` query command shares: the connection
 * options, one request/reply with a clear error, and printing helpers. */
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "cli.h"
#include "tessera/client.h"
#include "tessera/codes.h"
#include "tessera/err.h"
#include "tessera/record.h"
#include "tessera/token.h"

void cli_conn_defaults(cli_conn_opts_t *o)
{
    o->endpoint = "tcp://127.0.0.1:7702";
    o->alerts_endpoint = "tcp://127.0.0.1:7703";
    o->server = NULL;
    o->key = NULL;
}

bool cli_conn_option(cli_conn_opts_t *o, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_COLLECTOR: o->endpoint = arg; return true;
    case CLI_OPT_ALERTS: o->alerts_endpoint = arg; return true;
    case CLI_OPT_SERVER_KEY: o->server = arg; return true;
    case CLI_OPT_KEY: o->key = arg; return true;
    default: return false;
    }
}

bool cli_conn_complete(const cli_conn_opts_t *o, const char *cmd)
{
    if (o->server && o->key)
        return true;
    fprintf(stderr, "tessera %s: --server-key COLLECTOR.pub and --key NAME.key are required\n",
            cmd);
    return false;
}

/* The role a command is for, as its authorized_clients line shows it. */
static const char *s_line_for(const char *cmd)
{
    static const struct {
        const char *cmd, *line;
    } lines[] = {
        {"stats", "admin YOUR-ID *"},          {"audit", "admin YOUR-ID *"},
        {"admin purge", "admin YOUR-ID *"},    {"trends", "analyst YOUR-ID REGION"},
        {"report", "analyst YOUR-ID REGION"},  {"lookup", "liaison YOUR-ID *"},
        {"cluster", "liaison YOUR-ID *"},      {"alerts", "liaison YOUR-ID *"},
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strcmp(cmd, lines[i].cmd))
            return lines[i].line;
    return "ROLE YOUR-ID AREAS";
}

int cli_conn_why(const char *cmd, const cli_conn_opts_t *o, const tsr_conn_t *conn, char *why,
                 size_t cap)
{
    (void)o;
    tsr_conn_hint_t h = {
        .who = "your",
        .endpoint_from = "--collector",
        .server_key_from = "--server-key",
        .client_line = s_line_for(cmd),
    };
    tsr_conn_explain(conn, &h, why, cap);
    return tsr_conn_exit_code(tsr_conn_failure(conn));
}

int cli_conn_failed(const char *cmd, const cli_conn_opts_t *o, const tsr_conn_t *conn)
{
    char why[1536];
    int code = cli_conn_why(cmd, o, conn, why, sizeof why);
    fprintf(stderr, "tessera %s: %s\n", cmd, why);
    return code;
}

int cli_request(const char *cmd, const cli_conn_opts_t *o, const tsr_msg_t *req, tsr_msg_t *reply)
{
    void *ctx = zmq_ctx_new();
    tsr_conn_t *conn = NULL;
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    memset(reply, 0, sizeof *reply);
    int rc = tsr_conn_open(&conn, ctx, o->endpoint, o->server, o->key, &err);
    if (rc == 0)
        rc = tsr_conn_request(conn, req, reply, 5000, &err);
    int exit_code = 1;
    if (rc != 0 && conn && tsr_conn_failure(conn) != TSR_CONN_ANSWERED) {
        exit_code = cli_conn_failed(cmd, o, conn);
    } else if (rc != 0) {
        fprintf(stderr, "tessera %s: %s\n", cmd, tsr_error_format(&err, msg, sizeof msg));
    } else if (reply->kind != TSR_MSG_RESPONSE) {
        fprintf(stderr, "tessera %s: unexpected reply from the collector\n", cmd);
    } else if (reply->u.response.status == TSR_QSTATUS_WRONG_NETWORK_KEY) {
        fprintf(stderr, "tessera %s: wrong network key: %s\n", cmd, reply->u.response.error);
        exit_code = TSR_EXIT_WRONG_NETWORK_KEY;
    } else if (reply->u.response.status != TSR_QSTATUS_OK) {
        char why[400];
        fprintf(stderr, "tessera %s: %s\n", cmd, cli_refusal_text(why, sizeof why, &reply->u.response));
    } else {
        exit_code = 0;
    }
    tsr_conn_close(&conn);
    zmq_ctx_term(ctx);
    return exit_code;
}

const char *cli_refusal_text(char *out, size_t cap, const tsr_response_t *r)
{
    if (r->status == TSR_QSTATUS_DENIED)
        snprintf(out, cap, "permission denied: %s", r->error);
    else if (r->status == TSR_QSTATUS_RATE_LIMITED)
        snprintf(out, cap, "rate limited: %s; try again in %.1f s", r->error,
                 (r->retry_after_ms ? r->retry_after_ms : 1000) / 1000.0);
    else
        snprintf(out, cap, "%s", r->error);
    return out;
}

const char *cli_cell_text(char *out, size_t cap, const tsr_trend_cell_t *c, unsigned k, bool html)
{
    if (!c->suppressed)
        snprintf(out, cap, "%llu", (unsigned long long)c->count);
    else if (c->protective)
        snprintf(out, cap, "x");
    else
        snprintf(out, cap, "%s%u", html ? "&lt;" : "<", k);
    return out;
}

size_t cli_trends_axis(const tsr_response_t *r, size_t d, const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_cells && n < cap; i++) {
        const char *v = r->cells[i].keys[d];
        size_t j = 0;
        while (j < n && strcmp(out[j], v) != 0)
            j++;
        if (v[0] && j == n)
            out[n++] = v;
    }
    return n;
}

const char *cli_day(char out[11], int32_t day)
{
    if (day == 0)
        return strcpy(out, "?");
    return tsr_day_format(out, day);
}

void cli_print_areas(FILE *fp, const tsr_area_code_t *areas, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const tsr_area_t *a = tsr_area_find(areas[i]);
        fprintf(fp, "%s%s%s%s", i ? ", " : "", areas[i], a ? " " : "", a ? a->name : "");
    }
}

void cli_print_ids(FILE *fp, const char *indent, const tsr_record_id_t *ids, size_t n)
{
    char hex[2 * TSR_RECORD_ID_LEN + 1];
    for (size_t i = 0; i < n; i++)
        fprintf(fp, "%s%s\n", i ? indent : "", tsr_hex_encode(hex, ids[i], TSR_RECORD_ID_LEN));
    if (n == 0)
        fputc('\n', fp);
}
