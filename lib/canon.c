/* canon.c - canonical forms of offender identifiers (DESIGN.md section 3,
 * normative). Agencies write the same account in many ways; two notations of
 * one account must give one canonical string, so one token. Anything that
 * cannot be read for certain is refused with the reason, never guessed.
 */
#include "tessera/canon.h"
#include "tessera/codes.h"
#include "tessera/err.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

/* Working buffers are bounded: longer input is refused, not truncated. */
#define S_BUF TSR_CANON_MAX

typedef struct {
    char kind[TSR_KIND_MAX];
    char value[S_BUF];
} s_result_t;

static bool s_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Copies input without surrounding white space into out. */
static int s_trim(char *out, const char *in, tsr_error_t *err)
{
    while (s_ascii_space(*in))
        in++;
    size_t n = strlen(in);
    while (n > 0 && s_ascii_space(in[n - 1]))
        n--;
    if (n == 0)
        return tsr_error_set(err, "value", "is empty");
    if (n >= S_BUF)
        return tsr_error_set(err, "value", "is longer than %d bytes", S_BUF - 1);
    memcpy(out, in, n);
    out[n] = '\0';
    return TSR_OK;
}

static void s_ascii_lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Code points of a decomposed value, on the stack: every input of up to
 * S_BUF bytes fits but the rarest expansions (one character can decompose
 * into 18), which take the heap as utf8proc_map would. */
#define S_CPS 1024

/* Unicode NFKC with case folding (utf8proc): full-width and compatibility
 * forms become their plain letters, and case differences disappear. Refuses
 * invalid UTF-8 and any white space or control character inside. The steps
 * of utf8proc_map (decompose, then reencode, which composes), into a buffer
 * on the stack instead of a malloc'd one each call. */
static int s_nfkc_fold(char *s, tsr_error_t *err)
{
    /* Plain ASCII, most identifiers: NFKC leaves it as it is and case
     * folding lowers A-Z only; its white space and controls (Zs, Cc) are
     * 0x00-0x20 and 0x7f. The same result as utf8proc's, without it
     * (test_canon checks every ASCII character against utf8proc_map). */
    size_t n_ascii = 0;
    bool ascii = true;
    for (const unsigned char *p = (const unsigned char *)s; *p && ascii; p++, n_ascii++)
        ascii = *p < 0x80;
    if (ascii) {
        for (char *p = s; *p; p++) {
            if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                return tsr_error_set(err, "value",
                                     "contains white space or an invisible character");
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        }
        if (n_ascii >= S_BUF)
            return tsr_error_set(err, "value", "is longer than %d bytes", S_BUF - 1);
        return TSR_OK;
    }
    const utf8proc_option_t opts = UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                   UTF8PROC_COMPAT | UTF8PROC_CASEFOLD;
    utf8proc_int32_t stack[S_CPS + 1], *buf = stack; /* reencode needs 4n + 1 bytes */
    utf8proc_ssize_t n = utf8proc_decompose((const utf8proc_uint8_t *)s, 0, buf, S_CPS, opts);
    if (n > S_CPS) {
        buf = malloc((size_t)n * sizeof *buf + 1);
        n = buf ? utf8proc_decompose((const utf8proc_uint8_t *)s, 0, buf, n, opts)
                : UTF8PROC_ERROR_NOMEM;
    }
    if (n >= 0)
        n = utf8proc_reencode(buf, n, opts);
    if (n < 0) {
        if (buf != stack)
            free(buf);
        if (n == UTF8PROC_ERROR_NOMEM) {
            tsr_error_set(err, "value", "out of memory");
            return TSR_ENOMEM;
        }
        return tsr_error_set(err, "value", "is not valid UTF-8 text");
    }
    const utf8proc_uint8_t *mapped = (const utf8proc_uint8_t *)buf;
    int rc = TSR_OK;
    utf8proc_int32_t cp;
    for (utf8proc_ssize_t i = 0; i < n && rc == 0;) {
        utf8proc_ssize_t k = utf8proc_iterate(mapped + i, n - i, &cp);
        utf8proc_category_t cat = utf8proc_category(cp);
        if (k <= 0)
            rc = tsr_error_set(err, "value", "is not valid UTF-8 text");
        else if (cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_CC ||
                 cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_ZL ||
                 cat == UTF8PROC_CATEGORY_ZP)
            rc = tsr_error_set(err, "value", "contains white space or an invisible character");
        i += k > 0 ? k : 1;
    }
    if (rc == 0 && (size_t)n >= S_BUF)
        rc = tsr_error_set(err, "value", "is longer than %d bytes", S_BUF - 1);
    if (rc == 0)
        memcpy(s, mapped, (size_t)n + 1);
    if (buf != stack)
        free(buf);
    return rc;
}

