/* backup.c - hot copies of LMDB environments, the manifest beside them,
 * and putting a copy back (backup.h). */
#include "tessera/backup.h"
#include "tessera/err.h"
#include "tessera/fsmode.h"
#include "tessera/kv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int s_io(struct tsr_error *err, const char *path, const char *what, int e)
{
    tsr_error_at(err, path, 0);
    tsr_error_set(err, "", "%s: %s", what, strerror(e));
    return TSR_EIO;
}

/* True when path names a directory with no entry but . and .. */
static bool s_dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)) != NULL)
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

int tsr_backup_dir_new(const char *out, struct tsr_error *err)
{
    if (mkdir(out, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return s_io(err, out, "cannot create the backup directory", errno);
    if (!s_dir_empty(out)) {
        tsr_error_at(err, out, 0);
        tsr_error_set(err, "",
                      "exists and is not an empty directory: name a new directory "
                      "for the backup (an older backup is never overwritten)");
        return TSR_EEXIST;
    }
    return chmod(out, 0700) == 0 ? 0 : s_io(err, out, "cannot chmod 0700", errno);
}

static void s_join(char *buf, size_t cap, const char *dir, const char *name)
{
    /* paths are PATH_MAX at most, and buffers a little more */
    if (snprintf(buf, cap, "%s/%s", dir, name) >= (int)cap)
        buf[0] = '\0';
}

int tsr_backup_env_copy(const char *envdir, const char *to_dir, struct tsr_error *err)
{
    char data[4200];
    s_join(data, sizeof data, envdir, "data.mdb");
    if (access(data, F_OK) != 0) {
        tsr_error_at(err, data, 0);
        tsr_error_set(err, "", "no store here (%s): is the data directory right?", strerror(errno));
        return TSR_ENOTFOUND;
    }
    if (mkdir(to_dir, 0700) != 0)
        return s_io(err, to_dir, "cannot create", errno);
    tsr_kv_t *kv = NULL;
    tsr_kv_opts_t o = {.dir = envdir, .read_only = true};
    int rc = tsr_kv_open(&kv, &o, err);
    if (rc == 0 && (rc = tsr_kv_copy(kv, to_dir)) != 0) {
        tsr_error_at(err, to_dir, 0);
        tsr_error_set(err, "", "copying %s failed: %s", envdir, tsr_strerror(rc));
    }
    tsr_kv_close(&kv);
    return rc;
}

int tsr_backup_manifest_write(const char *dir, json_t *m, int64_t now, struct tsr_error *err)
{
    char path[4200], when[32];
    time_t t = (time_t)now;
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    s_join(path, sizeof path, dir, TSR_BACKUP_MANIFEST);
    if (json_object_set_new(m, "created", json_string(when)) != 0 ||
        json_object_set_new(m, "created_unix", json_integer(now)) != 0)
        return TSR_ENOMEM;
    char *text = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return TSR_ENOMEM;
    size_t n = strlen(text);
    text[n] = '\n'; /* the trailing NUL becomes the last line's end */
    int rc = tsr_fsmode_write(path, text, n + 1, 0600, false, err);
    free(text);
    return rc;
}

int tsr_backup_manifest_read(const char *dir, const char *program, json_t **out,
                             struct tsr_error *err)
{
    char path[4200];
    s_join(path, sizeof path, dir, TSR_BACKUP_MANIFEST);
    *out = NULL;
    json_error_t je;
    json_t *m = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!m) {
        tsr_error_at(err, path, je.line > 0 ? je.line : 0);
        tsr_error_set(err, "", "%s%s", je.text,
                      access(path, F_OK) != 0
                          ? " (not a backup, or an unfinished one: the manifest is written last)"
                          : "");
        return access(path, F_OK) != 0 ? TSR_ENOTFOUND : TSR_EINVAL;
    }
    const char *prog = json_string_value(json_object_get(m, "program"));
    if (!json_is_object(m) || !prog || strcmp(prog, program) != 0) {
        tsr_error_at(err, path, 0);
        tsr_error_set(err, "program", "this backup was made by %s, not %s", prog ? prog : "?",
                      program);
        json_decref(m);
        return TSR_EINVAL;
    }
    *out = m;
    return 0;
}

int tsr_backup_manifest_u64(const json_t *m, const char *path, const char *field, uint64_t *out,
                            struct tsr_error *err)
{
    const json_t *v = json_object_get(m, field);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        tsr_error_at(err, path, 0);
        return tsr_error_set(err, field, "missing or not a non-negative integer");
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* The pid holding LMDB's lock on envdir/lock.mdb (a process that has the
 * environment open holds a read lock on its first byte for as long), 0 if
 * none. */
static pid_t s_lock_holder(const char *envdir)
{
    char lock[4200];
    s_join(lock, sizeof lock, envdir, "lock.mdb");
    int fd = open(lock, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    pid_t pid = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? fl.l_pid : 0;
    close(fd);
    return pid;
}

int tsr_backup_target_check(const char *envdir, struct tsr_error *err)
{
    char data[4200];
    s_join(data, sizeof data, envdir, "data.mdb");
    if (access(data, F_OK) != 0)
        return 0;
    pid_t pid = s_lock_holder(envdir);
    tsr_error_at(err, data, 0);
    if (pid > 0)
        tsr_error_set(err, "",
                      "a live store: process %ld has it open. Stop the service "
                      "first; nothing was changed",
                      (long)pid);
    else
        tsr_error_set(err, "",
                      "a store is already here; restore never overwrites one. Move "
                      "the directory aside (or restore into a new one) and run "
                      "restore again");
    return TSR_EEXIST;
}

/* Copies from into the new file to (mode 0600), fsync'ed. */
static int s_copy_file(const char *from, const char *to, struct tsr_error *err)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return s_io(err, from, "cannot open", errno);
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = errno;
        close(in);
        return s_io(err, to, "cannot create", e);
    }
    static char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0) {
            rc = errno == EINTR ? 0 : s_io(err, from, "cannot read", errno);
            continue;
        }
        for (ssize_t off = 0; rc == 0 && off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR) {
                int e = errno;
                rc = s_io(err, to, "cannot write", e);
                if (e == ENOSPC || e == EDQUOT)
                    rc = TSR_ENOSPC;
            } else if (w > 0)
                off += w;
        }
    }
    if (rc == 0 && fsync(out) != 0)
        rc = s_io(err, to, "cannot fsync", errno);
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = s_io(err, to, "cannot close", errno);
    if (rc != 0)
        unlink(to);
    return rc;
}

int tsr_backup_file_copy(const char *from, const char *to, struct tsr_error *err)
{
    return s_copy_file(from, to, err);
}

int tsr_backup_env_restore(const char *from_dir, const char *envdir, struct tsr_error *err)
{
    int rc = tsr_backup_target_check(envdir, err);
    if (rc != 0)
        return rc;
    if (mkdir(envdir, 0700) != 0 && errno != EEXIST)
        return s_io(err, envdir, "cannot create", errno);
    char from[4200], tmp[4200], to[4200];
    s_join(from, sizeof from, from_dir, "data.mdb");
    s_join(tmp, sizeof tmp, envdir, "data.mdb.restoring");
    s_join(to, sizeof to, envdir, "data.mdb");
    unlink(tmp); /* what an interrupted restore left */
    if ((rc = s_copy_file(from, tmp, err)) != 0)
        return rc;
    /* link(2) fails when data.mdb appeared meanwhile: never overwrite */
    if (link(tmp, to) != 0) {
        int e = errno;
        unlink(tmp);
        return e == EEXIST ? tsr_backup_target_check(envdir, err)
                           : s_io(err, to, "cannot put in place", e);
    }
    unlink(tmp);
    int dfd = open(envdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
