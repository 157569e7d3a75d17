/* curve.c - CURVE key pair files (z85), in the spirit of ssh-keygen. */
#include "tessera/curve.h"
#include "tessera/err.h"
#include "tessera/fsmode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

bool tsr_curve_key_valid(const char *s)
{
    uint8_t bin[32];
    return s && strlen(s) == TSR_Z85_KEY_LEN && zmq_z85_decode(bin, s) != NULL;
}

/* Writes text to path with mode (tsr_fsmode_write: a new file, never
 * through a symlink; with force, a temporary file renamed over it). */
static int s_write_file(const char *path, const char *text, mode_t mode, bool force,
                        tsr_error_t *err)
{
    int rc = tsr_fsmode_write(path, text, strlen(text), mode, force, err);
    if (rc == TSR_EEXIST)
        tsr_error_set(err, "", "exists; refusing to overwrite (use --force to replace it)");
    return rc;
}

/* True when something (a file, a directory, a dangling symlink) is at path. */
static bool s_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int tsr_curve_keygen(const char *stem, bool force, char *public_out, char *secret_out,
                     tsr_error_t *err)
{
    char pub[41], sec[41], key_path[4096], pub_path[4096], text[256];
    snprintf(key_path, sizeof key_path, "%s.key", stem);
    snprintf(pub_path, sizeof pub_path, "%s.pub", stem);
    for (int i = 0; i < 2 && !force; i++) {
        const char *path = i == 0 ? key_path : pub_path;
        if (s_exists(path)) {
            tsr_error_at(err, path, 0);
            tsr_error_set(err, "", "exists; refusing to overwrite (use --force to replace it)");
            return TSR_EEXIST;
        }
    }
    if (zmq_curve_keypair(pub, sec) != 0) {
        tsr_error_set(err, "", "zmq_curve_keypair: %s (is libzmq built with CURVE?)",
                      zmq_strerror(zmq_errno()));
        return TSR_ENET;
    }
    snprintf(text, sizeof text, "# Tessera CURVE secret key: keep private (mode 0600)\n%s\n", sec);
    int rc = s_write_file(key_path, text, 0600, force, err);
    explicit_bzero(text, sizeof text);
    if (rc == 0) {
        snprintf(text, sizeof text, "# Tessera CURVE public key\n%s\n", pub);
        rc = s_write_file(pub_path, text, 0644, force, err);
        if (rc != 0 && !force)
            unlink(key_path); /* ours, just made: no secret without its public half */
    }
    if (rc == 0 && public_out)
        memcpy(public_out, pub, sizeof pub);
    if (rc == 0 && secret_out)
        memcpy(secret_out, sec, sizeof sec);
    explicit_bzero(sec, sizeof sec);
    return rc;
}

/* Reads the first non-comment line of path into out (41 bytes). */
static int s_read_key(const char *path, char *out, bool secret, tsr_error_t *err)
{
    tsr_error_at(err, path, 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tsr_error_set(err, "", "cannot open: %s", strerror(errno));
        return TSR_EIO;
    }
    char why[TSR_FSMODE_WHY_MAX];
    int bad = secret ? tsr_fsmode_check_fd(fd, path, TSR_FSMODE_SECRET, why, sizeof why) : 0;
    if (bad != 0) {
        close(fd);
        tsr_error_set(err, "", "secret key: %s", why);
        return bad;
    }
    FILE *fp = fdopen(fd, "r");
    if (!fp) {
        close(fd);
        return TSR_ENOMEM;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = tsr_error_set(err, "", "no key found (expected one line of 40 z85 characters)");
    while ((n = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        if (tsr_curve_key_valid(line)) {
            memcpy(out, line, TSR_Z85_KEY_LEN + 1);
            rc = TSR_OK;
        } else {
            tsr_error_at(err, path, lineno);
            rc = tsr_error_set(err, "", "not a CURVE key (expected 40 z85 characters)");
        }
        break;
    }
    if (line)
        explicit_bzero(line, cap);
    free(line);
    fclose(fp);
    return rc;
}

int tsr_curve_load_secret(const char *path, char *secret_out, char *public_out, tsr_error_t *err)
{
    int rc = s_read_key(path, secret_out, true, err);
    if (rc != 0)
        return rc;
    if (zmq_curve_public(public_out, secret_out) != 0) {
        tsr_error_set(err, "", "cannot derive the public key: %s", zmq_strerror(zmq_errno()));
        return TSR_ENET;
    }
    return TSR_OK;
}

int tsr_curve_load_public(const char *path, char *public_out, tsr_error_t *err)
{
    return s_read_key(path, public_out, false, err);
}
