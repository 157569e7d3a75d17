/* storetool.c - writes into a stopped collector's store what an
 * integration test cannot make happen through the collector in the time a
 * test runs:
 *
 *   storetool audit DATA_DIR TIME COUNT ID ROLE REQUEST
 *       appends COUNT audit entries written at TIME (unix seconds) by ID
 *       in ROLE asking REQUEST, as the collector would have months ago
 *       (the audit purge test, tests/integration/limits.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "tessera/err.h"

int main(int argc, char **argv)
{
    if (argc != 8 || strcmp(argv[1], "audit") != 0) {
        fprintf(stderr, "storetool: bad arguments (see the file comment)\n");
        return 2;
    }
    char dir[4096], logdir[4096], auditdir[4096];
    snprintf(dir, sizeof dir, "%s/db", argv[2]);
    snprintf(logdir, sizeof logdir, "%s/log", argv[2]); /* the collector's layout */
    snprintf(auditdir, sizeof auditdir, "%s/audit", argv[2]);
    tsr_store_opts_t o = {.kv = {.dir = dir, .map_size = 64u << 20, .map_step = 64u << 20},
                          .log_kv = {.dir = logdir},
                          .audit_kv = {.dir = auditdir}};
    tsr_store_t *s;
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    if (tsr_store_open(&s, &o, &err) != 0) {
        fprintf(stderr, "storetool: %s\n", tsr_error_format(&err, msg, sizeof msg));
        return 1;
    }
    tsr_audit_entry_t e = {.time = strtoll(argv[3], NULL, 10)};
    snprintf(e.id, sizeof e.id, "%s", argv[5]);
    snprintf(e.role, sizeof e.role, "%s", argv[6]);
    snprintf(e.request, sizeof e.request, "%s", argv[7]);
    int rc = 0;
    for (long i = strtol(argv[4], NULL, 10); i > 0 && rc == 0; i--)
        rc = tsr_store_audit(s, &e);
    tsr_store_close(&s);
    if (rc != 0)
        fprintf(stderr, "storetool: %s\n", tsr_strerror(rc));
    return rc ? 1 : 0;
}
