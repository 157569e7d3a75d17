/* check.c - `tessera-agent check`: validate and minimise incident files and
 * print, one JSON object per line, exactly what would travel to the
 * collector, so a safeguarding lead can see what leaves the building. */
#include <getopt.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "errlist.h"
#include "queue.h"
#include "tessera/codes.h"
#include "tessera/date.h"
#include "tessera/err.h"
#include "tessera/record.h"
#include "tessera/token.h"

static const char s_check_usage[] =
    "usage: tessera-agent check --network-key FILE --agency-id ID --agency-type TYPE\n"
    "                           [--area CODE] [--week] [--country-code CC]\n"
    "                           [--next-network-key FILE] [--retention-months N]\n"
    "                           FILE...\n"
    "\n"
    "Validates and minimises incident files (JSON Lines: .jsonl/.json/.ndjson, or\n"
    "CSV: .csv; see schemas/incident.schema.json) and prints each minimised record\n"
    "as one JSON line on standard output: exactly the fields that would be sent,\n"
    "identifiers as keyed tokens in hex. Nothing is sent. Errors are printed as\n"
    "FILE:LINE: FIELD: reason on standard error: the first 100 of a file, then\n"
    "'N more; see FILE.errors', which lists them all.\n"
    "\n"
    "  --network-key FILE       the network key (make one with 'tessera-agent keygen')\n"
    "  --next-network-key FILE  during a key rotation: also make tokens with this key\n"
    "  --agency-id ID           this agency's id as registered with the collector\n"
    "  --agency-type TYPE       school, college, la_childrens_services, police,\n"
    "                           health, youth_service or charity\n"
    "  --area CODE              ONS code of the agency's local authority, for records\n"
    "                           without an area_code\n"
    "  --week                   coarsen dates to the Monday of their ISO week\n"
    "  --country-code CC        calling code for national phone numbers (default 44)\n"
    "  --retention-months N     the collector's [retention] months (default 24, its\n"
    "                           default): records reported before then are refused,\n"
    "                           as the collector would refuse them\n"
    "\n"
    "Exit codes: 0 every record valid, 1 some record invalid or a file unreadable,\n"
    "2 usage error.\n";

/* Checks one file: prints its valid records, its errors to errs (the
 * first AGENT_ERRLIST_SHOWN on stderr, all in FILE.errors). Returns 0, 1
 * (an invalid record or the file unreadable), or -1 (out of memory, a read
 * error: the rest of the file was not checked). */
static int s_check_file(const char *file, const tsr_record_ctx_t *ctx, int32_t cutoff,
                        long months, tsr_incident_t *inc, long *valid, long *invalid)
{
    char msg[768], path[4200];
    snprintf(path, sizeof path, "%s.errors", file);
    agent_errlist_t *errs;
    if (agent_errlist_new(&errs, path, AGENT_ERRLIST_SHOWN, false) != 0) {
        fprintf(stderr, "tessera-agent: out of memory\n");
        return -1;
    }
    tsr_error_t err;
    tsr_error_clear(&err);
    tsr_reader_t *r = NULL;
    int result = 0;
    if (tsr_reader_open(&r, file, &err) != 0) {
        agent_errlist_add(errs, tsr_error_format(&err, msg, sizeof msg));
        result = 1;
    }
    char case_ref[TSR_CASE_REF_MAX];
    int rc;
    while (r && (rc = tsr_reader_next(r, ctx, inc, case_ref, &err)) != 0) {
        if (rc == TSR_ENOMEM || rc == TSR_EIO) {
            fprintf(stderr, "tessera-agent: %s; the rest of the file is not checked\n",
                    tsr_error_format(&err, msg, sizeof msg));
            result = -1;
            break;
        }
        if (rc > 0 && inc->reported_day < cutoff)
            rc = agent_queue_past_retention(&err, file, tsr_reader_line(r), inc->reported_day,
                                            months, cutoff);
        if (rc < 0) {
            agent_errlist_add(errs, tsr_error_format(&err, msg, sizeof msg));
            (*invalid)++;
            result = result < 0 ? result : 1;
            tsr_error_clear(&err);
            continue;
        }
        json_t *j = tsr_incident_to_json(inc);
        char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!line) {
            fprintf(stderr, "tessera-agent: out of memory\n");
            result = -1;
            break;
        }
        puts(line);
        free(line);
        (*valid)++;
    }
    tsr_reader_destroy(&r);
    agent_errlist_finish(errs, NULL);
    agent_errlist_destroy(&errs);
    return result;
}

