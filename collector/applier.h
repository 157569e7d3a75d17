/* applier.h - the apply thread: turns the ingest log into records, indexes,
 * clusters and series (tsr_store_drain) off the thread that sends the Acks,
 * and evaluates the spikes that changed (docs/STORAGE.md, "Two
 * environments, one writer each"); beside it the audit thread, which
 * commits the audit entries of concurrent queries together in the audit
 * environment ("The audit environment").
 *
 * The loop thread submits and acknowledges; the apply thread is the main
 * environment's writer. They wake the loop through an eventfd
 * (tsr_applier_fd) whenever a step committed, alerts wait to be published
 * or audit entries are durable. ZeroMQ sockets stay in the loop thread: this one only hands
 * over what to publish or send.
 */
#ifndef TESSERA_APPLIER_H
#define TESSERA_APPLIER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct tsr_applier tsr_applier_t;

/* When a step is due (the [ingest] apply_* settings): at once while batch
 * entries wait or a query waits; otherwise delay_ms after the log started
 * to fill (or after the last step, when that one left entries), or
 * earlier, once ingest has been quiet for quiet_ms, but the quiet spell
 * counts only while at most quiet_max entries wait. */
typedef struct tsr_applier_opts {
    int quiet_ms, quiet_max, delay_ms, batch;
    int eval_ms; /* spike evaluation at least this often while entries keep coming */
    bool yield; /* steps nobody waits for run in the background ([ingest] apply_yield) */
} tsr_applier_opts_t;

/* An audit entry waiting for its commit, owned by the caller until done is
 * true (the applier sets rc, then done). */
typedef struct tsr_applier_audit {
    tsr_audit_entry_t entry;
    int rc;
    atomic_bool done;
    struct tsr_applier_audit *next; /* the applier's queue */
} tsr_applier_audit_t;

/* Starts the threads on s (which the caller keeps open until destroy).
 * Returns 0 or TSR_ENOMEM / TSR_EIO (no thread or eventfd). */
int tsr_applier_new(tsr_applier_t **out, tsr_store_t *s, const tsr_applier_opts_t *o);

/* Stops the threads, the apply thread after its step, and joins them
 * (audit entries queued are written first); tsr_applier_alerts still gives what it committed. What
 * waits in the log stays there (the caller may drain it). */
void tsr_applier_stop(tsr_applier_t *a);

/* Stops (if not yet) and frees; NULLs *a_p. */
void tsr_applier_destroy(tsr_applier_t **a_p);

/* Readable when there is news (a step committed, alerts, audit entries
 * durable); tsr_applier_clear empties it. */
int tsr_applier_fd(const tsr_applier_t *a);
void tsr_applier_clear(tsr_applier_t *a);

/* After a submit committed: was_empty says the log had nothing waiting
 * before it (the delay counts from here). */
void tsr_applier_logged(tsr_applier_t *a, bool was_empty);

/* A query waits until the log is applied up to seq: steps run at once. */
void tsr_applier_want(tsr_applier_t *a, uint64_t seq);

/* The log sequence up to which spikes are evaluated: every series that a
 * log entry up to it changed has been evaluated (or its evaluation
 * failed, and is retried). A query for alerts waits for it as well as for
 * the apply, so a report's spike alert is in the answer of any query
 * asked after its Ack. */
uint64_t tsr_applier_evaluated(tsr_applier_t *a);

/* The apply thread's id (0 until it has started): its priorities can be
 * read with ioprio_get(2) and sched_getscheduler(2). */
int tsr_applier_tid(tsr_applier_t *a);

/* How many steps ended in the background (idle I/O class, SCHED_IDLE), and
 * how many ran, at least in part, in the foreground ([ingest] apply_yield). */
void tsr_applier_steps(tsr_applier_t *a, size_t *background, size_t *own);

/* Whether the last step failed (the map at its maximum...): then queries
 * are answered from what is applied rather than wait. */
bool tsr_applier_failing(tsr_applier_t *a);

/* Queues e for the audit thread's next commit (group commit: every
 * entry queued by then shares it); it waits for no apply step. The caller
 * keeps e until e->done. */
void tsr_applier_audit(tsr_applier_t *a, tsr_applier_audit_t *e);

/* Alerts committed by the thread's steps and evaluations, oldest first,
 * moved to the caller, who frees each buf and the array; *n how many. */
tsr_link_published_t *tsr_applier_alerts(tsr_applier_t *a, size_t *n);

/* The loop thread runs store calls of the apply thread's kind (the day
 * boundary, purges) between pause and resume:
 * pause waits for the step running to end and keeps the next from
 * starting. */
void tsr_applier_pause(tsr_applier_t *a);
void tsr_applier_resume(tsr_applier_t *a);

#endif
