/* lock.c - the agency directory's lock (lock.h). */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

struct agent_lock {
    int fd;
};

/* The PID the holder wrote into the file; 0 if none yet. */
static pid_t s_holder(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    return end != buf && pid > 0 ? (pid_t)pid : 0;
}

int agent_lock_new(agent_lock_t **out, const char *dir, long wait_ms, pid_t *holder,
                   tsr_error_t *err)
{
    *out = NULL;
    if (holder)
        *holder = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, AGENT_LOCK_FILE);
    tsr_error_at(err, path, 0);
    /* never through a symlink another user could plant (issue 15) */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        tsr_error_set(err, "", "cannot open the agent's lock file: %s", strerror(errno));
        return TSR_EIO;
    }
    for (long waited = 0;; waited += 100) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            tsr_error_set(err, "", "cannot lock: %s", strerror(errno));
            close(fd);
            return TSR_EIO;
        }
        if (waited >= wait_ms) {
            if (holder)
                *holder = s_holder(fd);
            close(fd);
            return TSR_EEXIST;
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    agent_lock_t *l = malloc(sizeof *l);
    if (!l) {
        close(fd); /* lets go of the lock */
        tsr_error_set(err, "", "out of memory");
        return TSR_ENOMEM;
    }
    l->fd = fd;
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    /* the PID is for the message of the process that waits: the lock
     * itself is the flock, so a failed write only loses the PID */
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        (void)0;
    *out = l;
    return TSR_OK;
}

void agent_lock_destroy(agent_lock_t **lock_p)
{
    if (!lock_p || !*lock_p)
        return;
    agent_lock_t *l = *lock_p;
    if (ftruncate(l->fd, 0) != 0) /* no PID of a process that has let go */
        (void)0;
    close(l->fd);
    free(l);
    *lock_p = NULL;
}
