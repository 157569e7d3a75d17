/* netkeys.c - accepted network key ids and their config text. */
#include "tessera/netkeys.h"
#include "tessera/err.h"
#include "tessera/record.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One entry: "ID" or "ID until YYYY-MM-DD", trimmed. */
static int s_entry(tsr_netkey_id_t *out, char *e, tsr_error_t *err)
{
    char *save = NULL, *w[4];
    int n = 0;
    for (char *t = strtok_r(e, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n == 3)
            return tsr_error_set(err, "", "'%s ...': expected ID or ID until YYYY-MM-DD", w[0]);
        w[n++] = t;
    }
    if (n == 0)
        return tsr_error_set(err, "", "an empty entry (two commas, or a comma at the end)");
    char *end;
    errno = 0;
    unsigned long long v = strtoull(w[0], &end, 10);
    if (!isdigit((unsigned char)w[0][0]) || *end || errno || v > UINT32_MAX)
        return tsr_error_set(err, "", "'%s' is not a network key id (a whole number from 0 to "
                                      "4294967295, as 'tessera-agent keygen' prints it)",
                             w[0]);
    out->key_id = (uint32_t)v;
    out->until_day = 0;
    if (n == 1)
        return TSR_OK;
    if (n != 3 || strcmp(w[1], "until") != 0)
        return tsr_error_set(err, "", "'%s %s': expected ID or ID until YYYY-MM-DD", w[0], w[1]);
    if (tsr_day_parse(w[2], &out->until_day) != 0)
        return tsr_error_set(err, "", "'%s' is not a date (YYYY-MM-DD)", w[2]);
    if (out->until_day <= 0)
        return tsr_error_set(err, "", "'%s' is before 1970-01-02", w[2]);
    return TSR_OK;
}

int tsr_netkeys_parse(tsr_netkeys_t *out, const char *text, tsr_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (!text || strspn(text, " \t") == strlen(text))
        return tsr_error_set(err, "", "no key id given (leave key_ids out to pin the first key "
                                      "id a record brings)");
    char *copy = strdup(text);
    if (!copy)
        return TSR_ENOMEM;
    int rc = TSR_OK;
    char *p = copy;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (out->n == TSR_NETKEYS_MAX) {
            rc = tsr_error_set(err, "", "more than %d key ids", TSR_NETKEYS_MAX);
            break;
        }
        tsr_netkey_id_t id;
        if ((rc = s_entry(&id, p, err)) != 0)
            break;
        for (size_t i = 0; i < out->n && rc == 0; i++)
            if (out->ids[i].key_id == id.key_id)
                rc = tsr_error_set(err, "", "%u is listed twice", id.key_id);
        if (rc != 0)
            break;
        out->ids[out->n++] = id;
        if (!comma)
            break;
        p = comma + 1;
    }
    free(copy);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

bool tsr_netkeys_accepts(const tsr_netkeys_t *k, uint32_t key_id, int32_t day)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->ids[i].key_id == key_id)
            return k->ids[i].until_day == 0 || day <= k->ids[i].until_day;
    return false;
}

void tsr_netkeys_current(const tsr_netkeys_t *k, int32_t day, tsr_netkeys_t *out)
{
    tsr_netkeys_t cur = {.n = 0};
    for (size_t i = 0; i < k->n; i++)
        if (k->ids[i].until_day == 0 || day <= k->ids[i].until_day)
            cur.ids[cur.n++] = k->ids[i];
    *out = cur;
}

static char *s_format(const tsr_netkeys_t *k, bool until, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k->n && n < cap; i++) {
        char d[11] = "";
        if (until && k->ids[i].until_day)
            tsr_day_format(d, k->ids[i].until_day);
        n += (size_t)snprintf(out + n, cap - n, "%s%u%s%s", i ? ", " : "", k->ids[i].key_id,
                              d[0] ? " until " : "", d);
    }
    if (k->n == 0)
        snprintf(out, cap, "none");
    return out;
}

char *tsr_netkeys_format(const tsr_netkeys_t *k, char *out, size_t cap)
{
    return s_format(k, true, out, cap);
}

char *tsr_netkeys_format_ids(const tsr_netkeys_t *k, char *out, size_t cap)
{
    return s_format(k, false, out, cap);
}
