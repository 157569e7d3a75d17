/* store_decide.c - an item's outcome (accepted, replacing, duplicate,
 * retracted or rejected and why) against what the store holds for its
 * record, counting the ingest log's waiting entries, and the outcome
 * counters a submit adds to (store_log.c appends what they change). */
#include "store_int.h"
#include "tessera/err.h"

#include <stdio.h>
#include <string.h>

static const char *const s_reason_names[] = {
    "",
    "invalid_field",
    "area_not_bound",
    "bad_token",
    "stale_version",
    "unknown_record",
    "not_permitted", "wrong_network_key", "past_retention",
};

static void s_reject(tsr_store_item_t *it, int reason, const char *detail)
{
    it->outcome = TSR_OUTCOME_REJECTED;
    it->reason = reason;
    snprintf(it->detail, sizeof it->detail, "%s", detail);
}

void tsr_store_network_keys(const tsr_store_t *s, int32_t day, tsr_netkeys_t *out, bool *pinned)
{
    if (pinned)
        *pinned = !s->configured && s->pinned;
    if (s->configured) {
        tsr_netkeys_current(&s->keys, day, out);
    } else {
        memset(out, 0, sizeof *out);
        if (s->pinned)
            out->ids[out->n++] = s->pin;
    }
}

/* Whether every token of inc is under an accepted network key on day; if
 * not, why in d. Without configured keys, the first token a record brings
 * pins its key id (written by store_log.c's s_submit_txn, in force after
 * the commit). */
static bool s_keys_ok(tsr_store_t *s, const tsr_client_t *c, const tsr_incident_t *inc,
                      int32_t day, char *d, size_t cap)
{
    if (inc->n_tokens == 0)
        return true;
    tsr_netkeys_t acc;
    tsr_store_network_keys(s, day, &acc, NULL);
    if (!s->configured && !s->pinned && inc->tokens[0].key_id == 0) {
        /* 0 is a token without a key id (protobuf's default): never pinned */
        snprintf(d, cap, "token under network key id 0, which no network key has; this "
                         "collector pins none yet (set [network] key_ids)");
        return false;
    }
    if (!s->configured && !s->pinned) {
        if (!s->pin_pending) {
            s->pin_pending = true;
            s->pin_new = inc->tokens[0].key_id;
            snprintf(s->pin_agency, sizeof s->pin_agency, "%s", c->id);
        }
        acc.ids[0] = (tsr_netkey_id_t){s->pin_new, 0};
        acc.n = 1;
    }
    for (size_t i = 0; i < inc->n_tokens; i++) {
        uint32_t id = inc->tokens[i].key_id;
        if (tsr_netkeys_accepts(&acc, id, day))
            continue;
        char ids[64], until[11] = "";
        tsr_netkeys_format_ids(&acc, ids, sizeof ids);
        for (size_t j = 0; j < s->keys.n && s->configured; j++)
            if (s->keys.ids[j].key_id == id)
                tsr_day_format(until, s->keys.ids[j].until_day);
        /* at most 4 ids: "... only 1857500892, 1974342276" fits the detail's 128 bytes */
        int n = until[0] ? snprintf(d, cap, "token under network key id %u, accepted until %s; "
                                            "this collector accepts %s", id, until, ids)
                         : snprintf(d, cap, "token under network key id %u; this collector "
                                            "accepts only %s", id, ids);
        if (n < 0)
            snprintf(d, cap, "token under network key id %u", id);
        return false;
    }
    return true;
}

/* The agency id an item is stored under, into agency (TSR_CLIENT_ID_MAX):
 * an agent's own id, or for a relay "RELAY/AGENCY" from the agency the
 * item names (issue 19). A payload's agency id is trusted only from a
 * relay, and only as far as the relay's id prefixes it: an agent that names
 * one, or another role, is refused. Returns false with the item rejected. */
