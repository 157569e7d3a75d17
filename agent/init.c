/* init.c - `tessera-agent init`: a new agency's directory, after asking
 * the collector whether its key and the network key are right. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "agent.h"
#include "lock.h"
#include "tessera/client.h"
#include "tessera/codes.h"
#include "tessera/curve.h"
#include "tessera/err.h"
#include "tessera/fsmode.h"
#include "tessera/token.h"

static void s_print_problem(void *ctx, const char *problem)
{
    (void)ctx;
    fprintf(stderr, "tessera-agent init: %s\n", problem);
}

static const char s_init_usage[] =
    "usage: tessera-agent init --dir DIR --agency-id ID --agency-type TYPE --area CODE\n"
    "                          --network-key FILE --server-key COLLECTOR.pub\n"
    "                          [--collector ENDPOINT] [--allow-root]\n"
    "\n"
    "Sets up a new agency: DIR/agent.conf, a CURVE key pair DIR/agent.key and\n"
    "DIR/agent.pub, and the outbox directory, then prints the line to add to the\n"
    "collector's authorized_clients (the last line of its output).\n"
    "\n"
    "It first asks the collector whether COLLECTOR.pub is its key, and refuses\n"
    "(writing nothing) when it is not. The collector answers only listed keys,\n"
    "so the network key's id is checked once the line is in authorized_clients:\n"
    "run 'tessera-agent status' then. A collector not reachable yet is only noted.\n"
    "Run it as the user that will run the agent.\n"
    "Exit: 0 set up, 1 failure, 2 usage, 4 wrong collector public key, 7 wrong\n"
    "network key (when the collector already knows this key).\n";

/* Asks the collector with the new key pair, before agent.conf is written.
 * Returns -1 to go on, or the exit code to refuse with. */
static int s_init_check(const char *endpoint, const char *sk, const char *key_path,
                        const char *nk, const char *id, const char *area)
{
    tsr_netkey_t key;
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    if (tsr_netkey_load(&key, nk, &err) != 0) {
        fprintf(stderr, "tessera-agent init: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return AGENT_EXIT_FAIL;
    }
    uint32_t own = key.key_id;
    explicit_bzero(&key, sizeof key);
    void *ctx = zmq_ctx_new();
    tsr_conn_t *conn = NULL;
    int rc = -1;
    if (tsr_conn_open(&conn, ctx, endpoint, sk, key_path, &err) != 0) {
        fprintf(stderr, "tessera-agent init: %s\n", tsr_error_format(&err, msg, sizeof msg));
        zmq_ctx_term(ctx);
        return AGENT_EXIT_FAIL;
    }
    tsr_msg_t req = {.kind = TSR_MSG_SUBMIT}, reply;
    char line[160], why[1536];
    snprintf(line, sizeof line, "agent %s %s", id, area);
    tsr_conn_hint_t h = {.who = "this agent's", .endpoint_from = "--collector",
                         .server_key_from = "--server-key", .client_line = line,
                         .after = "Nothing was written"};
    if (tsr_conn_request(conn, &req, &reply, 3000, &err) == 0) {
        /* a key the collector lists already: its network key can be checked */
        agent_outbox_keys_t k = {.own = own, .day = tsr_day_today()};
        if (reply.kind == TSR_MSG_ACK)
            k.accepted = reply.u.ack.network_keys;
        char ids[96];
        tsr_netkeys_format_ids(&k.accepted, ids, sizeof ids);
        if (!agent_outbox_keys_sendable(&k, own)) {
            fprintf(stderr, "tessera-agent init: wrong network key: %s has key id %u, but the "
                            "collector at %s accepts only %s. Records under it would never link "
                            "with other agencies' records. Use the network's key (key id %s). "
                            "Nothing was written.\n", nk, own, endpoint, ids, ids);
            rc = TSR_EXIT_WRONG_NETWORK_KEY;
        } else {
            printf("collector       %s: reachable; it accepts network key id %s\n", endpoint,
                   k.accepted.n ? ids : "(none pinned yet)");
        }
        tsr_msg_clear(&reply);
    } else {
        switch (tsr_conn_failure(conn)) {
        case TSR_CONN_NOT_AUTHORISED: /* the new key, as expected */
            printf("collector       %s: reachable, and %s is its public key\n", endpoint, sk);
            printf("network key id  %u: checked by 'tessera-agent status' once the line below "
                   "is in the collector's authorized_clients\n", own);
            break;
        case TSR_CONN_SERVER_KEY:
            h.after = "Nothing was written";
            fprintf(stderr, "tessera-agent init: %s\n", tsr_conn_explain(conn, &h, why, sizeof why));
            rc = TSR_EXIT_SERVER_KEY;
            break;
        default:
            h.after = "agent.conf is written all the same; run 'tessera-agent status' once the "
                      "collector is reachable";
            fprintf(stderr, "tessera-agent init: note: %s\n",
                    tsr_conn_explain(conn, &h, why, sizeof why));
            break;
        }
    }
    tsr_conn_close(&conn);
    zmq_ctx_term(ctx);
    return rc;
}

/* Writes the agency's files into dir (which exists, and whose lock the
 * caller holds). Returns the exit code. */
static int s_init_dir(const char *dir, const char *id, const char *type, const char *area,
                      const char *endpoint, const char *nk_abs, const char *sk_abs)
{
    tsr_error_t err;
    char msg[768], path[4096], pub[41];
    tsr_error_clear(&err);
    snprintf(path, sizeof path, "%s/agent.conf", dir);
    struct stat st;
    if (lstat(path, &st) == 0) {
        fprintf(stderr, "tessera-agent init: %s exists; refusing to overwrite\n", path);
        return AGENT_EXIT_FAIL;
    }
    char stem[4096];
    snprintf(stem, sizeof stem, "%s/agent", dir);
    if (tsr_curve_keygen(stem, false, pub, NULL, &err) != 0) {
        fprintf(stderr, "tessera-agent init: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return AGENT_EXIT_FAIL;
    }
    char key_path[4200];
    snprintf(key_path, sizeof key_path, "%s.key", stem);
    int refuse = s_init_check(endpoint, sk_abs, key_path, nk_abs, id, area);
    if (refuse >= 0) { /* the key pair was made for this agent.conf: not left behind */
        unlink(key_path);
        snprintf(key_path, sizeof key_path, "%s.pub", stem);
        unlink(key_path);
        return refuse;
    }
    static const char fmt[] =
        "# tessera-agent configuration (see deploy/agent.conf for every key)\n"
        "[agency]\nid = %s\ntype = %s\narea = %s\n\n"
        "[collector]\nendpoint = %s\nserver_key = %s\n\n"
        "[keys]\nclient_key = agent.key\nnetwork_key = %s\n\n"
        "[minimise]\nweek_coarsening = false\ncountry_code = 44\n\n"
        "[agent]\ndata_dir = data\n";
    int len = snprintf(NULL, 0, fmt, id, type, area, endpoint, sk_abs, nk_abs);
    char *text = len < 0 ? NULL : malloc((size_t)len + 1);
    if (text)
        snprintf(text, (size_t)len + 1, fmt, id, type, area, endpoint, sk_abs, nk_abs);
    /* 0600 from the first byte, never through a symlink (issue 15) */
    int rc = !text ? TSR_ENOMEM : tsr_fsmode_write(path, text, (size_t)len, 0600, false, &err);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "tessera-agent init: %s\n",
                rc == TSR_ENOMEM ? "out of memory" : tsr_error_format(&err, msg, sizeof msg));
        return AGENT_EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/data", dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tessera-agent init: cannot create %s: %s\n", path, strerror(errno));
        return AGENT_EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/agent.conf", dir);
    printf("wrote %s, %s.key and %s.pub\n", path, stem, stem);
    printf("add this line to the collector's authorized_clients:\n%s agent %s %s\n", pub, id, area);
    return AGENT_EXIT_OK;
}

