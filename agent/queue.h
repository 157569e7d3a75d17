/* queue.h - an export file read, checked and queued in the outbox: what
 * `submit` and `run` share (queue.c). */
#ifndef TESSERA_AGENT_QUEUE_H
#define TESSERA_AGENT_QUEUE_H

#include <stdint.h>

#include "conf.h"
#include "errlist.h"
#include "outbox.h"
#include "tessera/err.h"

/* What became of a file's records. */
typedef struct agent_queue_result {
    size_t queued;   /* new items in the outbox */
    size_t waiting;  /* the same records already waiting there: not queued twice */
    size_t replaced; /* held items under another network key these replaced */
    size_t invalid;  /* records refused (their messages went to errs) */
} agent_queue_result_t;

/* Records reported before this day are past retention for a collector
 * keeping `months` (its cutoff, the same day it computes). */
int32_t agent_queue_cutoff(long months);

/* Fills err for a record at path:line reported on day, before cutoff
 * (months of retention). Returns TSR_EINVAL. */
int agent_queue_past_retention(struct tsr_error *err, const char *path, long line, int32_t day,
                               long months, int32_t cutoff);

/* Validates, minimises and queues the file at path, a few hundred records
 * per transaction, refusing records reported before min_day (the
 * collector's retention) with FILE:LINE. Each invalid record's message
 * goes to errs; *res (may be NULL) counts. Returns 0 when every record was
 * valid and is queued, 1 when some were invalid or the file could not be
 * opened (every valid one is queued), or -1 when not every valid record is
 * durably queued (the outbox refused a transaction, memory ran out, a read
 * failed): said on stderr, and queueing the file again completes it
 * (records already waiting are not queued twice). */
int agent_queue_file(agent_conf_t *conf, agent_outbox_t *ob, const char *path, int32_t min_day,
                     agent_errlist_t *errs, agent_queue_result_t *res);

#endif
