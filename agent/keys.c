/* keys.c - `tessera-agent hash` and `tessera-agent keygen`: the network key
 * and single identifiers, for agencies and liaison checking an identifier. */
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "tessera/canon.h"
#include "tessera/err.h"
#include "tessera/token.h"

static const char s_hash_usage[] =
    "usage: tessera-agent hash --network-key FILE --kind KIND [--country-code CC] VALUE\n"
    "\n"
    "Prints one line: KIND<TAB>CANONICAL<TAB>TOKEN_HEX, where KIND is the kind after\n"
    "canonicalisation (a profile URL's platform wins over the one given). An invalid\n"
    "value prints why on standard error and exits 1.\n"
    "\n"
    "Kinds: handle:<platform>, email, phone, bank:uk, bank:iban, payment:<service>,\n"
    "crypto:btc, crypto:eth, url; 'handle' or 'payment' alone for a profile or\n"
    "payment link that names its platform.\n";

static const char s_keygen_usage[] =
    "usage: tessera-agent keygen --network-key FILE\n"
    "\n"
    "Creates a new network key (32 random bytes, hex) in FILE with mode 0600 and\n"
    "prints its key id. Refuses to overwrite an existing file. Every agency and\n"
    "liaison client of one network must hold the same key; the collector must not.\n";

int agent_cmd_hash(int argc, char **argv)
{
    static const struct option opts[] = {
        {"network-key", required_argument, NULL, 'k'},
        {"kind", required_argument, NULL, 't'},
        {"country-code", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *key_path = NULL, *kind = NULL;
    tsr_canon_opts_t copts = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key_path = optarg; break;
        case 't': kind = optarg; break;
        case 'c': copts.default_country_code = optarg; break;
        case 'h': fputs(s_hash_usage, stdout); return 0;
        default: fputs(s_hash_usage, stderr); return 2;
        }
    }
    if (!key_path || !kind || optind != argc - 1) {
        fputs(s_hash_usage, stderr);
        return 2;
    }
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    tsr_netkey_t key;
    if (tsr_netkey_load(&key, key_path, &err) != 0) {
        fprintf(stderr, "tessera-agent: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return 1;
    }
    char kind_out[TSR_KIND_MAX], canon[TSR_CANON_MAX];
    uint8_t tok[TSR_TOKEN_LEN];
    char hex[2 * TSR_TOKEN_LEN + 1];
    int rc = 1;
    if (tsr_canon(kind, argv[optind], &copts, kind_out, sizeof kind_out, canon, sizeof canon,
                  &err) != 0)
        fprintf(stderr, "tessera-agent hash: %s\n", tsr_error_format(&err, msg, sizeof msg));
    else if (tsr_token_compute(tok, &key, kind_out, canon) != 0)
        fprintf(stderr, "tessera-agent hash: could not compute the token\n");
    else
        rc = 0;
    tsr_netkey_clear(&key); /* frees the key's MAC context, wipes the key */
    if (rc == 0)
        printf("%s\t%s\t%s\n", kind_out, canon, tsr_hex_encode(hex, tok, sizeof tok));
    return rc;
}

int agent_cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"network-key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *key_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key_path = optarg; break;
        case 'h': fputs(s_keygen_usage, stdout); return 0;
        default: fputs(s_keygen_usage, stderr); return 2;
        }
    }
    if (!key_path || optind != argc) {
        fputs(s_keygen_usage, stderr);
        return 2;
    }
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    tsr_netkey_t key;
    int rc = tsr_netkey_generate(&key, key_path, &err);
    uint32_t key_id = key.key_id;
    OPENSSL_cleanse(&key, sizeof key); /* the network key: not left on the stack */
    if (rc != 0) {
        fprintf(stderr, "tessera-agent keygen: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return 1;
    }
    printf("wrote network key %s (key id %u)\n", key_path, key_id);
    return 0;
}