int agent_cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},        {"agency-id", required_argument, NULL, 'i'},
        {"agency-type", required_argument, NULL, 't'}, {"area", required_argument, NULL, 'a'},
        {"network-key", required_argument, NULL, 'k'}, {"server-key", required_argument, NULL, 's'},
        {"collector", required_argument, NULL, 'e'},  {"help", no_argument, NULL, 'h'},
        {"allow-root", no_argument, NULL, 'R'},
        {0},
    };
    bool allow_root = false;
    const char *dir = NULL, *id = NULL, *type = NULL, *area = NULL, *nk = NULL, *sk = NULL;
    const char *endpoint = "tcp://127.0.0.1:7701";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'i': id = optarg; break;
        case 't': type = optarg; break;
        case 'a': area = optarg; break;
        case 'k': nk = optarg; break;
        case 's': sk = optarg; break;
        case 'e': endpoint = optarg; break;
        case 'R': allow_root = true; break;
        case 'h': fputs(s_init_usage, stdout); return AGENT_EXIT_OK;
        default: fputs(s_init_usage, stderr); return AGENT_EXIT_USAGE;
        }
    }
    if (!dir || !id || !type || !area || !nk || !sk || optind != argc) {
        fputs(s_init_usage, stderr);
        return AGENT_EXIT_USAGE;
    }
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    if (tsr_codes_value(TSR_CODES_AGENCY_TYPE, type) < 0 || tsr_area_check(area, "--area", &err)) {
        fprintf(stderr, "tessera-agent init: %s\n",
                err.reason[0] ? tsr_error_format(&err, msg, sizeof msg) : "unknown --agency-type");
        return AGENT_EXIT_USAGE;
    }
    if (agent_cmd_root_refused(allow_root))
        return AGENT_EXIT_FAIL;
    /* the agency directory (if it is there already) and the keys it will
     * trust, before anything is written (issue 15) */
    const tsr_fsmode_item_t items[] = {
        {dir, TSR_FSMODE_DIR}, {nk, TSR_FSMODE_SECRET}, {sk, TSR_FSMODE_FILE}};
    int problems = tsr_fsmode_check_all(items, 3, s_print_problem, NULL);
    if (problems != 0) {
        fprintf(stderr,
                "tessera-agent init: refusing to set up: %d file(s) other users could "
                "change or read (like sshd's StrictModes); fix them as shown\n",
                problems);
        return AGENT_EXIT_FAIL;
    }
    char nk_abs[4096], sk_abs[4096];
    if (!realpath(nk, nk_abs) || !realpath(sk, sk_abs)) {
        fprintf(stderr, "tessera-agent init: cannot find %s\n", realpath(nk, nk_abs) ? sk : nk);
        return AGENT_EXIT_FAIL;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tessera-agent init: cannot create %s: %s\n", dir, strerror(errno));
        return AGENT_EXIT_FAIL;
    }
    /* one process per agency directory: a second init waits, then says
     * which process has it */
    agent_lock_t *lock;
    int rc = agent_cmd_lock(&lock, dir, "Nothing was written");
    if (rc >= 0)
        return rc;
    rc = s_init_dir(dir, id, type, area, endpoint, nk_abs, sk_abs);
    if (rc != AGENT_EXIT_OK) {
        /* refused: the directory is left as it was found (a process that
         * waits for this lock then finds the directory without it) */
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, AGENT_LOCK_FILE);
        unlink(path);
    }
    agent_lock_destroy(&lock);
    return rc;
}
