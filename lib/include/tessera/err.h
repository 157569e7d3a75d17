/* err.h - error codes and the error detail that parsers fill.
 *
 * Every libtessera function that can fail returns int: 0 (TSR_OK) on success
 * or one of the negative TSR_E* codes below. tsr_strerror() names a code.
 * Functions that check outside input also fill a tsr_error_t, so a person
 * reads "FILE:LINE: FIELD: reason" and knows what to fix.
 */
#ifndef TESSERA_ERR_H
#define TESSERA_ERR_H

#include <stddef.h>

enum {
    TSR_OK = 0,
    TSR_EINVAL = -1,    /* invalid input: the tsr_error_t says which field and why */
    TSR_ENOMEM = -2,    /* out of memory */
    TSR_EIO = -3,       /* a file or system call failed (errno is in the detail) */
    TSR_ENOTFOUND = -4, /* no such entry */
    TSR_EPERM = -5,     /* not permitted (file mode, role) */
    TSR_ERANGE = -6,    /* a value or size outside its limits */
    TSR_ECRYPTO = -7,   /* OpenSSL reported an error */
    TSR_ESTORE = -8,    /* LMDB reported an error no other code names (logged with LMDB's words) */
    TSR_ENET = -9,      /* ZeroMQ reported an error */
    TSR_EEXIST = -10,   /* refusing to overwrite */
    TSR_EPROTO = -11,   /* malformed wire message */
    TSR_EFULL = -12,    /* storage full; try again later */
    TSR_EAGAIN = -13,   /* nothing yet; try again */
    TSR_EMAPFULL = -14, /* the LMDB map is full (tsr_kv_write grows it, or says TSR_EFULL) */
    TSR_ECORRUPT = -15, /* stored data cannot be read: damaged or of an unknown format */
    TSR_ENOSPC = -16,   /* the disk (or the user's quota) is full */
};

/* Static text for a TSR_E* code ("invalid input", ...). Never NULL. */
const char *tsr_strerror(int code);

/* Where and why outside input was refused. file may be empty (not a file),
 * line 0 (not line-based), field empty (the input as a whole). */
typedef struct tsr_error {
    char file[256];
    long line;
    char field[64];
    char reason[256];
} tsr_error_t;

/* Clears e (all fields empty). e may be NULL. */
void tsr_error_clear(tsr_error_t *e);

/* Sets field and a printf-style reason, keeping file and line. e may be NULL.
 * Returns TSR_EINVAL so a parser can write `return tsr_error_set(...)`. */
int tsr_error_set(tsr_error_t *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets file and line (file may be NULL for none). e may be NULL. */
void tsr_error_at(tsr_error_t *e, const char *file, long line);

/* Writes "FILE:LINE: FIELD: reason" into buf (parts that are empty are left
 * out) and returns buf. */
const char *tsr_error_format(const tsr_error_t *e, char *buf, size_t cap);

#endif
