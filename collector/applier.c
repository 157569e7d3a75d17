/* applier.c - the apply thread (applier.h; docs/STORAGE.md, "Two
 * environments, one writer each"). */
#define _GNU_SOURCE /* pthread_condattr_setclock is POSIX; eventfd, gettid, SCHED_IDLE */
#include "applier.h"
#include "bytes.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct tsr_applier {
    tsr_store_t *s;
    tsr_applier_opts_t o;
    pthread_t thread;
    pthread_t audit_thread; /* commits the audit entries (s_audit_main) */
    int efd;
    /* run: held by the thread while it writes main (a step, an
     * evaluation), and by the loop thread between pause and resume. */
    pthread_mutex_t run;
    /* mu guards what follows; cond wakes the apply thread, audit_cond the
     * audit thread. */
    pthread_mutex_t mu;
    pthread_cond_t cond, audit_cond;
    bool stop;
    int pauses;                 /* the loop thread wants run */
    uint64_t want;              /* a query waits for applied >= want */
    int64_t logged_since;       /* monotonic ms: the log started to fill, or the last step */
    int64_t last_ingest;        /* monotonic ms: the last submit committed */
    int64_t retry_at;           /* monotonic ms: after a failed step, none before */
    int64_t eval_at;            /* monotonic ms: evaluate spikes then (INT64_MAX: nothing to) */
    int64_t last_eval;          /* monotonic ms */
    tsr_applier_audit_t *audit; /* queued audit entries, newest first */
    tsr_link_published_t *alerts;
    size_t n_alerts, cap_alerts;
    atomic_bool failing;
    /* The log sequence up to which every changed series is evaluated
     * (tsr_applier_evaluated); written by this thread with run held. */
    _Atomic uint64_t evaluated;
    /* Background steps (s_background), under mu: the thread's id, its own
     * I/O priority, whether it may leave SCHED_IDLE again, whether it runs
     * in the background now, and how many steps ended so and how many not
     * (tsr_applier_steps). */
    pid_t tid;
    int io_prio;
    bool cpu_ok, background, warned_back;
    size_t steps_background, steps_own;
};

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void s_wake_loop(tsr_applier_t *a)
{
    uint64_t one = 1;
    if (write(a->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        tsr_warn("apply", "cannot wake the loop: %s", strerror(errno));
}

/* --- background steps ------------------------------------------------------------
 * A step nobody waits for (the log filled for apply_delay_ms, or to
 * apply_batch entries) writes thousands of pages at random and flushes
 * them, and applies for up to apply_step_ms of CPU. An Ack's log commit
 * flushed meanwhile waits behind those writes on a shared disk, and the
 * loop thread that sends it waits for a core. With [ingest] apply_yield
 * such a step runs in the background: the idle I/O class (an I/O scheduler
 * that orders by class, bfq, serves the Acks' flushes first) and the
 * SCHED_IDLE policy (a thread that wakes, the loop thread with a batch,
 * takes the core from it at once). A step something waits for (a
 * query, a record that may link, a log at a quarter of TSR_STORE_LOG_MAX)
 * and the spike evaluation once the log is applied run as the thread was
 * started; the evaluations during a burst (every eval_ms while entries
 * wait) run in the background. A query, a record that may link, a pause
 * or the stop arriving during background work brings the thread back at
 * once (docs/STORAGE.md, "Background steps"). The audit commits are not
 * this thread's (s_audit_main).
 * The thread takes mu in the background too (briefly, to hand over
 * alerts): on a saturated CPU a loop thread waiting for mu then waits for
 * it to be scheduled; it is not runnable meanwhile, which frees a core. */

/* ioprio_set(2) has no glibc wrapper; IOPRIO_WHO_PROCESS names one thread */
#define S_IOPRIO_WHO_PROCESS 1
#define S_IOPRIO_CLASS_IDLE (3 << 13)

/* Entries waiting from which a step runs in the foreground, even with
 * nobody waiting for it: the background must not let the log reach
 * TSR_STORE_LOG_MAX (then batches are answered RETRY_LATER). */
#define S_BACKGROUND_MAX (TSR_STORE_LOG_MAX / 4)

/* Whether this process has CAP_SYS_NICE in its effective set (root
 * without it, in a container or under an empty CapabilityBoundingSet=,
 * cannot leave SCHED_IDLE either). */
static bool s_cap_sys_nice(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long eff = 0;
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "CapEff: %llx", &eff) == 1;
    if (f)
        fclose(f);
    return found && (eff >> 23 & 1); /* CAP_SYS_NICE is 23 */
}

/* The thread's own I/O priority, and whether it may leave SCHED_IDLE
 * again: SCHED_OTHER now, and CAP_SYS_NICE or an RLIMIT_NICE that allows
 * its nice value (LimitNICE= in the unit). In the thread, before any step. */
static void s_background_init(tsr_applier_t *a)
{
    pthread_mutex_lock(&a->mu);
    a->tid = gettid();
    pthread_mutex_unlock(&a->mu);
    a->io_prio = (int)syscall(SYS_ioprio_get, S_IOPRIO_WHO_PROCESS, a->tid);
    /* no class of its own (kernels before 5.14 say "none, level 4", which
     * ioprio_set refuses): back to IOPRIO_CLASS_NONE, level 0, the class
     * that follows the nice value */
    if (a->io_prio < 0 || (a->io_prio >> 13) == 0)
        a->io_prio = 0;
    if (!a->o.yield)
        return;
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, (id_t)a->tid);
    struct rlimit rl;
    char why[160];
    if (errno != 0 || sched_getscheduler(a->tid) != SCHED_OTHER) {
        snprintf(why, sizeof why, "the apply thread does not run under SCHED_OTHER");
    } else {
        a->cpu_ok = s_cap_sys_nice() ||
                    (getrlimit(RLIMIT_NICE, &rl) == 0 &&
                     (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)(20 - nice)));
        snprintf(why, sizeof why, "the apply thread could not leave SCHED_IDLE after them "
                 "(RLIMIT_NICE; LimitNICE=%+d in the unit allows it)", nice);
    }
    if (!a->cpu_ok)
        tsr_info("apply", "background steps keep the CPU policy of the rest of the collector: "
                 "%s; they still yield the disk", why);
}

