#!/usr/bin/env bash
# The agent's peak memory by export size (issue 20): `tessera-agent submit`
# of 1,000, 10,000 and 100,000-record exports (JSON Lines, two identifiers
# per case) into a fresh outbox, its collector absent (an unused port, one
# attempt of 200 ms), so every record stays in the outbox. Peaks of RssAnon
# (the agent's own memory) and RssFile (mapped file pages: the outbox's
# LMDB map, page cache) sampled every millisecond from /proc/PID/status
# by peakmem. Targets: RssAnon under 16 MB at 100,000 records and within
# 2 MB of the 1,000-record figure. BENCH_SIZES overrides the sizes;
# BENCH_AGENT measures another build's tessera-agent (a before/after).
set -euo pipefail
: "${TSR_BUILD_DIR:?set by ctest}"
AGENT="${BENCH_AGENT:-$TSR_BUILD_DIR/agent/tessera-agent}"
PEAKMEM="$TSR_BUILD_DIR/tests/bench/peakmem"
TMP="$(mktemp -d /tmp/tsr-bench-mem-XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
SIZES="${BENCH_SIZES:-1000 10000 100000}"
ALLOW_ROOT=() # the agent refuses root without it (CI and benches run as root)
if [ "$(id -u)" -eq 0 ]; then ALLOW_ROOT=(--allow-root); fi

"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
# a server key to name in the config; no collector ever runs
"$TSR_BUILD_DIR/cli/tessera" keygen --curve "$TMP/collector" >/dev/null
"$AGENT" init "${ALLOW_ROOT[@]}" --dir "$TMP/a" --agency-id bench-01 --agency-type la_childrens_services \
    --area E08000035 --network-key "$TMP/network.key" --server-key "$TMP/collector.pub" \
    --collector tcp://127.0.0.1:9 >/dev/null
sed -i 's/^\[agent\]/[agent]\ntimeout_ms = 200\nattempts = 1/' "$TMP/a/agent.conf"

echo "load before: $(uptime)"
printf '%-9s %12s %12s %12s %10s %8s\n' records "RssAnon kB" "RssFile kB" "VmHWM kB" seconds exit
first_anon=""
for n in $SIZES; do
    awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++)
        printf "{\"case_ref\":\"B-%d\",\"reported_date\":\"2026-10-%02d\",\"age\":14,\"gender\":\"boy_man\",\"contact_platforms\":[\"instagram\"],\"identifiers\":[{\"kind\":\"phone\",\"value\":\"07700 %06d\"},{\"kind\":\"handle:instagram\",\"value\":\"@Offender_%d\"}],\"child_name\":\"Test Child\",\"notes\":\"must not travel\"}\n",
            i, 1 + i % 28, i, i }' >"$TMP/export.jsonl"
    rm -rf "$TMP/a/data" && mkdir "$TMP/a/data"
    start=$(date +%s.%N)
    set +e
    "$PEAKMEM" -o "$TMP/mem" -- "$AGENT" submit "${ALLOW_ROOT[@]}" --config "$TMP/a/agent.conf" "$TMP/export.jsonl" \
        2>"$TMP/err"
    rc=$?
    set -e
    secs=$(echo "$(date +%s.%N) - $start" | bc)
    queued=$(mdb_stat -s outbox "$TMP/a/data" | awk '/Entries:/ { print $2 }')
    if [ "$queued" != "$n" ]; then
        echo "bench_agent_mem: $queued of $n records queued" >&2
        cat "$TMP/err" >&2
        exit 1
    fi
    read -r anon file hwm <<<"$(sed 's/rss_anon_kb=\([0-9]*\) rss_file_kb=\([0-9]*\) hwm_kb=\([0-9]*\).*/\1 \2 \3/' "$TMP/mem")"
    printf '%-9s %12s %12s %12s %10.2f %8s\n' "$n" "$anon" "$file" "$hwm" "$secs" "$rc"
    [ -n "$first_anon" ] || first_anon=$anon
    last_anon=$anon
done
echo "load after: $(uptime)"
echo "peak RssAnon, largest export: $((last_anon / 1024)).$(((last_anon % 1024) * 10 / 1024)) MB (target under 16 MB);" \
    "more than the smallest by $(((last_anon - first_anon) / 1024)).$((((last_anon - first_anon) % 1024) * 10 / 1024)) MB (target within 2 MB)"
