/* canon.h - canonical forms of offender identifiers (DESIGN.md section 3).
 *
 * Two agencies that write the same account differently ("@Jake_2009" and
 * "https://www.instagram.com/jake_2009/?hl=en") must produce the same
 * canonical string, hence the same token. Invalid input is refused with a
 * reason; the functions never guess.
 */
#ifndef TESSERA_CANON_H
#define TESSERA_CANON_H

#include <stddef.h>

struct tsr_error;

/* Longest kind name ("handle:playstation" is 18) plus NUL, and longest
 * canonical form we accept (an input longer than this is refused). */
#define TSR_KIND_MAX 32
#define TSR_CANON_MAX 512

typedef struct tsr_canon_opts {
    /* Country calling code (digits only, e.g. "44") used for national phone
     * numbers that start with a single 0. NULL means "44". */
    const char *default_country_code;
} tsr_canon_opts_t;

/* Canonicalises `input` as identifier kind `kind`.
 *
 * kind is one of: handle:<platform> (platform from schemas/codes/platforms.csv),
 * email, phone, bank:uk, bank:iban, payment:<service> (schemas/codes/services.csv),
 * crypto:btc, crypto:eth, url. The shorthand kinds "handle" and "payment" are
 * accepted when the input is a profile URL or link that names its platform
 * or service.
 *
 * On success writes the final kind into kind_out (which can differ from kind:
 * a profile URL's platform wins over the declared one; a GB IBAN given as
 * bank:iban becomes bank:uk) and the canonical form into canon_out, and
 * returns 0. On failure returns TSR_EINVAL and fills err (field "kind" or
 * "value") with why; TSR_ERANGE if an output buffer is too small.
 * opts may be NULL for defaults. */
int tsr_canon(const char *kind, const char *input, const tsr_canon_opts_t *opts,
              char *kind_out, size_t kind_cap, char *canon_out, size_t canon_cap,
              struct tsr_error *err);

/* True when kind is a complete, known kind name ("handle:instagram", "phone"). */
int tsr_canon_kind_valid(const char *kind);

#endif
