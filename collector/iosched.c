/* iosched.c - see iosched.h. */
#include "iosched.h"
#include "tessera/err.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int tsr_iosched_active(const char *line, char *out, size_t cap)
{
    const char *from = strchr(line, '['), *to;
    if (from) {
        from++;
        if (!(to = strchr(from, ']')))
            return TSR_EINVAL;
    } else {
        from = line + strspn(line, " \t");
        to = from + strcspn(from, " \t\r\n");
        if (to[strspn(to, " \t\r\n")] != '\0')
            return TSR_EINVAL; /* several names, none marked active */
    }
    size_t n = (size_t)(to - from);
    if (n == 0)
        return TSR_EINVAL;
    if (n >= cap)
        return TSR_ERANGE;
    memcpy(out, from, n);
    out[n] = '\0';
    return 0;
}

int tsr_iosched_of(const char *path, char *out, size_t cap)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return TSR_EIO;
    /* a partition's directory has no queue/ of its own: its disk's is one up */
    static const char *const where[] = {"queue/scheduler", "../queue/scheduler"};
    for (size_t i = 0; i < sizeof where / sizeof *where; i++) {
        char name[128], line[256];
        snprintf(name, sizeof name, "/sys/dev/block/%u:%u/%s", major(st.st_dev),
                 minor(st.st_dev), where[i]);
        FILE *f = fopen(name, "r");
        if (!f)
            continue;
        char *got = fgets(line, sizeof line, f);
        fclose(f);
        if (got)
            return tsr_iosched_active(line, out, cap);
    }
    return TSR_ENOTFOUND;
}
