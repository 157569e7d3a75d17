/* backup.h - hot backups of a program's LMDB environments and their
 * restore: the parts the collector and the agent share.
 *
 * A backup is a directory (mode 0700) holding one sub-directory per
 * environment, each a compacted copy of its data.mdb (tsr_kv_copy), and
 * manifest.json describing it (written last: a backup without one is
 * unfinished). The programs list their environments in one table each and
 * call these for every entry.
 */
#ifndef TESSERA_BACKUP_H
#define TESSERA_BACKUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct tsr_error;

#define TSR_BACKUP_MANIFEST "manifest.json"

/* Makes the backup directory out (0700): it must not exist, or be empty.
 * TSR_EEXIST (err names it) when it holds anything. */
int tsr_backup_dir_new(const char *out, struct tsr_error *err);

/* Copies the environment at envdir (which must hold a data.mdb: TSR_ENOTFOUND
 * otherwise, err saying so) into the new directory to_dir, consistently
 * while another process writes it. */
int tsr_backup_env_copy(const char *envdir, const char *to_dir, struct tsr_error *err);

/* Writes manifest (an object; "created" and "created_unix" are added) to
 * dir/manifest.json, mode 0600, fsync'ed. */
int tsr_backup_manifest_write(const char *dir, json_t *manifest, int64_t now,
                              struct tsr_error *err);

/* Reads dir/manifest.json into *out (the caller json_decref()s it) and
 * checks that it was made by program (its "program" field). Errors name
 * the file and, for jansson's parse errors, the line. */
int tsr_backup_manifest_read(const char *dir, const char *program, json_t **out,
                             struct tsr_error *err);

/* An unsigned integer field of a manifest; TSR_EINVAL (err naming the
 * field) when it is missing or not a non-negative integer. */
int tsr_backup_manifest_u64(const json_t *m, const char *path, const char *field, uint64_t *out,
                            struct tsr_error *err);

/* Whether envdir can take a restored environment: TSR_EEXIST when it holds
 * a data.mdb already, err saying whether a process (its pid) has it open
 * (a live store) or it is only there, and what to do. 0 when it holds no
 * store (it may not exist). */
int tsr_backup_target_check(const char *envdir, struct tsr_error *err);

/* Puts the backup's environment copy from_dir into envdir (created 0700 if
 * missing; checked as tsr_backup_target_check first): data.mdb is copied
 * to a temporary file, fsync'ed and renamed into place, so a failure
 * leaves no store behind. */
int tsr_backup_env_restore(const char *from_dir, const char *envdir, struct tsr_error *err);

/* Copies the file from into the new file to (mode 0600, never replacing
 * one), fsync'ed; nothing is left of a failed copy. */
int tsr_backup_file_copy(const char *from, const char *to, struct tsr_error *err);

#endif
