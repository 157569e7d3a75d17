/* fuzz_series.c - a series file (CSV period,count) through the loader, then
 * every detector on what loads: EARS C1, C2, C3 and Farrington flexible.
 * Input: first byte picks the step (0, 1 or 7), the rest is the file. */
#include "fuzz.h"

#include <math.h>

#include "tessera/err.h"
#include "tessera/spike.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int steps[] = {0, 1, 7};
    const char *path = fuzz_file(data + 1, size - 1, ".csv");
    if (!path)
        return 0;
    tsr_series_t s;
    tsr_error_t err;
    tsr_error_clear(&err);
    if (tsr_series_load(&s, path, steps[data[0] % 3], &err) != 0)
        return 0;
    FUZZ_CHECK(s.step == 1 || s.step == 7);
    tsr_spike_point_t *out = calloc(s.n + 1, sizeof *out);
    if (out && s.n <= 5000) { /* Farrington fits a GLM per period: keep an input's time bounded */
        for (int m = TSR_EARS_C1; m <= TSR_EARS_C3; m++) {
            tsr_ears_opts_t o;
            tsr_ears_defaults(&o, (tsr_ears_method_t)m);
            FUZZ_CHECK(tsr_ears(s.count, s.n, &o, out) == 0);
            for (size_t i = 0; i < s.n; i++)
                FUZZ_CHECK(out[i].alarm >= TSR_ALARM_NA && out[i].alarm <= TSR_ALARM_YES);
        }
        tsr_farrington_opts_t fo;
        tsr_farrington_defaults(&fo);
        int rc = tsr_farrington(s.count, s.n, &fo, out);
        FUZZ_CHECK(rc == 0 || rc == TSR_ENOMEM);
        for (size_t i = 0; rc == 0 && i < s.n; i++)
            FUZZ_CHECK(out[i].alarm >= TSR_ALARM_NA && out[i].alarm <= TSR_ALARM_YES);
    }
    free(out);
    tsr_series_free(&s);
    return 0;
}
