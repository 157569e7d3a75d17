/* errlist.c - an input file's error messages (errlist.h). */
#include "errlist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tessera/err.h"

struct agent_errlist {
    char *path;
    size_t shown, n;
    char **first; /* the first `shown` lines, for a file opened late */
    FILE *f;
    int file_errno; /* why the file could not be written (0: it could) */
};

/* Opens the file (0600, never through a symlink) and writes the lines
 * kept so far. */
static void s_open(agent_errlist_t *e)
{
    if (e->f || e->file_errno)
        return;
    int fd = open(e->path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || !(e->f = fdopen(fd, "w"))) {
        e->file_errno = errno ? errno : EIO;
        if (fd >= 0)
            close(fd);
        return;
    }
    for (size_t i = 0; i < e->n && i < e->shown; i++)
        if (e->first[i]) /* NULL: it could not be kept (out of memory) */
            fprintf(e->f, "%s\n", e->first[i]);
}

int agent_errlist_new(agent_errlist_t **out, const char *path, size_t shown, bool always)
{
    agent_errlist_t *e = calloc(1, sizeof *e);
    *out = NULL;
    if (!e || !(e->path = strdup(path)) ||
        !(e->first = calloc(shown ? shown : 1, sizeof *e->first))) {
        agent_errlist_destroy(&e);
        return TSR_ENOMEM;
    }
    e->shown = shown;
    if (always)
        s_open(e);
    *out = e;
    return TSR_OK;
}

int agent_errlist_add(agent_errlist_t *e, const char *line)
{
    int rc = TSR_OK;
    if (e->n < e->shown) {
        fprintf(stderr, "%s\n", line);
        if (!(e->first[e->n] = strdup(line)))
            rc = TSR_ENOMEM;
    } else {
        s_open(e);
    }
    e->n++;
    if (e->f && fprintf(e->f, "%s\n", line) < 0 && !e->file_errno)
        e->file_errno = errno ? errno : EIO;
    return rc;
}

size_t agent_errlist_count(const agent_errlist_t *e)
{
    return e->n;
}

int agent_errlist_finish(agent_errlist_t *e, const char *shown_as)
{
    if (e->f) {
        if (fclose(e->f) != 0 && !e->file_errno)
            e->file_errno = errno ? errno : EIO;
        e->f = NULL;
    }
    if (e->n > e->shown && !e->file_errno)
        fprintf(stderr, "%zu more; see %s\n", e->n - e->shown, shown_as ? shown_as : e->path);
    else if (e->n > e->shown)
        fprintf(stderr, "%zu more, not listed: %s cannot be written (%s)\n", e->n - e->shown,
                e->path, strerror(e->file_errno));
    return e->file_errno ? TSR_EIO : TSR_OK;
}

void agent_errlist_destroy(agent_errlist_t **e_p)
{
    if (!e_p || !*e_p)
        return;
    agent_errlist_t *e = *e_p;
    if (e->f)
        fclose(e->f);
    for (size_t i = 0; e->first && i < e->shown && i < e->n; i++)
        free(e->first[i]);
    free(e->first);
    free(e->path);
    free(e);
    *e_p = NULL;
}
