/* peakmem.c - runs a command and reports the peak of its private memory
 * and of its mapped file pages, sampled from /proc/PID/status (issue 20).
 *
 *   peakmem [-i MILLISECONDS] -o FILE -- COMMAND [ARG...]
 *
 * Samples RssAnon (the process's own memory: heap, stacks, anonymous maps)
 * and RssFile (file pages it maps, here mostly the outbox's LMDB map, which
 * is page cache, not the process's own) every MILLISECONDS (default 1)
 * until the command exits, then writes one line to FILE:
 *
 *   rss_anon_kb=N rss_file_kb=N hwm_kb=N samples=N
 *
 * (the peaks of each, VmHWM from the last sample: the peak resident set,
 * both kinds together). Exits with the command's exit status, or 125 when
 * it could not run it. Used by tests/bench/bench_agent_mem.sh and by
 * tests/integration/agent_stream.sh. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Reads "Name:   N kB" fields of /proc/PID/status; false once it is gone. */
static int s_sample(pid_t pid, long *anon, long *file, long *hwm)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int got = 0;
    while (fgets(line, sizeof line, f)) {
        long v;
        if (sscanf(line, "RssAnon: %ld", &v) == 1)
            *anon = v, got++;
        else if (sscanf(line, "RssFile: %ld", &v) == 1)
            *file = v, got++;
        else if (sscanf(line, "VmHWM: %ld", &v) == 1)
            *hwm = v, got++;
    }
    fclose(f);
    return got == 3; /* a zombie has none of them */
}

int main(int argc, char **argv)
{
    long interval_ms = 1;
    const char *out = NULL;
    int c;
    while ((c = getopt(argc, argv, "+i:o:")) != -1) {
        if (c == 'i')
            interval_ms = atol(optarg);
        else if (c == 'o')
            out = optarg;
        else
            return 125;
    }
    if (!out || optind >= argc || interval_ms < 1) {
        fprintf(stderr, "usage: peakmem [-i MILLISECONDS] -o FILE -- COMMAND [ARG...]\n");
        return 125;
    }
    pid_t pid = fork();
    if (pid < 0)
        return 125;
    if (pid == 0) {
        execvp(argv[optind], argv + optind);
        fprintf(stderr, "peakmem: cannot run %s: %s\n", argv[optind], strerror(errno));
        _exit(125);
    }
    long peak_anon = 0, peak_file = 0, hwm = 0, samples = 0;
    struct timespec pause = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
    int status = 0;
    for (;;) {
        long anon = 0, file = 0, h = 0;
        if (s_sample(pid, &anon, &file, &h)) {
            samples++;
            peak_anon = anon > peak_anon ? anon : peak_anon;
            peak_file = file > peak_file ? file : peak_file;
            hwm = h > hwm ? h : hwm;
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return 125;
        nanosleep(&pause, NULL);
    }
    FILE *f = fopen(out, "w");
    if (!f)
        return 125;
    fprintf(f, "rss_anon_kb=%ld rss_file_kb=%ld hwm_kb=%ld samples=%ld\n", peak_anon, peak_file,
            hwm, samples);
    fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
