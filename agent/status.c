/* status.c - `tessera-agent status`: the outbox, and the collector as this
 * agent sees it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "queue.h"
#include "session.h"
#include "tessera/client.h"
#include "tessera/date.h"
#include "tessera/netkeys.h"

/* "2026-12-01T04:31:40Z" (ISO 8601, UTC) for unix seconds t. */
static const char *s_iso(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 32, "%lld", (long long)t);
    return out;
}

/* A rejection log line: its first field, unix seconds, as ISO 8601. */
static void s_print_line(void *ctx, const char *line)
{
    (void)ctx;
    char *end, when[32];
    long long t = strtoll(line, &end, 10);
    if (end != line && *end == '\t')
        printf("  %s%s\n", s_iso(when, t), end);
    else
        printf("  %s\n", line);
}

static const char s_status_usage[] =
    "usage: tessera-agent status [--config FILE] [--allow-root] [--rejections]\n"
    "\n"
    "Outbox depth, oldest queued record, last acknowledgement, rejection count;\n"
    "--rejections lists them (time in ISO 8601 UTC, case reference, record id,\n"
    "reason). Asks the collector whether it answers this agent, accepts its\n"
    "network key, and how long it keeps records (retention).\n"
    "Exit: 0 all well; 3 to 7 as for submit (the collector unreachable, a wrong\n"
    "collector public key, this agent's key not listed, timed out, a wrong\n"
    "network key or records held back under one); 1, 2 failure, usage.\n";

/* The collector line of `status`, and its exit code. */
static int s_status_collector(agent_session_t *ss, char *text, size_t cap)
{
    char ids[96];
    tsr_netkeys_format_ids(&ss->keys.accepted, ids, sizeof ids);
    if (ss->answered && ss->keys.accepted.n == 0) {
        snprintf(text, cap, "reachable (answered in %.1f ms); no network key id pinned yet (the "
                 "first record's is)", ss->ms);
        return AGENT_EXIT_OK;
    }
    if (ss->answered) {
        snprintf(text, cap, "reachable (answered in %.1f ms); accepts network key id %s%s",
                 ss->ms, ids, ss->own_accepted ? "" : ", not this agent's");
        return ss->own_accepted ? AGENT_EXIT_OK : TSR_EXIT_WRONG_NETWORK_KEY;
    }
    switch (ss->failure) {
    case TSR_CONN_UNREACHABLE:
        snprintf(text, cap, "not answering at %s", ss->conf->endpoint);
        break;
    case TSR_CONN_SERVER_KEY:
        snprintf(text, cap, "refused the handshake: wrong collector public key");
        break;
    case TSR_CONN_NOT_AUTHORISED:
        snprintf(text, cap, "refuses this agent's key (not in its authorized_clients)");
        break;
    case TSR_CONN_TIMEOUT:
        snprintf(text, cap, "connected at %s, but no answer within %ld ms", ss->conf->endpoint,
                 ss->conf->timeout_ms);
        break;
    default: snprintf(text, cap, "not asked"); break;
    }
    return ss->exit_code ? ss->exit_code : AGENT_EXIT_FAIL;
}

int agent_cmd_status(int argc, char **argv)
{
    bool list = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--rejections")) {
            list = true;
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof *argv);
            argc--;
            break;
        }
    agent_cmd_t cmd;
    int r = agent_cmd_open(&cmd, argc, argv, s_status_usage, 0, false);
    if (r >= 0)
        return r;
    agent_conf_t *conf = cmd.conf;
    agent_outbox_t *ob = cmd.ob;
    agent_outbox_status_t st;
    agent_outbox_status(ob, &st);
    char when[32] = "never", oldest[32] = "-";
    if (st.last_ack)
        s_iso(when, st.last_ack);
    if (st.oldest)
        s_iso(oldest, st.oldest);
    agent_session_t *ss;
    if (agent_session_new(&ss, conf, ob) != 0) {
        fprintf(stderr, "tessera-agent: cannot start a session: out of memory\n");
        return agent_cmd_close(&cmd, AGENT_EXIT_FAIL);
    }
    agent_session_probe(ss, 1, "Records stay queued until it answers");
    char coll[256];
    int rc = s_status_collector(ss, coll, sizeof coll);
    long months = agent_session_retention(ss);
    agent_outbox_held_t held = {0};
    if (ss->answered)
        agent_outbox_held(ob, &ss->keys, &held);
    printf("agency          %s (%s)\n", conf->agency_id, conf->agency_type);
    printf("endpoint        %s\n", conf->endpoint);
    printf("network key id  %u (%s)\n", conf->key.key_id, conf->network_key);
    char cut[11];
    printf("retention       %ld months (records reported from %s on; %s)\n", months,
           tsr_day_format(cut, agent_queue_cutoff(months)), ss->retention_months ?
           "the collector's" : "the collector's as last heard, or [collector] retention_months");
    printf("queued          %zu\n", st.depth);
    if (held.n)
        printf("held back       %zu (under network key id %u, which the collector does not "
               "accept)\n", held.n, held.key_id);
    printf("oldest queued   %s\n", oldest);
    printf("last ack        %s\n", when);
    printf("rejections      %zu\n", st.rejections);
    printf("collector       %s\n", coll);
    if (list)
        agent_outbox_rejections(ob, s_print_line, NULL);
    fflush(stdout);
    if (!ss->answered)
        fprintf(stderr, "tessera-agent: %s\n", ss->why);
    else if (!ss->own_accepted)
        agent_session_say_wrong_key(ss, "nothing can be queued or sent");
    if (ss->answered && agent_session_say_held(ss) > 0)
        rc = TSR_EXIT_WRONG_NETWORK_KEY;
    agent_session_destroy(&ss);
    return agent_cmd_close(&cmd, rc);
}

