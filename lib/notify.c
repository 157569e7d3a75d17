/* notify.c - sd_notify(3) for Type=notify units: ready, status, reloading,
 * stopping and watchdog pings. */
#include "tessera/notify.h"
#include "tessera/log.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

static void s_notify(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0)
        tsr_debug("notify", "sd_notify(%.40s) failed: %s", state, strerror(-rc));
}

static void s_with_status(const char *head, const char *status)
{
    char msg[512];
    if (status)
        snprintf(msg, sizeof msg, "%s%sSTATUS=%s", head, *head ? "\n" : "", status);
    else
        snprintf(msg, sizeof msg, "%s", head);
    s_notify(msg);
}

void tsr_notify_ready(const char *status)
{
    s_with_status("READY=1", status);
}

void tsr_notify_status(const char *status)
{
    s_with_status("", status ? status : "");
}

void tsr_notify_reloading(void)
{
    s_notify("RELOADING=1");
}

void tsr_notify_stopping(void)
{
    s_notify("STOPPING=1");
}

int64_t tsr_notify_watchdog_ms(void)
{
    uint64_t usec = 0;
    /* 0 = do not unset $WATCHDOG_USEC: a watchdog restart keeps it */
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return (int64_t)(usec / 1000);
}

void tsr_notify_watchdog(int64_t now_ms)
{
    static bool known;
    static int64_t interval, last;
    if (!known) {
        interval = tsr_notify_watchdog_ms();
        known = true;
    }
    if (interval <= 0 || (last && now_ms - last < interval / 4))
        return;
    last = now_ms;
    s_notify("WATCHDOG=1");
}
