/* netkeys.h - the network key ids a collector accepts, and their text form.
 *
 * Every token travels with the id of the network key that made it (DESIGN
 * section 3). A network has one key; a collector therefore knows which ids
 * are its network's and refuses tokens under any other (a valid but wrong
 * key would otherwise link nothing, silently). During a rotation two keys
 * are accepted, the old one until a day:
 *
 *   key_ids = 1857500892 until 2027-03-01, 1974342276
 *
 * An id with "until DAY" is accepted up to and including DAY (UTC); one
 * without, with no end. Ids are the decimal numbers `tessera-agent keygen`
 * prints.
 */
#ifndef TESSERA_NETKEYS_H
#define TESSERA_NETKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tsr_error;

/* More than one rotation at a time is a mistake; room for two overlapping. */
#define TSR_NETKEYS_MAX 4

typedef struct tsr_netkey_id {
    uint32_t key_id;
    int32_t until_day; /* last day accepted (days since 1970-01-01); 0 = no end */
} tsr_netkey_id_t;

typedef struct tsr_netkeys {
    tsr_netkey_id_t ids[TSR_NETKEYS_MAX];
    size_t n;
} tsr_netkeys_t;

/* Parses the text form into out (cleared first). Returns 0, or TSR_EINVAL
 * with err's reason saying what is wrong with which entry (err's field is
 * left empty for the caller to name). An empty text is an error. */
int tsr_netkeys_parse(tsr_netkeys_t *out, const char *text, struct tsr_error *err);

/* True when key_id is in k and not past its end on day. */
bool tsr_netkeys_accepts(const tsr_netkeys_t *k, uint32_t key_id, int32_t day);

/* The ids of k still accepted on day, into out (may be k itself). */
void tsr_netkeys_current(const tsr_netkeys_t *k, int32_t day, tsr_netkeys_t *out);

/* The text form ("1857500892 until 2027-03-01, 1974342276"; "none" when
 * empty) into out. Returns out. */
char *tsr_netkeys_format(const tsr_netkeys_t *k, char *out, size_t cap);

/* The ids alone, comma-separated ("1857500892, 1974342276"): what a
 * message naming the ids a collector accepts shows. Returns out. */
char *tsr_netkeys_format_ids(const tsr_netkeys_t *k, char *out, size_t cap);

#endif
