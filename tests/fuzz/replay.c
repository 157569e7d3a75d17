/* replay.c - runs a harness over files and directories without libFuzzer:
 *   fuzz_<harness>_replay PATH...
 * Every regular file (directories: every file in them) is one input. Used by
 * ctest to replay the committed corpora, crash inputs included. Exit 0 when
 * every input ran, 1 when one could not be read (a crash aborts). */
#include "fuzz.h"

#include <dirent.h>
#include <sys/stat.h>

static int s_run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fprintf(stderr, "replay: cannot open %s\n", path), 1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (!buf)
        return fprintf(stderr, "replay: out of memory for %s\n", path), 1;
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int bad = 0, runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0)
            return fprintf(stderr, "replay: no %s\n", argv[i]), 1;
        if (!S_ISDIR(st.st_mode)) {
            bad |= s_run_file(argv[i]);
            runs++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            bad |= s_run_file(p);
            runs++;
        }
        if (d)
            closedir(d);
    }
    printf("replay: %d input(s)\n", runs);
    return bad;
}
