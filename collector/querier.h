/* querier.h - the query thread: runs the reads of the queries that scan the
 * store (trends, alerts, clusters, lookups) off the loop thread, so an Ack
 * never waits behind an analyst's table (docs/STORAGE.md, "Queries on a
 * thread of their own").
 *
 * The loop thread decides everything that needs its own state (access, the
 * rate limit, the budget, network keys) and, after the read, writes the
 * audit entry and sends; this thread only runs the read, in LMDB read
 * transactions of its own (the environment is opened MDB_NOTLS; a map
 * growth waits for them, lib/kv.c). One job at a time, in the order given.
 * It wakes the loop through an eventfd (tsr_querier_fd) when a job is done.
 */
#ifndef TESSERA_QUERIER_H
#define TESSERA_QUERIER_H

#include <stdatomic.h>
#include <stdbool.h>

typedef struct tsr_querier tsr_querier_t;

/* A read waiting for, or done by, the thread: owned by the caller, who
 * must keep it until done is true or the querier is destroyed. */
typedef struct tsr_querier_job {
    void (*run)(void *arg); /* the read, on the query thread */
    void *arg;
    atomic_bool done;
    struct tsr_querier_job *next; /* the querier's queue */
} tsr_querier_job_t;

/* Starts the thread, nice steps nicer than the caller (0: as nice; on
 * Linux a thread's niceness is its own): with the CPU busy, the scans then
 * yield to the Acks and the apply, and take longer. Returns 0 or
 * TSR_ENOMEM / TSR_EIO. */
int tsr_querier_new(tsr_querier_t **out, int nice);

/* Stops the thread after the job it runs and joins it; jobs still queued
 * are not run (their done stays false). NULLs *r_p. */
void tsr_querier_destroy(tsr_querier_t **r_p);

/* Queues j (done set false here) behind the jobs queued before it. */
void tsr_querier_put(tsr_querier_t *r, tsr_querier_job_t *j);

/* Readable when a job is done; tsr_querier_clear empties it. */
int tsr_querier_fd(const tsr_querier_t *r);
void tsr_querier_clear(tsr_querier_t *r);

#endif
