/* fuzz.h - what the libFuzzer harnesses share.
 *
 * Each harness defines LLVMFuzzerTestOneInput(). Built with clang
 * -fsanitize=fuzzer (TESSERA_FUZZ=ON) it is a libFuzzer binary; built with
 * replay.c instead (always, by ctest) it runs every file of its corpus once,
 * so a crash input committed to tests/fuzz/corpus/<harness>/ is a regression
 * test in the ordinary test run. */
#ifndef TESSERA_FUZZ_H
#define TESSERA_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The readers under test take a path (and pick the format by its
 * extension), so the input goes to a file of this process's own, on tmpfs
 * where there is one. Returns the path (static storage) or NULL. */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
    static char path[256];
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/tsr-fuzz-%ld%s", dir, (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return NULL;
    }
    fclose(f);
    return path;
}

/* A NUL-terminated copy of data (malloc'd; the caller frees). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

/* A finding that no sanitizer would see: abort so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
