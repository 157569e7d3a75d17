/* querier.c - the query thread (querier.h). */
#define _GNU_SOURCE /* eventfd */
#include "querier.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>


struct tsr_querier {
    pthread_t thread;
    int efd;
    pthread_mutex_t mu; /* guards the queue and stop */
    pthread_cond_t cond;
    tsr_querier_job_t *head, **tail;
    bool stop;
    int nice; /* over the loop's (tsr_querier_new) */
};

static void *s_thread(void *arg)
{
    tsr_querier_t *r = arg;
    /* On Linux a thread's niceness is its own (setpriority on its tid);
     * raising it needs no privilege. Failing, the thread runs as the loop. */
    int tid = gettid(), nice = getpriority(PRIO_PROCESS, (id_t)tid);
    if (r->nice > 0 && setpriority(PRIO_PROCESS, (id_t)tid, nice + r->nice) != 0)
        tsr_debug("query", "query thread's priority unchanged: %s", strerror(errno));
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && !r->head)
            pthread_cond_wait(&r->cond, &r->mu);
        if (r->stop)
            break;
        tsr_querier_job_t *j = r->head;
        r->head = j->next;
        if (!r->head)
            r->tail = &r->head;
        pthread_mutex_unlock(&r->mu);
        j->run(j->arg);
        atomic_store(&j->done, true); /* the loop may free j from here on */
        uint64_t one = 1;
        if (write(r->efd, &one, sizeof one) < 0 && errno != EAGAIN)
            tsr_warn("query", "cannot wake the loop: %s", strerror(errno));
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int tsr_querier_new(tsr_querier_t **out, int nice)
{
    *out = NULL;
    tsr_querier_t *r = calloc(1, sizeof *r);
    if (!r)
        return TSR_ENOMEM;
    r->tail = &r->head;
    r->nice = nice;
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->efd < 0) {
        free(r);
        return TSR_EIO;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (pthread_create(&r->thread, NULL, s_thread, r) != 0) {
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->mu);
        close(r->efd);
        free(r);
        return TSR_EIO;
    }
    *out = r;
    return 0;
}

void tsr_querier_destroy(tsr_querier_t **r_p)
{
    tsr_querier_t *r = *r_p;
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mu);
    close(r->efd);
    free(r);
    *r_p = NULL;
}

void tsr_querier_put(tsr_querier_t *r, tsr_querier_job_t *j)
{
    atomic_store(&j->done, false);
    j->next = NULL;
    pthread_mutex_lock(&r->mu);
    *r->tail = j;
    r->tail = &j->next;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

int tsr_querier_fd(const tsr_querier_t *r)
{
    return r->efd;
}

void tsr_querier_clear(tsr_querier_t *r)
{
    uint64_t v;
    while (read(r->efd, &v, sizeof v) > 0)
        ;
}
