/* iosched.c - see iosched.h. */
#include "iosched.h"
#include "tessera/err.h"

#include <dirent.h>
#include <stdbool.h>
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
    char dev[64], name[128], line[256];
    snprintf(dev, sizeof dev, "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
    /* a stacked device (LVM, LUKS, md) schedules nothing itself: its
     * disks do, and which of them holds path is not ours to guess */
    snprintf(name, sizeof name, "%s/slaves", dev);
    DIR *d = opendir(name);
    if (d) {
        struct dirent *e;
        bool stacked = false;
        while (!stacked && (e = readdir(d)))
            stacked = e->d_name[0] != '.';
        closedir(d);
        if (stacked)
            return TSR_ENOTFOUND;
    }
    /* a partition's directory has no queue/ of its own: its disk's is one up */
    static const char *const where[] = {"queue/scheduler", "../queue/scheduler"};
    for (size_t i = 0; i < sizeof where / sizeof *where; i++) {
        snprintf(name, sizeof name, "%s/%s", dev, where[i]);
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
