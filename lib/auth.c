/* auth.c - authorized_clients and the ZAP handler (ZeroMQ RFC 27).
 *
 * The handler follows CZMQ's zauth: a REP socket on inproc://zeromq.zap.01
 * answers each handshake; here only CURVE with a listed key is accepted.
 */
#include "tessera/auth.h"
#include "tessera/codes.h"
#include "tessera/curve.h"
#include "tessera/err.h"
#include "tessera/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

struct tsr_authlist {
    tsr_client_t *clients;
    size_t n, cap;
};

static const char *const s_roles[] = {"", "agent", "analyst", "liaison", "admin", "relay"};

const char *tsr_role_name(tsr_role_t role)
{
    return role >= TSR_ROLE_AGENT && role <= TSR_ROLE_RELAY ? s_roles[role] : "none";
}

tsr_role_t tsr_role_parse(const char *name)
{
    for (int r = TSR_ROLE_AGENT; r <= TSR_ROLE_RELAY; r++)
        if (name && strcmp(name, s_roles[r]) == 0)
            return (tsr_role_t)r;
    return TSR_ROLE_NONE;
}

void tsr_client_clear(tsr_client_t *c)
{
    if (!c)
        return;
    free(c->areas);
    memset(c, 0, sizeof *c);
}

void tsr_authlist_destroy(tsr_authlist_t **l_p)
{
    if (!l_p || !*l_p)
        return;
    for (size_t i = 0; i < (*l_p)->n; i++)
        tsr_client_clear(&(*l_p)->clients[i]);
    free((*l_p)->clients);
    free(*l_p);
    *l_p = NULL;
}

static int s_add_area(tsr_client_t *c, const char *code)
{
    for (size_t i = 0; i < c->n_areas; i++)
        if (strcmp(c->areas[i], code) == 0)
            return TSR_OK;
    char(*a)[10] = realloc(c->areas, (c->n_areas + 1) * sizeof *a);
    if (!a)
        return TSR_ENOMEM;
    c->areas = a;
    snprintf(c->areas[c->n_areas++], 10, "%s", code);
    return TSR_OK;
}

/* "E08000035,E12000003" or "*" -> c's areas; regions expand to their areas. */
static int s_parse_areas(tsr_client_t *c, char *spec, tsr_error_t *err)
{
    if (strcmp(spec, "*") == 0) {
        c->all_areas = true;
        return TSR_OK;
    }
    char *save = NULL;
    for (char *code = strtok_r(spec, ",", &save); code; code = strtok_r(NULL, ",", &save)) {
        if (tsr_region_exists(code)) {
            for (int i = 0; i < tsr_area_count(); i++)
                if (strcmp(tsr_area_at(i)->region_code, code) == 0 &&
                    s_add_area(c, tsr_area_at(i)->code) != 0)
                    return TSR_ENOMEM;
            continue;
        }
        int rc = tsr_area_check(code, "areas", err);
        if (rc != 0)
            return rc;
        if (s_add_area(c, code) != 0)
            return TSR_ENOMEM;
    }
    if (c->n_areas == 0)
        return tsr_error_set(err, "areas", "no area given (use area or region codes, or *)");
    return TSR_OK;
}

static bool s_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= TSR_CLIENT_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

/* One non-comment line -> a client appended to l. */
static int s_parse_line(tsr_authlist_t *l, char *line, tsr_error_t *err)
{
    char *save = NULL, *col[5];
    int n = 0;
    for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == 4)
            return tsr_error_set(err, "", "too many columns (expected: key role id areas)");
        col[n++] = t;
    }
    if (n != 4)
        return tsr_error_set(err, "", "expected 4 columns: key role id areas");
    if (!tsr_curve_key_valid(col[0]))
        return tsr_error_set(err, "key", "not a CURVE public key (40 z85 characters)");
    tsr_role_t role = tsr_role_parse(col[1]);
    if (role == TSR_ROLE_NONE)
        return tsr_error_set(err, "role", "'%s' is not one of agent, analyst, liaison, admin, relay",
                             col[1]);
    if (!s_id_valid(col[2]))
        return tsr_error_set(err, "id", "'%s' must be 1-63 characters of A-Z a-z 0-9 . _ -",
                             col[2]);
    if (tsr_authlist_by_key(l, col[0]))
        return tsr_error_set(err, "key", "listed twice");
    if (tsr_authlist_by_id(l, col[2]))
        return tsr_error_set(err, "id", "'%s' listed twice", col[2]);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        tsr_client_t *c = realloc(l->clients, cap * sizeof *c);
        if (!c)
            return TSR_ENOMEM;
        l->clients = c;
        l->cap = cap;
    }
    tsr_client_t *c = &l->clients[l->n];
    memset(c, 0, sizeof *c);
    memcpy(c->public_key, col[0], sizeof c->public_key);
    c->role = role;
    snprintf(c->id, sizeof c->id, "%s", col[2]);
    int rc = s_parse_areas(c, col[3], err);
    if (rc != 0) {
        tsr_client_clear(c);
        return rc;
    }
    l->n++;
    return TSR_OK;
}

