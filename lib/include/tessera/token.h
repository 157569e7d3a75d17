/* token.h - keyed identifier tokens and record ids (DESIGN.md section 3).
 *
 *   token     = HMAC-SHA256(K, "tessera/v1/id" 0x00 kind 0x00 canonical)
 *   record id = first 16 bytes of HMAC-SHA256(K, "tessera/v1/record" 0x00
 *               agency_id 0x00 case_ref)
 *   key_id    = first 4 bytes of SHA-256(K), as a big-endian unsigned integer
 *
 * K, the network key, is held by agents and liaison clients only; the
 * collector never has it, so its database cannot be dictionary-attacked.
 *
 * A key is set into an HMAC-SHA256 context once (tsr_netkey_prepare, or the
 * first token), and every token and record id after that re-initialises the
 * context without its key (EVP_MAC_init with a NULL key, as OpenSSL 3
 * allows): nothing is fetched or allocated per token. So a tsr_netkey_t
 * owns a context once used: drop it with tsr_netkey_clear(), which frees
 * the context (OpenSSL cleanses its copy of the key) and wipes the struct.
 * One thread at a time per tsr_netkey_t (the context is reused); do not
 * copy one that has been used (the copies would share the context): make
 * another from the same bytes instead.
 */
#ifndef TESSERA_TOKEN_H
#define TESSERA_TOKEN_H

#include <stddef.h>
#include <stdint.h>

struct tsr_error;

#define TSR_NETKEY_LEN 32
#define TSR_TOKEN_LEN 32
#define TSR_RECORD_ID_LEN 16

struct evp_mac_ctx_st;

typedef struct tsr_netkey {
    uint8_t key[TSR_NETKEY_LEN];
    uint32_t key_id;
    /* HMAC-SHA256 keyed with key; NULL until prepared or first used. */
    struct evp_mac_ctx_st *mac;
} tsr_netkey_t;

/* Sets key and computes key_id; the MAC context is made on first use (so a
 * key that is only loaded and compared owns nothing). */
int tsr_netkey_from_bytes(tsr_netkey_t *out, const uint8_t key[TSR_NETKEY_LEN]);

/* Sets the key into its HMAC-SHA256 context now, so a program finds out at
 * start, not at its first record, if OpenSSL cannot (TSR_ECRYPTO). Does
 * nothing when already done. */
int tsr_netkey_prepare(tsr_netkey_t *key);

/* Frees the key's MAC context and wipes the whole struct (OPENSSL_cleanse),
 * key bytes included. NULL, or a key never used, is fine. */
void tsr_netkey_clear(tsr_netkey_t *key);

/* Loads a key file: 64 hex digits, optional surrounding whitespace and a
 * trailing newline. Refuses a file that group or others can read or write
 * (TSR_EPERM, with the chmod that fixes it in err). out is overwritten
 * (clear a used key first); after a failure it owns nothing, so
 * tsr_netkey_clear(out) is safe. */
int tsr_netkey_load(tsr_netkey_t *out, const char *path, struct tsr_error *err);

/* Generates 32 random bytes (OpenSSL RAND_bytes) and writes them as hex to a
 * new file created with mode 0600. Refuses to overwrite an existing file
 * (TSR_EEXIST). out may be NULL. */
int tsr_netkey_generate(tsr_netkey_t *out, const char *path, struct tsr_error *err);

/* token for an already canonical identifier (see canon.h). TSR_ECRYPTO
 * if OpenSSL fails (the key's context is made on first use). */
int tsr_token_compute(uint8_t out[TSR_TOKEN_LEN], const tsr_netkey_t *key,
                      const char *kind, const char *canonical);

/* record id for a case reference at an agency. */
int tsr_record_id_compute(uint8_t out[TSR_RECORD_ID_LEN], const tsr_netkey_t *key,
                          const char *agency_id, const char *case_ref);

/* Lower-case hex of n bytes into out (2n+1 bytes). Returns out. */
char *tsr_hex_encode(char *out, const uint8_t *in, size_t n);

/* Parses exactly 2n hex digits (either case) into out. TSR_EINVAL otherwise. */
int tsr_hex_decode(uint8_t *out, size_t n, const char *hex);

#endif
