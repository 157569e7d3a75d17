/* log.h - one log module for every program.
 *
 * Lines read "level module: message" on stderr, or go to syslog once
 * tsr_log_open_syslog() was called. Messages below the threshold are dropped.
 */
#ifndef TESSERA_LOG_H
#define TESSERA_LOG_H

typedef enum { TSR_LOG_DEBUG = 0, TSR_LOG_INFO, TSR_LOG_WARN, TSR_LOG_ERROR } tsr_log_level_t;

/* Drops messages below level (default TSR_LOG_INFO). */
void tsr_log_set_level(tsr_log_level_t level);

/* Parses "debug", "info", "warn" or "error"; returns 0 or TSR_EINVAL. */
int tsr_log_parse_level(const char *name, tsr_log_level_t *out);

/* Sends further messages to syslog with the given ident (kept, not copied:
 * pass a string that lives as long as the program). */
void tsr_log_open_syslog(const char *ident);

void tsr_log(tsr_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tsr_debug(mod, ...) tsr_log(TSR_LOG_DEBUG, mod, __VA_ARGS__)
#define tsr_info(mod, ...) tsr_log(TSR_LOG_INFO, mod, __VA_ARGS__)
#define tsr_warn(mod, ...) tsr_log(TSR_LOG_WARN, mod, __VA_ARGS__)
#define tsr_error(mod, ...) tsr_log(TSR_LOG_ERROR, mod, __VA_ARGS__)

#endif
