/* log.c - "level module: message" on stderr (timestamped, or with a syslog
 * priority prefix under journald) or to syslog. */
#include "tessera/log.h"
#include "tessera/err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static tsr_log_level_t s_level = TSR_LOG_INFO;
static bool s_syslog;

/* How lines are written to stderr: not chosen yet, timestamped, journal. */
enum { S_UNSET = 0, S_PLAIN, S_JOURNAL };
static atomic_int s_form = S_UNSET;

static const char *const s_names[] = {"debug", "info", "warn", "error"};

void tsr_log_set_level(tsr_log_level_t level)
{
    s_level = level;
}

int tsr_log_parse_level(const char *name, tsr_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, s_names[i]) == 0) {
            *out = (tsr_log_level_t)i;
            return TSR_OK;
        }
    }
    return TSR_EINVAL;
}

int tsr_log_priority(tsr_log_level_t level)
{
    static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
    return level >= TSR_LOG_DEBUG && level <= TSR_LOG_ERROR ? prio[level] : LOG_ERR;
}

void tsr_log_open_syslog(const char *ident)
{
    openlog(ident, LOG_PID, LOG_DAEMON);
    s_syslog = true;
}

bool tsr_log_journal_fd(int fd)
{
    const char *env = getenv("JOURNAL_STREAM");
    if (!env || !*env)
        return false;
    char *end;
    errno = 0;
    uintmax_t dev = strtoumax(env, &end, 10);
    if (errno || end == env || *end != ':')
        return false;
    const char *ino_s = end + 1;
    uintmax_t ino = strtoumax(ino_s, &end, 10);
    if (errno || end == ino_s || *end != '\0')
        return false;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

void tsr_log_detect(void)
{
    atomic_store(&s_form, tsr_log_journal_fd(STDERR_FILENO) ? S_JOURNAL : S_PLAIN);
}

/* Appends msg to out at *n (below cap - 1), control characters as '?'. */
static void s_append_clean(char *out, size_t cap, size_t *n, const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p && *n + 1 < cap; p++)
        out[(*n)++] = *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
}

size_t tsr_log_format(char *out, size_t cap, bool journal, int64_t unix_ms, tsr_log_level_t level,
                      const char *module, const char *msg)
{
    if (cap < 2) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    if (level < TSR_LOG_DEBUG || level > TSR_LOG_ERROR)
        level = TSR_LOG_ERROR;
    int w;
    if (journal) {
        w = snprintf(out, cap, "<%d>%s %s: ", tsr_log_priority(level), s_names[level], module);
    } else {
        time_t secs = (time_t)(unix_ms / 1000);
        struct tm tm;
        char when[32] = "0000-00-00T00:00:00";
        if (gmtime_r(&secs, &tm))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        w = snprintf(out, cap, "%s.%03dZ %s %s: ", when, (int)(unix_ms % 1000), s_names[level],
                     module);
    }
    size_t n = w < 0 ? 0 : (size_t)w < cap - 1 ? (size_t)w : cap - 2;
    s_append_clean(out, cap - 1, &n, msg); /* room for the newline */
    out[n++] = '\n';
    out[n] = '\0';
    return n;
}

/* Writes all of buf to stderr in one write where it can: lines from the
 * ZAP thread and the main loop do not interleave. */
static void s_write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        buf += w;
        len -= (size_t)w;
    }
}

void tsr_log(tsr_log_level_t level, const char *module, const char *fmt, ...)
{
    if (level < s_level || level > TSR_LOG_ERROR)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s_syslog) {
        syslog(tsr_log_priority(level), "%s %s: %s", s_names[level], module, msg);
        return;
    }
    if (atomic_load(&s_form) == S_UNSET)
        tsr_log_detect();
    struct timespec ts = {0};
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[1200];
    size_t n = tsr_log_format(line, sizeof line, atomic_load(&s_form) == S_JOURNAL,
                              (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, level, module, msg);
    s_write_all(line, n);
}
