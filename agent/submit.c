/* submit.c - `tessera-agent submit` and `retract`: queue in the outbox,
 * then deliver (session.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "errlist.h"
#include "queue.h"
#include "session.h"
#include "tessera/client.h"
#include "tessera/err.h"
#include "tessera/token.h"

#define S_EXIT_CODES                                                                               \
    "Exit: 0 all acknowledged, 1 some records invalid or rejected, 2 usage,\n"                     \
    "3 collector unreachable, 4 wrong collector public key (server_key),\n"                        \
    "5 this agent's key not in the collector's authorized_clients, 6 timed out\n"                  \
    "(connected, no answer), 7 wrong network key (the collector accepts another;\n"                \
    "nothing new is queued, and records queued under it are held back).\n"                         \
    "With 3 to 6 the records stay queued and go next time. 8: another\n"            \
    "tessera-agent process uses this agency directory (its PID is named).\n"

static const char s_submit_usage[] =
    "usage: tessera-agent submit [--config FILE] [--allow-root] [FILE...]\n"
    "\n"
    "Validates and minimises incident files (JSON Lines or CSV), queues every\n"
    "valid record in the outbox, then delivers the outbox to the collector.\n"
    "Without FILE it queues nothing and delivers what the outbox holds (records\n"
    "left by an earlier submit that could not reach the collector). It asks the\n"
    "collector first which network key it accepts (under another one, nothing is\n"
    "queued) and how long it keeps records: a record reported before its\n"
    "retention period is refused here, as the collector would refuse it (offline:\n"
    "the period it last said, else [collector] retention_months).\n"
    "Invalid records are listed as FILE:LINE: FIELD: reason; the rest still go.\n"
    "The first 100 are printed; all of them go to FILE.errors.\n"
    "A case submitted again with changes is sent as a new version. If submit is\n"
    "stopped part way through a file, run it again on the same file: it queues\n"
    "the rest, and records still waiting in the outbox are not queued twice.\n" S_EXIT_CODES;

/* What submit and retract share once the outbox is open: ask the collector
 * first; under a network key it does not accept, queue nothing (what is
 * queued under one it accepts still goes); else queue() and deliver.
 * Returns the exit code: a queueing failure (queue() < 0) is never 0. */
static int s_queue_and_deliver(agent_cmd_t *cmd, bool progress,
                               int (*queue)(agent_cmd_t *, agent_session_t *, void *), void *arg)
{
    agent_session_t *ss;
    if (agent_session_new(&ss, cmd->conf, cmd->ob) != 0) {
        fprintf(stderr, "tessera-agent: cannot start a session: out of memory\n");
        return AGENT_EXIT_FAIL;
    }
    bool up = agent_session_probe(ss, cmd->conf->attempts, NULL);
    int rc;
    if (up && !ss->own_accepted) {
        agent_session_say_wrong_key(ss, "nothing new was queued or sent");
        rc = agent_session_deliver(ss, progress);
        if (rc == AGENT_EXIT_OK || rc == AGENT_EXIT_FAIL)
            rc = TSR_EXIT_WRONG_NETWORK_KEY;
    } else {
        int bad = queue(cmd, ss, arg);
        if (up) {
            rc = agent_session_deliver(ss, progress);
        } else {
            agent_outbox_status_t st;
            agent_outbox_status(cmd->ob, &st);
            char after[128];
            snprintf(after, sizeof after, "%zu record(s) stay queued and go next time", st.depth);
            if (ss->conn)
                agent_session_explain(ss, after);
            fprintf(stderr, "tessera-agent: %s\n", ss->why);
            rc = ss->exit_code;
        }
        /* records that could not be queued outrank the collector's state:
         * the file must be submitted again */
        if ((rc == AGENT_EXIT_OK && bad) || bad < 0)
            rc = AGENT_EXIT_FAIL;
    }
    agent_session_destroy(&ss);
    return rc;
}

typedef struct {
    int argc;
    char **argv;
} s_args_t;

/* Queues each file; its errors beyond the first AGENT_ERRLIST_SHOWN go
 * to FILE.errors. Returns 0, 1 (invalid records), -1 (not all queued). */
static int s_queue_files(agent_cmd_t *cmd, agent_session_t *ss, void *arg)
{
    s_args_t *a = arg;
    int result = 0;
    int32_t cutoff = agent_queue_cutoff(agent_session_retention(ss));
    for (int f = optind; f < a->argc; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s.errors", a->argv[f]);
        agent_errlist_t *errs;
        if (agent_errlist_new(&errs, path, AGENT_ERRLIST_SHOWN, false) != 0) {
            fprintf(stderr, "tessera-agent: %s: out of memory; not queued\n", a->argv[f]);
            result = -1;
            continue;
        }
        int rc = agent_queue_file(cmd->conf, cmd->ob, a->argv[f], cutoff, errs, NULL);
        agent_errlist_finish(errs, NULL);
        agent_errlist_destroy(&errs);
        if (rc < 0 || (rc > 0 && result == 0))
            result = rc;
    }
    return result;
}

int agent_cmd_submit(int argc, char **argv)
{
    agent_cmd_t cmd;
    int r = agent_cmd_open(&cmd, argc, argv, s_submit_usage, 0, true);
    if (r >= 0)
        return r;
    s_args_t a = {argc, argv};
    return agent_cmd_close(&cmd, s_queue_and_deliver(&cmd, true, s_queue_files, &a));
}

static const char s_retract_usage[] =
    "usage: tessera-agent retract [--config FILE] [--allow-root] CASE_REF...\n"
    "\n"
    "Withdraws cases already sent (wrong entry, erasure): the collector removes\n"
    "the record and everything derived from it. Exit codes as for submit.\n";

static int s_queue_retractions(agent_cmd_t *cmd, agent_session_t *ss, void *arg)
{
    (void)ss;
    s_args_t *a = arg;
    agent_conf_t *conf = cmd->conf;
    int bad = 0;
    for (int i = optind; i < a->argc; i++) {
        uint8_t rid[TSR_RECORD_ID_LEN];
        tsr_record_id_compute(rid, &conf->key, conf->agency_id, a->argv[i]);
        int rc = agent_outbox_put_retraction(cmd->ob, rid, conf->key.key_id);
        if (rc == TSR_ENOTFOUND) {
            fprintf(stderr, "tessera-agent: case '%s' was never submitted by this agent\n",
                    a->argv[i]);
            bad = bad ? bad : 1;
        } else if (rc != 0) {
            fprintf(stderr, "tessera-agent: the withdrawal of case '%s' could not be queued (%s); "
                            "run this again\n", a->argv[i], tsr_strerror(rc));
            bad = -1;
        }
    }
    return bad;
}

int agent_cmd_retract(int argc, char **argv)
{
    agent_cmd_t cmd;
    int r = agent_cmd_open(&cmd, argc, argv, s_retract_usage, 1, true);
    if (r >= 0)
        return r;
    s_args_t a = {argc, argv};
    return agent_cmd_close(&cmd, s_queue_and_deliver(&cmd, false, s_queue_retractions, &a));
}

