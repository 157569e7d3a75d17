#!/usr/bin/env bash
# The demo: what an agency's agent would send, proof that nothing raw leaves,
# then a real collector on loopback with one agent per area submitting over
# CURVE, the collector's counters, and re-identification at the source.
# Run through `make demo` (which installs dependencies and builds first).
# Leaves its scratch directory, demo-run/, for a look.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=env.sh
source "$ROOT/deploy/demo/env.sh"
DEMO="${TSR_DEMO_DIR:-$ROOT/demo-run}"
INPUT="$ROOT/schemas/examples/incidents.jsonl"

rm -rf "$DEMO"
mkdir -p "$DEMO"
echo "== Tessera demo (scratch directory: demo-run/)"
echo
echo "-- 1. A network key, shared by every agency and liaison client, never by the collector"
"$AGENT" keygen --network-key "$DEMO/network.key"
echo
echo "-- 2. A Leeds school checks its export ($(wc -l <"$INPUT") incidents, with names, notes,"
echo "      dates of birth and raw offender identifiers) before anything is sent"
"$AGENT" check --network-key "$DEMO/network.key" --agency-id leeds-school-01 \
    --agency-type school --area E08000035 "$INPUT" >"$DEMO/minimised.jsonl"
echo
echo "-- 3. The first record exactly as it would travel (demo-run/minimised.jsonl has all):"
head -n 1 "$DEMO/minimised.jsonl" | jq .
echo
echo "-- 4. The same offender written differently at different places links by token:"
jq -r '.offender_tokens[] | "\(.kind) \(.token)"' "$DEMO/minimised.jsonl" | sort | uniq -c |
    awk '$1 > 1 { printf "   %s records share %s %s...\n", $1, $2, substr($3, 1, 16) }'
echo
echo "-- 5. Privacy check: every raw value of the input that must stay local"
jq -r '[.case_ref, .child_name, .date_of_birth, .school_name, .address, .notes, .case_worker,
        (.identifiers[]?.value),
        (to_entries[] | select(.key | startswith("local_")) | .value)]
       | .[] | select(. != null) | tostring' "$INPUT" >"$DEMO/raw-values.txt"
found=0
while IFS= read -r value; do
    if grep -qiF -- "$value" "$DEMO/minimised.jsonl"; then
        echo "   LEAK: '$value' appears in what would be sent"
        found=$((found + 1))
    fi
done <"$DEMO/raw-values.txt"
total=$(wc -l <"$DEMO/raw-values.txt")
if [ "$found" -ne 0 ]; then
    echo "   $found of $total raw values leaked" >&2
    exit 1
fi
echo "   0 of $total raw values (names, case references, notes, handles, phone numbers,"
echo "   bank details) appear in what would be sent."

echo
echo "-- 6. A regional collector (CURVE, LMDB) and one agent per local authority"
cat >"$DEMO/collector.conf" <<CONF
[collector]
data_dir = $DEMO/collector
ingest_endpoint = tcp://127.0.0.1:17701
query_endpoint = tcp://127.0.0.1:17702
alerts_endpoint = tcp://127.0.0.1:17703
log_level = warn
CONF
"$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$DEMO/collector.conf" >"$DEMO/collector.out" 2>"$DEMO/collector.log" &
COLLECTOR_PID=$!
trap 'kill $COLLECTOR_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "server public key" "$DEMO/collector.out" 2>/dev/null && break; sleep 0.05; done
if ! grep -q "server public key" "$DEMO/collector.out"; then
    echo "the collector did not start (is port 17701, 17702 or 17703 in use?):" >&2
    cat "$DEMO/collector.log" >&2
    exit 1
fi
echo "   collector listening; its public key: $(grep -v '^#' "$DEMO/collector/collector.pub")"
mkdir -p "$DEMO/agencies"
for user in admin analyst liaison; do
    "$CLI" keygen --curve "$DEMO/$user" >/dev/null
done
{
    echo "$(grep -v '^#' "$DEMO/admin.pub") admin demo-admin *"
    echo "$(grep -v '^#' "$DEMO/analyst.pub") analyst yh-analyst-1 E12000003"
    echo "$(grep -v '^#' "$DEMO/liaison.pub") liaison nerocu-liaison *"
} >>"$DEMO/collector/authorized_clients"
echo "   users: demo-admin (admin), yh-analyst-1 (analyst, Yorkshire and The Humber), nerocu-liaison (liaison)"
"$BUILD/tools/tessera-scenario" --out "$DEMO/scenario" | sed 's/^/   scenario: /'
echo "   (two years of synthetic cases in 24 areas of 4 regions, and one organised campaign"
echo "    reaching Leeds, Bradford, York and North Yorkshire within three weeks)"
tail -n +2 "$DEMO/scenario/agencies.csv" | while IFS=, read -r id type area _; do
    "$AGENT" init "${ALLOW_ROOT[@]}" --dir "$DEMO/agencies/$id" --agency-id "$id" --agency-type "$type" \
        --area "$area" --network-key "$DEMO/network.key" --server-key "$DEMO/collector/collector.pub" \
        --collector tcp://127.0.0.1:17701 | tail -n 1 >>"$DEMO/collector/authorized_clients"
    cp "$DEMO/scenario/$id.jsonl" "$DEMO/agencies/$id/export.jsonl"
