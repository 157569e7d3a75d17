/* log.c - "level module: message" on stderr or syslog. */
#include "tessera/log.h"
#include "tessera/err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static tsr_log_level_t s_level = TSR_LOG_INFO;
static bool s_syslog;

static const char *const s_names[] = {"debug", "info", "warn", "error"};

void tsr_log_set_level(tsr_log_level_t level) { s_level = level; }

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

void tsr_log_open_syslog(const char *ident)
{
    openlog(ident, LOG_PID, LOG_DAEMON);
    s_syslog = true;
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
        static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
        syslog(prio[level], "%s %s: %s", s_names[level], module, msg);
    } else {
        /* One fprintf per line so lines from threads do not interleave. */
        fprintf(stderr, "%s %s: %s\n", s_names[level], module, msg);
    }
}
