/* keygen.c - `tessera keygen --curve NAME`: a CURVE key pair, like ssh-keygen. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "tessera/curve.h"
#include "tessera/err.h"

static const char s_keygen_usage[] =
    "usage: tessera keygen --curve NAME [--force]\n"
    "\n"
    "Writes a new CURVE key pair: NAME.key (the secret key, mode 0600: keep it\n"
    "private) and NAME.pub (the public key). Put the public key into the\n"
    "collector's authorized_clients file (for a client) or into the clients'\n"
    "configs (for the collector). Refuses to overwrite either file without --force.\n";

int cli_cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"curve", required_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *name = NULL;
    bool force = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': name = optarg; break;
        case 'f': force = true; break;
        case 'h': fputs(s_keygen_usage, stdout); return 0;
        default: fputs(s_keygen_usage, stderr); return 2;
        }
    }
    if (!name || optind != argc) {
        fputs(s_keygen_usage, stderr);
        return 2;
    }
    char pub[41], msg[768];
    tsr_error_t err;
    tsr_error_clear(&err);
    if (tsr_curve_keygen(name, force, pub, NULL, &err) != 0) {
        fprintf(stderr, "tessera keygen: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return 1;
    }
    printf("secret key: %s.key (mode 0600, keep private)\n", name);
    printf("public key: %s.pub\n%s\n", name, pub);
    return 0;
}
