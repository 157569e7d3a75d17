/* tsr_test.h - what several unit tests share: a scratch directory made
 * before the group runs and removed after it (cmocka group setup/teardown).
 * Include after cmocka.h; the test names its directory with a prefix. */
#ifndef TSR_TEST_H
#define TSR_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "tessera/log.h"

static char s_dir[64];

/* Makes s_dir = /tmp/tsr-PREFIX-XXXXXX; quiet logs below errors. */
static inline int tsr_test_dir_make(const char *prefix)
{
    tsr_log_set_level(TSR_LOG_ERROR);
    snprintf(s_dir, sizeof s_dir, "/tmp/tsr-%s-XXXXXX", prefix);
    return mkdtemp(s_dir) ? 0 : -1;
}

/* Reads a whole file into buf (cap bytes with the NUL); "" when it is not
 * there. Returns buf. */
static inline const char *tsr_test_read_file(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return buf;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static inline int tsr_test_dir_remove(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
