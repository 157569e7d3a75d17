/* tsr_test_disk.h - a small disk of its own for tests of the full-disk
 * path. Needs _GNU_SOURCE (unshare), defined before the first include. */
#ifndef TSR_TEST_DISK_H
#define TSR_TEST_DISK_H

/* In a child process (fork first: it changes the caller's namespaces):
 * mounts a tmpfs of `size` ("256k") on dir in a mount namespace of its own,
 * inside a user namespace where the caller is root, so a test can fill a
 * disk without root and without touching anyone else's. Returns 0, or -1
 * when this kernel or sandbox does not allow it (the test then skips). */
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int s_test_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static inline int tsr_test_small_disk(const char *dir, const char *size)
{
    char map[64];
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return -1;
    s_test_write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    if (s_test_write_file("/proc/self/uid_map", map) != 0)
        return -1;
    snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
    if (s_test_write_file("/proc/self/gid_map", map) != 0)
        return -1;
    char opts[64];
    snprintf(opts, sizeof opts, "size=%s,mode=0700", size);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", dir, "tmpfs", 0, opts) != 0)
        return -1;
    return 0;
}

/* What tsr_test_on_small_disk returns when it cannot make the disk. */
#define TSR_TEST_DISK_SKIP 77

/* Runs fn(dir) in a child process with a tmpfs of `size` on dir (an empty
 * directory) and returns what fn returned (0..76: the test's own codes),
 * TSR_TEST_DISK_SKIP when the disk cannot be made here, or 255 when the
 * child did not exit normally. fn must not use cmocka's asserts (they
 * would go on running the tests in the child). */
static inline int tsr_test_on_small_disk(const char *dir, const char *size,
                                         int (*fn)(const char *dir))
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(tsr_test_small_disk(dir, size) != 0 ? TSR_TEST_DISK_SKIP : fn(dir));
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return 255;
    return WEXITSTATUS(status);
}

#endif
