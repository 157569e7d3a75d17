/* backup.c - `tessera-agent backup` and `restore`: the outbox (queued
 * records, the record map that resolves record ids, rejections, files
 * seen) copied hot while `run` delivers, and put back only where no outbox
 * is. The keys and agent.conf are the agency's to keep (they do not
 * change); the outbox changes with every export. */
#include <getopt.h> /* optind */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "conf.h"
#include "outbox.h"
#include "tessera/backup.h"
#include "tessera/err.h"

static const char s_usage[] =
    "usage: tessera-agent backup [--config FILE] [--allow-root] OUT\n"
    "       tessera-agent restore [--config FILE] [--allow-root] BACKUP\n"
    "\n"
    "backup copies the outbox (queued records, the map from record ids to case\n"
    "references, rejections) while the agent runs, into the new directory OUT,\n"
    "with OUT/manifest.json (time, agency, queued, rejections). It holds what\n"
    "leads back to children's cases: keep it as you keep the agency's records.\n"
    "restore puts BACKUP in place as the outbox of [agent] data_dir; it refuses\n"
    "when an outbox is there (stop the agent and move it aside first). Records\n"
    "the backup still queued are sent again; the collector stores each once.\n";

/* The agent's LMDB environments, relative to [agent] data_dir: backup and
 * restore copy each. The outbox is the data directory itself. */
static const char *const s_envs[] = {"."};
#define S_NENVS (sizeof s_envs / sizeof *s_envs)

static void s_path(char *buf, size_t cap, const char *dir, const char *name)
{
    /* paths are PATH_MAX at most, and buffers a little more */
    if (snprintf(buf, cap, "%s/%s", dir, name) >= (int)cap)
        buf[0] = '\0';
}

/* The outbox's figures: in a copy (then its lock file goes again) or in a
 * restored outbox. */
static int s_status(const char *dir, agent_outbox_status_t *st, bool copy)
{
    agent_outbox_t *ob = NULL;
    int rc = agent_outbox_new(&ob, dir, 0);
    if (rc == 0)
        rc = agent_outbox_status(ob, st);
    agent_outbox_destroy(&ob);
    if (copy) {
        char lock[4200];
        s_path(lock, sizeof lock, dir, "lock.mdb");
        unlink(lock);
    }
    return rc;
}

static int s_backup(const agent_conf_t *conf, const char *out, tsr_error_t *err)
{
    char from[4200], to[4200];
    int rc = tsr_backup_dir_new(out, err);
    for (size_t i = 0; rc == 0 && i < S_NENVS; i++) {
        s_path(from, sizeof from, conf->data_dir, s_envs[i]);
        s_path(to, sizeof to, out, i == 0 ? "outbox" : s_envs[i]);
        rc = tsr_backup_env_copy(from, to, err);
    }
    agent_outbox_status_t st = {0};
    if (rc == 0 && (rc = s_status(to, &st, true)) != 0) {
        tsr_error_at(err, to, 0);
        tsr_error_set(err, "", "the copy cannot be read: %s", tsr_strerror(rc));
    }
    json_t *m = rc == 0
                    ? json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "program", "tessera-agent",
                                "tessera_version", TSR_VERSION, "agency_id", conf->agency_id,
                                "queued", (json_int_t)st.depth, "rejections",
                                (json_int_t)st.rejections, "last_ack_unix", (json_int_t)st.last_ack)
                    : NULL;
    if (rc == 0 && !m)
        rc = TSR_ENOMEM;
    if (rc == 0)
        rc = tsr_backup_manifest_write(out, m, (int64_t)time(NULL), err);
    if (rc == 0)
        printf("backup %s: outbox of %s, %zu queued, %zu rejections\n", out, conf->agency_id,
               st.depth, st.rejections);
    json_decref(m);
    return rc;
}

