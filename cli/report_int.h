/* report_int.h - what the files of `tessera report` share and nothing else
 * includes: the tables as released, the report's state, and the parts of
 * the page each file writes. report.c: options, queries, the page in
 * order; report_text.c: labels, escaping, the comparison table and the
 * list of alerts; report_chart.c: the SVG charts and their legend. */
#ifndef TESSERA_REPORT_INT_H
#define TESSERA_REPORT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "tessera/client.h"

/* Most values an axis of a table can have here (weeks of a long period,
 * areas of a region, codes of a list). */
#define S_AXIS_MAX 512
/* Most spike alerts listed under the charts. */
#define S_LIST_MAX 200
/* The tables of "How it happens" (s_parts, report.c). */
#define S_NPARTS 6

/* One trends table as released, or why it was withheld. */
typedef struct {
    tsr_msg_t m;
    int rc; /* 0 released; 1 refused (why); -(exit code 3 to 6) no answer (why) */
    char why[1536];
} s_table_t;

typedef struct {
    tsr_conn_t *conn;
    const cli_conn_opts_t *co;
    uint64_t next_id;
    int32_t since, until; /* since: a Monday; until: as asked */
    int32_t end;          /* Sunday of until's week: the collector counts whole weeks */
    const char *region;
    unsigned k, max_deviation; /* from the responses; max_deviation 0: suppression era */
    bool any_suppressed;       /* an old-style suppressed cell was drawn */
    unsigned queries;
} s_report_t;

static inline const tsr_response_t *s_resp(const s_table_t *t)
{
    return &t->m.u.response;
}

typedef struct {
    const char *v[S_AXIS_MAX];
    size_t n;
} s_axis_t;

/* The values of dimension d in r, in the collector's order, without "". */
static inline void s_axis(s_axis_t *ax, const tsr_response_t *r, size_t d)
{
    ax->n = cli_trends_axis(r, d, ax->v, S_AXIS_MAX);
}

/* A cell's released text: its count, or for an old-style suppressed cell
 * "<k" / "x". */
static inline const char *s_text(char *out, size_t cap, const s_report_t *r,
                                 const tsr_trend_cell_t *c)
{
    return cli_cell_text(out, cap, c, r->k, true);
}

typedef struct {
    int32_t monday[S_AXIS_MAX]; /* the report's weeks */
    size_t n;
    int32_t partial[2]; /* weeks still being reported (0: none) */
} s_weeks_t;

/* Everything the report draws, asked for before a line is written. */
typedef struct {
    s_table_t areas, prev, grid, region, parts[S_NPARTS];
    bool region_from_totals; /* the grid's column totals are the region's weeks */
    tsr_msg_t alerts;
    bool alerts_ok;
} s_data_t;

/* --- the tables (report.c) -------------------------------------------------- */

/* A total cell: one of its keys is "" (every value of that dimension). */
bool cli_report_is_total(const tsr_trend_cell_t *c);

/* The cell with keys k0 (and k1 for a two-dimensional table), or NULL when
 * the collector left it out. "" finds a total. */
const tsr_trend_cell_t *cli_report_cell(const tsr_response_t *r, const char *k0, const char *k1);

/* --- words (report_text.c) -------------------------------------------------- */

/* HTML-escapes s into fp. */
void cli_report_esc(FILE *fp, const char *s);

/* What a person reads for value key of dimension dim: an area's name, a
 * code's display name ("X (Twitter)" for the platform x, so it is never taken
 * for the old suppression mark), "All" for a total. Returns a string that
 * lives as long as the program, or key itself. */
const char *cli_report_label(const char *dim, const char *key);

/* The data-count and data-kind attributes of a drawn count c (NULL: none
 * released); notes in r an old-style suppressed cell. */
void cli_report_data(FILE *fp, s_report_t *r, const tsr_trend_cell_t *c);

/* The alerts' method, for people. */
const char *cli_report_method(const char *m);

/* A series name ("area:E08000035/contact_platform:x") for people: "Leeds,
 * contact platform X (Twitter)". */
void cli_report_series(FILE *fp, const char *series);

/* "observed 12 vs expected 1.1" (the observed count below k is not sent to
 * analysts). */
void cli_report_observed(FILE *fp, const s_report_t *r, const tsr_alert_t *a);

/* A spike or cross-area alert on series (or one of its sub-series; NULL:
 * any) within the report's period. */
bool cli_report_alert_on(const s_report_t *r, const tsr_alert_t *a, const char *series);

/* A figure that was not drawn, and why. */
void cli_report_withheld(FILE *fp, const char *title, const char *why);

/* This period (now) against the previous one (prev, from prev_since), per
 * area and for the region's total. */
void cli_report_compare(FILE *fp, s_report_t *rep, const s_table_t *now, const s_table_t *prev,
                        int32_t prev_since);

/* The spike and cross-area alerts of the period as a table; alerts NULL
 * when the collector did not answer for them. */
void cli_report_alerts(FILE *fp, const s_report_t *rep, const tsr_msg_t *alerts);

/* The sentence on how numbers are released (in the header and the method). */
void cli_report_release_note(FILE *fp, const s_report_t *rep);

/* --- charts (report_chart.c) ------------------------------------------------ */

/* The weeks from rep->since to rep->end into w, with the partial ones
 * (until's week when until is not its Sunday, and today's). Returns whether
 * any week drawn is partial. */
bool cli_report_weeks(s_weeks_t *w, const s_report_t *rep, int32_t today);

/* Horizontal bars for a one-dimensional table of dimension dim. */
void cli_report_bars(FILE *fp, s_report_t *rep, const char *title, const char *dim,
                     const s_table_t *t);

/* A two-dimensional table of dim0 x dim1 as a shaded grid. */
void cli_report_grid(FILE *fp, s_report_t *rep, const char *title, const char *dim0,
                     const char *dim1, const s_table_t *t);

/* The weekly section: the region, then one small multiple per area. */
void cli_report_weekly(FILE *fp, s_report_t *rep, const s_data_t *d, const s_weeks_t *w);

/* What the marks mean (after the queries: it names only what is drawn). */
void cli_report_legend(FILE *fp, const s_report_t *rep, bool any_partial);

#endif
