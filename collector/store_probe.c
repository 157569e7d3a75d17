/* store_probe.c - the link probe (docs/STORAGE.md, "Linkage alerts at
 * once"): whether a small submit logged a record that may link, so the
 * apply thread steps at once. */
#include "bytes.h"
#include "store_int.h"
#include "tessera/err.h"

#include <stdlib.h>
#include <string.h>

/* One token of a waiting log entry (tsr_store_probe). */
typedef struct {
    uint8_t token[TSR_TOKEN_LEN];
    uint8_t rid[TSR_RECORD_ID_LEN];
    bool mine; /* an entry of this submit */
} s_probe_tok_t;

static int s_probe_cmp(const void *a, const void *b)
{
    return memcmp(a, b, TSR_TOKEN_LEN + TSR_RECORD_ID_LEN);
}

/* Whether tokens t[0..n), sorted, hold one token of an entry of this
 * submit and of another record. */
static bool s_probe_shared(const s_probe_tok_t *t, size_t n)
{
    for (size_t i = 0, j; i < n; i = j) {
        bool mine = false, other = false;
        for (j = i; j < n && !memcmp(t[j].token, t[i].token, TSR_TOKEN_LEN); j++) {
            mine |= t[j].mine;
            other |= memcmp(t[j].rid, t[i].rid, TSR_RECORD_ID_LEN) != 0;
        }
        if (mine && other)
            return true;
    }
    return false;
}

/* The link probe (docs/STORAGE.md, "Linkage alerts at once"): whether a
 * record this submit logged shares a token with another record, applied
 * (main's snapshot) or waiting in the log (txn). Only while at most
 * s->probe_max entries wait, so large batches pay nothing for it. An
 * optimisation only: a wrong "no" (an entry it cannot read, memory) leaves
 * the step to the usual apply_* rules; a wrong "yes" runs a step early. */
bool tsr_store_probe(tsr_store_t *s, MDB_txn *txn, MDB_txn *main, uint64_t first, uint64_t next,
                     uint64_t from)
{
    if (next == first || next - from > s->probe_max || !tsr_link_enabled(s->link))
        return false;
    s_probe_tok_t *t = NULL;
    size_t n = 0, cap = 0;
    tsr_incident_t *inc = malloc(sizeof *inc);
    MDB_cursor *c = NULL;
    uint8_t key[8];
    tsr_bytes_be64(key, from);
    MDB_val k = {sizeof key, key}, v, packed;
    int rc = inc ? tsr_kv_cursor_open(txn, s->log_dbi, &c) : TSR_ENOMEM, shared = 0;
    for (rc = rc ? rc : tsr_kv_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && !shared;
         rc = tsr_kv_cursor_get(c, &k, &v, MDB_NEXT)) {
        tsr_store_fate_t f;
        int op;
        bool mine = k.mv_size == 8 && tsr_bytes_from_be64(k.mv_data) >= first;
        if (tsr_store_log_parse(&v, &op, &f, &packed) != 0 || op != S_LOG_INCIDENT ||
            tsr_store_unpack(&packed, inc, NULL, NULL, f.rid) != 0)
            continue; /* a damaged entry is the drain's to report */
        if (mine)
            shared = tsr_link_shares_token(s->link, main, inc);
        for (size_t i = 0; shared == 0 && i < inc->n_tokens; i++) {
            if (tsr_grow((void **)&t, &cap, n, sizeof *t) != 0) {
                shared = TSR_ENOMEM;
                break;
            }
            memcpy(t[n].token, inc->tokens[i].token, TSR_TOKEN_LEN);
            memcpy(t[n].rid, f.rid, TSR_RECORD_ID_LEN);
            t[n++].mine = mine;
        }
    }
    tsr_kv_cursor_close(c);
    if (shared == 0 && n > 1) {
        qsort(t, n, sizeof *t, s_probe_cmp);
        shared = s_probe_shared(t, n);
    }
    free(t);
    free(inc);
    return shared == 1;
}

void tsr_store_link_probe(tsr_store_t *s, size_t max)
{
    s->probe_max = max;
}

bool tsr_store_link_waiting(const tsr_store_t *s)
{
    return atomic_load(&((tsr_store_t *)s)->link_pub) >
           atomic_load(&((tsr_store_t *)s)->applied_pub);
}