int tsr_authlist_load(tsr_authlist_t **out, const char *path, tsr_error_t *err)
{
    *out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        tsr_error_at(err, path, 0);
        tsr_error_set(err, "", "cannot open: %s", strerror(errno));
        return TSR_EIO;
    }
    tsr_authlist_t *l = calloc(1, sizeof *l);
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = l ? TSR_OK : TSR_ENOMEM;
    while (rc == 0 && getline(&line, &cap, fp) >= 0) {
        lineno++;
        char *p = line + strspn(line, " \t\r\n");
        if (*p == '\0' || *p == '#')
            continue;
        rc = s_parse_line(l, p, err);
        if (rc != 0)
            tsr_error_at(err, path, lineno);
    }
    free(line);
    fclose(fp);
    if (rc != 0) {
        tsr_authlist_destroy(&l);
        return rc;
    }
    *out = l;
    return TSR_OK;
}

const tsr_client_t *tsr_authlist_by_key(const tsr_authlist_t *l, const char *key)
{
    for (size_t i = 0; l && key && i < l->n; i++)
        if (strcmp(l->clients[i].public_key, key) == 0)
            return &l->clients[i];
    return NULL;
}

const tsr_client_t *tsr_authlist_by_id(const tsr_authlist_t *l, const char *id)
{
    for (size_t i = 0; l && id && i < l->n; i++)
        if (strcmp(l->clients[i].id, id) == 0)
            return &l->clients[i];
    return NULL;
}

size_t tsr_authlist_count(const tsr_authlist_t *l) { return l ? l->n : 0; }

const tsr_client_t *tsr_authlist_at(const tsr_authlist_t *l, size_t i)
{
    return l && i < l->n ? &l->clients[i] : NULL;
}

bool tsr_client_area_allowed(const tsr_client_t *c, const char *area)
{
    if (c->all_areas)
        return true;
    for (size_t i = 0; i < c->n_areas; i++)
        if (strcmp(c->areas[i], area) == 0)
            return true;
    return false;
}

/* --- ZAP ------------------------------------------------------------------ */

/* Refusals are logged at most once per key and address every
 * S_REFUSAL_LOG_MS (a client retrying must not flood the log), with how
 * many were not logged since. */
#define S_REFUSAL_LOG 64
#define S_REFUSAL_LOG_MS 10000
typedef struct {
    char key[41], addr[64];
    int64_t last_ms;
    uint64_t unlogged;
} s_refusal_t;

struct tsr_zap {
    void *ctx;
    s_refusal_t refused[S_REFUSAL_LOG]; /* the handler thread's own */
    pthread_t thread;
    pthread_mutex_t lock;
    tsr_authlist_t *list;
    void *handler;   /* REP, used only by the thread after start */
    void *stop_sock; /* PAIR: one empty message tells the thread to stop */
    char stop_endpoint[64];
};

/* ZMTP metadata: 1-byte name length, name, 4-byte big-endian value length, value. */
static size_t s_metadata(uint8_t *buf, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    buf[0] = (uint8_t)n;
    memcpy(buf + 1, name, n);
    buf[1 + n] = (uint8_t)(v >> 24);
    buf[2 + n] = (uint8_t)(v >> 16);
    buf[3 + n] = (uint8_t)(v >> 8);
    buf[4 + n] = (uint8_t)v;
    memcpy(buf + 5 + n, value, v);
    return 5 + n + v;
}

static void s_send(void *sock, const void *data, size_t len, bool more)
{
    zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0);
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a refusal of key from addr is logged now; more says how many
 * were not since the last line ("" when none). */