/* --- URLs --------------------------------------------------------------- */

typedef struct {
    char scheme[8];
    char host[256];   /* lower-case, without "www." or "m." */
    char path[S_BUF]; /* from the first '/', without query or fragment */
} s_url_t;

/* Splits a link with or without scheme. Returns false when it has none of
 * the shape of a link (no '/' and no "://"). */
static bool s_url_split(const char *in, s_url_t *u, bool strip_mobile)
{
    memset(u, 0, sizeof *u);
    const char *p = strstr(in, "://");
    if (p) {
        size_t n = (size_t)(p - in);
        if (n == 0 || n >= sizeof u->scheme)
            return false;
        memcpy(u->scheme, in, n);
        s_ascii_lower(u->scheme);
        p += 3;
    } else {
        if (!strchr(in, '/') && !strchr(in, '.'))
            return false;
        p = in;
    }
    size_t hl = strcspn(p, "/?#");
    if (hl == 0 || hl >= sizeof u->host)
        return false;
    memcpy(u->host, p, hl);
    s_ascii_lower(u->host);
    /* every such prefix, not just the first: "www.www.x" became "www.x",
     * and that again "x" (found by tests/fuzz/fuzz_canon) */
    for (;;) {
        if (!strncmp(u->host, "www.", 4))
            memmove(u->host, u->host + 4, strlen(u->host + 4) + 1);
        else if (strip_mobile && !strncmp(u->host, "m.", 2))
            memmove(u->host, u->host + 2, strlen(u->host + 2) + 1);
        else
            break;
    }
    p += hl;
    size_t pl = strcspn(p, "?#");
    if (pl >= sizeof u->path)
        return false;
    memcpy(u->path, p, pl);
    return true;
}

/* The first path segment after an optional literal prefix ("/add/"). */
static bool s_segment(const char *path, const char *prefix, char *out, size_t cap)
{
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0)
        return false;
    path += pl;
    size_t n = strcspn(path, "/");
    if (n == 0 || n >= cap || strspn(path + n, "/") != strlen(path + n))
        return false; /* more path after the name: not a profile link */
    memcpy(out, path, n);
    out[n] = '\0';
    return true;
}

/* --- handles ------------------------------------------------------------ */

static const struct {
    const char *host, *platform, *prefix;
} s_profile_hosts[] = {
    {"instagram.com", "instagram", "/"},
    {"tiktok.com", "tiktok", "/@"},
    {"snapchat.com", "snapchat", "/add/"},
    {"x.com", "x", "/"},
    {"twitter.com", "x", "/"},
};