/* Checks every file; prints valid records, counts the rest. */
static int s_check_files(char **files, int nfiles, const tsr_record_ctx_t *ctx, long months)
{
    long valid = 0, invalid = 0;
    int result = 0;
    tsr_incident_t *inc = malloc(sizeof *inc);
    if (!inc) {
        fprintf(stderr, "tessera-agent: out of memory\n");
        return 1;
    }
    int32_t cutoff = agent_queue_cutoff(months);
    for (int i = 0; i < nfiles && result >= 0; i++) {
        int rc = s_check_file(files[i], ctx, cutoff, months, inc, &valid, &invalid);
        result = rc < 0 ? rc : result ? result : rc;
    }
    free(inc);
    fprintf(stderr, "check: %ld valid, %ld invalid record%s in %d file%s\n", valid, invalid,
            invalid == 1 ? "" : "s", nfiles, nfiles == 1 ? "" : "s");
    return result != 0 ? 1 : 0;
}

/* Loads a network key, printing why not. */
static int s_load_key(tsr_netkey_t *key, const char *path)
{
    tsr_error_t err;
    char msg[768];
    tsr_error_clear(&err);
    int rc = tsr_netkey_load(key, path, &err);
    if (rc != 0)
        fprintf(stderr, "tessera-agent: %s\n", tsr_error_format(&err, msg, sizeof msg));
    else if ((rc = tsr_netkey_prepare(key)) != 0) /* keyed once, for every token */
        fprintf(stderr, "tessera-agent: %s: OpenSSL cannot make HMAC-SHA256 with this key\n", path);
    return rc;
}

int agent_cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"network-key", required_argument, NULL, 'k'},
        {"next-network-key", required_argument, NULL, 'K'},
        {"agency-id", required_argument, NULL, 'i'},
        {"agency-type", required_argument, NULL, 't'},
        {"area", required_argument, NULL, 'a'},
        {"week", no_argument, NULL, 'w'},
        {"country-code", required_argument, NULL, 'c'},
        {"retention-months", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *key_path = NULL, *next_key_path = NULL, *agency_type = NULL;
    tsr_record_ctx_t ctx = {0};
    long months = 24;
    char *end;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': key_path = optarg; break;
        case 'K': next_key_path = optarg; break;
        case 'i': ctx.agency_id = optarg; break;
        case 't': agency_type = optarg; break;
        case 'a': ctx.default_area = optarg; break;
        case 'w': ctx.week_coarsening = true; break;
        case 'c': ctx.canon.default_country_code = optarg; break;
        case 'r':
            months = strtol(optarg, &end, 10);
            if (end == optarg || *end || months < 1 || months > 600) {
                fprintf(stderr, "tessera-agent check: --retention-months '%s' is not a whole "
                                "number of months from 1 to 600\n", optarg);
                return 2;
            }
            break;
        case 'h': fputs(s_check_usage, stdout); return 0;
        default: fputs(s_check_usage, stderr); return 2;
        }
    }
    if (!key_path || !ctx.agency_id || !agency_type || optind >= argc) {
        fprintf(stderr, "tessera-agent check: %s\n\n%s",
                optind >= argc ? "name at least one FILE"
                               : "--network-key, --agency-id and --agency-type are required",
                s_check_usage);
        return 2;
    }
    ctx.agency_type = tsr_codes_value(TSR_CODES_AGENCY_TYPE, agency_type);
    if (ctx.agency_type < 0) {
        char exp[256];
        fprintf(stderr, "tessera-agent check: --agency-type '%s' is not one of: %s\n",
                agency_type, tsr_codes_expected(TSR_CODES_AGENCY_TYPE, exp, sizeof exp));
        return 2;
    }
    if (ctx.default_area) {
        tsr_error_t err;
        char msg[512];
        tsr_error_clear(&err);
        if (tsr_area_check(ctx.default_area, "--area", &err) != 0) {
            fprintf(stderr, "tessera-agent check: %s\n", tsr_error_format(&err, msg, sizeof msg));
            return 2;
        }
    }
    tsr_netkey_t keys[2] = {0}; /* owning nothing: clearing both below is safe */
    int rc = s_load_key(&keys[0], key_path);
    if (rc == 0) {
        ctx.keys[ctx.n_keys++] = &keys[0];
        if (next_key_path && (rc = s_load_key(&keys[1], next_key_path)) == 0)
            ctx.keys[ctx.n_keys++] = &keys[1];
    }
    rc = rc == 0 ? s_check_files(argv + optind, argc - optind, &ctx, months) : 1;
    tsr_netkey_clear(&keys[0]);
    tsr_netkey_clear(&keys[1]);
    return rc;
}
