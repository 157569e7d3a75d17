/* scenario.c - writes a synthetic, seeded and deterministic set of agency
 * exports for the demo and tests: two years of background incidents of
 * sexually coerced extortion across 24 areas in four regions, plus one
 * organised campaign in which the same offender accounts reach children in
 * Leeds, Bradford, York and North Yorkshire within three weeks, written in
 * different notations at different agencies, and a wave of unlinked cases on
 * one day of the last week in three other areas of the same region (a
 * cross-area spike). Every person and account is invented.
 *
 *   tessera-scenario --out DIR [--seed N] [--end YYYY-MM-DD]
 *
 * Writes DIR/<agency-id>.jsonl (one per agency) and DIR/agencies.csv
 * (id,type,area,records). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tessera/record.h"

static uint64_t s_state;

/* xorshift64*: small, seeded, the same numbers everywhere */
static double s_rand(void)
{
    s_state ^= s_state >> 12;
    s_state ^= s_state << 25;
    s_state ^= s_state >> 27;
    return (double)((s_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* picks an index by weights */
static int s_pick(const double *w, int n)
{
    double total = 0, x;
    for (int i = 0; i < n; i++)
        total += w[i];
    x = s_rand() * total;
    for (int i = 0; i < n; i++)
        if ((x -= w[i]) < 0)
            return i;
    return n - 1;
}

#define PICK(names, weights) names[s_pick(weights, (int)(sizeof weights / sizeof weights[0]))]

static const char *const s_areas[] = {
    /* Yorkshire and The Humber */
    "E08000035", "E08000032", "E06000014", "E06000065", "E08000034", "E08000036", "E08000033",
    "E08000019", "E06000010", "E08000016",
    /* North West */
    "E08000003", "E08000012", "E06000008", "E08000001", "E08000006",
    /* North East */
    "E08000021", "E08000037", "E06000047", "E06000057",
    /* West Midlands */
    "E08000025", "E08000026", "E06000021", "E08000031", "E08000027",
};
#define N_AREAS (int)(sizeof s_areas / sizeof s_areas[0])

static const char *const s_platforms[] = {"instagram", "snapchat", "tiktok", "facebook", "x",
                                          "discord", "roblox", "wizz", "other"};
static const double s_platform_w[] = {38, 30, 10, 6, 4, 4, 3, 3, 2};
static const char *const s_moved[] = {"snapchat", "whatsapp", "telegram", "instagram", "discord"};
static const double s_moved_w[] = {40, 25, 20, 10, 5};
static const char *const s_payments[] = {"bank_transfer", "gift_card", "payment_app", "crypto",
                                         "payment_link", "family_member_card"};
static const double s_payment_w[] = {35, 20, 20, 8, 10, 7};
static const char *const s_tactics[] = {"fake_peer_persona", "offender_sent_image_first",
                                        "moved_to_encrypted_app", "threat_to_share_with_family_friends",
                                        "repeated_demands", "ai_generated_or_manipulated_image",
                                        "hacked_known_account", "claimed_device_hack"};
static const double s_tactic_w[] = {70, 45, 50, 65, 40, 8, 10, 6};
static const char *const s_actions[] = {"dsl_escalation", "referred_police", "report_remove",
                                        "ceop_report", "parent_carer_informed", "platform_report"};
static const double s_action_w[] = {80, 55, 35, 20, 70, 40};

/* A valid GB IBAN for sort code and account (ISO 7064 mod 97-10). */
static void s_gb_iban(char *out, size_t cap, const char *sort, const char *acct)
{
    char bban[32], num[64];
    snprintf(bban, sizeof bban, "TSRB%s%s", sort, acct);
    size_t n = 0;
    for (const char *p = bban; *p; p++)
        n += (size_t)snprintf(num + n, sizeof num - n, "%d", *p >= 'A' ? *p - 'A' + 10 : *p - '0');
    n += (size_t)snprintf(num + n, sizeof num - n, "161100"); /* "GB00" */
    unsigned rem = 0;
    for (const char *p = num; *p; p++)
        rem = (rem * 10 + (unsigned)(*p - '0')) % 97;
    snprintf(out, cap, "GB%02u TSRB %s %s", 98 - rem, sort, acct);
}

static FILE *s_files[N_AREAS];
static long s_counts[N_AREAS];

static void s_list(FILE *fp, const char *name, const char *const *items, const double *w, int n,
                   double per_item_p)
{
    int first = 1;
    fprintf(fp, ",\"%s\":[", name);
    for (int i = 0; i < n; i++)
        if (s_rand() < w[i] / 100.0 * per_item_p) {
            fprintf(fp, "%s\"%s\"", first ? "" : ",", items[i]);
            first = 0;
        }
    fprintf(fp, "]");
}

static void s_background(int area, int32_t day, long serial)
{
    FILE *fp = s_files[area];
    char date[11];
    int age = 11 + (int)(s_rand() * 8); /* 11..18 */
    if (s_rand() < 0.7)
        age = 13 + (int)(s_rand() * 5); /* boys 13-17 are most victims */
    const char *gender = s_rand() < 0.78 ? "boy_man" : s_rand() < 0.9 ? "girl_woman" : "unknown";
    fprintf(fp,
            "{\"case_ref\":\"CS-%s-%05ld\",\"area_code\":\"%s\",\"reported_date\":\"%s\","
            "\"age\":%d,\"gender\":\"%s\"",
            s_areas[area], serial, s_areas[area], tsr_day_format(date, day), age, gender);
    fprintf(fp, ",\"contact_platforms\":[\"%s\"],\"moved_to_platforms\":[\"%s\"]",
            PICK(s_platforms, s_platform_w), PICK(s_moved, s_moved_w));
    bool money = s_rand() < 0.85;
    fprintf(fp, ",\"demands\":[\"%s\"%s]", money ? "money" : "more_images",
            s_rand() < 0.15 ? ",\"more_images\"" : "");
    if (money) {
        double demanded = 50 + s_rand() * 950;
        fprintf(fp, ",\"amount_demanded_gbp\":%.0f", demanded);
        if (s_rand() < 0.3)
            fprintf(fp, ",\"amount_paid_gbp\":%.0f", demanded * (0.1 + s_rand() * 0.5));
        else
            fprintf(fp, ",\"paid\":\"no\"");
        fprintf(fp, ",\"payment_methods\":[\"%s\"]", PICK(s_payments, s_payment_w));
    }
    s_list(fp, "tactics", s_tactics, s_tactic_w, 8, 1.0);
    s_list(fp, "actions", s_actions, s_action_w, 6, 1.0);
    /* one offender account of its own: background cases do not link */
    fprintf(fp, ",\"identifiers\":[{\"kind\":\"handle:%s\",\"value\":\"@bg_%s_%05ld\"}]",
            s_rand() < 0.6 ? "instagram" : "snapchat", s_areas[area] + 5, serial);
    fprintf(fp, ",\"child_name\":\"(synthetic)\",\"notes\":\"synthetic background case\"}\n");
    s_counts[area]++;
}

/* The campaign: one group's accounts across four areas of one region. */
static void s_campaign(int32_t start)
{
    char iban[64], date[11];
    s_gb_iban(iban, sizeof iban, "404784", "61021345");
    static const struct {
        int area;  /* index into s_areas */
        int day;   /* offset from start */
        const char *ids;
    } cases[] = {
        {0, 0, "{\"kind\":\"handle:instagram\",\"value\":\"@Ellie.Rose.2009\"},{\"kind\":\"bank:uk\",\"value\":\"40-47-84 61021345\"}"},
        {0, 3, "{\"kind\":\"handle\",\"value\":\"https://www.instagram.com/ellie.rose.2009/\"},{\"kind\":\"phone\",\"value\":\"07700 900461\"}"},
        {1, 5, "{\"kind\":\"bank:iban\",\"value\":\"%IBAN%\"},{\"kind\":\"payment:cashapp\",\"value\":\"$QuickEllie\"}"},
        {1, 8, "{\"kind\":\"phone\",\"value\":\"+44 (0)7700 900461\"}"},
        {2, 10, "{\"kind\":\"handle:instagram\",\"value\":\"ELLIE.ROSE.2009\"},{\"kind\":\"handle:snapchat\",\"value\":\"@ellie_snaps09\"}"},
        {3, 13, "{\"kind\":\"handle:snapchat\",\"value\":\"https://www.snapchat.com/add/ellie_snaps09\"},{\"kind\":\"bank:uk\",\"value\":\"404784 61021345\"}"},
        {3, 17, "{\"kind\":\"payment:cashapp\",\"value\":\"https://cash.app/$QuickEllie\"}"},
        {2, 20, "{\"kind\":\"phone\",\"value\":\"0044 7700 900461\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *fp = s_files[cases[i].area];
        char ids[600];
        const char *tmpl = cases[i].ids, *at = strstr(tmpl, "%IBAN%");
        if (at)
            snprintf(ids, sizeof ids, "%.*s%s%s", (int)(at - tmpl), tmpl, iban, at + 6);
        else
            snprintf(ids, sizeof ids, "%s", tmpl);
        fprintf(fp,
                "{\"case_ref\":\"CAMP-%s-%02zu\",\"area_code\":\"%s\",\"reported_date\":\"%s\",\"age\":%d,"
                "\"gender\":\"boy_man\",\"contact_platforms\":[\"instagram\"],"
                "\"moved_to_platforms\":[\"snapchat\"],\"demands\":[\"money\"],"
                "\"amount_demanded_gbp\":%d,\"payment_methods\":[\"bank_transfer\",\"payment_app\"],"
                "\"tactics\":[\"fake_peer_persona\",\"offender_sent_image_first\","
                "\"threat_to_share_with_family_friends\",\"repeated_demands\"],"
                "\"risks\":[\"multiple_children_same_setting\"],"
                "\"actions\":[\"dsl_escalation\",\"referred_police\"],\"identifiers\":[%s],"
                "\"notes\":\"synthetic campaign case\"}\n",
                s_areas[cases[i].area] + 5, i, s_areas[cases[i].area],
                tsr_day_format(date, start + cases[i].day),
                13 + (int)(i % 4), 300 + 100 * (int)(i % 5), ids);
        s_counts[cases[i].area]++;
    }
}

/* A wave: on one day, many children in three neighbouring areas of one
 * region (Kirklees, Wakefield, Calderdale) are targeted through Snapchat with
 * gift-card demands, each by an account of its own (nothing links them): the
 * pattern only counts reveal. */
static void s_wave(int32_t day)
{
    static const int areas[] = {4, 5, 6}, cases[] = {6, 5, 5};
    char date[11];
    tsr_day_format(date, day);
    for (size_t a = 0; a < 3; a++)
        for (int i = 0; i < cases[a]; i++) {
            FILE *fp = s_files[areas[a]];
            fprintf(fp,
                    "{\"case_ref\":\"WAVE-%s-%02d\",\"area_code\":\"%s\",\"reported_date\":\"%s\","
                    "\"age\":%d,\"gender\":\"%s\",\"contact_platforms\":[\"snapchat\"],"
                    "\"moved_to_platforms\":[\"snapchat\"],\"demands\":[\"money\"],"
                    "\"amount_demanded_gbp\":%d,\"payment_methods\":[\"gift_card\"],"
                    "\"tactics\":[\"fake_peer_persona\",\"threat_to_share_with_family_friends\"],"
                    "\"actions\":[\"dsl_escalation\",\"referred_police\"],"
                    "\"identifiers\":[{\"kind\":\"handle:snapchat\",\"value\":\"@wave_%s_%02d\"}],"
                    "\"notes\":\"synthetic wave case\"}\n",
                    s_areas[areas[a]] + 5, i, s_areas[areas[a]], date, 13 + i % 5,
                    i % 4 == 3 ? "girl_woman" : "boy_man", 100 + 50 * i, s_areas[areas[a]] + 5, i);
            s_counts[areas[a]]++;
        }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"end", required_argument, NULL, 'e'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *out = NULL;
    uint64_t seed = 20261124;
    int32_t end = tsr_day_today();
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'e':
            if (tsr_day_parse(optarg, &end) != 0) {
                fprintf(stderr, "tessera-scenario: --end must be YYYY-MM-DD\n");
                return 2;
            }
            break;
        case 'h': puts("usage: tessera-scenario --out DIR [--seed N] [--end YYYY-MM-DD]"); return 0;
        default: return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "usage: tessera-scenario --out DIR [--seed N] [--end YYYY-MM-DD]\n");
        return 2;
    }
    s_state = seed ? seed : 1;
    mkdir(out, 0755);
    char path[4096];
    for (int a = 0; a < N_AREAS; a++) {
        snprintf(path, sizeof path, "%s/la-%s.jsonl", out, s_areas[a]);
        if (!(s_files[a] = fopen(path, "w"))) {
            perror(path);
            return 1;
        }
    }
    /* background: about 0.5 a week per area, a little higher in term time */
    long serial = 0;
    for (int32_t day = end - 730; day <= end; day++) {
        int32_t doy = (day + 365 * 100) % 365;
        double rate = (doy > 200 && doy < 240) ? 0.045 : 0.075; /* summer holidays dip */
        for (int a = 0; a < N_AREAS; a++)
            if (s_rand() < rate)
                s_background(a, day, ++serial);
    }
    s_campaign(end - 35);
    s_wave(end - 4);
    snprintf(path, sizeof path, "%s/agencies.csv", out);
    FILE *fp = fopen(path, "w");
    if (!fp) {
        perror(path);
        return 1;
    }
    fprintf(fp, "id,type,area,records\n");
    long total = 0;
    for (int a = 0; a < N_AREAS; a++) {
        fclose(s_files[a]);
        fprintf(fp, "la-%s,la_childrens_services,%s,%ld\n", s_areas[a], s_areas[a], s_counts[a]);
        total += s_counts[a];
    }
    fclose(fp);
    printf("wrote %ld incidents for %d agencies in %s\n", total, N_AREAS, out);
    return 0;
}
