/* curve.h - CURVE key pairs on disk, in the spirit of ssh-keygen.
 *
 * NAME.key holds the secret key (z85, mode 0600, refused if group/other can
 * read it); NAME.pub holds the public key (z85), which is what goes into the
 * collector's authorized_clients file or an agent's config. Both files are
 * one z85 line after optional '#' comment lines.
 */
#ifndef TESSERA_CURVE_H
#define TESSERA_CURVE_H

#include <stdbool.h>

struct tsr_error;

#define TSR_Z85_KEY_LEN 40 /* z85 text of a 32-byte key, without the NUL */

/* Makes a new pair with zmq_curve_keypair and writes path_stem.key (0600)
 * and path_stem.pub (0644). Refuses (TSR_EEXIST) to overwrite either file
 * unless force. public_out/secret_out (41 bytes) may be NULL. */
int tsr_curve_keygen(const char *path_stem, bool force, char *public_out, char *secret_out,
                     struct tsr_error *err);

/* Loads a secret key file and derives its public key (zmq_curve_public).
 * Both outputs are 41 bytes (z85 + NUL). */
int tsr_curve_load_secret(const char *path, char *secret_out, char *public_out,
                          struct tsr_error *err);

/* Loads a public key file into public_out (41 bytes). */
int tsr_curve_load_public(const char *path, char *public_out, struct tsr_error *err);

/* True when s is 40 valid z85 characters that decode to 32 bytes. */
bool tsr_curve_key_valid(const char *s);

#endif
