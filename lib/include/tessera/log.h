/* log.h - one log module for every program.
 *
 * Lines read "level module: message" and go to stderr (never stdout, which
 * belongs to a program's output), in one of two forms chosen by where
 * stderr leads:
 *
 *   on a terminal, a file or a pipe, with an ISO-8601 UTC time first:
 *       2025-03-04T09:15:02.317Z warn ingest: ...
 *   under journald (systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream
 *   it connected, and stderr is that stream), with a syslog priority prefix
 *   and no time, which the journal records itself (sd-daemon(3)):
 *       <4>warn ingest: ...
 *
 * or to syslog once tsr_log_open_syslog() was called. Messages below the
 * threshold are dropped. Control characters in a message (a newline from a
 * peer's text would start a forged line) are written as '?'.
 *
 * Key events carry their fields in the message as key=value words after
 * the text, "event=NAME" first (logfmt), e.g.
 *       warn zap: denied unlisted key ... from 192.0.2.7 event=peer_refused peer=192.0.2.7 ...
 * so `journalctl -u tessera-collector -g 'event=peer_refused'` finds them
 * (docs/DEPLOYING.md, "Logs"). Values hold no spaces.
 */
#ifndef TESSERA_LOG_H
#define TESSERA_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* --- the parts, for tests and for a program that redirects stderr ---------- */

/* The syslog priority of a level (RFC 5424: 7 debug, 6 info, 4 warning,
 * 3 error), as the journal reads it from a "<N>" prefix. */
int tsr_log_priority(tsr_log_level_t level);

/* True when fd is the stream journald connected: $JOURNAL_STREAM is
 * "DEV:INODE" (decimal) and fd's device and inode are those. False when the
 * variable is unset or malformed, or fd was redirected elsewhere (a child
 * started with 2>file inherits the variable, not the journal). */
bool tsr_log_journal_fd(int fd);

/* Looks at stderr again and chooses the form of the lines (done once,
 * before the first line, by itself). */
void tsr_log_detect(void);

/* Formats one line into out (cap bytes, NUL-terminated, cut short if it
 * must be, always ending "\n"): for the journal "<P>level module: msg\n",
 * else "YYYY-MM-DDTHH:MM:SS.mmmZ level module: msg\n" at unix_ms (UTC).
 * Control characters of msg become '?'. Returns the length written. */
size_t tsr_log_format(char *out, size_t cap, bool journal, int64_t unix_ms, tsr_log_level_t level,
                      const char *module, const char *msg);

#endif
