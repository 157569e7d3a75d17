/* err.c - error names and the parser error detail. */
#include "tessera/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tsr_strerror(int code)
{
    switch (code) {
    case TSR_OK: return "success";
    case TSR_EINVAL: return "invalid input";
    case TSR_ENOMEM: return "out of memory";
    case TSR_EIO: return "input/output error";
    case TSR_ENOTFOUND: return "not found";
    case TSR_EPERM: return "not permitted";
    case TSR_ERANGE: return "value out of range";
    case TSR_ECRYPTO: return "cryptographic library error";
    case TSR_ESTORE: return "storage error";
    case TSR_ENET: return "network error";
    case TSR_EEXIST: return "already exists";
    case TSR_EPROTO: return "malformed message";
    case TSR_EFULL: return "storage full";
    case TSR_EAGAIN: return "try again";
    case TSR_EMAPFULL: return "storage map full";
    case TSR_ECORRUPT: return "stored data damaged";
    case TSR_ENOSPC: return "no space left on device";
    default: return "unknown error";
    }
}

void tsr_error_clear(tsr_error_t *e)
{
    if (e)
        memset(e, 0, sizeof *e);
}

int tsr_error_set(tsr_error_t *e, const char *field, const char *fmt, ...)
{
    if (!e)
        return TSR_EINVAL;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof e->reason, fmt, ap);
    va_end(ap);
    return TSR_EINVAL;
}

void tsr_error_at(tsr_error_t *e, const char *file, long line)
{
    if (!e)
        return;
    snprintf(e->file, sizeof e->file, "%s", file ? file : "");
    e->line = line;
}

const char *tsr_error_format(const tsr_error_t *e, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    if (!e)
        return buf;
    char where[300] = "";
    if (e->file[0] && e->line > 0)
        snprintf(where, sizeof where, "%.255s:%ld: ", e->file, e->line);
    else if (e->file[0])
        snprintf(where, sizeof where, "%.255s: ", e->file);
    else if (e->line > 0)
        snprintf(where, sizeof where, "line %ld: ", e->line);
    snprintf(buf, cap, "%s%s%s%s", where, e->field, e->field[0] ? ": " : "",
             e->reason[0] ? e->reason : "invalid");
    return buf;
}
