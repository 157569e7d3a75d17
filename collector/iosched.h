/* iosched.h - which I/O scheduler the disk under a path uses (Linux
 * sysfs). The collector says at start when [ingest] apply_yield cannot
 * yield the disk: only a scheduler that orders requests by I/O class (bfq)
 * serves the Acks' log flushes before the apply's background writes
 * (docs/STORAGE.md, "Background steps"). */
#ifndef TESSERA_IOSCHED_H
#define TESSERA_IOSCHED_H

#include <stddef.h>

/* The active scheduler in a sysfs queue/scheduler line, the name in
 * brackets ("none mq-deadline kyber [bfq]" gives "bfq"; a line with one
 * name and no brackets gives that name). Returns 0, or TSR_EINVAL (no name
 * found) or TSR_ERANGE (out too small). */
int tsr_iosched_active(const char *line, char *out, size_t cap);

/* The active scheduler of the block device holding path (its whole disk's
 * for a partition). Returns 0, TSR_ENOTFOUND when path is on no block
 * device of its own (tmpfs, overlay, btrfs, whose device numbers are
 * anonymous) or on a stacked one (LVM, LUKS, md: the disks under it
 * schedule, and which of them holds path is not known), or TSR_EIO when
 * path cannot be stat'ed. */
int tsr_iosched_of(const char *path, char *out, size_t cap);

#endif
