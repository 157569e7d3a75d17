/* backup.h - `tessera-collector backup` and `restore` (docs/DEPLOYING.md,
 * "Backup and restore"). */
#ifndef TESSERA_COLLECTOR_BACKUP_H
#define TESSERA_COLLECTOR_BACKUP_H

#include <stddef.h>
#include <stdint.h>

struct tsr_error;

/* A file of the data directory a backup carries beside the store (the
 * server key pair, authorized_clients): its path, and its name inside the
 * backup. */
typedef struct tsr_collector_file {
    const char *path;
    const char *name;
} tsr_collector_file_t;

/* Copies every LMDB environment of data_dir, consistently while a collector
 * writes them, and files[0..n) that exist, into the new directory out, then
 * writes its manifest. Prints what it did to stdout. Returns 0 or a TSR_E*
 * code with err filled. */
int tsr_collector_backup(const char *data_dir, const char *out, const tsr_collector_file_t *files,
                         size_t n, struct tsr_error *err);

/* Puts the backup at from into data_dir: refuses a data directory that
 * holds a store (live or not), checks the copy against its manifest,
 * numbers new alerts after alerts_after (0: after the backup's last), and
 * puts back each of files[0..n) the backup has and data_dir lacks (an
 * existing file is kept, and said so). */
int tsr_collector_restore(const char *from, const char *data_dir, const tsr_collector_file_t *files,
                          size_t n, uint64_t alerts_after, struct tsr_error *err);

/* When the last backup of data_dir finished (unix seconds; the backup
 * command notes it in data_dir/last_backup), 0 if none is noted: the
 * metrics' backup age. */
int64_t tsr_collector_last_backup(const char *data_dir);

#endif
