/* queue.c - an export file read, checked and queued in the outbox. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "tessera/date.h"
#include "tessera/err.h"
#include "tessera/record.h"

/* Records queued per outbox transaction: the agent holds at most this many
 * minimised records (4.5 KB each) in memory, whatever the size of the file,
 * and a 100,000-record file takes about 400 commits. */
#define S_QUEUE_CHUNK 256

int32_t agent_queue_cutoff(long months)
{
    /* the collector's tsr_store_retention_cutoff: months back from today */
    return tsr_day_months_back(tsr_day_today(), (int)months);
}

int agent_queue_past_retention(tsr_error_t *err, const char *path, long line, int32_t day,
                               long months, int32_t cutoff)
{
    char d[11], from[11];
    tsr_error_at(err, path, line);
    return tsr_error_set(err, "reported_date",
                         "%s is before the collector's retention period (%ld months: from %s); "
                         "it would be refused there. Leave it out of the export",
                         tsr_day_format(d, day), months, tsr_day_format(from, cutoff));
}

/* Adds err's message to errs (printed even when it cannot be kept). */
static void s_error(agent_errlist_t *errs, const tsr_error_t *err)
{
    char msg[768];
    agent_errlist_add(errs, tsr_error_format(err, msg, sizeof msg));
}

int agent_queue_file(agent_conf_t *conf, agent_outbox_t *ob, const char *path, int32_t min_day,
                     agent_errlist_t *errs, agent_queue_result_t *res)
{
    agent_queue_result_t r0 = {0};
    agent_queue_result_t *r = res ? res : &r0;
    memset(r, 0, sizeof *r);
    tsr_error_t err;
    tsr_error_clear(&err);
    tsr_reader_t *rd;
    if (tsr_reader_open(&rd, path, &err) != 0) {
        s_error(errs, &err);
        return 1;
    }
    int result = 0;
    tsr_incident_t *incs = malloc(S_QUEUE_CHUNK * sizeof *incs);
    char(*refs)[TSR_CASE_REF_MAX] = malloc(S_QUEUE_CHUNK * sizeof *refs);
    size_t n = 0;
    long first_line = 0; /* of the records not yet queued */
    bool tty = isatty(fileno(stderr)), broken = false;
    if (!incs || !refs) {
        fprintf(stderr, "tessera-agent: %s: out of memory; nothing of it is queued\n", path);
        result = -1;
    }
    for (int rc = 1; result >= 0 && rc != 0;) {
        rc = tsr_reader_next(rd, &conf->ctx, &incs[n], refs[n], &err);
        if (rc == TSR_ENOMEM || rc == TSR_EIO) {
            /* the reader stops here: what came before is queued below,
             * but the file is not done (issue 16: it once counted as done,
             * and the rest of it was lost without a word) */
            char msg[768];
            fprintf(stderr, "tessera-agent: %s; the records after line %ld are not queued yet\n",
                    tsr_error_format(&err, msg, sizeof msg), tsr_reader_line(rd));
            broken = true;
            tsr_error_clear(&err);
            continue;
        }
        if (rc < 0 || (rc > 0 && incs[n].reported_day < min_day)) {
            if (rc > 0)
                agent_queue_past_retention(&err, path, tsr_reader_line(rd), incs[n].reported_day,
                                           conf->retention_months, min_day);
            s_error(errs, &err);
            tsr_error_clear(&err);
            r->invalid++;
            continue;
        }
        if (rc > 0 && n == 0)
            first_line = tsr_reader_line(rd);
        if (rc > 0 && ++n < S_QUEUE_CHUNK)
            continue;
        if (n == 0)
            break;
        size_t w = 0, rep = 0;
        int qrc = agent_outbox_put_incidents(ob, incs, refs, n, conf->key.key_id, &rep, &w);
        if (qrc != 0) {
            char where[600], why[800];
            if (qrc == TSR_EFULL)
                snprintf(why, sizeof why,
                         "the outbox is full at %ld MiB: let it deliver, or "
                         "raise %s",
                         conf->outbox_max_mib,
                         agent_conf_where(conf, "agent", "outbox_max_mib", where, sizeof where));
            else
                snprintf(why, sizeof why, "%s", tsr_strerror(qrc < 0 ? qrc : TSR_ESTORE));
            fprintf(stderr,
                    "tessera-agent: %s:%ld: could not queue the records from this line on (%s); "
                    "the %zu before it are queued. The file is not done: 'run' tries it again "
                    "next round, 'submit' queues the rest when run again on the same file "
                    "(what is already queued is not queued twice)\n",
                    path, first_line, why, r->queued + r->waiting);
            result = -1;
            break;
        }
        r->queued += n - w;
        r->waiting += w;
        r->replaced += rep;
        n = 0;
        if (tty)
            fprintf(stderr, "\r%s: %zu record(s) read", path, r->queued + r->waiting);
    }
    tsr_reader_destroy(&rd);
    if (tty && r->queued + r->waiting > 0)
        fputc('\n', stderr);
    if (r->waiting > 0)
        fprintf(stderr, "%s: %zu record(s) queued, %zu already waiting in the outbox\n", path,
                r->queued, r->waiting);
    else if (r->queued > 0)
        fprintf(stderr, "%s: %zu record(s) queued\n", path, r->queued);
    if (r->replaced)
        fprintf(stderr,
                "%s: %zu record(s) held under another network key replaced by these "
                "new versions\n",
                path, r->replaced);
    free(incs);
    free(refs);
    if (result == 0 && broken)
        result = -1;
    return result < 0 ? -1 : r->invalid > 0 ? 1 : 0;
}
