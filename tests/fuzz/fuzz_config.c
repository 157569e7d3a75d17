/* fuzz_config.c - an INI file through the config loader, with a key table
 * of every type (string, int with bounds, bool, required). */
#include "fuzz.h"

#include <stdbool.h>

#include "tessera/config.h"
#include "tessera/err.h"

static char *s_str, *s_path;
static long s_int, s_neg;
static bool s_bool, s_flag;

static const tsr_config_key_t s_keys[] = {
    {"collector", "data_dir", TSR_CONFIG_STRING, &s_path, "/var/lib/tessera", 0, 0, false, "dir"},
    {"collector", "ingest_endpoint", TSR_CONFIG_STRING, &s_str, NULL, 0, 0, true, "endpoint"},
    {"collector", "max_frame_mib", TSR_CONFIG_INT, &s_int, "4", 1, 256, false, "frame"},
    {"detect", "offset", TSR_CONFIG_INT, &s_neg, "-3", -100, 100, false, "signed"},
    {"detect", "enabled", TSR_CONFIG_BOOL, &s_bool, "true", 0, 0, false, "bool"},
    {"", "verbose", TSR_CONFIG_BOOL, &s_flag, "no", 0, 0, false, "top-level bool"},
    {NULL, NULL, 0, NULL, NULL, 0, 0, false, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".conf");
    if (!path)
        return 0;
    tsr_error_t err;
    tsr_error_clear(&err);
    if (tsr_config_load(s_keys, path, &err) == 0) {
        FUZZ_CHECK(s_str != NULL); /* required */
        FUZZ_CHECK(s_int >= 1 && s_int <= 256);
        FUZZ_CHECK(s_neg >= -100 && s_neg <= 100);
    } else {
        FUZZ_CHECK(strlen(err.reason) < sizeof err.reason);
    }
    tsr_config_free(s_keys);
    FUZZ_CHECK(s_str == NULL && s_path == NULL);
    return 0;
}