/* Puts the apply thread in the background or back (mu held). A failure
 * going in undoes what was set and stops trying (apply_yield off); one
 * coming back leaves `background` set, so every later call tries again. */
static void s_background(tsr_applier_t *a, bool on)
{
    if (a->background == on || (on && !a->o.yield))
        return;
    int io = syscall(SYS_ioprio_set, S_IOPRIO_WHO_PROCESS, a->tid,
                     on ? S_IOPRIO_CLASS_IDLE : a->io_prio);
    int cpu = io != 0 || !a->cpu_ok
                  ? 0
                  : sched_setscheduler(a->tid, on ? SCHED_IDLE : SCHED_OTHER,
                                       &(struct sched_param){0});
    if (io == 0 && cpu == 0) {
        a->background = on;
        return;
    }
    int e = errno;
    if (on) {
        if (io == 0) /* the CPU part failed: the I/O class goes back too */
            syscall(SYS_ioprio_set, S_IOPRIO_WHO_PROCESS, a->tid, a->io_prio);
        a->o.yield = false;
        tsr_warn("apply", "cannot put the apply thread in the background (%s): every step runs "
                 "in the foreground; set [ingest] apply_yield = false to stop trying",
                 strerror(e));
    } else if (!a->warned_back) {
        a->warned_back = true;
        tsr_warn("apply", "cannot bring the apply thread back from the background (%s): steps a "
                 "query or an alert waits for may be slow; it will keep trying",
                 strerror(e));
    }
}

/* When the next step is due (monotonic ms; INT64_MAX: nothing waits).
 * Under mu. A spell of a few milliseconds between one agent's large
 * batches is not idleness (its next batch is on its way): applying each
 * batch then would make a transaction per batch, each dirtying nearly
 * every index page. A few entries are applied at once, so a lone report's
 * linkage alert leaves within milliseconds. */
static int64_t s_step_due(const tsr_applier_t *a, int64_t now)
{
    size_t waiting = tsr_store_logged(a->s);
    int64_t at;
    if (waiting == 0)
        return INT64_MAX;
    /* a record that may link is applied at once: its alert should leave
     * within a commit of its Ack (the probe runs only while at most
     * quiet_max entries wait, as the quiet spell counts: a stream of large
     * batches never gets a step per batch from it) */
    if (a->want > tsr_store_applied(a->s) || waiting >= (size_t)a->o.batch ||
        tsr_store_link_waiting(a->s)) {
        at = now;
    } else {
        int64_t due = a->logged_since + a->o.delay_ms, quiet = a->last_ingest + a->o.quiet_ms;
        at = waiting <= (size_t)a->o.quiet_max && quiet < due ? quiet : due;
    }
    return at < a->retry_at ? a->retry_at : at;
}