static int s_handle(const char *platform, char *v, s_result_t *r, tsr_error_t *err)
{
    int rc = s_nfkc_fold(v, err);
    if (rc)
        return rc;
    s_url_t u;
    if (strchr(v, '/') && s_url_split(v, &u, true)) {
        size_t i, n = sizeof s_profile_hosts / sizeof s_profile_hosts[0];
        for (i = 0; i < n; i++)
            if (!strcmp(u.host, s_profile_hosts[i].host))
                break;
        if (i == n)
            return tsr_error_set(err, "value",
                                 "'%s' is not a profile link of instagram, tiktok, snapchat or "
                                 "x/twitter: give the handle itself, or use kind url",
                                 u.host);
        char name[S_BUF];
        if (!s_segment(u.path, s_profile_hosts[i].prefix, name, sizeof name))
            return tsr_error_set(err, "value", "no profile name in the %s link", u.host);
        /* the link names its platform, which wins over the declared one */
        platform = s_profile_hosts[i].platform;
        snprintf(v, S_BUF, "%s", name);
    } else if (strchr(v, '/')) {
        return tsr_error_set(err, "value", "a handle cannot contain '/'");
    }
    if (!platform)
        return tsr_error_set(err, "kind",
                             "'handle' alone needs a profile link; otherwise give "
                             "handle:<platform>");
    char *name = v[0] == '@' ? v + 1 : v;
    if (*name == '\0')
        return tsr_error_set(err, "value", "the handle is empty");
    if (strchr(name, '@'))
        return tsr_error_set(err, "value", "a handle cannot contain '@' after the first character");
    snprintf(r->kind, sizeof r->kind, "handle:%s", platform);
    snprintf(r->value, sizeof r->value, "%s", name);
    return TSR_OK;
}

/* --- email -------------------------------------------------------------- */

static int s_email(char *v, s_result_t *r, tsr_error_t *err)
{
    int rc = s_nfkc_fold(v, err);
    if (rc)
        return rc;
    char *at = strchr(v, '@');
    if (!at || strchr(at + 1, '@'))
        return tsr_error_set(err, "value", "an email address has exactly one '@'");
    *at = '\0';
    char *local = v, *domain = at + 1;
    if (!*local)
        return tsr_error_set(err, "value", "nothing before the '@'");
    if (!strchr(domain, '.') || domain[0] == '.' || domain[strlen(domain) - 1] == '.' ||
        strstr(domain, ".."))
        return tsr_error_set(err, "value", "'%s' is not a domain name", domain);
    /* Gmail ignores dots and +tags, and googlemail.com is the same mailbox. */
    if (!strcmp(domain, "gmail.com") || !strcmp(domain, "googlemail.com")) {
        domain = "gmail.com";
        char *plus = strchr(local, '+');
        if (plus)
            *plus = '\0';
        char *o = local;
        for (char *p = local; *p; p++)
            if (*p != '.')
                *o++ = *p;
        *o = '\0';
        if (!*local)
            return tsr_error_set(err, "value", "nothing before the '@'");
        /* a dot removed may leave a combining mark on the letter before it
         * ("c.\u0327" becomes "c\u0327"), which NFKC composes ("\u00e7"):
         * normalised again, the result is its own canonical form (found by
         * fuzz_canon; its input is in tests/fuzz/corpus/canon) */
        if ((rc = s_nfkc_fold(local, err)) != 0)
            return rc;
    }
    snprintf(r->kind, sizeof r->kind, "email");
    snprintf(r->value, sizeof r->value, "%s@%s", local, domain);
    return TSR_OK;
}

/* --- phone -------------------------------------------------------------- */

