/* fuzz_reader.c - the incident reader (JSON Lines or CSV, by the first
 * byte: even = .jsonl, odd = .csv) over a whole file, every record through
 * minimisation, canonicalisation and tokens. */
#include "fuzz.h"

#include "tessera/err.h"
#include "tessera/record.h"
#include "tessera/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static tsr_netkey_t key;
    static int ready;
    if (!ready) {
        uint8_t k[TSR_NETKEY_LEN];
        for (int i = 0; i < TSR_NETKEY_LEN; i++)
            k[i] = (uint8_t)(i * 7 + 1);
        tsr_netkey_from_bytes(&key, k);
        ready = 1;
    }
    const char *path = fuzz_file(data + 1, size - 1, data[0] & 1 ? ".csv" : ".jsonl");
    if (!path)
        return 0;
    tsr_record_ctx_t ctx = {.agency_id = "fuzz-agency",
                            .agency_type = 1,
                            .default_area = data[0] & 2 ? "E08000035" : NULL,
                            .week_coarsening = (data[0] & 4) != 0,
                            .keys = {&key},
                            .n_keys = 1,
                            .today = 20800}; /* 2026-12-13: fixed, for repeatable runs */
    tsr_error_t err;
    tsr_error_clear(&err);
    tsr_reader_t *r;
    if (tsr_reader_open(&r, path, &err) != 0)
        return 0;
    tsr_incident_t inc;
    char ref[TSR_CASE_REF_MAX];
    int rc, guard = 0;
    while ((rc = tsr_reader_next(r, &ctx, &inc, ref, &err)) != 0 && guard++ < 100000) {
        FUZZ_CHECK(strlen(ref) < TSR_CASE_REF_MAX);
        if (rc > 0)
            FUZZ_CHECK(inc.n_tokens <= TSR_MAX_TOKENS);
    }
    FUZZ_CHECK(guard < 100000); /* the reader always ends */
    tsr_reader_destroy(&r);
    return 0;
}
