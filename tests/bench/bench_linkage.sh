#!/usr/bin/env bash
# Linkage benchmark (label bench): ingest of BENCH_RECORDS (default 1,000,000)
# records with 3 tokens each with linkage off and on, lookup latency in the
# store, then a collector on the linked store: alert latency to a liaison
# subscriber and lookup latency over CURVE, each lookup followed by one
# durable LMDB commit on the same disk (the lookup's yardstick). Prints its
# figures.
# BENCH_LIVE (default 1000): alerts and lookups measured. Then the cost of
# a retraction that splits a large cluster (BENCH_SPLIT records).
source "$(dirname "$0")/../integration/lib.sh"
BENCH="$TSR_BUILD_DIR/tests/bench/bench_linkage"
N="${BENCH_RECORDS:-1000000}"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
mkdir -p "$TMP/on"
"$BENCH" ingest "$TMP" "$N"
echo "store size: linkage off $(du -sh "$TMP/off" | cut -f1), on $(du -sh "$TMP/on/db" | cut -f1)"
DATA="$TMP/on"
# the lookups go back to back: above the default rate limit they would be
# refused, and a refusal reads nothing and commits nothing of its own
EXTRA_CONF="[storage]
map_size_mib = 8192
[limits]
queries_per_minute = 1000000
query_burst = 100000
audit_refusals_per_minute = 0"
start_collector "$DATA"
for who in agent liaison analyst; do
    "$CLI" keygen --curve "$TMP/$who" >/dev/null
done
{
    echo "$(grep -v '^#' "$TMP/agent.pub") agent bench-agent *"
    echo "$(grep -v '^#' "$TMP/liaison.pub") liaison bench-liaison *"
    echo "$(grep -v '^#' "$TMP/analyst.pub") analyst bench-analyst *"
} >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.5
# the yardstick of issue 17's lookup target (p99 <= 1.5 x its p99): one
# durable commit in an environment of its own on the same disk after each
# lookup, so both meet the same disk at the same time
mkdir -p "$TMP/commit"
"$BENCH" live "$INGEST" "$QUERY" "$ALERTS" "$DATA/collector.pub" "$TMP/agent.key" "$TMP/liaison.key" \
    "$TMP/analyst.key" "${BENCH_LIVE:-1000}" "$TMP/commit"
stop_collector
# the split walk's cost: one retraction that splits a chain-shaped cluster
# of BENCH_SPLIT records (default 200,000) is one apply, however long
"$BENCH" split "$TMP/split" "${BENCH_SPLIT:-200000}"