static int s_phone(char *v, const tsr_canon_opts_t *opts, s_result_t *r, tsr_error_t *err)
{
    const char *cc = opts && opts->default_country_code ? opts->default_country_code : "44";
    if (strspn(cc, "0123456789") != strlen(cc) || !*cc || strlen(cc) > 3)
        return tsr_error_set(err, "kind", "default country code '%s' must be 1-3 digits", cc);
    /* A trunk "(0)" as in +44 (0)7700 900123 is written, never dialled. */
    for (char *t; (t = strstr(v, "(0)"));)
        memmove(t, t + 3, strlen(t + 3) + 1);
    char digits[S_BUF];
    size_t n = 0;
    bool plus = false;
    for (const char *p = v; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
        else if (*p == '+' && n == 0 && !plus)
            plus = true;
        else if (!strchr(" -.()/", *p))
            return tsr_error_set(err, "value",
                                 "'%c' is not part of a phone number (digits, +, spaces, - . ( ) only)",
                                 *p);
    }
    digits[n] = '\0';
    char num[S_BUF + 8];
    if (plus)
        snprintf(num, sizeof num, "%s", digits);
    else if (digits[0] == '0' && digits[1] == '0')
        snprintf(num, sizeof num, "%s", digits + 2);
    else if (digits[0] == '0')
        snprintf(num, sizeof num, "%.3s%s", cc, digits + 1);
    else
        return tsr_error_set(err, "value",
                             "starts with neither + nor 0: write it with + and the country code");
    /* +44 07700... is a common mistake for +44 7700... A UK number never
     * starts with 0 after the 44, so one more 0 is no mistake we can undo:
     * dropping it too would give +44 0... and +44 00... one form while
     * "+440..." itself would canonicalise to something else (found by
     * tests/fuzz/fuzz_canon: the canonical form must be its own). */
    if (!strncmp(num, "440", 3)) {
        if (num[3] == '0')
            return tsr_error_set(err, "value",
                                 "+44 followed by 00: a UK number has at most one 0 after +44");
        memmove(num + 2, num + 3, strlen(num + 3) + 1);
    }
    size_t len = strlen(num);
    if (len < 8)
        return tsr_error_set(err, "value", "too short for a phone number (%zu digits)", len);
    if (len > 15)
        return tsr_error_set(err, "value", "too long for a phone number (%zu digits, at most 15)",
                             len);
    snprintf(r->kind, sizeof r->kind, "phone");
    snprintf(r->value, sizeof r->value, "+%s", num);
    return TSR_OK;
}

/* --- banks -------------------------------------------------------------- */

/* v without spaces, upper-cased; checks the shape and ISO 7064 mod 97-10. */
static int s_iban(const char *in, char *out, tsr_error_t *err)
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (!isalnum((unsigned char)*p))
            return tsr_error_set(err, "value", "'%c' cannot be part of an IBAN", *p);
        out[n++] = (char)toupper((unsigned char)*p);
        if (n > 34)
            return tsr_error_set(err, "value", "longer than an IBAN (34 characters at most)");
    }
    out[n] = '\0';
    if (n < 15 || !isalpha((unsigned char)out[0]) || !isalpha((unsigned char)out[1]) ||
        !isdigit((unsigned char)out[2]) || !isdigit((unsigned char)out[3]))
        return tsr_error_set(err, "value",
                             "not an IBAN (two letters, two check digits, the account; 15-34 "
                             "characters)");
    unsigned rem = 0;
    for (size_t i = 0; i < n; i++) {
        char c = out[(i + 4) % n]; /* the first four characters move to the end */
        unsigned v = isdigit((unsigned char)c) ? (unsigned)(c - '0') : (unsigned)(c - 'A' + 10);
        rem = v >= 10 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
    }
    if (rem != 1)
        return tsr_error_set(err, "value", "IBAN checksum (mod 97) fails: check for a typo");
    return TSR_OK;
}

/* A GB IBAN holds bank code (4), sort code (6), account (8). */
static int s_gb_iban_to_uk(const char *iban, s_result_t *r, tsr_error_t *err)
{
    if (strlen(iban) != 22 || strspn(iban + 8, "0123456789") != 14)
        return tsr_error_set(err, "value", "a GB IBAN is GBkk BBBB SSSSSS AAAAAAAA (22 characters)");
    snprintf(r->kind, sizeof r->kind, "bank:uk");
    snprintf(r->value, sizeof r->value, "%.6s-%.8s", iban + 8, iban + 14);
    return TSR_OK;
}

static bool s_looks_iban(const char *v)
{
    return isalpha((unsigned char)v[0]) && isalpha((unsigned char)v[1]);
}