/* Whether something waits for the next step (mu held): then it runs in
 * the foreground. */
static bool s_urgent(const tsr_applier_t *a)
{
    return a->want > tsr_store_applied(a->s) || tsr_store_link_waiting(a->s) ||
           tsr_store_logged(a->s) >= S_BACKGROUND_MAX;
}

/* Copies the alerts the last commit published into a->alerts (run held). */
static void s_take_published(tsr_applier_t *a)
{
    size_t n;
    const tsr_link_published_t *p = tsr_store_published(a->s, &n);
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf = malloc(p[i].len);
        if (!buf || tsr_grow((void **)&a->alerts, &a->cap_alerts, a->n_alerts,
                             sizeof *a->alerts) != 0) {
            /* in the alert log all the same: subscribers find it there */
            tsr_warn("alerts", "alert %llu not streamed: out of memory",
                     (unsigned long long)p[i].seq);
            free(buf);
            continue;
        }
        memcpy(buf, p[i].buf, p[i].len);
        a->alerts[a->n_alerts++] = (tsr_link_published_t){p[i].seq, p[i].kind, buf, p[i].len};
    }
    pthread_mutex_unlock(&a->mu);
}

/* One bounded step (run held): at most TSR_STORE_DRAIN_MAX entries and
 * about apply_step_ms. */
static void s_step(tsr_applier_t *a)
{
    size_t applied = 0;
    int64_t t0 = s_now_us();
    int rc = tsr_store_drain(a->s, TSR_STORE_DRAIN_MAX, (int64_t)time(NULL), &applied);
    int64_t took = s_now_us() - t0, now = s_now_ms();
    atomic_store(&a->failing, rc != 0);
    if (rc == 0)
        s_take_published(a);
    if (!tsr_store_pending(a->s)) /* the step changed no series */
        atomic_store(&a->evaluated, tsr_store_applied(a->s));
    pthread_mutex_lock(&a->mu);
    if (rc != 0)
        a->retry_at = now + 1000; /* a failing step can take that long */
    a->logged_since = now;
    if (rc == 0 && tsr_store_pending(a->s) && a->eval_at == INT64_MAX)
        a->eval_at = a->last_eval + a->o.eval_ms;
    pthread_mutex_unlock(&a->mu);
    tsr_debug("apply", "%zu log entries applied in %lld us, %zu wait", applied, (long long)took,
              tsr_store_logged(a->s));
}

/* Spike detection on what the steps changed (run held): at once when the
 * log is applied, at least every eval_ms while entries keep coming. */
static void s_evaluate(tsr_applier_t *a, int64_t now)
{
    int64_t t0 = s_now_us();
    uint64_t applied = tsr_store_applied(a->s); /* no step runs meanwhile: run is held */
    int rc = tsr_store_evaluate(a->s, (int64_t)time(NULL));
    tsr_debug("apply", "spikes evaluated in %lld us", (long long)(s_now_us() - t0));
    if (rc == 0)
        s_take_published(a);
    /* a failed evaluation is logged and tried again in a second; queries
     * waiting for it are answered meanwhile, as for a failing step */
    atomic_store(&a->evaluated, applied);
    pthread_mutex_lock(&a->mu);
    a->last_eval = now;
    a->eval_at = rc != 0 ? now + 1000 : tsr_store_pending(a->s) ? now + a->o.eval_ms : INT64_MAX;
    pthread_mutex_unlock(&a->mu);
}

/* Commits the queued audit entries together, in the audit environment. */
static void s_audit(tsr_applier_t *a, tsr_applier_audit_t *list)
{
    const tsr_audit_entry_t *e[64];
    while (list) {
        tsr_applier_audit_t *group[64];
        size_t n = 0;
        for (; list && n < 64; list = list->next) {
            group[n] = list;
            e[n++] = &list->entry;
        }
        int rc = tsr_store_audit_many(a->s, e, n);
        for (size_t i = 0; i < n; i++) {
            group[i]->rc = rc;
            atomic_store(&group[i]->done, true);
        }
    }
}

/* The queued audit entries, oldest first, taken from the queue (mu held). */
static tsr_applier_audit_t *s_audit_take(tsr_applier_t *a)
{
    tsr_applier_audit_t *rev = NULL, *e = a->audit;
    while (e) {
        tsr_applier_audit_t *next = e->next;
        e->next = rev;
        rev = e;
        e = next;
    }
    a->audit = NULL;
    return rev;
}

