/* run.c - `tessera-agent run`: the daemon. Each round it asks the
 * collector, queues every export in the inbox and moves it to done/ (or
 * failed/, with its errors beside it), then delivers the outbox. */
#define _GNU_SOURCE /* renameat2 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "errlist.h"
#include "queue.h"
#include "session.h"

static void s_on_stop(int sig)
{
    (void)sig;
    agent_cmd_stop = 1;
}

static bool s_input_name(const char *name)
{
    size_t n = strlen(name);
    static const char *const ext[] = {".jsonl", ".json", ".ndjson", ".csv"};
    if (name[0] == '.')
        return false; /* a file still being written under a hidden name */
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (n > strlen(ext[i]) && !strcmp(name + n - strlen(ext[i]), ext[i]))
            return true;
    return false;
}

/* Moves src to dst unless dst exists: renameat2's RENAME_NOREPLACE, or
 * where the file system lacks it, link(2) (which never replaces) then
 * unlink. Returns 0, or -1 with errno (EEXIST: dst is taken). */
static int s_move_noreplace(const char *src, const char *dst)
{
    if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (link(src, dst) != 0)
        return -1;
    if (unlink(src) != 0) {
        int e = errno;
        unlink(dst); /* the file stays where it was, once */
        errno = e;
        return -1;
    }
    return 0;
}

/* Moves inbox/name into inbox/sub/ under a name no file there has yet
 * (name, then STEM.2.EXT, STEM.3.EXT, ...): nothing is ever overwritten.
 * Fills out (the new path) and returns 0, or -1 with errno. */