static int s_bank_uk(const char *v, s_result_t *r, tsr_error_t *err)
{
    char iban[S_BUF];
    if (s_looks_iban(v)) {
        int rc = s_iban(v, iban, err);
        if (rc)
            return rc;
        if (strncmp(iban, "GB", 2) != 0)
            return tsr_error_set(err, "value", "a %.2s IBAN is not a UK account: use kind bank:iban",
                                 iban);
        return s_gb_iban_to_uk(iban, r, err);
    }
    char d[S_BUF];
    size_t n = 0;
    for (const char *p = v; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n == 14)
                return tsr_error_set(err, "value",
                                     "expected a 6-digit sort code and an 8-digit account number");
            d[n++] = *p;
        } else if (!strchr(" -,/", *p)) {
            return tsr_error_set(err, "value", "'%c' is not part of a sort code and account number",
                                 *p);
        }
    }
    if (n != 14)
        return tsr_error_set(err, "value",
                             "expected a 6-digit sort code and an 8-digit account number "
                             "(%zu digits given)", n);
    snprintf(r->kind, sizeof r->kind, "bank:uk");
    snprintf(r->value, sizeof r->value, "%.6s-%.8s", d, d + 6);
    return TSR_OK;
}

static int s_bank_iban(const char *v, s_result_t *r, tsr_error_t *err)
{
    char iban[S_BUF];
    int rc = s_iban(v, iban, err);
    if (rc)
        return rc;
    /* A GB IBAN links with the same account written as sort code + number. */
    if (!strncmp(iban, "GB", 2))
        return s_gb_iban_to_uk(iban, r, err);
    snprintf(r->kind, sizeof r->kind, "bank:iban");
    snprintf(r->value, sizeof r->value, "%s", iban);
    return TSR_OK;
}

/* --- payment tags --------------------------------------------------------- */

static const struct {
    const char *host, *service, *prefix;
} s_payment_hosts[] = {
    {"paypal.me", "paypal", "/"},
    {"paypal.com", "paypal", "/paypalme/"},
    {"cash.app", "cashapp", "/$"},
    {"venmo.com", "venmo", "/u/"},
    {"venmo.com", "venmo", "/"},
    {"revolut.me", "revolut", "/"},
};

static int s_payment(const char *service, char *v, s_result_t *r, tsr_error_t *err)
{
    int rc = s_nfkc_fold(v, err);
    if (rc)
        return rc;
    s_url_t u;
    char name[S_BUF];
    if (strchr(v, '/') && s_url_split(v, &u, false)) {
        size_t i, n = sizeof s_payment_hosts / sizeof s_payment_hosts[0];
        for (i = 0; i < n; i++)
            if (!strcmp(u.host, s_payment_hosts[i].host) &&
                s_segment(u.path, s_payment_hosts[i].prefix, name, sizeof name))
                break;
        if (i == n)
            return tsr_error_set(err, "value",
                                 "not a paypal.me, cash.app, venmo.com or revolut.me link: use "
                                 "kind url for other payment pages");
        service = s_payment_hosts[i].service;
    } else {
        if (!service)
            return tsr_error_set(err, "kind",
                                 "'payment' alone needs a payment link; otherwise give "
                                 "payment:<service>");
        snprintf(name, sizeof name, "%s", v[0] == '$' || v[0] == '@' ? v + 1 : v);
    }
    if (!*name)
        return tsr_error_set(err, "value", "the payment tag is empty");
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_-.", *p) && (unsigned char)*p < 0x80)
            return tsr_error_set(err, "value", "'%c' cannot be part of a payment tag", *p);
    snprintf(r->kind, sizeof r->kind, "payment:%s", service);
    snprintf(r->value, sizeof r->value, "%s", name);
    return TSR_OK;
}

/* --- crypto ------------------------------------------------------------- */

