#!/usr/bin/env bash
# Issue 17's table (label bench): Tessera end to end, PostgreSQL and raw LMDB
# side by side, for batch 1, 10, 100, 1000 (one client) and 8 x 100:
# records/s and Ack p99, each the median of BENCH_RUNS runs (default 3),
# with every run shown. Runs bench_ingest.sh (BENCH_INGEST_TABLE=1) and
# bench_pg.sh in turn, BENCH_RUNS times, on the same disk; then prints the
# targets met or missed (Ack p99 <= PostgreSQL's, rec/s >= 1.2 x
# PostgreSQL's and >= 70 % of raw LMDB's).
#
# Environment: BENCH_RUNS, BENCH_INGEST_RECORDS (default 100,000; records
# per run at batch 10 and up), PG_BENCH_SECONDS (default 10), as the
# scripts it runs take them. PostgreSQL missing: its columns are "-".
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RUNS="${BENCH_RUNS:-3}"
OUT="$(mktemp -d /tmp/tsr-table-XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$RUNS"); do
    echo "run $r of $RUNS ..."
    BENCH_INGEST_TABLE=1 bash "$HERE/bench_ingest.sh" >"$OUT/tsr-$r.txt"
    bash "$HERE/bench_pg.sh" >"$OUT/pg-$r.txt"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
# lines: WHAT agents=A batch=B records=N  X rec/s  ack p50 P ms  p99 Q ms
cat "$OUT"/tsr-*.txt "$OUT"/pg-*.txt | awk -v runs="$RUNS" '
function median(a, n,    i, j, t, b) {
    for (i = 1; i <= n; i++) b[i] = a[i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
    return n ? b[int((n + 1) / 2)] : -1
}
function cell(what, k, field,    a, n, i, s, v) {
    n = cnt[what, k]
    if (!n) return "-"
    for (i = 1; i <= n; i++) a[i] = val[what, k, field, i]
    s = ""
    for (i = 1; i <= n; i++) s = s (i > 1 ? " " : "") sprintf(field == "rate" ? "%.0f" : "%.1f", a[i])
    v = median(a, n)
    med[what, k, field] = v
    return sprintf(field == "rate" ? "**%.0f** (%s)" : "**%.1f ms** (%s)", v, s)
}
/ agents=[0-9]+ batch=/ && / rec\/s/ {
    what = $1; sub(/agents=/, "", $2); sub(/batch=/, "", $3)
    k = ($2 == 1 ? $3 : $2 " x " $3)
    for (i = 1; i <= NF; i++) {
        if ($(i + 1) == "rec/s") rate = $i
        if ($i == "p99") p99 = $(i + 1)
    }
    n = ++cnt[what, k]
    val[what, k, "rate", n] = rate
    val[what, k, "p99", n] = p99
}
END {
    print "| batch | Tessera rec/s | PostgreSQL rec/s | raw LMDB rec/s | Tessera Ack p99 | PostgreSQL Ack p99 |"
    print "| --- | --- | --- | --- | --- | --- |"
    split("1 10 100 1000|8 x 100", ks, "|")
    split(ks[1], one, " ")
    keys[1] = one[1]; keys[2] = one[2]; keys[3] = one[3]; keys[4] = one[4]; keys[5] = ks[2]
    for (i = 1; i <= 5; i++) {
        k = keys[i]
        printf "| %s | %s | %s | %s | %s | %s |\n", k, cell("e2e", k, "rate"), cell("pg", k, "rate"),
            cell("raw", k, "rate"), cell("e2e", k, "p99"), cell("pg", k, "p99")
    }
    print ""
    print "medians of " runs " runs, each run in brackets; targets (issue 17):"
    for (i = 1; i <= 5; i++) {
        k = keys[i]; t = med["e2e", k, "rate"]; p = med["pg", k, "rate"]; r = med["raw", k, "rate"]
        tl = med["e2e", k, "p99"]; pl = med["pg", k, "p99"]
        s = "batch " k ":"
        if (pl != "" && pl >= 0) s = s sprintf(" Ack p99 %s (%.1f vs %.1f ms);", tl <= pl ? "met" : "MISSED", tl, pl)
        if (p != "" && p >= 0) s = s sprintf(" rate vs 1.2 x PostgreSQL %s (%.2f x);", t >= 1.2 * p ? "met" : "MISSED", t / p)
        if (r != "" && r >= 0) s = s sprintf(" rate vs 70 %% of raw %s (%.0f %%)", t >= 0.7 * r ? "met" : "MISSED", 100 * t / r)
        print s
    }
}'