static int s_move(const char *inbox, const char *sub, const char *name, char *out, size_t cap)
{
    const char *dot = strrchr(name, '.');
    int stem = (int)(dot ? (size_t)(dot - name) : strlen(name));
    char src[4200];
    snprintf(src, sizeof src, "%s/%s", inbox, name);
    for (int n = 1; n < 10000; n++) {
        if (n == 1)
            snprintf(out, cap, "%s/%s/%s", inbox, sub, name);
        else
            snprintf(out, cap, "%s/%s/%.*s.%d%s", inbox, sub, stem, name, n, dot ? dot : "");
        if (s_move_noreplace(src, out) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    errno = EEXIST;
    return -1;
}

/* Queues one export and moves it: to done/ when every record is queued,
 * to failed/ with NAME.errors beside it when some were invalid (the valid
 * ones are queued). When not every valid record could be queued it stays
 * in the inbox, to be read again next round (what is queued already is
 * not queued twice). */
static void s_handle(agent_conf_t *conf, agent_outbox_t *ob, const char *name, int32_t cutoff)
{
    char path[4200], tmp[4300], moved[4300] = "", errors[4400];
    snprintf(path, sizeof path, "%s/%s", conf->inbox, name);
    /* hidden, so never taken for an export; renamed beside a failed file */
    snprintf(tmp, sizeof tmp, "%s/.%s.errors", conf->inbox, name);
    agent_errlist_t *errs;
    if (agent_errlist_new(&errs, tmp, AGENT_ERRLIST_SHOWN, true) != 0) {
        agent_cmd_say("%s: out of memory; it stays in the inbox and is tried again next round",
                      path);
        return;
    }
    agent_queue_result_t res;
    int rc = agent_queue_file(conf, ob, path, cutoff, errs, &res);
    const char *sub = rc == 0 ? "done" : "failed";
    if (rc < 0) {
        agent_cmd_say(
            "%s: not every valid record in it could be queued (see above); it stays in the "
            "inbox and is tried again next round",
            path);
    } else if (s_move(conf->inbox, sub, name, moved, sizeof moved) != 0) {
        agent_cmd_say(
            "%s: queued, but it cannot be moved to %s/%s/: %s; it stays in the inbox (read "
            "again next round: the collector counts its records once)",
            path, conf->inbox, sub, strerror(errno));
        rc = -1;
    }
    snprintf(errors, sizeof errors, "%s.errors", moved);
    int erc = agent_errlist_finish(errs, rc == 1 ? errors : tmp);
    agent_errlist_destroy(&errs);
    if (rc == 1 && erc == 0 && rename(tmp, errors) != 0)
        agent_cmd_say("%s: cannot move its error list %s to %s: %s", path, tmp, errors,
                      strerror(errno));
    else if (rc != 1 || erc != 0)
        unlink(tmp); /* an empty list, one not written whole, or the file is read again */
    if (rc < 0)
        return;
    if (rc == 0)
        fprintf(stderr,
                "tessera-agent run: %s: done (%zu queued, %zu already waiting); moved to "
                "%s\n",
                name, res.queued, res.waiting, moved);
    else
        fprintf(stderr,
                "tessera-agent run: %s: %zu invalid record(s), %zu queued; moved to %s, "
                "the errors in %s\n",
                name, res.invalid, res.queued, moved, errors);
}

/* Queues every export in the inbox (written a second ago or more). */
static void s_scan(agent_conf_t *conf, agent_outbox_t *ob, int32_t cutoff)
{
    DIR *d = opendir(conf->inbox);
    if (!d) {
        agent_cmd_say("cannot read the inbox %s: %s", conf->inbox, strerror(errno));
        return;
    }
    struct dirent *e;
    time_t now = time(NULL);
    while ((e = readdir(d)) && !agent_cmd_stop) {
        if (!s_input_name(e->d_name))
            continue;
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", conf->inbox, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_mtime > now - 1)
            continue; /* not a file, or written less than a second ago: next round */
        s_handle(conf, ob, e->d_name, cutoff);
    }
    closedir(d);
}

/* Makes inbox/sub (0700) if it is not there. */
static bool s_mkdir(const char *inbox, const char *sub)
{
    char path[4200];
    snprintf(path, sizeof path, "%s%s%s", inbox, sub[0] ? "/" : "", sub);
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return true;
    fprintf(stderr, "tessera-agent run: cannot create %s: %s\n", path, strerror(errno));
    return false;
}

static const char s_run_usage[] =
    "usage: tessera-agent run [--config FILE] [--allow-root]\n"
    "\n"
    "Runs as a daemon: every interval_s seconds it queues each export dropped\n"
    "into the inbox folder ([agent] inbox; write files under a name starting with\n"
    "'.' and rename them when complete), then delivers the outbox, retrying with\n"
    "back-off for as long as it runs. A file whose records are all queued moves\n"
    "to INBOX/done/; one with invalid records to INBOX/failed/, with FILE.errors\n"
    "beside it (its valid records are queued). A file whose records could not all\n"
    "be queued (the outbox full, memory) stays in the inbox and is read again.\n"
    "No file is deleted or overwritten. SIGTERM or SIGINT stops it.\n"
    "Exit: 0 stopped, 1 failure, 2 usage, 8 another tessera-agent process uses\n"
    "this agency directory.\n";

int agent_cmd_run(int argc, char **argv)
{
    agent_cmd_t cmd;
    int r = agent_cmd_open(&cmd, argc, argv, s_run_usage, 0, true);
    if (r >= 0)
        return r;
    agent_conf_t *conf = cmd.conf;
    if (!s_mkdir(conf->inbox, "") || !s_mkdir(conf->inbox, "done") ||
        !s_mkdir(conf->inbox, "failed"))
        return agent_cmd_close(&cmd, AGENT_EXIT_FAIL);
    struct sigaction sa = {.sa_handler = s_on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    fprintf(stderr, "tessera-agent run: watching %s, delivering to %s\n", conf->inbox,
            conf->endpoint);
    agent_cmd_daemon = true;
    bool was_down = false;
    while (!agent_cmd_stop) {
        /* each round asks the collector first: under a network key it does
         * not accept, the inbox is not read (its files stay new, and are
         * queued once the right key is in place) */
        agent_session_t *ss;
        if (agent_session_new(&ss, conf, cmd.ob) != 0) {
            agent_cmd_say("cannot start a session (out of memory); trying again next round");
        } else {
            bool up = agent_session_probe(ss, conf->attempts,
                                          "records stay queued and go next "
                                          "time");
            if (up && was_down)
                agent_cmd_say("the collector at %s answers again", conf->endpoint);
            was_down = !up;
            if (up && !ss->own_accepted) {
                agent_session_say_wrong_key(ss, "no export in the inbox is queued until then");
            } else {
                s_scan(conf, cmd.ob, agent_queue_cutoff(agent_session_retention(ss)));
                if (!up && !agent_cmd_stop)
                    agent_cmd_say("%s", ss->why);
            }
            if (up)
                agent_session_deliver(ss, false); /* records stay queued on failure */
            agent_session_destroy(&ss);
        }
        for (long i = 0; i < conf->interval_s * 10 && !agent_cmd_stop; i++)
            usleep(100000);
    }
    fprintf(stderr, "tessera-agent run: stopping\n");
    return agent_cmd_close(&cmd, AGENT_EXIT_OK);
}