static int s_restore(const agent_conf_t *conf, const char *from, tsr_error_t *err)
{
    char a[4200], b[4200];
    json_t *m = NULL;
    uint64_t queued = 0, rejections = 0;
    s_path(a, sizeof a, from, TSR_BACKUP_MANIFEST);
    int rc = tsr_backup_manifest_read(from, "tessera-agent", &m, err);
    if (rc == 0)
        rc = tsr_backup_manifest_u64(m, a, "queued", &queued, err);
    if (rc == 0)
        rc = tsr_backup_manifest_u64(m, a, "rejections", &rejections, err);
    const char *agency = m ? json_string_value(json_object_get(m, "agency_id")) : NULL;
    if (rc == 0 && (!agency || strcmp(agency, conf->agency_id) != 0)) {
        tsr_error_at(err, a, 0);
        rc = tsr_error_set(err, "agency_id",
                           "this is the outbox of %s, and %s is configured for %s: restore "
                           "it with that agency's config",
                           agency ? agency : "?", conf->path, conf->agency_id);
    }
    for (size_t i = 0; rc == 0 && i < S_NENVS; i++) {
        s_path(b, sizeof b, conf->data_dir, s_envs[i]);
        rc = tsr_backup_target_check(b, err);
    }
    size_t done = 0;
    for (; rc == 0 && done < S_NENVS; done++) {
        s_path(a, sizeof a, from, done == 0 ? "outbox" : s_envs[done]);
        s_path(b, sizeof b, conf->data_dir, s_envs[done]);
        rc = tsr_backup_env_restore(a, b, err);
    }
    agent_outbox_status_t st = {0};
    if (rc == 0 && (rc = s_status(conf->data_dir, &st, false)) == 0 &&
        (st.depth != queued || st.rejections != rejections)) {
        tsr_error_at(err, conf->data_dir, 0);
        rc = tsr_error_set(err, "",
                           "the restored outbox does not match %s/%s (%zu queued, %zu "
                           "rejections; %llu and %llu there): the backup is damaged; "
                           "the restored copy was removed",
                           from, TSR_BACKUP_MANIFEST, st.depth, st.rejections,
                           (unsigned long long)queued, (unsigned long long)rejections);
        rc = TSR_ECORRUPT;
    }
    if (rc != 0)
        for (size_t i = 0; i < done; i++) {
            s_path(b, sizeof b, conf->data_dir, s_envs[i]);
            strncat(b, "/data.mdb", sizeof b - strlen(b) - 1);
            unlink(b);
        }
    if (rc == 0)
        printf("restored the outbox of %s from %s: %zu queued, %zu rejections; `tessera-agent "
               "run` or `submit` sends what is queued\n",
               conf->agency_id, from, st.depth, st.rejections);
    json_decref(m);
    return rc;
}

/* backup and restore: argv[0] is the command. A restore takes the agency
 * directory's lock, so it never goes under a running agent; a backup does
 * not (it copies while `run` delivers). */
static int s_cmd(int argc, char **argv, bool backup)
{
    agent_cmd_t cmd;
    int r = agent_cmd_args(&cmd, argc, argv, s_usage, 1);
    if (r >= 0)
        return r;
    if (argc - optind != 1) {
        fputs(s_usage, stderr);
        return agent_cmd_close(&cmd, 2);
    }
    if (!backup && (r = agent_cmd_lock(&cmd.lock, cmd.conf->dir, "Nothing was restored")) >= 0)
        return agent_cmd_close(&cmd, r);
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    int rc = backup ? s_backup(cmd.conf, argv[optind], &err)
                    : s_restore(cmd.conf, argv[optind], &err);
    if (rc != 0)
        fprintf(stderr, "tessera-agent %s: %s\n", argv[0], tsr_error_format(&err, msg, sizeof msg));
    return agent_cmd_close(&cmd, rc == 0 ? 0 : 1);
}

int agent_cmd_backup(int argc, char **argv)
{
    return s_cmd(argc, argv, true);
}

int agent_cmd_restore(int argc, char **argv)
{
    return s_cmd(argc, argv, false);
}
