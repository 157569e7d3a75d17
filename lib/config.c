/* config.c - INI files through inih, validated against a key table. */
#include "tessera/config.h"
#include "tessera/err.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    FILE *fp;
    long line; /* line last read: Debian's inih passes no line number */
    const tsr_config_key_t *keys;
    bool *seen;
    long *lines; /* may be NULL */
    tsr_error_t *err;
    int rc;
} s_parse_t;

static int s_set(const tsr_config_key_t *k, const char *value, tsr_error_t *err)
{
    char field[128];
    snprintf(field, sizeof field, "%s%s%s", k->section, k->section[0] ? "." : "", k->name);
    switch (k->type) {
    case TSR_CONFIG_STRING: {
        char *copy = strdup(value);
        if (!copy)
            return TSR_ENOMEM;
        free(*(char **)k->dest);
        *(char **)k->dest = copy;
        return TSR_OK;
    }
    case TSR_CONFIG_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < k->min || v > k->max)
            return tsr_error_set(err, field, "'%s' is not a whole number from %ld to %ld", value,
                                 k->min, k->max);
        *(long *)k->dest = v;
        return TSR_OK;
    }
    case TSR_CONFIG_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};
        for (int i = 0; i < 4; i++) {
            if (!strcasecmp(value, yes[i])) {
                *(bool *)k->dest = true;
                return TSR_OK;
            }
            if (!strcasecmp(value, no[i])) {
                *(bool *)k->dest = false;
                return TSR_OK;
            }
        }
        return tsr_error_set(err, field, "'%s' is not true/false (yes/no, on/off, 1/0)", value);
    }
    }
    return tsr_error_set(err, field, "unknown key type");
}

/* inih reader: fgets that counts lines, so errors can name the line. */
static char *s_reader(char *str, int num, void *stream)
{
    s_parse_t *p = stream;
    char *r = fgets(str, num, p->fp);
    if (r)
        p->line++;
    return r;
}

static int s_handler(void *user, const char *section, const char *name, const char *value)
{
    s_parse_t *p = user;
    long line = p->line;
    if (p->rc != 0) /* inih goes on after an error: keep the first */
        return 0;
    for (size_t i = 0; p->keys[i].name; i++) {
        const tsr_config_key_t *k = &p->keys[i];
        if (strcmp(k->section, section) || strcmp(k->name, name))
            continue;
        p->seen[i] = true;
        if (p->lines)
            p->lines[i] = line;
        int rc = s_set(k, value, p->err);
        if (rc != 0) {
            p->err->line = line;
            p->rc = rc;
            return 0;
        }
        return 1;
    }
    char field[128];
    snprintf(field, sizeof field, "%s%s%s", section, section[0] ? "." : "", name);
    tsr_error_set(p->err, field, "unknown key");
    p->err->line = line;
    p->rc = TSR_EINVAL;
    return 0;
}

int tsr_config_defaults(const tsr_config_key_t *keys, tsr_error_t *err)
{
    for (size_t i = 0; keys[i].name; i++) {
        if (!keys[i].def)
            continue;
        int rc = s_set(&keys[i], keys[i].def, err);
        if (rc != 0)
            return rc;
    }
    return TSR_OK;
}

int tsr_config_load(const tsr_config_key_t *keys, const char *path, tsr_error_t *err)
{
    return tsr_config_load_lines(keys, path, NULL, err);
}

int tsr_config_load_lines(const tsr_config_key_t *keys, const char *path, long *lines,
                          tsr_error_t *err)
{
    tsr_error_t local;
    if (!err) {
        err = &local;
        tsr_error_clear(err);
    }
    int rc = tsr_config_defaults(keys, err);
    if (rc != 0)
        return rc;
    size_t n = 0;
    while (keys[n].name)
        n++;
    s_parse_t p = {NULL, 0, keys, calloc(n + 1, sizeof(bool)), lines, err, 0};
    if (!p.seen)
        return TSR_ENOMEM;
    for (size_t i = 0; lines && i < n; i++)
        lines[i] = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        tsr_error_at(err, path, 0);
        tsr_error_set(err, "", "cannot open: %s", strerror(errno));
        free(p.seen);
        return TSR_EIO;
    }
    p.fp = fp;
    int ini = ini_parse_stream(s_reader, &p, s_handler, &p);
    fclose(fp);
    if (p.rc != 0) {
        long line = err->line;
        tsr_error_at(err, path, line);
        free(p.seen);
        return p.rc;
    }
    if (ini != 0) { /* a syntax error inih found, e.g. a line without '=' */
        tsr_error_at(err, path, ini > 0 ? ini : 0);
        tsr_error_set(err, "", "not an INI line (expected key = value or [section])");
        free(p.seen);
        return TSR_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (keys[i].required && !p.seen[i]) {
            char field[128];
            snprintf(field, sizeof field, "%s%s%s", keys[i].section,
                     keys[i].section[0] ? "." : "", keys[i].name);
            tsr_error_at(err, path, 0);
            free(p.seen);
            return tsr_error_set(err, field, "is required");
        }
    }
    free(p.seen);
    return TSR_OK;
}

void tsr_config_free(const tsr_config_key_t *keys)
{
    for (size_t i = 0; keys[i].name; i++)
        if (keys[i].type == TSR_CONFIG_STRING) {
            free(*(char **)keys[i].dest);
            *(char **)keys[i].dest = NULL;
        }
}