/* BIP-173 (bech32) and BIP-350 (bech32m) checksum over a lower-case address. */
static bool s_bech32_valid(const char *addr)
{
    static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    const char *sep = strrchr(addr, '1');
    if (!sep || sep == addr || strlen(sep + 1) < 6)
        return false;
    uint32_t chk = 1;
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
#define S_STEP(v)                                                                                  \
    do {                                                                                           \
        uint32_t top_ = chk >> 25;                                                                 \
        chk = ((chk & 0x1ffffff) << 5) ^ (uint32_t)(v);                                            \
        for (int i_ = 0; i_ < 5; i_++)                                                             \
            if ((top_ >> i_) & 1)                                                                  \
                chk ^= gen[i_];                                                                    \
    } while (0)
    for (const char *p = addr; p < sep; p++)
        S_STEP((unsigned char)*p >> 5);
    S_STEP(0);
    for (const char *p = addr; p < sep; p++)
        S_STEP((unsigned char)*p & 31);
    for (const char *p = sep + 1; *p; p++) {
        const char *c = strchr(charset, *p);
        if (!c || !*p)
            return false;
        S_STEP(c - charset);
    }
#undef S_STEP
    return chk == 1 || chk == 0x2bc830a3;
}

static int s_btc(const char *v, s_result_t *r, tsr_error_t *err)
{
    char a[S_BUF];
    snprintf(a, sizeof a, "%s", v);
    size_t n = strlen(a);
    snprintf(r->kind, sizeof r->kind, "crypto:btc");
    if (!strncasecmp(a, "bc1", 3)) {
        bool lower = false, upper = false;
        for (const char *p = a; *p; p++) {
            lower |= islower((unsigned char)*p);
            upper |= isupper((unsigned char)*p);
        }
        if (lower && upper)
            return tsr_error_set(err, "value", "a bech32 address is all lower or all upper case");
        s_ascii_lower(a);
        if (n < 14 || n > 74 || !s_bech32_valid(a))
            return tsr_error_set(err, "value", "not a valid bech32 bitcoin address (checksum fails)");
        snprintf(r->value, sizeof r->value, "%s", a);
        return TSR_OK;
    }
    static const char b58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    if ((a[0] == '1' || a[0] == '3') && n >= 25 && n <= 34 && strspn(a, b58) == n) {
        /* base58 is case-sensitive: kept as written (its checksum is not
         * verified here: that needs SHA-256d, and a typo only fails to link). */
        snprintf(r->value, sizeof r->value, "%s", a);
        return TSR_OK;
    }
    return tsr_error_set(err, "value",
                         "not a bitcoin address (bc1... bech32, or base58 starting 1 or 3)");
}

static int s_eth(const char *v, s_result_t *r, tsr_error_t *err)
{
    if (strlen(v) != 42 || v[0] != '0' || (v[1] != 'x' && v[1] != 'X') ||
        strspn(v + 2, "0123456789abcdefABCDEF") != 40)
        return tsr_error_set(err, "value", "an ethereum address is 0x and 40 hex digits");
    snprintf(r->kind, sizeof r->kind, "crypto:eth");
    snprintf(r->value, sizeof r->value, "%s", v);
    s_ascii_lower(r->value);
    return TSR_OK;
}

/* --- other links ---------------------------------------------------------- */

static int s_link(const char *v, s_result_t *r, tsr_error_t *err)
{
    for (const char *p = v; *p; p++)
        if (isspace((unsigned char)*p) || (unsigned char)*p < 0x20)
            return tsr_error_set(err, "value", "a link cannot contain white space");
    s_url_t u;
    if (!s_url_split(v, &u, false))
        return tsr_error_set(err, "value", "not a link");
    if (!u.scheme[0]) /* written without a scheme: links are https today */
        snprintf(u.scheme, sizeof u.scheme, "https");
    if (strcmp(u.scheme, "http") && strcmp(u.scheme, "https"))
        return tsr_error_set(err, "value", "only http and https links are accepted");
    if (!strchr(u.host, '.'))
        return tsr_error_set(err, "value", "'%s' is not a host name", u.host);
    /* every trailing '/', not just one: ".../a//" canonicalised to ".../a/"
     * and that again to ".../a" (found by tests/fuzz/fuzz_canon) */
    size_t pl = strlen(u.path);
    while (pl > 0 && u.path[pl - 1] == '/')
        u.path[--pl] = '\0';
    snprintf(r->kind, sizeof r->kind, "url");
    if ((size_t)snprintf(r->value, sizeof r->value, "%s://%s%s", u.scheme, u.host, u.path) >=
        sizeof r->value)
        return tsr_error_set(err, "value", "is too long");
    return TSR_OK;
}

