/* notify.h - telling systemd how a daemon is doing (sd_notify(3)).
 *
 * Each call is a no-op when the program was not started by systemd with a
 * notification socket ($NOTIFY_SOCKET unset), so daemons call them
 * unconditionally. Nothing here fails the caller: a lost notification is
 * logged at debug level and systemd's own timeouts take over.
 */
#ifndef TESSERA_NOTIFY_H
#define TESSERA_NOTIFY_H

#include <stdint.h>

/* READY=1 and STATUS=status: the daemon serves (Type=notify units wait for
 * this before start-up is complete). status may be NULL. */
void tsr_notify_ready(const char *status);

/* STATUS=status: one line shown by `systemctl status`. */
void tsr_notify_status(const char *status);

/* RELOADING=1 before a reload (SIGHUP), READY=1 after it. */
void tsr_notify_reloading(void);

/* STOPPING=1: the daemon is shutting down (finishing its transaction). */
void tsr_notify_stopping(void);

/* WATCHDOG=1 when the unit has WatchdogSec= and at least a quarter of it
 * has passed since the last ping (now_ms: any monotonic milliseconds).
 * Call it from the main loop, which must then wake at least every
 * WatchdogSec/2. */
void tsr_notify_watchdog(int64_t now_ms);

/* The unit's watchdog interval in milliseconds, 0 when it has none. */
int64_t tsr_notify_watchdog_ms(void);

#endif