static bool s_refusal_due(tsr_zap_t *z, const char *key, const char *addr, char *more, size_t cap)
{
    int64_t now = s_now_ms();
    s_refusal_t *slot = NULL, *oldest = &z->refused[0];
    for (size_t i = 0; i < S_REFUSAL_LOG && !slot; i++) {
        if (z->refused[i].last_ms && !strcmp(z->refused[i].key, key) &&
            !strcmp(z->refused[i].addr, addr))
            slot = &z->refused[i];
        else if (z->refused[i].last_ms < oldest->last_ms)
            oldest = &z->refused[i];
    }
    if (slot && now - slot->last_ms < S_REFUSAL_LOG_MS) {
        slot->unlogged++;
        return false;
    }
    if (!slot) {
        slot = oldest;
        memset(slot, 0, sizeof *slot);
        snprintf(slot->key, sizeof slot->key, "%s", key);
        snprintf(slot->addr, sizeof slot->addr, "%s", addr);
    }
    more[0] = '\0';
    if (slot->unlogged)
        snprintf(more, cap, " (%llu more not logged)", (unsigned long long)slot->unlogged);
    slot->unlogged = 0;
    slot->last_ms = now ? now : 1;
    return true;
}

/* Handles one ZAP request already waiting on the handler socket. */
static void s_handle(tsr_zap_t *z)
{
    zmq_msg_t f[8];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, z->handler, 0) < 0) {
            zmq_msg_close(&part);
            break;
        }
        more = zmq_msg_more(&part);
        if (n < 8)
            f[n++] = part;
        else
            zmq_msg_close(&part);
    }
    /* 0 version, 1 request id, 2 domain, 3 address, 4 identity, 5 mechanism, 6 key */
    const char *status = "400", *text = "denied";
    bool role_refused = false;
    char key[41] = "", id[TSR_CLIENT_ID_MAX] = "";
    bool curve = n >= 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
                 zmq_msg_size(&f[6]) == 32;
    char addr[64] = "?";
    if (n >= 4)
        snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&f[3]), (char *)zmq_msg_data(&f[3]));
    if (curve) {
        zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
        pthread_mutex_lock(&z->lock);
        const tsr_client_t *c = tsr_authlist_by_key(z->list, key);
        bool alerts_domain = n >= 3 && zmq_msg_size(&f[2]) == strlen(TSR_ZAP_DOMAIN_ALERTS) &&
                             memcmp(zmq_msg_data(&f[2]), TSR_ZAP_DOMAIN_ALERTS,
                                    strlen(TSR_ZAP_DOMAIN_ALERTS)) == 0;
        if (c && alerts_domain && c->role != TSR_ROLE_LIAISON && c->role != TSR_ROLE_ADMIN) {
            text = "role may not receive linkage alerts";
            char unlogged[48];
            if (s_refusal_due(z, key, addr, unlogged, sizeof unlogged))
                tsr_warn("zap", "denied %s (%s) on the alert stream, from %s: only liaison and "
                         "admin keys may follow it%s event=peer_refused reason=role peer=%s id=%s "
                         "key=%s", c->id, tsr_role_name(c->role), addr, unlogged, addr, c->id, key);
            c = NULL;
            role_refused = true;
        }
        if (c) {
            snprintf(id, sizeof id, "%s", c->id);
            status = "200";
            text = "OK";
        }
        pthread_mutex_unlock(&z->lock);
    }
    char unlogged[48];
    if (status[0] == '2')
        tsr_info("zap", "accepted %s from %s", id, addr);
    else if (role_refused)
        ; /* logged above */
    else if (!curve && s_refusal_due(z, "-", addr, unlogged, sizeof unlogged))
        tsr_warn("zap", "denied a non-CURVE client from %s%s event=peer_refused reason=not_curve "
                 "peer=%s key=-", addr, unlogged, addr);
    else if (curve && s_refusal_due(z, key, addr, unlogged, sizeof unlogged))
        tsr_warn("zap", "denied unlisted key %s from %s: it is not in authorized_clients (add "
                 "its line there, then send the collector SIGHUP: a line added without one is "
                 "not in force)%s event=peer_refused reason=unlisted peer=%s key=%s", key, addr,
                 unlogged, addr, key);
    uint8_t meta[128];
    size_t meta_len = status[0] == '2' ? s_metadata(meta, "X-Tessera-Key", key) : 0;
    s_send(z->handler, "1.0", 3, true);
    s_send(z->handler, n >= 2 ? zmq_msg_data(&f[1]) : "", n >= 2 ? zmq_msg_size(&f[1]) : 0, true);
    s_send(z->handler, status, 3, true);
    s_send(z->handler, text, strlen(text), true);
    s_send(z->handler, id, strlen(id), true);
    s_send(z->handler, meta, meta_len, false);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static void *s_thread(void *arg)
{
    tsr_zap_t *z = arg;
    void *stop = zmq_socket(z->ctx, ZMQ_PAIR);
    zmq_connect(stop, z->stop_endpoint);
    zmq_pollitem_t items[] = {{z->handler, 0, ZMQ_POLLIN, 0}, {stop, 0, ZMQ_POLLIN, 0}};
    for (;;) {
        if (zmq_poll(items, 2, -1) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break;
        }
        if (items[1].revents & ZMQ_POLLIN)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            s_handle(z);
    }
    zmq_close(stop);
    return NULL;
}

