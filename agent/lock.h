/* lock.h - one tessera-agent process per agency directory.
 *
 * Two `submit`s or `run`s on one outbox would send everything twice (the
 * collector's deduplication hid it, issue 16). The lock is flock(2) on
 * DIR/agent.lock, which holds the holder's PID while it is held; the
 * kernel lets go of it when the process ends, however it ends. */
#ifndef TESSERA_AGENT_LOCK_H
#define TESSERA_AGENT_LOCK_H

#include <sys/types.h>

#include "tessera/err.h"

typedef struct agent_lock agent_lock_t;

/* The file name in the agency directory. */
#define AGENT_LOCK_FILE "agent.lock"

/* Takes the lock on dir, waiting up to wait_ms for a process that holds
 * it. Returns 0 (*out is the caller's: agent_lock_destroy), TSR_EEXIST
 * when another process still holds it (*holder: its PID, 0 if it has not
 * written it yet), or TSR_EIO / TSR_ENOMEM (err says which file and why).
 * holder and err may be NULL. */
int agent_lock_new(agent_lock_t **out, const char *dir, long wait_ms, pid_t *holder,
                   tsr_error_t *err);

/* Lets go of the lock (the file stays, empty) and sets *lock_p to NULL. */
void agent_lock_destroy(agent_lock_t **lock_p);

#endif
