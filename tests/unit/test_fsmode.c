/* test_fsmode.c - StrictModes-like checks (modes, owners, kinds, parents,
 * each file once), the refusal to run as root, and secret files written
 * without following a symlink or truncating anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsr_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/err.h"
#include "tessera/fsmode.h"

static int s_setup(void **state)
{
    (void)state;
    return tsr_test_dir_make("fsmode");
}

/* s_dir/name, made as a file with text and mode (or a directory if text is NULL). */
static const char *s_make(const char *name, const char *text, mode_t mode)
{
    static char path[8][256];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 256, "%s/%s", s_dir, name);
    if (text) {
        FILE *fp = fopen(p, "w");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
    } else {
        assert_int_equal(mkdir(p, 0700), 0);
    }
    assert_int_equal(chmod(p, mode), 0);
    return p;
}

static char *s_read(const char *path)
{
    static char buf[256];
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_modes(void **state)
{
    (void)state;
    char why[TSR_FSMODE_WHY_MAX], want[1024];
    const char *f = s_make("clients", "x\n", 0644);
    assert_int_equal(tsr_fsmode_check(f, TSR_FSMODE_FILE, why, sizeof why), 0);
    /* readable is fine for a trusted file, not for a secret */
    assert_int_equal(tsr_fsmode_check(f, TSR_FSMODE_SECRET, why, sizeof why), TSR_EPERM);
    snprintf(want, sizeof want,
             "readable or writable by group or others (mode 0644); run: chmod 600 %s", f);
    assert_string_equal(why, want);

    assert_int_equal(chmod(f, 0666), 0);
    assert_int_equal(tsr_fsmode_check(f, TSR_FSMODE_FILE, why, sizeof why), TSR_EPERM);
    snprintf(want, sizeof want, "writable by group or others (mode 0666); run: chmod 644 %s", f);
    assert_string_equal(why, want);
    assert_int_equal(chmod(f, 0620), 0); /* group-writable alone is enough */
    assert_int_equal(tsr_fsmode_check(f, TSR_FSMODE_FILE, why, sizeof why), TSR_EPERM);
    snprintf(want, sizeof want, "writable by group or others (mode 0620); run: chmod 600 %s", f);
    assert_string_equal(why, want);

    const char *k = s_make("secret.key", "k\n", 0600);
    assert_int_equal(tsr_fsmode_check(k, TSR_FSMODE_SECRET, why, sizeof why), 0);
    assert_int_equal(chmod(k, 0604), 0);
    assert_int_equal(tsr_fsmode_check(k, TSR_FSMODE_SECRET, why, sizeof why), TSR_EPERM);
    snprintf(want, sizeof want,
             "readable or writable by group or others (mode 0604); run: chmod 600 %s", k);
    assert_string_equal(why, want);

    const char *d = s_make("data", NULL, 0777);
    assert_int_equal(tsr_fsmode_check(d, TSR_FSMODE_DIR, why, sizeof why), TSR_EPERM);
    snprintf(want, sizeof want, "writable by group or others (mode 0777); run: chmod 755 %s", d);
    assert_string_equal(why, want);
    assert_int_equal(chmod(d, 0755), 0);
    assert_int_equal(tsr_fsmode_check(d, TSR_FSMODE_DIR, why, sizeof why), 0);
    /* a sticky bit does not excuse a directory the program keeps state in */
    assert_int_equal(chmod(d, 01777), 0);
    assert_int_equal(tsr_fsmode_check(d, TSR_FSMODE_DIR, why, sizeof why), TSR_EPERM);
    snprintf(want, sizeof want, "writable by group or others (mode 1777); run: chmod 1755 %s", d);
    assert_string_equal(why, want);

    /* kinds: a directory is not a file and a file is not a directory */
    assert_int_equal(tsr_fsmode_check(d, TSR_FSMODE_FILE, why, sizeof why), TSR_EPERM);
    assert_string_equal(why, "is not a regular file");
    assert_int_equal(tsr_fsmode_check(k, TSR_FSMODE_DIR, why, sizeof why), TSR_EPERM);
    assert_string_equal(why, "is not a directory");

    char missing[256];
    snprintf(missing, sizeof missing, "%s/missing", s_dir);
    assert_int_equal(tsr_fsmode_check(missing, TSR_FSMODE_FILE, why, sizeof why), TSR_ENOTFOUND);
    assert_string_equal(why, "cannot stat: No such file or directory");

    /* the fd form judges the open file */
    int fd = open(k, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(tsr_fsmode_check_fd(fd, k, TSR_FSMODE_SECRET, why, sizeof why), TSR_EPERM);
    close(fd);
    assert_int_equal(tsr_fsmode_check_fd(-1, k, TSR_FSMODE_SECRET, why, sizeof why), TSR_EIO);
    assert_string_equal(why, "cannot stat: Bad file descriptor");
}

static void test_owner(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* only root can give a file away */
    char why[TSR_FSMODE_WHY_MAX], want[1024];
    const char *f = s_make("theirs", "x\n", 0600);
    assert_int_equal(chown(f, 65534, 65534), 0);
    assert_int_equal(tsr_fsmode_check(f, TSR_FSMODE_SECRET, why, sizeof why), TSR_EPERM);
    snprintf(want, sizeof want, "owned by nobody, not by root (who runs this); run: chown root %s",
             f);
    assert_string_equal(why, want);
    assert_int_equal(chmod(f, 0666), 0);
    assert_int_equal(tsr_fsmode_check(f, TSR_FSMODE_FILE, why, sizeof why), TSR_EPERM);
    snprintf(want, sizeof want,
             "owned by nobody, not by root (who runs this), and writable by group or others "
             "(mode 0666); run: chown root %s && chmod 644 %s",
             f, f);
    assert_string_equal(why, want);
    assert_int_equal(chown(f, 0, 0), 0);
    assert_int_equal(chmod(f, 0644), 0);
    assert_int_equal(tsr_fsmode_check(f, TSR_FSMODE_FILE, why, sizeof why), 0);
}

typedef struct {
    int n;
    char lines[8][1024];
} s_reports_t;

static void s_report(void *ctx, const char *problem)
{
    s_reports_t *r = ctx;
    if (r->n < 8)
        snprintf(r->lines[r->n], sizeof r->lines[0], "%s", problem);
    r->n++;
}

static void test_check_all(void **state)
{
    (void)state;
    char dir[256], sub[256], key[256], conf[256], db[256], missing[256], want[1024];
    snprintf(dir, sizeof dir, "%s/all", s_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(sub, sizeof sub, "%s/all/db", s_dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(key, sizeof key, "%s/all/server.key", s_dir);
    snprintf(conf, sizeof conf, "%s/all/clients", s_dir);
    snprintf(db, sizeof db, "%s/all/db/data.mdb", s_dir);
    snprintf(missing, sizeof missing, "%s/all/not-yet", s_dir);
    s_make("all/server.key", "k\n", 0600);
    s_make("all/clients", "c\n", 0644);
    s_make("all/db/data.mdb", "d\n", 0600);
    tsr_fsmode_item_t items[] = {
        {dir, TSR_FSMODE_DIR},    {sub, TSR_FSMODE_DIR},   {conf, TSR_FSMODE_FILE},
        {key, TSR_FSMODE_SECRET}, {db, TSR_FSMODE_SECRET}, {missing, TSR_FSMODE_SECRET},
        {NULL, TSR_FSMODE_FILE},  {"", TSR_FSMODE_FILE},
    };
    size_t n = sizeof items / sizeof items[0];
    s_reports_t r = {0};
    assert_int_equal(tsr_fsmode_check_all(items, n, s_report, &r), 0);
    assert_int_equal(r.n, 0);

    /* every problem once, in order, each naming its file */
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(chmod(conf, 0666), 0);
    assert_int_equal(chmod(db, 0640), 0);
    memset(&r, 0, sizeof r);
    assert_int_equal(tsr_fsmode_check_all(items, n, s_report, &r), 3);
    assert_int_equal(r.n, 3);
    snprintf(want, sizeof want, "%s: writable by group or others (mode 0777); run: chmod 755 %s",
             dir, dir);
    assert_string_equal(r.lines[0], want);
    snprintf(want, sizeof want, "%s: writable by group or others (mode 0666); run: chmod 644 %s",
             conf, conf);
    assert_string_equal(r.lines[1], want);
    snprintf(want, sizeof want,
             "%s: readable or writable by group or others (mode 0640); run: chmod 600 %s", db, db);
    assert_string_equal(r.lines[2], want);

    /* a file's directory is checked even when only the file is listed; a
     * sticky one (like /tmp) is fine as a file's directory */
    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(chmod(conf, 0644), 0);
    assert_int_equal(chmod(db, 0600), 0);
    assert_int_equal(chmod(sub, 0775), 0);
    tsr_fsmode_item_t only_db[] = {{db, TSR_FSMODE_SECRET}};
    memset(&r, 0, sizeof r);
    assert_int_equal(tsr_fsmode_check_all(only_db, 1, s_report, &r), 1);
    snprintf(want, sizeof want, "%s: writable by group or others (mode 0775); run: chmod 755 %s",
             sub, sub);
    assert_string_equal(r.lines[0], want);
    assert_int_equal(chmod(sub, 01777), 0);
    memset(&r, 0, sizeof r);
    assert_int_equal(tsr_fsmode_check_all(only_db, 1, s_report, &r), 0);
    /* ... but not when it is listed as a directory of the program's own */
    tsr_fsmode_item_t both[] = {{db, TSR_FSMODE_SECRET}, {sub, TSR_FSMODE_DIR}};
    memset(&r, 0, sizeof r);
    assert_int_equal(tsr_fsmode_check_all(both, 2, s_report, &r), 1);
    snprintf(want, sizeof want, "%s: writable by group or others (mode 1777); run: chmod 1755 %s",
             sub, sub);
    assert_string_equal(r.lines[0], want);
    assert_int_equal(chmod(sub, 0700), 0);

    /* a missing file in an unsafe directory: the directory is reported */
    assert_int_equal(chmod(dir, 0757), 0);
    tsr_fsmode_item_t only_missing[] = {{missing, TSR_FSMODE_SECRET}};
    memset(&r, 0, sizeof r);
    assert_int_equal(tsr_fsmode_check_all(only_missing, 1, s_report, &r), 1);
    snprintf(want, sizeof want, "%s: writable by group or others (mode 0757); run: chmod 755 %s",
             dir, dir);
    assert_string_equal(r.lines[0], want);
    assert_int_equal(chmod(dir, 0700), 0);

    /* the strictest kind asked for a file wins, and it is judged once */
    assert_int_equal(chmod(conf, 0644), 0);
    tsr_fsmode_item_t twice[] = {{conf, TSR_FSMODE_FILE}, {conf, TSR_FSMODE_SECRET}};
    memset(&r, 0, sizeof r);
    assert_int_equal(tsr_fsmode_check_all(twice, 2, s_report, &r), 1);
    snprintf(want, sizeof want,
             "%s: readable or writable by group or others (mode 0644); run: chmod 600 %s", conf,
             conf);
    assert_string_equal(r.lines[0], want);
}

static void test_refuse_root(void **state)
{
    (void)state;
    char why[TSR_FSMODE_WHY_MAX] = "";
    assert_int_equal(tsr_fsmode_refuse_root("tessera-collector", true, why, sizeof why), 0);
    if (geteuid() != 0) {
        assert_int_equal(tsr_fsmode_refuse_root("tessera-collector", false, why, sizeof why), 0);
        return;
    }
    assert_int_equal(tsr_fsmode_refuse_root("tessera-collector", false, why, sizeof why),
                     TSR_EPERM);
    assert_string_equal(why, "refusing to run as root: run tessera-collector as a dedicated "
                             "unprivileged user that owns its files (for example: sudo -u tessera "
                             "tessera-collector ...); --allow-root overrides this, for tests and "
                             "demos only");
}

/* Entries of s_dir/name (to see that no temporary file is left). */
static int s_entries(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_write(void **state)
{
    (void)state;
    char dir[256], path[256], target[256], link[256];
    tsr_error_t err;
    tsr_error_clear(&err);
    snprintf(dir, sizeof dir, "%s/w", s_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/w/secret", s_dir);
    mode_t old = umask(022);

    /* a new secret: 0600, exactly the bytes */
    assert_int_equal(tsr_fsmode_write(path, "one\n", 4, 0600, false, &err), 0);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_string_equal(s_read(path), "one\n");
    /* never overwritten without replace */
    assert_int_equal(tsr_fsmode_write(path, "two\n", 4, 0600, false, &err), TSR_EEXIST);
    assert_string_equal(err.file, path);
    assert_string_equal(err.reason, "exists; refusing to overwrite it");
    assert_string_equal(s_read(path), "one\n");
    /* replaced: a new file (new inode), no temporary left behind */
    ino_t ino = st.st_ino;
    assert_int_equal(tsr_fsmode_write(path, "two\n", 4, 0600, true, &err), 0);
    assert_string_equal(s_read(path), "two\n");
    assert_int_equal(lstat(path, &st), 0);
    assert_true(st.st_ino != ino);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(s_entries("w"), 1);

    /* a public mode is set exactly, whatever the umask */
    umask(077);
    snprintf(path, sizeof path, "%s/w/public", s_dir);
    assert_int_equal(tsr_fsmode_write(path, "pub\n", 4, 0644, false, &err), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    umask(022);

    /* a symlink at the path: never written through, with or without replace */
    snprintf(target, sizeof target, "%s/w/elsewhere", s_dir);
    s_make("w/elsewhere", "precious\n", 0644);
    snprintf(link, sizeof link, "%s/w/link", s_dir);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(tsr_fsmode_write(link, "evil\n", 5, 0600, false, &err), TSR_EEXIST);
    assert_string_equal(s_read(target), "precious\n");
    assert_int_equal(tsr_fsmode_write(link, "new\n", 4, 0600, true, &err), 0);
    assert_string_equal(s_read(target), "precious\n");
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISREG(st.st_mode)); /* the link itself was replaced */
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_string_equal(s_read(link), "new\n");
    /* a dangling symlink is not followed to create its target */
    char dangling[256], nowhere[256];
    snprintf(dangling, sizeof dangling, "%s/w/dangling", s_dir);
    snprintf(nowhere, sizeof nowhere, "%s/w/nowhere", s_dir);
    assert_int_equal(symlink(nowhere, dangling), 0);
    assert_int_equal(tsr_fsmode_write(dangling, "x\n", 2, 0600, false, &err), TSR_EEXIST);
    assert_int_equal(access(nowhere, F_OK), -1);
    assert_int_equal(s_entries("w"), 5); /* secret, public, elsewhere, link, dangling */

    /* replacing a directory fails and leaves nothing behind */
    assert_int_equal(tsr_fsmode_write(dir, "x\n", 2, 0600, true, &err), TSR_EIO);
    assert_string_equal(err.reason, "cannot replace: Is a directory");
    DIR *d = opendir(s_dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        assert_true(strncmp(e->d_name, ".w.", 3) != 0); /* no temporary beside w */
    closedir(d);
    /* a directory that does not exist */
    snprintf(path, sizeof path, "%s/no/such", s_dir);
    assert_int_equal(tsr_fsmode_write(path, "x\n", 2, 0600, false, &err), TSR_EIO);
    assert_string_equal(err.reason, "cannot create: No such file or directory");
    umask(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes),     cmocka_unit_test(test_owner),
        cmocka_unit_test(test_check_all), cmocka_unit_test(test_refuse_root),
        cmocka_unit_test(test_write),
    };
    return cmocka_run_group_tests(tests, s_setup, tsr_test_dir_remove);
}
