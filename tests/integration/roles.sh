#!/usr/bin/env bash
# Roles and the daily query budget end to end (issue 14): three agencies
# submit the scenario; trends, report and spike alerts are the analyst's
# only: liaison and admin are refused them with the reason, and the
# refusals are audited; the live alert stream carries linkage alerts only.
# With daily_query_budget = 5 the analyst's sixth distinct trends query is
# refused while a repeat is still answered, and a restart of the collector
# does not reset the budget.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
EXTRA_CONF=$'[disclosure]\ndaily_query_budget = 5'
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
"$TSR_BUILD_DIR/tools/tessera-scenario" --out "$TMP/scenario" >/dev/null
start_collector "$DATA"
AREAS="E08000035 E08000032 E08000034"
for area in $AREAS; do
    agency "la-$area" la_childrens_services "$area"
done
agency leeds-school school E08000035
staff liaison admin
"$CLI" keygen --curve "$TMP/analyst" >/dev/null
echo "$(grep -v '^#' "$TMP/analyst.pub") analyst yh-analyst E12000003" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
Q=(--collector "$QUERY" --server-key "$DATA/collector.pub")
AN=("${Q[@]}" --key "$TMP/analyst.key")
LI=("${Q[@]}" --key "$TMP/liaison.key")
AD=("${Q[@]}" --key "$TMP/admin.key")

# a liaison subscriber follows the stream while everything is submitted
"$CLI" alerts "${LI[@]}" --alerts "$ALERTS" --follow --format json --state "$TMP/follow.seq" \
    >"$TMP/follow.out" 2>"$TMP/follow.err" &
FOLLOW=$!
trap 'kill "$FOLLOW" 2>/dev/null || true; stop_collector; rm -rf "$TMP"' EXIT
sleep 0.5
for area in $AREAS; do
    submit_as "la-$area" "$TMP/scenario/la-$area.jsonl"
done
# twelve cases in Leeds yesterday: a spike on a daily series
yday=$(date -u -d yesterday +%Y-%m-%d)
for i in $(seq 12); do
    printf '{"case_ref":"S-%s","reported_date":"%s","area_code":"E08000035","age":15,"gender":"boy_man","contact_platforms":["snapchat"],"demands":["money"],"identifiers":[{"kind":"email","value":"spike%s@example.com"}]}\n' "$i" "$yday" "$i"
done >"$TMP/spike.jsonl"
submit_as leeds-school "$TMP/spike.jsonl"

# run WHO CMD ARGS...: runs `tessera CMD ARGS` with WHO's key; sets RC, OUT, ERR
run() {
    local who="$1" cmd="$2"
    shift 2
    set +e
    "$CLI" "$cmd" "${Q[@]}" --key "$TMP/$who.key" "$@" >"$TMP/out" 2>"$TMP/err"
    RC=$?
    set -e
    OUT=$(cat "$TMP/out")
    ERR=$(cat "$TMP/err")
}

# 1. trends and report: analyst only
for who in liaison admin; do
    run "$who" trends --by area
    expect_eq "$who trends refused" "$RC/$OUT" "1/"
    expect_eq "$who trends: why" "$ERR" \
        "tessera trends: permission denied: trends are for the analyst role only"
    run "$who" report --region E12000003 --out "$TMP/$who-report.html"
    expect_eq "$who report refused" "$RC" "1"
    expect_eq "$who report: why" "$ERR" "tessera report: trends are for the analyst role only"
    expect_eq "$who report: no file" "$([ -e "$TMP/$who-report.html" ] && echo written || echo none)" "none"
done

# 2. spike and cross-area alerts: analyst only; liaison and admin get linkage alerts
for who in liaison admin; do
    run "$who" alerts --kind spike --since 0 --state "$TMP/scratch.seq"
    expect_eq "$who spike alerts refused" "$RC/$OUT" "1/"
    expect_eq "$who spike alerts: why" "$ERR" \
        "tessera alerts: permission denied: spike alerts are for the analyst role only"
    run "$who" alerts --kind cross-area --since 0 --state "$TMP/scratch.seq"
    expect_eq "$who cross-area alerts refused" "$RC/$OUT" "1/"
    expect_eq "$who cross-area alerts: why" "$ERR" \
        "tessera alerts: permission denied: cross-area alerts are for the analyst role only"
    run "$who" alerts --since 0 --format json --state "$TMP/scratch.seq"
    expect_eq "$who: all they may see" "$RC" "0"
    expect_eq "$who: linkage alerts only" "$(jq -r .kind <<<"$OUT" | sort -u)" "linkage"
