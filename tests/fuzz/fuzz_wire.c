/* fuzz_wire.c - the wire decoder on any bytes; what it accepts is encoded
 * and decoded again, and must survive the trip unchanged. */
#include "fuzz.h"

#include "tessera/err.h"
#include "tessera/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsr_wire_limits_t lim;
    tsr_wire_limits_default(&lim);
    lim.max_day = 30000; /* fixed, so a run does not depend on the date */
    tsr_msg_t m, m2, m3;
    tsr_error_t err;
    tsr_error_clear(&err);
    if (tsr_wire_decode(&m, data, size, &lim, &err) != 0) {
        FUZZ_CHECK(m.kind == TSR_MSG_NONE); /* a refused message leaves nothing to free */
        return 0;
    }
    uint8_t *b1 = NULL, *b2 = NULL;
    size_t n1, n2;
    FUZZ_CHECK(tsr_wire_encode(&m, &b1, &n1) == 0);
    FUZZ_CHECK(tsr_wire_decode(&m2, b1, n1, &lim, &err) == 0);
    FUZZ_CHECK(m2.kind == m.kind);
    if (m.kind == TSR_MSG_SUBMIT) {
        FUZZ_CHECK(m2.u.submit.batch_id == m.u.submit.batch_id);
        FUZZ_CHECK(m2.u.submit.n_incidents == m.u.submit.n_incidents);
        FUZZ_CHECK(m2.u.submit.n_retractions == m.u.submit.n_retractions);
    }
    /* encode(decode(x)) is a fixed point from the first trip on */
    FUZZ_CHECK(tsr_wire_encode(&m2, &b2, &n2) == 0);
    FUZZ_CHECK(n2 == n1 && memcmp(b1, b2, n1) == 0);
    FUZZ_CHECK(tsr_wire_decode(&m3, b2, n2, &lim, &err) == 0);
    tsr_msg_clear(&m3);
    free(b1);
    free(b2);
    tsr_msg_clear(&m);
    tsr_msg_clear(&m2);
    return 0;
}
