/* fsmode.c - StrictModes-like checks of the files a program trusts, the
 * refusal to run as root, and secret files written without a window. */
#include "tessera/fsmode.h"
#include "tessera/err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* A directory checked only because a checked file is in it: as DIR, but a
 * sticky one may be writable by others (nobody else can replace our file
 * there). Weakest of the kinds. */
#define S_PARENT 0

/* "name" or "uid N" for messages and chown commands. */
static const char *s_user(uid_t uid, char *buf, size_t cap)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res && res->pw_name[0])
        snprintf(buf, cap, "%s", res->pw_name);
    else
        snprintf(buf, cap, "%u", (unsigned)uid);
    return buf;
}

static int s_say(char *why, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int s_say(char *why, size_t cap, int rc, const char *fmt, ...)
{
    if (why && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* The verdict on one stat'ed path (see the header for the rules). */
static int s_judge(const struct stat *st, const char *path, int kind, char *why, size_t cap)
{
    bool dir = kind == TSR_FSMODE_DIR || kind == S_PARENT;
    if (dir && !S_ISDIR(st->st_mode))
        return s_say(why, cap, TSR_EPERM, "is not a directory");
    if (!dir && !S_ISREG(st->st_mode))
        return s_say(why, cap, TSR_EPERM, "is not a regular file");
    uid_t me = geteuid();
    mode_t mask = kind == TSR_FSMODE_SECRET ? 077 : 022;
    bool bad_mode = (st->st_mode & mask) && !(kind == S_PARENT && (st->st_mode & S_ISVTX));
    bool bad_owner = st->st_uid != me && st->st_uid != 0;
    if (!bad_mode && !bad_owner)
        return 0;
    char owner[2 * 128 + 64] = "", mode[128] = "", fix[2 * PATH_MAX + 300] = "", name[128], mine[128];
    s_user(me, mine, sizeof mine);
    if (bad_owner) {
        snprintf(owner, sizeof owner, "owned by %s, not by %s (who runs this)%s",
                 s_user(st->st_uid, name, sizeof name), mine, me != 0 ? " or root" : "");
        snprintf(fix, sizeof fix, "chown %s %s", mine, path);
    }
    if (bad_mode) {
        unsigned m = (unsigned)(st->st_mode & 07777);
        snprintf(mode, sizeof mode, "%s%s by group or others (mode %04o)",
                 bad_owner ? ", and " : "",
                 kind == TSR_FSMODE_SECRET ? "readable or writable" : "writable", m);
        size_t used = strlen(fix);
        snprintf(fix + used, sizeof fix - used, "%schmod %o %s", used ? " && " : "",
                 m & ~(unsigned)mask, path);
    }
    return s_say(why, cap, TSR_EPERM, "%s%s; run: %s", owner, mode, fix);
}

int tsr_fsmode_check(const char *path, tsr_fsmode_kind_t kind, char *why, size_t cap)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        return s_say(why, cap, e == ENOENT ? TSR_ENOTFOUND : TSR_EIO, "cannot stat: %s",
                     strerror(e));
    }
    return s_judge(&st, path, (int)kind, why, cap);
}

int tsr_fsmode_check_fd(int fd, const char *path, tsr_fsmode_kind_t kind, char *why, size_t cap)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return s_say(why, cap, TSR_EIO, "cannot stat: %s", strerror(errno));
    return s_judge(&st, path, (int)kind, why, cap);
}

typedef struct {
    dev_t dev;
    ino_t ino;
    int kind;   /* the strictest asked for */
    char *path; /* as first named */
} s_seen_t;

/* Notes path (which exists) with kind, keeping the strictest kind per file. */
static int s_note(s_seen_t *seen, size_t *n, const char *path, int kind)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0; /* missing: created safely later, or not ours to judge */
    for (size_t i = 0; i < *n; i++)
        if (seen[i].dev == st.st_dev && seen[i].ino == st.st_ino) {
            if (kind > seen[i].kind)
                seen[i].kind = kind;
            return 0;
        }
    if (!(seen[*n].path = strdup(path)))
        return TSR_ENOMEM;
    seen[*n].dev = st.st_dev;
    seen[*n].ino = st.st_ino;
    seen[*n].kind = kind;
    (*n)++;
    return 0;
}

/* The real directory path is in (resolving symlinks), malloc'd; NULL if
 * there is none. */