done
run analyst alerts --since 0 --format json --state "$TMP/scratch.seq"
expect_eq "analyst alerts answered" "$RC" "0"
expect_eq "analyst: no linkage alerts" "$(jq -r 'select(.kind == "linkage") | .seq' <<<"$OUT" | wc -l)" "0"
expect_eq "the Leeds spike among them" \
    "$(jq -r 'select(.kind == "spike" and (.series | startswith("area:E08000035")) and .period == "'"$yday"'") | .kind' <<<"$OUT" | sort -u)" \
    "spike"
run analyst alerts --kind linkage --since 0 --state "$TMP/scratch.seq"
expect_eq "analyst linkage: why" "$RC/$ERR" \
    "1/tessera alerts: permission denied: linkage alerts are for the liaison and admin roles only"

# 3. the stream brought the liaison subscriber linkage alerts only
sleep 1.5
kill "$FOLLOW" 2>/dev/null || true
wait "$FOLLOW" 2>/dev/null || true
expect_eq "followed: linkage alerts only" "$(jq -r .kind "$TMP/follow.out" | sort -u)" "linkage"

# 4. every refusal audited
aud=$("$CLI" audit "${AD[@]}" --format csv)
for who in liaison admin; do
    expect_contains "$who trends refusal audited" "$aud" ",$who-1,$who,\"trends by area -..- -> denied\","
    expect_contains "$who spike refusal audited" "$aud" \
        ",$who-1,$who,\"alerts since=0 max=500 kind=2 -> denied\","
    expect_contains "$who cross-area refusal audited" "$aud" \
        ",$who-1,$who,\"alerts since=0 max=500 kind=3 -> denied\","
done
expect_eq "report refusals audited (one trends query each)" \
    "$(grep -c ',"trends by area .*region=E12000003 -> denied"' <<<"$aud")" "2"

# 5. the budget: five distinct trends queries a day; a repeat is free
run analyst trends --by area --format csv
expect_eq "analyst trends answered" "$RC" "0"
expect_eq "analyst trends: the three areas" "$(tail -n +2 <<<"$OUT" | grep -v "^," | cut -d, -f1 | sort | tr '\n' ' ')" \
    "E08000032 E08000034 E08000035 "
first="$OUT"
for by in gender age_band contact_platform; do
    run analyst trends --by "$by" --format csv
    expect_eq "analyst trends by $by" "$RC" "0"
done
# a query refused for the records it matches counts too: it told something
run analyst trends --by area --area E08000025
expect_eq "outside the analyst's areas" "$RC" "1"
BUDGET_MSG="tessera trends: permission denied: daily query budget of 5 distinct queries spent (resets at 00:00 UTC); ask an admin to raise [disclosure] daily_query_budget"
run analyst trends --by week
expect_eq "sixth distinct query refused" "$RC/$OUT" "1/"
expect_eq "says why" "$ERR" "$BUDGET_MSG"
run analyst trends --by area --format csv
expect_eq "a repeat is still answered" "$RC/$OUT" "0/$first"
run analyst trends --by week
expect_eq "the refusal did not count, nor free anything" "$RC/$ERR" "1/$BUDGET_MSG"
run analyst alerts --kind spike --since 0 --state "$TMP/scratch.seq" --format json
expect_eq "alerts are not budgeted" "$RC" "0"
run analyst report --region E12000003 --out "$TMP/report.html"
expect_eq "a report needs new queries: refused" "$RC/$ERR" \
    "1/tessera report: daily query budget of 5 distinct queries spent (resets at 00:00 UTC); ask an admin to raise [disclosure] daily_query_budget"
st=$("$CLI" stats "${AD[@]}" --format csv)
expect_eq "budget refusals counted" "$(grep '^budget_refusals,' <<<"$st")" "budget_refusals,3"
aud=$("$CLI" audit "${AD[@]}" --id yh-analyst --format csv)
expect_eq "budget refusals audited" "$(grep -c '"trends by week -..- -> denied"' <<<"$aud")" "2"

# 6. a restart does not reset the budget: it is counted from the audit log
stop_collector
start_collector "$DATA"
run analyst trends --by week
expect_eq "after a restart: still spent" "$RC/$ERR" "1/$BUDGET_MSG"
run analyst trends --by gender --format csv
expect_eq "after a restart: a repeat is answered" "$RC" "0"
st=$("$CLI" stats "${AD[@]}" --format csv)
expect_eq "budget refusals since the restart" "$(grep '^budget_refusals,' <<<"$st")" "budget_refusals,1"

# 7. the collector refuses a budget out of range, naming file, line and field
EXTRA_CONF=$'[disclosure]\ndaily_query_budget = 0'
stop_collector
set +e
start_collector_once "$DATA"
set -e
expect_contains "budget 0 refused" "$(cat "$TMP/collector.log")" \
    "collector.conf:8: disclosure.daily_query_budget: '0' is not a whole number from 1 to 100000"
finish
