/* ptable.c - `tessera ptable`: prints the cell-key method's perturbation
 * table for a set of parameters (the collector's [disclosure] settings), so
 * an analyst or a reviewer can see exactly how counts are released. The
 * table in docs/PRIVACY.md is this command's output. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tessera/ckm.h"

static const char s_usage[] =
    "usage: tessera ptable [--k K] [--max-deviation D] [--variance V]\n"
    "                      [--format table|csv|markdown]\n"
    "\n"
    "Prints the perturbation table of the cell-key method for these parameters\n"
    "(the collector's [disclosure] k, max_deviation and variance; defaults 5, 5\n"
    "and 5): for each true count, the probability of each released count, the\n"
    "mean (always the true count: unbiased) and the variance. A count beyond\n"
    "the last row is released as the last row, shifted. Which released count a\n"
    "cell gets is fixed by its cell key, the sum of its records' keys, so the\n"
    "same records always give the same number. docs/PRIVACY.md explains.\n";

static bool s_number(const char *arg, double lo, double hi, double *out)
{
    char *end = NULL;
    double v = strtod(arg, &end);
    if (end == arg || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

int cli_cmd_ptable(int argc, char **argv)
{
    static const struct option opts[] = {
        {"k", required_argument, NULL, 'k'},
        {"max-deviation", required_argument, NULL, 'd'},
        {"variance", required_argument, NULL, 'v'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    double k = 5, d = 5, v = 5;
    const char *format = "table";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
        case 'd':
            if (!s_number(optarg, 1, 100, c == 'k' ? &k : &d) ||
                (c == 'k' ? k : d) != (double)(unsigned)(c == 'k' ? k : d)) {
                fprintf(stderr, "tessera ptable: --%s wants a whole number, not '%s'\n",
                        c == 'k' ? "k" : "max-deviation", optarg);
                return 2;
            }
            break;
        case 'v':
            if (!s_number(optarg, 0, 1e6, &v)) {
                fprintf(stderr, "tessera ptable: --variance wants a number, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'f': format = optarg; break;
        case 'h': fputs(s_usage, stdout); return 0;
        default: fputs(s_usage, stderr); return 2;
        }
    }
    bool md = !strcmp(format, "markdown"), csv = !strcmp(format, "csv");
    if (optind != argc || (!md && !csv && strcmp(format, "table"))) {
        fputs(s_usage, stderr);
        return 2;
    }
    tsr_ckm_table_t *t = malloc(sizeof *t);
    char why[256];
    if (!t) {
        fprintf(stderr, "tessera ptable: out of memory\n");
        return 1;
    }
    if (tsr_ckm_table_build(t, (unsigned)d, v, (unsigned)k - 1, why, sizeof why) != 0) {
        fprintf(stderr, "tessera ptable: k %g, max deviation %g, variance %g: %s\n", k, d, v, why);
        free(t);
        return 1;
    }
    /* columns: every released value any row uses */
    uint64_t top = t->n_rows - 1 + t->d;
    const char *sep = csv ? "," : md ? " | " : " ";
    printf(md ? "| count" : csv ? "count" : "%-6s", "count");
    for (uint64_t j = 0; j <= top; j++)
        if (j == 0 || j >= k)
            printf(csv || md ? "%s%llu" : "%s%6llu", sep, (unsigned long long)j);
    if (csv || md)
        printf("%smean%svariance%s\n", sep, sep, md ? " |" : "");
    else
        printf(" %9s %9s\n", "mean", "variance");
    if (md) { /* count, the released values, mean, variance */
        printf("| --- |");
        for (uint64_t j = 0; j <= top; j++)
            if (j == 0 || j >= k)
                printf(" --- |");
        printf(" --- | --- |\n");
    }
    for (size_t i = 0; i < t->n_rows; i++) {
        const tsr_ckm_row_t *r = &t->rows[i];
        char label[32];
        snprintf(label, sizeof label, "%zu%s", i, i + 1 == t->n_rows ? "+" : "");
        printf(md ? "| %s" : csv ? "%s" : "%-6s", label);
        for (uint64_t j = 0; j <= top; j++) {
            if (j != 0 && j < k)
                continue;
            double p = 0;
            for (size_t m = 0; m < r->n; m++)
                if (r->j[m] == j)
                    p = r->p[m];
            if (csv)
                printf(",%.6f", p);
            else if (p == 0)
                printf(md ? " | " : "%s%6s", md ? "" : sep, md ? "" : ".");
            else
                printf(md ? " | %.3f" : " %6.3f", p);
        }
        printf(csv || md ? "%s%.3f%s%.3f%s\n" : "%s%9.3f%s%9.3f%s\n", sep, r->mean, sep,
               r->variance, md ? " |" : "");
    }
    if (!csv)
        printf("\n%zu+: a count of %zu or more is released as the last row shifted by the "
               "difference (released - true has variance %g there). No released count is 1 to "
               "%g; every row's mean is its count; no count moves by more than %g.\n",
               t->n_rows - 1, t->n_rows - 1, v, k - 1, d);
    free(t);
    return 0;
}
