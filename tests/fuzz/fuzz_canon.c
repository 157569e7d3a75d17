/* fuzz_canon.c - canonicalisation of an identifier, then its token.
 * Input: kind, NUL, value (no NUL: the first 16 bytes' low bits pick a
 * kind from the list instead). A canonical form must be a fixed point:
 * canonicalising it again gives itself. */
#include "fuzz.h"

#include "tessera/canon.h"
#include "tessera/err.h"
#include "tessera/token.h"

static const char *const s_kinds[] = {
    "handle:instagram",
    "handle:snapchat",
    "handle:tiktok",
    "handle",
    "email",
    "phone",
    "bank:uk",
    "bank:iban",
    "payment:cashapp",
    "payment",
    "crypto:btc",
    "crypto:eth",
    "url",
    "handle:x",
    "handle:discord",
    "payment:paypal",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    if (!s)
        return 0;
    const char *kind, *value;
    char *nul = memchr(s, '\0', size);
    if (nul && nul != s + size) {
        kind = s;
        value = nul + 1;
    } else {
        kind = s_kinds[size ? data[0] % 16 : 0];
        value = size ? s + 1 : s;
    }
    char kind_out[TSR_KIND_MAX], canon[TSR_CANON_MAX], kind2[TSR_KIND_MAX], canon2[TSR_CANON_MAX];
    tsr_error_t err;
    tsr_error_clear(&err);
    tsr_canon_opts_t opts = {.default_country_code = size && data[size - 1] & 1 ? "1" : NULL};
    if (tsr_canon(kind, value, &opts, kind_out, sizeof kind_out, canon, sizeof canon, &err) == 0) {
        FUZZ_CHECK(tsr_canon_kind_valid(kind_out));
        FUZZ_CHECK(strlen(canon) < sizeof canon);
        static tsr_netkey_t key; /* made once: a key owns its MAC context once used */
        static int ready;
        static const uint8_t k[TSR_NETKEY_LEN] = {1, 2, 3};
        if (!ready)
            ready = tsr_netkey_from_bytes(&key, k) == 0;
        uint8_t tok[TSR_TOKEN_LEN];
        FUZZ_CHECK(tsr_token_compute(tok, &key, kind_out, canon) == 0);
        char hex[2 * TSR_TOKEN_LEN + 1];
        uint8_t back[TSR_TOKEN_LEN];
        tsr_hex_encode(hex, tok, sizeof tok);
        FUZZ_CHECK(tsr_hex_decode(back, sizeof back, hex) == 0 && !memcmp(back, tok, sizeof tok));
        /* idempotent: the canonical form is its own canonical form */
        if (tsr_canon(kind_out, canon, &opts, kind2, sizeof kind2, canon2, sizeof canon2, &err) ==
            0)
            FUZZ_CHECK(!strcmp(kind2, kind_out) && !strcmp(canon2, canon));
    }
    /* the hex decoder on any text */
    uint8_t id[TSR_RECORD_ID_LEN];
    tsr_hex_decode(id, sizeof id, value);
    free(s);
    return 0;
}
