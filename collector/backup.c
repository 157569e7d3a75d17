/* backup.c - `tessera-collector backup` and `restore`: a hot copy of every
 * LMDB environment of the data directory, the files beside them, and a
 * manifest; put back only where no store is. */
#include "backup.h"
#include "store.h"
#include "tessera/backup.h"
#include "tessera/err.h"
#include "tessera/fsmode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Every LMDB environment of the collector's data directory, in the order
 * backup copies them: main first, then the ingest log (the audit log's
 * copy needs no order against them), while the backup
 * holds db/backup.lock (TSR_STORE_BACKUP_LOCK), which stops the collector
 * trimming the log. So every entry after the copied main's `applied` is
 * still in the copied log, and the log's outcome counters are as late as
 * its entries (docs/STORAGE.md, hot backups). Restore puts each back.
 * S_MAIN is the store the manifest describes. */
static const struct {
    const char *dir;
    const char *holds;
} s_envs[] = {
    {"db", "records, indexes, clusters, alerts"},
    {"log", "the ingest log: acknowledged entries, outcome counters"},
    {"audit", "the audit log"},
};
#define S_NENVS (sizeof s_envs / sizeof *s_envs)
#define S_MAIN 0

/* Takes DATA_DIR/db/backup.lock exclusive (waiting for a trim under way):
 * the fd, to close when the copies are made, or -1 with err set. */
