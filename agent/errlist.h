/* errlist.h - an input file's error messages: the first few on stderr,
 * every one in a file beside it. Junk input once flooded 40,713 lines
 * with no summary (issue 16); now a person sees the first 100, then
 * "N more; see FILE". */
#ifndef TESSERA_AGENT_ERRLIST_H
#define TESSERA_AGENT_ERRLIST_H

#include <stdbool.h>
#include <stddef.h>

/* How many of a file's errors are printed. */
#define AGENT_ERRLIST_SHOWN 100

typedef struct agent_errlist agent_errlist_t;

/* An error list whose full copy goes to path (created 0600, replaced if
 * there: error messages quote the input). With always, the file is
 * created at once; otherwise only once more than `shown` errors came.
 * *out is the caller's: agent_errlist_destroy. TSR_ENOMEM. */
int agent_errlist_new(agent_errlist_t **out, const char *path, size_t shown, bool always);

/* Adds one message (one line, no newline): printed on stderr while no
 * more than `shown` came, and written to the file. TSR_ENOMEM when it
 * could not be kept (it was printed); a file that cannot be written is
 * said once, by agent_errlist_finish. */
int agent_errlist_add(agent_errlist_t *e, const char *line);

/* How many messages came. */
size_t agent_errlist_count(const agent_errlist_t *e);

/* Closes the file, and when more than `shown` came prints "N more; see
 * SHOWN_AS" (shown_as: where the file will be; NULL: its path), or why
 * the file could not be written. Returns 0, or TSR_EIO when the full list
 * could not be written. */
int agent_errlist_finish(agent_errlist_t *e, const char *shown_as);

/* Closes (if still open) and frees *e_p; sets it to NULL. */
void agent_errlist_destroy(agent_errlist_t **e_p);

#endif