/* --- kinds -------------------------------------------------------------- */

/* "handle:instagram" -> platform "instagram" valid in list; sub NULL when
 * the kind is the bare prefix. Returns 1 when kind has the prefix. */
static int s_prefixed(const char *kind, const char *prefix, tsr_codes_list_t list,
                      const char **sub, tsr_error_t *err)
{
    size_t n = strlen(prefix);
    if (strncmp(kind, prefix, n) != 0 || (kind[n] != '\0' && kind[n] != ':'))
        return 0;
    *sub = NULL;
    if (kind[n] == ':') {
        if (tsr_codes_value(list, kind + n + 1) < 0) {
            char exp[512];
            tsr_error_set(err, "kind", "'%s' is not one of: %s", kind + n + 1,
                          tsr_codes_expected(list, exp, sizeof exp));
            return -1;
        }
        *sub = tsr_codes_name(list, tsr_codes_value(list, kind + n + 1));
    }
    return 1;
}

int tsr_canon_kind_valid(const char *kind)
{
    static const char *const plain[] = {"email",      "phone",      "bank:uk", "bank:iban",
                                        "crypto:btc", "crypto:eth", "url"};
    if (!kind)
        return 0;
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (!strcmp(kind, plain[i]))
            return 1;
    if (!strncmp(kind, "handle:", 7))
        return tsr_codes_value(TSR_CODES_PLATFORM, kind + 7) > 0;
    if (!strncmp(kind, "payment:", 8))
        return tsr_codes_value(TSR_CODES_SERVICE, kind + 8) > 0;
    return 0;
}

int tsr_canon(const char *kind, const char *input, const tsr_canon_opts_t *opts, char *kind_out,
              size_t kind_cap, char *canon_out, size_t canon_cap, tsr_error_t *err)
{
    char v[S_BUF];
    s_result_t r;
    const char *sub;
    int rc, p;
    if (!kind || !input)
        return tsr_error_set(err, !kind ? "kind" : "value", "is missing");
    if ((rc = s_trim(v, input, err)) != 0)
        return rc;
    if ((p = s_prefixed(kind, "handle", TSR_CODES_PLATFORM, &sub, err)) != 0)
        rc = p < 0 ? TSR_EINVAL : s_handle(sub, v, &r, err);
    else if ((p = s_prefixed(kind, "payment", TSR_CODES_SERVICE, &sub, err)) != 0)
        rc = p < 0 ? TSR_EINVAL : s_payment(sub, v, &r, err);
    else if (!strcmp(kind, "email"))
        rc = s_email(v, &r, err);
    else if (!strcmp(kind, "phone"))
        rc = s_phone(v, opts, &r, err);
    else if (!strcmp(kind, "bank:uk"))
        rc = s_bank_uk(v, &r, err);
    else if (!strcmp(kind, "bank:iban"))
        rc = s_bank_iban(v, &r, err);
    else if (!strcmp(kind, "crypto:btc"))
        rc = s_btc(v, &r, err);
    else if (!strcmp(kind, "crypto:eth"))
        rc = s_eth(v, &r, err);
    else if (!strcmp(kind, "url"))
        rc = s_link(v, &r, err);
    else
        rc = tsr_error_set(err, "kind",
                           "'%s' is not one of: handle:<platform>, email, phone, bank:uk, "
                           "bank:iban, payment:<service>, crypto:btc, crypto:eth, url",
                           kind);
    if (rc != 0)
        return rc;
    if (strlen(r.kind) >= kind_cap || strlen(r.value) >= canon_cap)
        return TSR_ERANGE;
    memcpy(kind_out, r.kind, strlen(r.kind) + 1);
    memcpy(canon_out, r.value, strlen(r.value) + 1);
    return TSR_OK;
}