static void s_wait(tsr_applier_t *a, int64_t until, int64_t now)
{
    if (until > now + 500)
        until = now + 500;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (until - now) * 1000000;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&a->cond, &a->mu, &ts);
}

/* The audit thread: commits the audit entries queued, all those queued
 * by then in one transaction (group commit), and wakes the loop to send
 * their answers. The audit log has an environment of its own, so an
 * answer waits for its own flush only, never for an apply step. Ends
 * once stopped with nothing queued. */
static void *s_audit_main(void *arg)
{
    tsr_applier_t *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        if (!a->audit) {
            if (a->stop)
                break;
            pthread_cond_wait(&a->audit_cond, &a->mu);
            continue;
        }
        tsr_applier_audit_t *audit = s_audit_take(a);
        pthread_mutex_unlock(&a->mu);
        s_audit(a, audit);
        s_wake_loop(a);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static void *s_main(void *arg)
{
    tsr_applier_t *a = arg;
    s_background_init(a);
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        int64_t now = s_now_ms(), due = s_step_due(a, now);
        bool step = due <= now, eval = a->eval_at <= now;
        if (a->pauses > 0 || (!step && !eval)) {
            s_wait(a, a->pauses > 0 ? now + 500 : due < a->eval_at ? due : a->eval_at, now);
            continue;
        }
        pthread_mutex_unlock(&a->mu);
        pthread_mutex_lock(&a->run);
        if (step) {
            pthread_mutex_lock(&a->mu);
            s_background(a, !s_urgent(a));
            pthread_mutex_unlock(&a->mu);
            s_step(a);
            pthread_mutex_lock(&a->mu);
            if (a->background)
                a->steps_background++;
            else
                a->steps_own++; /* in the foreground from the start, or brought back */
            pthread_mutex_unlock(&a->mu);
            /* the step's linkage alerts and parked queries first: spike
             * evaluation (a transaction of its own) never delays them */
            s_wake_loop(a);
        }
        now = s_now_ms();
        pthread_mutex_lock(&a->mu);
        eval = a->eval_at <= now || (a->eval_at != INT64_MAX && tsr_store_logged(a->s) == 0);
        /* nor does it delay a record that may link, logged meanwhile
         * (unless evaluation is overdue: at least every eval_ms) */
        if (eval && tsr_store_link_waiting(a->s) && now < a->last_eval + a->o.eval_ms)
            eval = false;
        /* an evaluation while entries still wait (every eval_ms of a burst)
         * runs in the background, unless something waits; the one once the
         * log is applied does not: an analyst who asks for spike alerts
         * after a report is applied expects its spikes in them */
        s_background(a, eval && tsr_store_logged(a->s) > 0 && a->pauses == 0 && !s_urgent(a));
        pthread_mutex_unlock(&a->mu);
        if (eval) {
            s_evaluate(a, now);
            pthread_mutex_lock(&a->mu);
            s_background(a, false);
            pthread_mutex_unlock(&a->mu);
        }
        pthread_mutex_unlock(&a->run);
        if (eval)
            s_wake_loop(a);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int tsr_applier_new(tsr_applier_t **out, tsr_store_t *s, const tsr_applier_opts_t *o)
{
    *out = NULL;
    tsr_applier_t *a = calloc(1, sizeof *a);
    if (!a)
        return TSR_ENOMEM;
    a->s = s;
    a->o = *o;
    tsr_store_link_probe(s, o->quiet_max > 0 ? (size_t)o->quiet_max : 0);
    a->eval_at = tsr_store_pending(s) ? 0 : INT64_MAX;
    atomic_store(&a->evaluated, tsr_store_pending(s) ? 0 : tsr_store_applied(s));
    a->logged_since = a->last_ingest = s_now_ms();
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&a->audit_cond, NULL);
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->run, NULL);
    a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = a->efd < 0 ? errno : pthread_create(&a->audit_thread, NULL, s_audit_main, a);
    if (rc == 0 && (rc = pthread_create(&a->thread, NULL, s_main, a)) != 0) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_signal(&a->audit_cond);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->audit_thread, NULL);
    }
    if (rc != 0) {
        tsr_error("apply", "cannot start the apply and audit threads: %s", strerror(rc));
        if (a->efd >= 0)
            close(a->efd);
        pthread_cond_destroy(&a->cond);
        pthread_cond_destroy(&a->audit_cond);
        pthread_mutex_destroy(&a->mu);
        pthread_mutex_destroy(&a->run);
        free(a);
        return TSR_EIO;
    }
    *out = a;
    return TSR_OK;
}

