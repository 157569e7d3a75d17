/* codes_embedded.h - the CSV files compiled into the library (private). */
#ifndef TESSERA_CODES_EMBEDDED_H
#define TESSERA_CODES_EMBEDDED_H
#include <stddef.h>
typedef struct {
    const char *name; /* file name, e.g. "platforms.csv"; NULL ends the table */
    const char *data; /* NUL-terminated contents */
    size_t size;      /* bytes, without the NUL */
} tsr_embedded_file_t;
extern const tsr_embedded_file_t tsr_embedded_codes[];
#endif