int tsr_zap_start(tsr_zap_t **out, void *ctx, tsr_authlist_t *list)
{
    *out = NULL;
    tsr_zap_t *z = calloc(1, sizeof *z);
    if (!z)
        return TSR_ENOMEM;
    z->ctx = ctx;
    pthread_mutex_init(&z->lock, NULL);
    snprintf(z->stop_endpoint, sizeof z->stop_endpoint, "inproc://tessera-zap-stop-%p", (void *)z);
    int linger = 0;
    z->handler = zmq_socket(ctx, ZMQ_REP);
    z->stop_sock = zmq_socket(ctx, ZMQ_PAIR);
    if (!z->handler || !z->stop_sock)
        goto fail;
    zmq_setsockopt(z->handler, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(z->stop_sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(z->handler, "inproc://zeromq.zap.01") != 0 ||
        zmq_bind(z->stop_sock, z->stop_endpoint) != 0) {
        tsr_error("zap", "cannot bind the ZAP handler: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (pthread_create(&z->thread, NULL, s_thread, z) != 0)
        goto fail;
    z->list = list; /* owned only once everything succeeded */
    *out = z;
    return TSR_OK;
fail:
    if (z->handler)
        zmq_close(z->handler);
    if (z->stop_sock)
        zmq_close(z->stop_sock);
    pthread_mutex_destroy(&z->lock);
    free(z);
    return TSR_ENET;
}

void tsr_zap_replace(tsr_zap_t *z, tsr_authlist_t *list)
{
    pthread_mutex_lock(&z->lock);
    tsr_authlist_t *old = z->list;
    z->list = list;
    pthread_mutex_unlock(&z->lock);
    tsr_authlist_destroy(&old);
}

bool tsr_zap_lookup(tsr_zap_t *z, const char *id, const char *key, tsr_client_t *out)
{
    bool found = false;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&z->lock);
    const tsr_client_t *c = tsr_authlist_by_id(z->list, id);
    if (c && key && strcmp(c->public_key, key) == 0) {
        *out = *c;
        out->areas = NULL;
        if (c->n_areas) {
            out->areas = malloc(c->n_areas * sizeof *c->areas);
            if (out->areas)
                memcpy(out->areas, c->areas, c->n_areas * sizeof *c->areas);
            else
                out->n_areas = 0;
        }
        found = out->areas || c->n_areas == 0;
    }
    pthread_mutex_unlock(&z->lock);
    return found;
}

void tsr_zap_destroy(tsr_zap_t **z_p)
{
    if (!z_p || !*z_p)
        return;
    tsr_zap_t *z = *z_p;
    zmq_send(z->stop_sock, "", 0, 0);
    pthread_join(z->thread, NULL);
    zmq_close(z->stop_sock);
    zmq_close(z->handler);
    pthread_mutex_destroy(&z->lock);
    tsr_authlist_destroy(&z->list);
    free(z);
    *z_p = NULL;
}

bool tsr_zap_peer(void *msg, char *id, char *key)
{
    const char *u = zmq_msg_gets((zmq_msg_t *)msg, "User-Id");
    const char *k = zmq_msg_gets((zmq_msg_t *)msg, "X-Tessera-Key");
    if (!u || !k || !*u || strlen(k) != TSR_Z85_KEY_LEN)
        return false;
    snprintf(id, TSR_CLIENT_ID_MAX, "%s", u);
    memcpy(key, k, TSR_Z85_KEY_LEN + 1);
    return true;
}
