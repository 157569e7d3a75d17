/* linkage_int.h - what linkage's files share and nothing else includes
 * (but tests/unit/test_linkage.c, which tests the key set):
 * the databases, the module's state, its small containers and the helpers
 * more than one file calls (linkage.c: clusters and the alerts they raise;
 * linkage_sum.c: the small containers; linkage_remove.c: removal and
 * splits; linkage_read.c: cluster and lookup reads; alertlog.c: the alert
 * log). */
#ifndef TESSERA_LINKAGE_INT_H
#define TESSERA_LINKAGE_INT_H

#include "linkage.h"
#include "tessera/auth.h"

#include <openssl/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { L_TOK, L_REC, L_MEMBERS, L_CLUSTERS, L_ALERTS, L_META, L_NDBS };

#define L_SUM_FORMAT 1
#define L_MAX_JOINED 4
/* An alert names at most this many record ids (the cluster query has them all). */
#define L_ALERT_MAX_RECORDS 1000

typedef struct {
    uint64_t cid;
    uint64_t joined[L_MAX_JOINED]; /* alerted clusters that merged into this one */
    size_t n_joined;
    bool dead; /* merged away or emptied */
} l_touch_t;

struct tsr_link {
    tsr_kv_t *kv;
    MDB_dbi dbi[L_NDBS];
    MDB_dbi by_token;
    tsr_link_get_fn get;
    void *get_ctx;
    bool on;
    tsr_incident_t tmp;
    char tmp_agency[TSR_CLIENT_ID_MAX];
    l_touch_t *touched;
    size_t n_touched, cap_touched;
    /* Alerts to publish: pub[0, n_taken) were handed out by the last
     * tsr_link_published, pub[n_taken, n_mark) committed since, and
     * pub[n_mark, n_pub) belong to the running transaction. */
    tsr_link_published_t *pub;
    size_t n_pub, cap_pub, n_mark, n_taken;
};

/* A set of fixed-length byte keys (record ids or tokens), open addressing,
 * slots by a keyed hash (linkage_sum.c says why). Zero it and set klen to
 * start; tsr_link_set_free ends it; moving it by value moves the ownership.
 * One thread at a time, even to read: a lookup uses the hash's context. */
typedef struct {
    uint8_t *keys;
    uint8_t *used;
    size_t klen, cap, n;
    EVP_MAC_CTX *mac; /* SipHash under the set's own random key */
} l_set_t;
/* --- cluster summary ------------------------------------------------------------ */

/* One area or agency of a cluster: how many of its records, and whether an
 * alert has named it. */
typedef struct {
    char name[TSR_CLIENT_ID_MAX];
    uint32_t count;
    bool alerted;
} l_entry_t;

typedef struct {
    l_entry_t *v;
    size_t n, cap;
} l_list_t;

typedef struct {
    uint32_t n;         /* records */
    bool alerted;       /* an alert has been raised for the cluster as it is */
    uint32_t threshold; /* highest victim count alerted */
    l_list_t areas, ag; /* areas and agencies */
} l_sum_t;

typedef struct {
    uint8_t (*ids)[TSR_RECORD_ID_LEN];
    size_t n, cap;
} l_ids_t;

typedef struct {
    tsr_link_t *l;
    MDB_txn *txn;
    l_ids_t ids;
    l_set_t toks;
    tsr_name_t kinds[32];
    size_t n_kinds;
    int32_t first_day, last_day;
} l_detail_t;

/* --- helpers shared by the files, by the file that defines them --- */

/* linkage_sum.c */

void tsr_link_set_free(l_set_t *s);
/* 0 when OpenSSL offers SipHash (the sets' hash), else TSR_ECRYPTO and err
 * says so; tsr_link_open calls it. */
int tsr_link_hash_check(tsr_error_t *err);

int tsr_link_set_add(l_set_t *s, const uint8_t *k);

bool tsr_link_set_has(const l_set_t *s, const uint8_t *k);

void tsr_link_sum_free(l_sum_t *s);

/* Adds delta to an entry's count (creating it, dropping it at 0). */
int tsr_link_list_add(l_list_t *l, const char *name, int delta, bool alerted);

/* One record of area and agency in (delta 1) or out (-1). */
int tsr_link_sum_count(l_sum_t *s, const char *area, const char *agency, int delta);

bool tsr_link_sum_spans(const l_sum_t *s);

int tsr_link_sum_load(tsr_link_t *l, MDB_txn *txn, uint64_t cid, l_sum_t *s);

int tsr_link_sum_save(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const l_sum_t *s);

int tsr_link_sum_del(tsr_link_t *l, MDB_txn *txn, uint64_t cid);

/* linkage.c */

/* Returns the next value of a sequence ("cluster", "alert"), starting at 1. */
int tsr_link_next(tsr_link_t *l, MDB_txn *txn, const char *name, uint64_t *out);

/* The cluster a record or token map names in *cid (0: none). */
int tsr_link_get_cid(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t klen, uint64_t *cid);

int tsr_link_member_del(tsr_link_t *l, MDB_txn *txn, uint64_t cid, const uint8_t *rid);

/* Calls fn for every record id of cluster cid (in id order). fn may not
 * change the member list; collect first when it must. */
int tsr_link_members(tsr_link_t *l, MDB_txn *txn, uint64_t cid,
                     int (*fn)(void *ctx, const uint8_t *rid), void *ctx);

int tsr_link_collect(void *ctx, const uint8_t *rid);

/* Moves the records in ids from cluster `from` to cluster `to`. */
int tsr_link_relabel(tsr_link_t *l, MDB_txn *txn, const l_ids_t *ids, uint64_t from, uint64_t to);

l_touch_t *tsr_link_touch(tsr_link_t *l, uint64_t cid);

/* Puts inc into the cluster of its tokens, merging every cluster they (and
 * member_of, the record's cluster before an update; 0 for a new record)
 * reach into the largest. Counts the record in when it is new. */
int tsr_link_attach(tsr_link_t *l, MDB_txn *txn, const tsr_incident_t *inc, const char *agency,
                    uint64_t member_of);

/* For each member: its day and which of its token kinds another member shares. */
int tsr_link_detail_one(void *ctx, const uint8_t *rid);

int tsr_link_cmp_str(const void *a, const void *b);

/* linkage_remove.c */

/* 1 when a record other than self (NULL: any record) carries token t (its
 * id goes to other), 0 when none does, or a TSR_E* code when the index
 * cannot be read. */
int tsr_link_other_carrier(tsr_link_t *l, MDB_txn *txn, const uint8_t *t, const uint8_t *self,
                           uint8_t other[TSR_RECORD_ID_LEN]);

/* alertlog.c */

/* Frees pub[from, to) and closes the gap. */
void tsr_link_pub_drop(tsr_link_t *l, size_t from, size_t to);

#endif