static char *s_parent(const char *path)
{
    char *real = realpath(path, NULL), *copy = NULL, *out = NULL;
    if (real) {
        out = strdup(dirname(real));
    } else if ((copy = strdup(path))) {
        out = realpath(dirname(copy), NULL);
    }
    free(real);
    free(copy);
    return out;
}

int tsr_fsmode_check_all(const tsr_fsmode_item_t *items, size_t n, tsr_fsmode_report_fn report,
                         void *ctx)
{
    s_seen_t *seen = calloc(2 * n + 1, sizeof *seen);
    size_t n_seen = 0;
    int rc = seen ? 0 : TSR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!items[i].path || !items[i].path[0])
            continue;
        rc = s_note(seen, &n_seen, items[i].path, (int)items[i].kind);
        char *parent = rc == 0 ? s_parent(items[i].path) : NULL;
        if (parent)
            rc = s_note(seen, &n_seen, parent, S_PARENT);
        free(parent);
    }
    int problems = 0;
    char *why = rc == 0 ? malloc(TSR_FSMODE_WHY_MAX) : NULL;
    char *line = why ? malloc(TSR_FSMODE_WHY_MAX + PATH_MAX + 4) : NULL;
    if (rc == 0 && !line)
        rc = TSR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n_seen; i++) {
        struct stat st;
        int v = stat(seen[i].path, &st) == 0
                    ? s_judge(&st, seen[i].path, seen[i].kind, why, TSR_FSMODE_WHY_MAX)
                    : s_say(why, TSR_FSMODE_WHY_MAX, TSR_EIO, "cannot stat: %s", strerror(errno));
        if (v != 0) {
            problems++;
            snprintf(line, TSR_FSMODE_WHY_MAX + PATH_MAX + 4, "%s: %s", seen[i].path, why);
            report(ctx, line);
        }
    }
    for (size_t i = 0; seen && i < n_seen; i++)
        free(seen[i].path);
    free(seen);
    free(why);
    free(line);
    return rc != 0 ? rc : problems;
}

int tsr_fsmode_refuse_root(const char *prog, bool allow_root, char *why, size_t cap)
{
    if (geteuid() != 0 || allow_root)
        return 0;
    return s_say(why, cap, TSR_EPERM,
                 "refusing to run as root: run %s as a dedicated unprivileged user that owns "
                 "its files (for example: sudo -u tessera %s ...); --allow-root overrides this, "
                 "for tests and demos only",
                 prog, prog);
}

static int s_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory path is in, so a new name survives a crash. Best
 * effort: some file systems cannot sync a directory. */
static void s_sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

/* Opens a new file dir-of-path/.NAME.XXXXXXXXXXXX exclusively; fills tmp. */
static int s_open_temp(const char *path, mode_t mode, char *tmp, size_t cap)
{
    const char *slash = strrchr(path, '/');
    int dlen = slash ? (int)(slash - path + 1) : 0;
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned char r[6];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            return -1;
        if ((size_t)snprintf(tmp, cap, "%.*s.%s.%02x%02x%02x%02x%02x%02x", dlen, path, path + dlen,
                             r[0], r[1], r[2], r[3], r[4], r[5]) >= cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

int tsr_fsmode_write(const char *path, const void *data, size_t len, mode_t mode, bool replace,
                     tsr_error_t *err)
{
    char tmp[PATH_MAX + 32];
    tsr_error_at(err, path, 0);
    int fd = replace ? s_open_temp(path, mode, tmp, sizeof tmp)
                     : open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    const char *made = replace ? tmp : path;
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST && !replace) {
            tsr_error_set(err, "", "exists; refusing to overwrite it");
            return TSR_EEXIST;
        }
        tsr_error_set(err, "", "cannot create%s: %s", replace ? " a temporary file beside it" : "",
                      strerror(e));
        return TSR_EIO;
    }
    /* a public mode wider than the umask allows is set exactly; a secret's
     * 0600 is only ever narrowed by the umask, never widened */
    bool ok = ((mode & 077) == 0 || fchmod(fd, mode) == 0) && s_write_all(fd, data, len) == 0 &&
              fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        unlink(made);
        tsr_error_set(err, "", "cannot write: %s", strerror(e));
        return TSR_EIO;
    }
    if (replace && rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        tsr_error_set(err, "", "cannot replace: %s", strerror(e));
        return TSR_EIO;
    }
    s_sync_dir(path);
    return TSR_OK;
}
