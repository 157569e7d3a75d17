/* cmd.c - what tessera-agent's commands share: messages, the root check,
 * and opening an agency directory (its config, its lock and its outbox). */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "lock.h"
#include "tessera/err.h"
#include "tessera/fsmode.h"

volatile sig_atomic_t agent_cmd_stop;
bool agent_cmd_daemon;

/* How long a second process waits for the directory's lock. */
#define S_LOCK_WAIT_MS 2000

void agent_cmd_say(const char *fmt, ...)
{
    static char last[2048];
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (agent_cmd_daemon && !strcmp(text, last))
        return;
    snprintf(last, sizeof last, "%s", text);
    fprintf(stderr, "tessera-agent: %s\n", text);
}

/* Files an agent run as root creates belong to root, and a bug in it
 * would be root's (issue 15). */
bool agent_cmd_root_refused(bool allow_root)
{
    char why[TSR_FSMODE_WHY_MAX];
    if (tsr_fsmode_refuse_root("tessera-agent", allow_root, why, sizeof why) == 0)
        return false;
    fprintf(stderr, "tessera-agent: %s\n", why);
    return true;
}

int agent_cmd_lock(agent_lock_t **lock, const char *dir, const char *not_done)
{
    tsr_error_t err;
    char msg[768];
    pid_t holder;
    tsr_error_clear(&err);
    int rc = agent_lock_new(lock, dir, S_LOCK_WAIT_MS, &holder, &err);
    if (rc == 0)
        return -1;
    if (rc != TSR_EEXIST) {
        fprintf(stderr, "tessera-agent: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return AGENT_EXIT_FAIL;
    }
    char who[64] = "another tessera-agent process";
    if (holder > 0)
        snprintf(who, sizeof who, "tessera-agent process %ld", (long)holder);
    fprintf(stderr,
            "tessera-agent: %s is using the agency directory %s (it holds %s/" AGENT_LOCK_FILE
            "); waited %d s. One process per directory: let it finish, or stop it (a "
            "'tessera-agent run' daemon delivers what is queued itself), then run this again. "
            "%s.\n",
            who, dir, dir, S_LOCK_WAIT_MS / 1000, not_done);
    return AGENT_EXIT_LOCKED;
}

int agent_cmd_args(agent_cmd_t *cmd, int argc, char **argv, const char *usage, int min_args)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"allow-root", no_argument, NULL, 'R'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *config = NULL;
    bool allow_root = false;
    int c;
    memset(cmd, 0, sizeof *cmd);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'c') {
            config = optarg;
        } else if (c == 'R') {
            allow_root = true;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return AGENT_EXIT_OK;
        } else {
            fputs(usage, stderr);
            return AGENT_EXIT_USAGE;
        }
    }
    if (argc - optind < min_args) {
        fputs(usage, stderr);
        return AGENT_EXIT_USAGE;
    }
    if (agent_cmd_root_refused(allow_root))
        return AGENT_EXIT_FAIL;
    return agent_conf_new(&cmd->conf, agent_conf_path(config)) != 0 ? AGENT_EXIT_FAIL : -1;
}

int agent_cmd_open(agent_cmd_t *cmd, int argc, char **argv, const char *usage, int min_args,
                   bool locked)
{
    int rc = agent_cmd_args(cmd, argc, argv, usage, min_args);
    if (rc >= 0)
        return rc;
    rc = locked ? agent_cmd_lock(&cmd->lock, cmd->conf->dir, "Nothing was queued or sent") : -1;
    if (rc < 0 && agent_outbox_new(&cmd->ob, cmd->conf->data_dir,
                                   (size_t)cmd->conf->outbox_max_mib << 20) != 0)
        rc = AGENT_EXIT_FAIL;
    if (rc >= 0)
        agent_cmd_close(cmd, rc);
    return rc;
}

int agent_cmd_close(agent_cmd_t *cmd, int rc)
{
    agent_outbox_destroy(&cmd->ob);
    agent_lock_destroy(&cmd->lock);
    agent_conf_destroy(&cmd->conf);
    return rc;
}