static bool s_item_agency(const tsr_client_t *c, tsr_store_item_t *it, char *agency)
{
    const char *named = it->incident ? it->incident->agency_id : it->agency_id;
    char d[sizeof it->detail];
    if (c->role == TSR_ROLE_AGENT && named[0]) {
        s_reject(it, TSR_REJECT_NOT_PERMITTED,
                 "agency_id: only a relay may name a record's agency, and this key is listed "
                 "as an agent");
        return false;
    }
    if (c->role == TSR_ROLE_AGENT) {
        snprintf(agency, TSR_CLIENT_ID_MAX, "%s", c->id);
        return true;
    }
    if (c->role != TSR_ROLE_RELAY) {
        s_reject(it, TSR_REJECT_NOT_PERMITTED, "only agents and relays may submit");
        return false;
    }
    if (!named[0]) {
        s_reject(it, TSR_REJECT_INVALID_FIELD, "agency_id: a relay must name each record's agency");
        return false;
    }
    size_t n = strlen(c->id), m = strlen(named);
    if (n + 1 + m >= TSR_CLIENT_ID_MAX) {
        snprintf(d, sizeof d, "agency_id: %zu characters with the relay's id and '/' (%d at "
                 "most)", n + 1 + m, TSR_CLIENT_ID_MAX - 1);
        s_reject(it, TSR_REJECT_INVALID_FIELD, d);
        return false;
    }
    memcpy(agency, c->id, n);
    agency[n] = '/';
    memcpy(agency + n + 1, named, m + 1);
    return true;
}

/* Whether inc holds nothing but what forward = linkage sends. */
static bool s_profile_free(const tsr_incident_t *inc)
{
    tsr_incident_t bare = *inc;
    tsr_store_linkage_only(&bare);
    return !memcmp(&bare, inc, sizeof bare);
}

/* The outcome of an item against what the store holds for its record;
 * agency is what the item is stored under (s_item_agency). */
static void s_decide(tsr_store_t *s, const tsr_client_t *c, const char *agency, int forward,
                     tsr_store_item_t *it, const tsr_store_fate_t *f, int32_t cutoff,
                     int32_t today)
{
    const tsr_incident_t *inc = it->incident;
    uint32_t version = inc ? inc->version : it->version;
    char d[sizeof it->detail];
    if (inc && inc->reported_day < cutoff) {
        snprintf(d, sizeof d, "reported_day: before the retention period (%d months)",
                 s->retention_months);
        s_reject(it, TSR_REJECT_PAST_RETENTION, d);
    } else if (inc && !tsr_client_area_allowed(c, inc->area_code)) {
        snprintf(d, sizeof d, "area %s is not bound to %s", inc->area_code, c->id);
        s_reject(it, TSR_REJECT_AREA_NOT_BOUND, d);
    } else if (f->kind != S_FATE_NONE && strcmp(f->agency, agency) != 0) {
        s_reject(it, TSR_REJECT_NOT_PERMITTED, "record id belongs to another agency");
    } else if (inc && forward == TSR_FORWARD_LINKAGE && !s_profile_free(inc)) {
        s_reject(it, TSR_REJECT_INVALID_FIELD, "a linkage-only relay's record carries a case "
                 "profile (forward = linkage sends tokens, area, day and ids only)");
    } else if (inc && !s_keys_ok(s, c, inc, today, d, sizeof d)) {
        s_reject(it, TSR_REJECT_WRONG_NETWORK_KEY, d);
    } else if (inc) {
        /* a tombstone's version was withdrawn: only a higher one comes back */
        it->outcome = f->kind != S_FATE_NONE && version <= f->version ? TSR_OUTCOME_DUPLICATE
                      : f->kind == S_FATE_STORED                      ? TSR_OUTCOME_REPLACED
                                                                      : TSR_OUTCOME_ACCEPTED;
    } else if (f->kind == S_FATE_STORED && f->version > version) {
        s_reject(it, TSR_REJECT_STALE_VERSION, "a newer version is stored; retract that version");
    } else if (f->kind == S_FATE_TOMBSTONE && f->version >= version) {
        it->outcome = TSR_OUTCOME_DUPLICATE;
    } else {
        /* a retraction of a record never seen (the incident may still be in
         * flight) keeps a tombstone, so it cannot arrive later and stay */
        it->outcome = TSR_OUTCOME_RETRACTED;
    }
}