done
echo "   $(tail -n +2 "$DEMO/scenario/agencies.csv" | wc -l) agencies set up with 'tessera-agent init'"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
echo
echo "-- 7. Each agency submits; records wait in its outbox until the collector acknowledges"
for dir in "$DEMO"/agencies/*/; do
    "$AGENT" submit "${ALLOW_ROOT[@]}" --config "$dir/agent.conf" "$dir/export.jsonl" 2>"$dir/submit.log"
    name=$(awk -F, -v c="${dir%/}" 'BEGIN { sub(/.*la-/, "", c) } $1 == c { print $2 }' \
        "$ROOT/schemas/codes/areas.csv" | tr -d '"')
    printf '   %-14s %-26s %s\n' "$(basename "$dir")" "$name" "$(grep '^delivered:' "$dir/submit.log")"
done
echo
echo "-- 8. What the collector holds (tessera stats, admin role)"
"$CLI" stats --collector tcp://127.0.0.1:17702 --server-key "$DEMO/collector/collector.pub" \
    --key "$DEMO/admin.key" | grep -E '^(records|batches|accepted|duplicates|rejected)' | sed 's/^/   /'
echo
echo "-- 9. Police liaison: the linkage alerts (tessera alerts, liaison role). The campaign's"
echo "      accounts were written differently at each agency; their tokens are the same."
LIAISON=(--collector tcp://127.0.0.1:17702 --server-key "$DEMO/collector/collector.pub"
    --key "$DEMO/liaison.key")
"$CLI" alerts "${LIAISON[@]}" --kind linkage --state "$DEMO/liaison.alerts-seq" | sed 's/^/   /'
"$CLI" alerts "${LIAISON[@]}" --kind linkage --since 0 --format json --state "$DEMO/scratch.seq" \
    >"$DEMO/alerts.jsonl"
echo "   (the same alerts as JSON in demo-run/alerts.jsonl; 'tessera alerts --follow' streams them live)"
echo
echo "-- 10. The liaison looks up a number from a new report, without sending it anywhere"
camp_phone=$(jq -r 'select(.case_ref | startswith("CAMP")) | .identifiers[] | select(.kind == "phone") | .value' \
    "$DEMO/agencies/la-E08000032/export.jsonl" | head -n 1)
echo "   tessera lookup --kind phone '$camp_phone'"
"$CLI" lookup "${LIAISON[@]}" --network-key "$DEMO/network.key" --kind phone "$camp_phone" | sed 's/^/   /'
cid=$(tail -n 1 "$DEMO/alerts.jsonl" | jq -r .cluster_id)
echo
echo "   tessera cluster $cid"
"$CLI" cluster "${LIAISON[@]}" "$cid" | sed 's/^/   /'
echo
echo "-- 11. Re-identification happens only at the source: each agency resolves its own record ids"
for rid in $(tail -n 1 "$DEMO/alerts.jsonl" | jq -r '.record_ids[]'); do
    for dir in "$DEMO"/agencies/*/; do
        if ref=$("$AGENT" resolve "${ALLOW_ROOT[@]}" --config "$dir/agent.conf" "$rid" 2>/dev/null); then
            echo "   record $rid -> $(basename "$dir") case $ref"
        fi
    done
done
echo "   (the collector and the liaison hold only record ids; the case references stay at the agencies)"
echo
echo "-- 12. The Yorkshire analyst: a cross-area spike (tessera alerts, analyst role). Last week"
echo "       Kirklees, Wakefield and Calderdale each saw several unlinked cases on one day:"
echo "       no shared account, so no linkage alert; only the counts show the pattern."
ANALYST=(--collector tcp://127.0.0.1:17702 --server-key "$DEMO/collector/collector.pub"
    --key "$DEMO/analyst.key")
"$CLI" alerts "${ANALYST[@]}" --kind cross-area --state "$DEMO/analyst.alerts-seq" | sed 's/^/   /'
"$CLI" alerts "${ANALYST[@]}" --since 0 --format json --state "$DEMO/scratch2.seq" >"$DEMO/analyst-alerts.jsonl"
echo "   The analyst also has $(jq -r 'select(.kind == "spike")' "$DEMO/analyst-alerts.jsonl" | jq -s length) spike alerts on single series (demo-run/analyst-alerts.jsonl);"
echo "   their counts are released by the cell-key method, like the tables. Methods, as R's surveillance package:"
echo "   tessera spikes backtest --method c2 --input SERIES.csv"
echo
echo "-- 13. The analyst's trend tables: every count, totals too, released by the cell-key"
echo "       method (never 1 to 4, at most 5 from the truth, the same records always the"
echo "       same number): Yorkshire cases by age band and gender"
"$CLI" trends "${ANALYST[@]}" --by age_band,gender | sed 's/^/   /'
echo
echo "-- 14. The regional report: one self-contained HTML file (inline SVG) to open or email"
"$CLI" report "${ANALYST[@]}" --region E12000003 --out "$DEMO/report-E12000003.html" | sed 's/^/   /'
kill "$COLLECTOR_PID"
wait "$COLLECTOR_PID" 2>/dev/null || true
trap - EXIT
echo
echo "Everything is left in demo-run/ for a look."
