#!/usr/bin/env bash
# The privacy adversary (issue 14, item 7): for each of two seeded scenario
# stores, a real collector with real CURVE keys; the Yorkshire agencies (and
# one outside the analyst's region) submit the scenario's exports; then
# adversary.py, holding only an analyst key, asks thousands of trends queries
# and one report, combines them, and scores every derivation against counts
# made from the raw exports. See tests/privacy/README.md.
source "$TSR_SOURCE_DIR/tests/integration/lib.sh"
PY=/usr/bin/python3
HERE="$(dirname "$0")"
# the default seed's store ends on a fixed date, so its scores do not depend
# on today; seed 12345's ends today, so that the collector's spike detection
# (recent days only) raises alerts for the analyst to read
FIXED_END=2026-09-27
REGION=E12000003
OUTSIDE=E08000025 # Birmingham: outside the analyst's region, must never count
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
"$CLI" keygen --curve "$TMP/analyst" >/dev/null

# raise the analyst's daily budget (its most) so the averaging attack can
# be measured past it, and keep every record (the scenario is two years long)
BUDGET_CONF=$'[disclosure]\ndaily_query_budget = 100000'
RETENTION_CONF=$'[retention]\nmonths = 600'
# the adversary asks thousands of queries, tens a second: past the default
# rate limit per key (600 a minute), which is not what is measured here
RATE_CONF=$'[limits]\nqueries_per_minute = 1000000\nquery_burst = 1000000'
# the budget an analyst has by default, which averaging must need more than
DEFAULT_BUDGET=$(awk -F' *= *' '$1 == "daily_query_budget" { print $2 }' \
    "$TSR_SOURCE_DIR/deploy/collector.conf")

# store SEED END: builds the store, attacks it; the adversary's exit code
store() {
    local seed="$1" end="$2" area id
    DATA="$TMP/data-$seed"
    mkdir -p "$DATA"
    "$TSR_BUILD_DIR/tools/tessera-scenario" --out "$TMP/sc-$seed" --end "$end" \
        ${seed:+--seed "$seed"} >/dev/null
    EXTRA_CONF="$RETENTION_CONF"$'\n'"$BUDGET_CONF"$'\n'"$RATE_CONF"
    start_collector "$DATA"
    echo "$(grep -v '^#' "$TMP/analyst.pub") analyst yh-analyst $REGION" >>"$DATA/authorized_clients"
    local areas
    # (a csv reader: some area names hold commas)
    areas=$("$PY" -c 'import csv, sys
for row in csv.DictReader(open(sys.argv[1])):
    if row["region_code"] == sys.argv[2]:
        print(row["code"])' "$TSR_SOURCE_DIR/schemas/codes/areas.csv" "$REGION")
    for area in $areas $OUTSIDE; do
        [ -f "$TMP/sc-$seed/la-$area.jsonl" ] || continue
        id="la-$area-$seed"
        "$AGENT" init "${ALLOW_ROOT[@]}" --dir "$TMP/$id" --agency-id "la-$area" --agency-type la_childrens_services \
            --area "$area" --network-key "$TMP/network.key" --server-key "$DATA/collector.pub" \
            --collector "$INGEST" | tail -n 1 >>"$DATA/authorized_clients"
    done
    kill -HUP "$COLLECTOR_PID"
    sleep 0.3
    for area in $areas $OUTSIDE; do
        [ -f "$TMP/sc-$seed/la-$area.jsonl" ] || continue
        submit_as "la-$area-$seed" "$TMP/sc-$seed/la-$area.jsonl"
    done
    entries "$DATA" ingest_log >/dev/null
    local rc=0
    "$PY" "$HERE/adversary.py" --cli "$CLI" --collector "$QUERY" --server-key "$DATA/collector.pub" \
        --key "$TMP/analyst.key" --exports "$TMP/sc-$seed" --region "$REGION" \
        --areas-csv "$TSR_SOURCE_DIR/schemas/codes/areas.csv" --work "$TMP/work-$seed" \
        --label "seed ${seed:-default}" --json "$TMP/result-${seed:-default}.json" \
        --budget "$DEFAULT_BUDGET" || rc=$?
    stop_collector
    return $rc
}

FAILED=0
store "" "$FIXED_END" || FAILED=1
store 12345 "$(date -u +%F)" || FAILED=1
"$PY" "$HERE/adversary.py" --summary "$TMP"/result-*.json || FAILED=1
if [ -n "${TSR_PRIVACY_KEEP:-}" ]; then
    mkdir -p "$TSR_PRIVACY_KEEP" && cp "$TMP"/result-*.json "$TSR_PRIVACY_KEEP"/
fi
[ "$FAILED" -eq 0 ]
