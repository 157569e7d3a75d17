#!/usr/bin/env bash
# The Ack tail against freshness (issue 17; label bench): the curve over the
# setting that moves the Ack p99 at batch 10 and 100, which is how much of a
# burst the collector lets wait in its ingest log before applying it.
#
# Each row is a collector setting; "hold T" is apply_delay_ms = T,
# apply_quiet_max = 0 and apply_batch = 20000 (its largest): while batches
# keep coming the apply runs every T ms or once 20,000 entries wait (or when
# a query or a record that may link asks for it; none does here), and T ms
# after the burst's first entry at the latest. So a burst that is
# acknowledged within T and has at most 20,000 records has no apply step
# writing beside the log's flushes. (Holding by a quiet spell instead, with
# apply_quiet_max as large, costs more than it saves: while that many
# entries wait every submit probes all of them for a record that may link,
# docs/PERFORMANCE.md.) "default" is the shipped settings
# (deploy/collector.conf). For each burst size (BENCH_CURVE_RECORDS records,
# default "20000 100000") and batch size (10, 100; one agent), BENCH_RUNS runs
# (default 3) each on a new environment; prints the median Ack p99, the
# median rate, and the median time until the whole burst was applied
# (queries, trends, spike and linkage detection see a record only then),
# with every run in brackets. BENCH_CURVE_HOLDS: the T values (ms); a burst
# larger than 20,000 records gets only the first (a longer hold adds only
# the backlog's drain after the burst, one step every T: minutes a run).
# About 15 minutes with the defaults.
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/ingest_lib.sh"
DATA="$TMP/data"
RUNS="${BENCH_RUNS:-3}"
SIZES="${BENCH_CURVE_RECORDS:-20000 100000}"
HOLDS="${BENCH_CURVE_HOLDS:-1000 3000 10000}"
hold_conf() {
    printf '[ingest]\napply_quiet_max = 0\napply_delay_ms = %s\napply_batch = 20000' "$1"
}
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r);" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
# the raw lines also go to BENCH_CURVE_RAW when set (kept after the run)
OUT="${BENCH_CURVE_RAW:-$TMP/curve.txt}"
: >"$OUT"
for n in $SIZES; do
    for _ in $(seq "$RUNS"); do
        holds="$HOLDS"
        [ "$n" -le 20000 ] || holds="${HOLDS%% *}"
        for row in default $holds; do
            EXTRA_CONF="" # read by start_collector (lib.sh)
            [ "$row" = default ] || EXTRA_CONF="$(hold_conf "$row")"
            for b in 10 100; do
                rm -rf "$DATA"
                start_collector "$DATA"
                bench_agents "$DATA"
                e2e "$DATA" 1 "$b" "$n" | sed "s/^/$row $n $b /" >>"$OUT"
                stop_collector
            done
        done
    done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
# lines: ROW N B e2e agents=1 batch=B records=N  X rec/s  ack p50 P ms  p99 Q ms
#        ROW N B        ... and applied: R rec/s (T s until the ingest log was empty)
awk -v holds="$HOLDS" -v sizes="$SIZES" '
function median(a, n,    i, j, t, b) {
    for (i = 1; i <= n; i++) b[i] = a[i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
    return b[int((n + 1) / 2)]
}
function cell(k, f, fmt,    a, n, i, s) {
    n = cnt[k, f]
    if (!n) return "-"
    for (i = 1; i <= n; i++) { a[i] = v[k, f, i]; s = s (i > 1 ? " " : "") sprintf(fmt, a[i]) }
    return sprintf("**" fmt "** (%s)", median(a, n), s)
}
$4 == "e2e" {
    for (i = 5; i <= NF; i++) { if ($(i + 1) == "rec/s") rate = $i; if ($i == "p99") p99 = $(i + 1) }
    k = $1 SUBSEP $2 SUBSEP $3
    v[k, "rate", ++cnt[k, "rate"]] = rate
    v[k, "p99", ++cnt[k, "p99"]] = p99
}
/and applied:/ {
    k = $1 SUBSEP $2 SUBSEP $3
    for (i = 4; i <= NF; i++) if ($(i + 1) == "s") t = substr($i, 2)
    v[k, "applied", ++cnt[k, "applied"]] = t
}
END {
    nr = split("default " holds, rows, " ")
    ns = split(sizes, ns_, " ")
    for (s = 1; s <= ns; s++) {
        n = ns_[s]
        print ""
        print "burst of " n " records, one agent:"
        print ""
        print "| setting | b10 Ack p99 (ms) | b10 rec/s | b10 applied after (s) | b100 Ack p99 (ms) | b100 rec/s | b100 applied after (s) |"
        print "| --- | --- | --- | --- | --- | --- | --- |"
        for (i = 1; i <= nr; i++) {
            row = rows[i]; k10 = row SUBSEP n SUBSEP 10; k100 = row SUBSEP n SUBSEP 100
            if (!cnt[k10, "p99"] && !cnt[k100, "p99"]) continue # not run at this size
            printf "| %s | %s | %s | %s | %s | %s | %s |\n", row == "default" ? "default" : "hold " row,
                cell(k10, "p99", "%.2f"), cell(k10, "rate", "%.0f"), cell(k10, "applied", "%.1f"),
                cell(k100, "p99", "%.2f"), cell(k100, "rate", "%.0f"), cell(k100, "applied", "%.1f")
        }
    }
}' "$OUT"