int tsr_store_decide(tsr_store_t *s, MDB_txn *main, const tsr_client_t *c, tsr_store_item_t *it,
                     int32_t cutoff, int32_t today, char *agency)
{
    it->outcome = TSR_OUTCOME_NONE;
    it->reason = 0;
    it->detail[0] = '\0';
    tsr_store_fate_t f;
    int rc = 0;
    if (it->pre_reason) {
        s_reject(it, it->pre_reason, it->pre_detail);
    } else if (!s_item_agency(c, it, agency)) {
        /* rejected: refused role, or an agency id not to be trusted */
    } else if ((rc = tsr_store_fate_get(
                    s, main, it->incident ? it->incident->record_id : it->record_id, &f)) == 0) {
        s_decide(s, c, agency, it->forward, it, &f, cutoff, today);
    }
    return rc;
}

/* Adds delta to an outcome counter of the log environment (in the submit's
 * transaction: counted exactly when the Ack's commit is). */
static int s_count_log(tsr_store_t *s, MDB_txn *txn, const char *name, int64_t delta)
{
    return tsr_store_count_add(txn, s->log_counters, name, delta);
}

static const char *s_outcome_counter(tsr_outcome_t o)
{
    switch (o) {
    case TSR_OUTCOME_ACCEPTED:
        return "accepted";
    case TSR_OUTCOME_DUPLICATE:
        return "duplicates";
    case TSR_OUTCOME_REPLACED:
        return "replaced";
    case TSR_OUTCOME_RETRACTED:
        return "retracted";
    default:
        return NULL;
    }
}

/* Counts a batch's outcomes, by kind and by agency (an agency whose items
 * were all refused still shows, with 0 accepted). */
int tsr_store_count_outcomes(tsr_store_t *s, MDB_txn *txn, const tsr_store_batch_t *b)
{
    enum { N_REASONS = sizeof s_reason_names / sizeof *s_reason_names };
    int64_t kinds[TSR_OUTCOME_REJECTED] = {0}, reasons[N_REASONS] = {0};
    for (size_t i = 0; i < b->n_items; i++) {
        const tsr_store_item_t *it = &b->items[i];
        if (it->outcome == TSR_OUTCOME_REJECTED)
            reasons[it->reason >= 1 && it->reason < N_REASONS ? it->reason : 1]++;
        else if (it->outcome > TSR_OUTCOME_NONE && it->outcome < TSR_OUTCOME_REJECTED)
            kinds[it->outcome]++;
    }
    char name[TSR_CLIENT_ID_MAX + 16];
    int rc = 0;
    for (int o = TSR_OUTCOME_ACCEPTED; rc == 0 && o < TSR_OUTCOME_REJECTED; o++) {
        const char *cn = s_outcome_counter((tsr_outcome_t)o);
        if (kinds[o] && cn)
            rc = s_count_log(s, txn, cn, kinds[o]);
    }
    for (int r = 1; rc == 0 && r < N_REASONS; r++)
        if (reasons[r]) {
            snprintf(name, sizeof name, "rejected:%s", s_reason_names[r]);
            rc = s_count_log(s, txn, name, reasons[r]);
        }
    if (rc == 0) {
        snprintf(name, sizeof name, "agency:%s", b->client->id);
        rc = s_count_log(s, txn, name, kinds[TSR_OUTCOME_ACCEPTED]);
    }
    if (rc == 0)
        rc = s_count_log(s, txn, "batches", 1);
    int64_t stored = kinds[TSR_OUTCOME_ACCEPTED] + kinds[TSR_OUTCOME_REPLACED];
    if (rc == 0 && b->client->role == TSR_ROLE_RELAY && stored > 0) {
        /* which region forwards what (issue 19): its records by mode */
        snprintf(name, sizeof name, "relay:%s:%s", b->client->id,
                 b->items[0].forward == TSR_FORWARD_LINKAGE ? "linkage" : "records");
        rc = s_count_log(s, txn, name, stored);
    }
    return rc;
}
