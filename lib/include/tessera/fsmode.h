/* fsmode.h - who may change the files a program trusts, who the program
 * runs as, and writing secret files without a window (issue 15, "Files").
 *
 * Like sshd's StrictModes: the collector and the agent refuse to start when
 * a file they trust (data directory, client list, config, keys, LMDB files)
 * could be changed by someone else — writable by group or others, or owned
 * by a user other than the one running the program or root — and say which
 * file and the chown/chmod that fixes it. A secret (a key, or LMDB records)
 * must also be unreadable by group and others.
 *
 * Every message is one line without the program's name, which the caller
 * puts in front.
 */
#ifndef TESSERA_FSMODE_H
#define TESSERA_FSMODE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tsr_error;

typedef enum {
    /* a directory of the program's state: a directory, owned by the user or
     * root, not writable by group or others */
    TSR_FSMODE_DIR = 1,
    /* a file it trusts (client list, config, a public key, an LMDB lock
     * file): a regular file, owned by the user or root, not writable by
     * group or others */
    TSR_FSMODE_FILE,
    /* key material or stored records (secret keys, the network key,
     * data.mdb): as FILE, and no access at all for group or others */
    TSR_FSMODE_SECRET,
} tsr_fsmode_kind_t;

/* Room for any message below (two paths of up to 4096 bytes and the words). */
#define TSR_FSMODE_WHY_MAX 9000

/* Checks path itself (stat, so a symlink is judged by its target), not its
 * directory. Returns 0 when it is safe; TSR_ENOTFOUND when it does not
 * exist; TSR_EPERM when it is not, with why = "what is wrong; run: FIX"
 * (no path in front: the caller names the file); TSR_EIO when stat failed
 * otherwise (why says so). why may be NULL. */
int tsr_fsmode_check(const char *path, tsr_fsmode_kind_t kind, char *why, size_t cap);

/* The same for a file the caller has open (fstat): no race between the
 * check and the read. path is only for the message. */
int tsr_fsmode_check_fd(int fd, const char *path, tsr_fsmode_kind_t kind, char *why, size_t cap);

typedef struct {
    const char *path; /* NULL or "": not configured, skipped */
    tsr_fsmode_kind_t kind;
} tsr_fsmode_item_t;

/* Called once per problem with "PATH: what is wrong; run: FIX". */
typedef void (*tsr_fsmode_report_fn)(void *ctx, const char *problem);

/* Checks every item that exists (a missing one is fine: the program creates
 * it safely), and the directory each is in, which must be owned by the user
 * or root and not writable by group or others unless it is sticky (/tmp):
 * there, nobody else can replace the file. Each file and directory is judged
 * once, by the strictest kind asked for it. Calls report for every problem.
 * Returns the number of problems (0: all safe), or TSR_ENOMEM. */
int tsr_fsmode_check_all(const tsr_fsmode_item_t *items, size_t n, tsr_fsmode_report_fn report,
                         void *ctx);

/* TSR_EPERM when the effective uid is 0 and allow_root is false, with why
 * saying to run prog as a dedicated user, and that --allow-root is for
 * tests and demos only; 0 otherwise. */
int tsr_fsmode_refuse_root(const char *prog, bool allow_root, char *why, size_t cap);

/* Writes len bytes of data to path as a new file of mode (0600 for anything
 * secret; the umask can only narrow it; a public mode such as 0644 is set
 * exactly), opened O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC: nothing existing —
 * file or symlink — is ever followed, truncated or left half-written. The
 * file and its directory are fsync'ed.
 *
 * With replace, the data goes to a new temporary file in the same directory
 * (created the same way), which is fsync'ed and renamed over path: a symlink
 * at path is replaced itself, never written through, and a reader sees the
 * old file or the new one.
 *
 * Returns 0; TSR_EEXIST when path exists (any kind of file) and not
 * replace; TSR_EIO otherwise. err gets path and the reason. Nothing of a
 * failed call is left on disk. */
int tsr_fsmode_write(const char *path, const void *data, size_t len, mode_t mode, bool replace,
                     struct tsr_error *err);

#endif
