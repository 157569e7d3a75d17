/* config.h - INI configuration files (inih), described by a key table.
 *
 * A program lists its keys once: section, name, type, where the value goes,
 * its default and bounds. tsr_config_load() reads a file, refuses unknown
 * keys and bad values with "FILE:LINE: section.key: reason", and checks that
 * required keys are present. tsr_config_defaults() gives a working
 * configuration without any file (programs run out of the box).
 */
#ifndef TESSERA_CONFIG_H
#define TESSERA_CONFIG_H

#include <stdbool.h>

struct tsr_error;

typedef enum {
    TSR_CONFIG_STRING = 1, /* char ** (malloc'd; freed by tsr_config_free) */
    TSR_CONFIG_INT,        /* long *, within [min, max] */
    TSR_CONFIG_BOOL,       /* bool *: true/false, yes/no, on/off, 1/0 */
} tsr_config_type_t;

typedef struct tsr_config_key {
    const char *section;   /* "" for keys before any [section] */
    const char *name;
    tsr_config_type_t type;
    void *dest;
    const char *def;       /* default as text; NULL = none (string stays NULL) */
    long min, max;         /* TSR_CONFIG_INT bounds */
    bool required;         /* must appear in the file */
    const char *help;      /* one line for documentation and -n output */
} tsr_config_key_t;

/* The table ends with an entry whose name is NULL. */

/* Applies every default. Returns 0, or TSR_EINVAL if a default is invalid
 * (a programming error, err says which). */
int tsr_config_defaults(const tsr_config_key_t *keys, struct tsr_error *err);

/* Applies defaults, then the file. Returns 0; TSR_EIO if the file cannot be
 * read; TSR_EINVAL with err = FILE:LINE: section.key: reason otherwise. */
int tsr_config_load(const tsr_config_key_t *keys, const char *path, struct tsr_error *err);

/* tsr_config_load, also noting in lines[i] (an array with one entry per
 * key of the table) the line keys[i] was set on, 0 where the default
 * stands: for values checked after the load, so their errors still name
 * FILE:LINE. */
int tsr_config_load_lines(const tsr_config_key_t *keys, const char *path, long *lines,
                          struct tsr_error *err);

/* Frees the strings the table's destinations hold and sets them to NULL. */
void tsr_config_free(const tsr_config_key_t *keys);

#endif