static int s_trims_stop(const char *data_dir, tsr_error_t *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s/" TSR_STORE_BACKUP_LOCK, data_dir, s_envs[S_MAIN].dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        tsr_error_at(err, path, 0);
        tsr_error_set(err, "", "cannot lock it against the collector's log trims: %s",
                      strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void s_path(char *buf, size_t cap, const char *dir, const char *name)
{
    /* paths are PATH_MAX at most, and buffers a little more */
    if (snprintf(buf, cap, "%s/%s", dir, name) >= (int)cap)
        buf[0] = '\0';
}

int tsr_collector_backup(const char *data_dir, const char *out, const tsr_collector_file_t *files,
                         size_t n, tsr_error_t *err)
{
    char from[4200], to[4200];
    int rc = tsr_backup_dir_new(out, err);
    json_t *m = json_object(), *envs = json_array(), *copied = json_array();
    if (!m || !envs || !copied)
        rc = rc ? rc : TSR_ENOMEM;
    int lock = rc == 0 ? s_trims_stop(data_dir, err) : -1;
    if (rc == 0 && lock < 0)
        rc = TSR_EIO;
    for (size_t i = 0; rc == 0 && i < S_NENVS; i++) {
        s_path(from, sizeof from, data_dir, s_envs[i].dir);
        s_path(to, sizeof to, out, s_envs[i].dir);
        if ((rc = tsr_backup_env_copy(from, to, err)) == 0)
            json_array_append_new(envs, json_string(s_envs[i].dir));
    }
    if (lock >= 0)
        close(lock); /* trims go on */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (access(files[i].path, F_OK) != 0)
            continue;
        s_path(to, sizeof to, out, files[i].name);
        if ((rc = tsr_backup_file_copy(files[i].path, to, err)) == 0)
            json_array_append_new(copied, json_string(files[i].name));
    }
    /* the manifest describes the copy, not the live store that moved on */
    tsr_store_summary_t sum;
    if (rc == 0) {
        s_path(to, sizeof to, out, s_envs[S_MAIN].dir);
        rc = tsr_store_summary(to, &sum, err);
    }
    if (rc == 0) {
        json_object_set_new(m, "program", json_string("tessera-collector"));
        json_object_set_new(m, "tessera_version", json_string(TSR_VERSION));
        json_object_set_new(m, "store_format", json_integer(sum.format));
        json_object_set_new(m, "records", json_integer((json_int_t)sum.records));
        json_object_set_new(m, "ingest_log_waiting", json_integer((json_int_t)sum.logged));
        json_object_set_new(m, "last_alert_seq", json_integer((json_int_t)sum.last_alert));
        json_object_set_new(m, "environments", envs);
        json_object_set_new(m, "files", copied);
        envs = copied = NULL;
        rc = tsr_backup_manifest_write(out, m, (int64_t)time(NULL), err);
    }
    if (rc == 0) {
        /* for the metrics' backup age; the backup stands without it */
        char note[4200 + 32];
        s_path(to, sizeof to, data_dir, "last_backup");
        int len = snprintf(note, sizeof note, "%lld %s\n", (long long)time(NULL), out);
        tsr_error_t ignored;
        if (tsr_fsmode_write(to, note, (size_t)len, 0600, true, &ignored) != 0)
            fprintf(stderr,
                    "tessera-collector backup: note: %s not written; the backup is "
                    "complete\n",
                    to);
    }
    if (rc == 0)
        printf("backup %s: store format %u, %llu records (and %zu acknowledged entries waiting "
               "in the ingest log), last alert %llu\n",
               out, sum.format, (unsigned long long)sum.records, sum.logged,
               (unsigned long long)sum.last_alert);
    json_decref(envs);
    json_decref(copied);
    json_decref(m);
    return rc;
}

/* The restored store against its manifest: a copy damaged on the way (or
 * a manifest of another backup) is caught before a collector serves it. */
static int s_verify(const char *envdir, const json_t *m, const char *mpath, tsr_error_t *err)
{
    uint64_t records, logged, last;
    int rc = tsr_backup_manifest_u64(m, mpath, "records", &records, err);
    if (rc == 0)
        rc = tsr_backup_manifest_u64(m, mpath, "ingest_log_waiting", &logged, err);
    if (rc == 0)
        rc = tsr_backup_manifest_u64(m, mpath, "last_alert_seq", &last, err);
    tsr_store_summary_t sum;
    if (rc == 0)
        rc = tsr_store_summary(envdir, &sum, err);
    if (rc == 0 && (sum.records != records || sum.logged != logged || sum.last_alert != last)) {
        tsr_error_at(err, envdir, 0);
        tsr_error_set(err, "",
                      "the restored store does not match %s (records %llu, log %zu, "
                      "last alert %llu there; %llu, %llu, %llu in the manifest): the "
                      "backup is damaged; the restored copy was removed",
                      TSR_BACKUP_MANIFEST, (unsigned long long)sum.records, sum.logged,
                      (unsigned long long)sum.last_alert, (unsigned long long)records,
                      (unsigned long long)logged, (unsigned long long)last);
        rc = TSR_ECORRUPT;
    }
    return rc;
}

/* Every environment the manifest lists is in the backup from: a copy
 * that lost one (the audit log, say) is refused, not restored without it.
 * (One the manifest does not list may be missing: a backup from before
 * that environment existed.) */
static int s_listed_present(const json_t *m, const char *from, tsr_error_t *err)
{
    const json_t *listed = json_object_get(m, "environments");
    char path[4200];
    size_t i;
    json_t *v;
    json_array_foreach(listed, i, v)
    {
        for (size_t k = 0; k < S_NENVS; k++) {
            s_path(path, sizeof path, from, s_envs[k].dir);
            if (json_is_string(v) && !strcmp(json_string_value(v), s_envs[k].dir) &&
                access(path, F_OK) != 0) {
                tsr_error_at(err, path, 0);
                tsr_error_set(err, "", "missing, though %s lists it (%s): the backup is "
                              "incomplete; nothing was restored", TSR_BACKUP_MANIFEST,
                              s_envs[k].holds);
                return TSR_ENOTFOUND;
            }
        }
    }
    return 0;
}

int tsr_collector_restore(const char *from, const char *data_dir, const tsr_collector_file_t *files,
                          size_t n, uint64_t alerts_after, tsr_error_t *err)
{
    char a[4200], b[4200];
    json_t *m = NULL;
    uint64_t format = 0;
    s_path(a, sizeof a, from, TSR_BACKUP_MANIFEST);
    int rc = tsr_backup_manifest_read(from, "tessera-collector", &m, err);
    if (rc == 0 && (rc = tsr_backup_manifest_u64(m, a, "store_format", &format, err)) == 0 &&
        format > TSR_STORE_FORMAT) {
        tsr_error_at(err, a, 0);
        rc = tsr_error_set(err, "store_format",
                           "%llu: this backup was made by a later tessera-collector (this one "
                           "reads formats 1 to %d); restore it with that version",
                           (unsigned long long)format, TSR_STORE_FORMAT);
    }
    if (rc == 0)
        rc = s_listed_present(m, from, err);
    /* every environment checked before any is written: all or nothing;
     * main first, so a refusal names the store */
    for (size_t k = 0; rc == 0 && k < S_NENVS; k++) {
        s_path(b, sizeof b, data_dir, s_envs[(S_MAIN + k) % S_NENVS].dir);
        rc = tsr_backup_target_check(b, err);
    }
    if (rc == 0 && access(data_dir, F_OK) != 0 && mkdir(data_dir, 0700) != 0) {
        tsr_error_at(err, data_dir, 0);
        tsr_error_set(err, "", "cannot create the data directory: %s", strerror(errno));
        rc = TSR_EIO;
    }
    size_t done = 0;
    for (; rc == 0 && done < S_NENVS; done++) {
        s_path(a, sizeof a, from, s_envs[done].dir);
        s_path(b, sizeof b, data_dir, s_envs[done].dir);
        /* a backup from before the log (or the audit log) had its own
         * environment holds main only (its log inside): the collector
         * starts an empty one, or moves main's audit entries into it */
        if (done != S_MAIN && access(a, F_OK) != 0)
            continue;
        rc = tsr_backup_env_restore(a, b, err);
    }
    if (rc == 0) {
        s_path(a, sizeof a, from, TSR_BACKUP_MANIFEST);
        s_path(b, sizeof b, data_dir, s_envs[S_MAIN].dir);
        rc = s_verify(b, m, a, err);
    }
    uint64_t last = 0;
    if (rc == 0 && alerts_after > 0) {
        s_path(b, sizeof b, data_dir, s_envs[S_MAIN].dir);
        rc = tsr_store_alerts_after(b, alerts_after, &last, err);
    }
    if (rc != 0) /* what this restore put in place goes again */
        for (size_t i = 0; i < done; i++) {
            s_path(b, sizeof b, data_dir, s_envs[i].dir);
            strncat(b, "/data.mdb", sizeof b - strlen(b) - 1);
            unlink(b);
        }
    const json_t *names = rc == 0 ? json_object_get(m, "files") : NULL;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t j;
        json_t *v;
        bool has = false;
        json_array_foreach(names, j, v) has |=
            json_is_string(v) && !strcmp(json_string_value(v), files[i].name);
        if (!has)
            continue;
        if (access(files[i].path, F_OK) == 0) {
            printf("kept %s (already there; the backup's copy is %s/%s)\n", files[i].path, from,
                   files[i].name);
            continue;
        }
        s_path(a, sizeof a, from, files[i].name);
        if ((rc = tsr_backup_file_copy(a, files[i].path, err)) == 0)
            printf("restored %s\n", files[i].path);
    }
    if (rc == 0) {
        uint64_t records = 0, backup_last = 0;
        tsr_backup_manifest_u64(m, "", "records", &records, NULL);
        tsr_backup_manifest_u64(m, "", "last_alert_seq", &backup_last, NULL);
        if (last < backup_last)
            last = backup_last;
        printf("restored %s into %s: %llu records, last alert %llu (made %s). Start the "
               "collector; the next alert is %llu\n",
               from, data_dir, (unsigned long long)records, (unsigned long long)backup_last,
               json_string_value(json_object_get(m, "created")) ?: "?",
               (unsigned long long)last + 1);
    }
    json_decref(m);
    return rc;
}

int64_t tsr_collector_last_backup(const char *data_dir)
{
    char path[4200];
    s_path(path, sizeof path, data_dir, "last_backup");
    FILE *f = fopen(path, "re");
    long long t = 0;
    if (f) {
        if (fscanf(f, "%lld", &t) != 1 || t < 0)
            t = 0;
        fclose(f);
    }
    return (int64_t)t;
}
