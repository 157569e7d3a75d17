#!/usr/bin/env bash
# The audit environment at its map's maximum: a query is refused ERROR
# ("the audit log cannot be written"), never answered unaudited, and the
# collector's log says why and which setting to raise; agents' batches are
# still acknowledged (the audit log has an environment of its own). After
# a restart with a larger map_max_mib, queries are answered again and every
# entry written before is still there.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
"$TSR_BUILD_DIR/agent/tessera-agent" keygen --network-key "$TMP/network.key" >/dev/null
"$CLI" keygen --curve "$TMP/agent" >/dev/null
LIMITS=$'[limits]\nqueries_per_minute = 100000\nquery_burst = 10000'
EXTRA_CONF=$'[storage]\nmap_size_mib = 1\nmap_step_mib = 1\nmap_max_mib = 1\n'"$LIMITS"
start_collector "$DATA"
staff admin
echo "$(grep -v '^#' "$TMP/agent.pub") agent a-1 E08000035" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
AD=(--collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/admin.key")
"$CLI" stats "${AD[@]}" >/dev/null
stop_collector

# fill the audit environment's map behind the collector's back, in a
# database it never reads: chunks of 3,000-byte values until one no longer
# fits (that mdb_load's transaction writes nothing), then smaller chunks
VALUE=$(printf 'x%.0s' $(seq 1 3000))
fill() { # COUNT FIRST
    local i
    for i in $(seq "$2" $(($2 + $1 - 1))); do
        printf 'filler%06d\n%s\n' "$i" "$VALUE"
    done | mdb_load -T -s filler "$DATA/audit" 2>/dev/null
}
n=0
for chunk in 16 4 1; do
    while fill "$chunk" "$n"; do n=$((n + chunk)); done
done
expect_eq "the filler took most of the map" "$([ "$n" -ge 150 ] && echo yes)" "yes"

start_collector "$DATA"
answered=1 # the stats before the filler
refused=""
for i in $(seq 1 300); do
    set +e
    "$CLI" stats "${AD[@]}" >/dev/null 2>"$TMP/err"
    rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        refused=$(cat "$TMP/err")
        break
    fi
    answered=$((answered + 1))
done
expect_eq "a query is refused, not answered unaudited" "$refused" \
    "tessera stats: the audit log cannot be written; try again later"
expect_contains "the log says why and what to raise" "$(cat "$TMP/collector.log")" \
    "audit entry not stored: storage full: the map is at [storage] map_max_mib"
# ingest does not depend on the audit log
printf '%s\n' "$(case_line c-1 1 E08000035 '[{"kind":"phone","value":"+447700900001"}]')" >"$TMP/one.jsonl"
out=$("$TESTCLIENT" submit "$INGEST" "$DATA/collector.pub" "$TMP/agent.key" "$TMP/network.key" a-1 1 "$TMP/one.jsonl")
expect_eq "a batch is still acknowledged (OK)" "$(field status "$out")" "1"
expect_eq "its record accepted" "$(field accepted "$out")" "1"
stop_collector
expect_eq "every answered query audited" "$(db_entries "$DATA" audit)" "$answered"

EXTRA_CONF=$'[storage]\nmap_size_mib = 1\nmap_step_mib = 1\nmap_max_mib = 8\n'"$LIMITS"
start_collector "$DATA"
expect_contains "answered again with a larger map" "$("$CLI" stats "${AD[@]}" --format csv)" \
    "audit_map_size_bytes,"
stop_collector
expect_eq "the entries before, and the new one" "$(db_entries "$DATA" audit)" "$((answered + 1))"
finish