void tsr_applier_stop(tsr_applier_t *a)
{
    pthread_mutex_lock(&a->mu);
    bool running = !a->stop;
    a->stop = true;
    s_background(a, false); /* the step under way ends before the join */
    pthread_cond_signal(&a->cond);
    pthread_cond_signal(&a->audit_cond);
    pthread_mutex_unlock(&a->mu);
    if (running) {
        pthread_join(a->thread, NULL);
        pthread_join(a->audit_thread, NULL); /* after what was queued is committed */
    }
    /* audit entries queued too late are written here, not dropped */
    s_audit(a, s_audit_take(a));
}

void tsr_applier_destroy(tsr_applier_t **a_p)
{
    tsr_applier_t *a = a_p ? *a_p : NULL;
    if (!a)
        return;
    tsr_applier_stop(a);
    for (size_t i = 0; i < a->n_alerts; i++)
        free(a->alerts[i].buf);
    free(a->alerts);
    close(a->efd);
    pthread_cond_destroy(&a->cond);
    pthread_cond_destroy(&a->audit_cond);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->run);
    free(a);
    *a_p = NULL;
}

int tsr_applier_fd(const tsr_applier_t *a)
{
    return a->efd;
}

void tsr_applier_clear(tsr_applier_t *a)
{
    uint64_t v;
    while (read(a->efd, &v, sizeof v) > 0)
        ;
}

void tsr_applier_logged(tsr_applier_t *a, bool was_empty)
{
    int64_t now = s_now_ms();
    pthread_mutex_lock(&a->mu);
    if (was_empty)
        a->logged_since = now;
    a->last_ingest = now;
    if (a->background && s_urgent(a))
        s_background(a, false); /* a record that may link: the step under way is waited for */
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->mu);
}

void tsr_applier_want(tsr_applier_t *a, uint64_t seq)
{
    pthread_mutex_lock(&a->mu);
    if (seq > a->want) {
        a->want = seq;
        s_background(a, false); /* the step under way is waited for now */
        pthread_cond_signal(&a->cond);
    }
    pthread_mutex_unlock(&a->mu);
}

uint64_t tsr_applier_evaluated(tsr_applier_t *a)
{
    return atomic_load(&a->evaluated);
}

int tsr_applier_tid(tsr_applier_t *a)
{
    pthread_mutex_lock(&a->mu);
    int tid = (int)a->tid;
    pthread_mutex_unlock(&a->mu);
    return tid;
}

void tsr_applier_steps(tsr_applier_t *a, size_t *background, size_t *own)
{
    pthread_mutex_lock(&a->mu);
    *background = a->steps_background;
    *own = a->steps_own;
    pthread_mutex_unlock(&a->mu);
}

bool tsr_applier_failing(tsr_applier_t *a)
{
    return atomic_load(&a->failing);
}

void tsr_applier_audit(tsr_applier_t *a, tsr_applier_audit_t *e)
{
    atomic_store(&e->done, false);
    pthread_mutex_lock(&a->mu);
    e->next = a->audit;
    a->audit = e;
    pthread_cond_signal(&a->audit_cond);
    pthread_mutex_unlock(&a->mu);
}

tsr_link_published_t *tsr_applier_alerts(tsr_applier_t *a, size_t *n)
{
    pthread_mutex_lock(&a->mu);
    tsr_link_published_t *p = a->alerts;
    *n = a->n_alerts;
    a->alerts = NULL;
    a->n_alerts = a->cap_alerts = 0;
    pthread_mutex_unlock(&a->mu);
    return p;
}

void tsr_applier_pause(tsr_applier_t *a)
{
    pthread_mutex_lock(&a->mu);
    a->pauses++;
    s_background(a, false); /* the loop thread waits for the step under way */
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_lock(&a->run);
}

void tsr_applier_resume(tsr_applier_t *a)
{
    /* the series the loop thread's calls changed are evaluated next */
    bool pending = tsr_store_pending(a->s);
    pthread_mutex_unlock(&a->run);
    pthread_mutex_lock(&a->mu);
    a->pauses--;
    if (pending && a->eval_at == INT64_MAX)
        a->eval_at = s_now_ms();
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->mu);
}
