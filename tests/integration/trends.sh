#!/usr/bin/env bash
# Trends end to end: three agencies submit the scenario's exports; the
# counts the collector gives equal counts made from the raw files (where
# shown); an analyst is never given a number from 1 to k-1 by any of the
# --by / filter combinations below; every trends query is audited.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
# about 150 distinct queries below, and a query refused for the budget
# would silently check nothing: the budget is roles.sh's to test
EXTRA_CONF=$'[disclosure]\ndaily_query_budget = 100000'
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
"$TSR_BUILD_DIR/tools/tessera-scenario" --out "$TMP/scenario" >/dev/null
start_collector "$DATA"
AREAS="E08000035 E08000032 E08000034"
for area in $AREAS; do
    "$AGENT" init --dir "$TMP/la-$area" --agency-id "la-$area" --agency-type la_childrens_services \
        --area "$area" --network-key "$TMP/network.key" --server-key "$DATA/collector.pub" \
        --collector "$INGEST" | tail -n 1 >>"$DATA/authorized_clients"
done
for who in analyst admin; do
    "$CLI" keygen --curve "$TMP/$who" >/dev/null
done
echo "$(grep -v '^#' "$TMP/analyst.pub") analyst yh-analyst E12000003" >>"$DATA/authorized_clients"
echo "$(grep -v '^#' "$TMP/admin.pub") admin admin-1 *" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
for area in $AREAS; do
    "$AGENT" submit --config "$TMP/la-$area/agent.conf" "$TMP/scenario/la-$area.jsonl" 2>/dev/null
done
cat $(for a in $AREAS; do echo "$TMP/scenario/la-$a.jsonl"; done) >"$TMP/all.jsonl"
Q=(--collector "$QUERY" --server-key "$DATA/collector.pub")
AN=("${Q[@]}" --key "$TMP/analyst.key")
queries=0

# 1. shown counts equal the raw files' counts; small ones are hidden
out=$("$CLI" trends "${AN[@]}" --by area --format csv); queries=$((queries + 1))
for area in $AREAS; do
    raw=$(jq -r --arg a "$area" 'select(.area_code == $a) | .case_ref' "$TMP/all.jsonl" | wc -l)
    expect_eq "records in $area" "$(grep "^$area," <<<"$out" | cut -d, -f2)" "$raw"
done
out=$("$CLI" trends "${AN[@]}" --by area,contact_platform --format csv); queries=$((queries + 1))
while IFS=, read -r area platform shown; do
    raw=$(jq -r --arg a "$area" --arg p "$platform" \
        'select(.area_code == $a and (.contact_platforms | index($p))) | .case_ref' "$TMP/all.jsonl" | wc -l)
    case "$shown" in
    "<5") [ "$raw" -lt 5 ] || expect_eq "$area $platform hidden" "$raw" "0..4" ;; # a zero may hide too
    x) [ "$raw" -ge 5 ] || expect_eq "$area $platform protective" "$raw" ">=5" ;;
    *) [ "$raw" = "$shown" ] || expect_eq "$area $platform" "$shown" "$raw" ;;
    esac
    checked=$((${checked:-0} + 1))
done < <(tail -n +2 <<<"$out")
expect_eq "area x platform cells checked" "$([ "${checked:-0}" -ge 15 ] && echo yes)" "yes"
expect_eq "some cells hidden" "$(awk -F, '$3 == "<5"' <<<"$out" | wc -l | awk '$1 > 0 { print "yes" }')" "yes"

# 2. no number under k, whatever the analyst asks
small=0
for by in area region week month age_band gender contact_platform moved_to_platform demand \
    payment_method tactic paid amount_band area,age_band area,gender age_band,gender \
    contact_platform,age_band month,contact_platform; do
    for filter in "" "--area E08000035" "--platform snapchat" "--where gender=girl_woman" \
        "--since 2026-01-01" "--where age_band=13_15 --area E08000032"; do
        # shellcheck disable=SC2086
        if out=$("$CLI" trends "${AN[@]}" --by "$by" $filter --format csv 2>/dev/null); then
            n=$(tail -n +2 <<<"$out" | awk -F, '{ v = $NF } v ~ /^[0-9]+$/ && v > 0 && v < 5' | wc -l)
            small=$((small + n))
        fi
        queries=$((queries + 1))
    done
done
expect_eq "numbers from 1 to 4 given to the analyst" "$small" "0"

# small_differences WIDER NARROWER: cells with the same key shown in both
# CSV tables whose difference is from 1 to k-1
small_differences() {
    awk -F, 'FNR == 1 { next }
        { key = $1; for (i = 2; i < NF; i++) key = key "," $i }
        NR == FNR { wide[key] = $NF; next }
        (key in wide) && wide[key] ~ /^[0-9]+$/ && $NF ~ /^[0-9]+$/ &&
        wide[key] - $NF > 0 && wide[key] - $NF < 5' <(echo "$1") <(echo "$2") | wc -l
}

# 2b. nor by subtracting a filtered table from the unfiltered one
diffs=0
for by in area age_band contact_platform area,gender; do
    full=$("$CLI" trends "${AN[@]}" --by "$by" --format csv)
    queries=$((queries + 1))
    for filter in gender=girl_woman gender=boy_man contact_platform=snapchat age_band=13_15 \
        payment_method=gift_card; do
        part=$("$CLI" trends "${AN[@]}" --by "$by" --where "$filter" --format csv 2>/dev/null) || {
            queries=$((queries + 1))
            continue
        }
        queries=$((queries + 1))
        n=$(small_differences "$full" "$part")
        diffs=$((diffs + n))
    done
done
expect_eq "small counts found by differencing" "$diffs" "0"
# ... nor by dropping one of two filters
diffs=0
for by in area age_band; do
    for pair in "gender=boy_man contact_platform=snapchat" "age_band=13_15 contact_platform=instagram" \
        "gender=boy_man payment_method=gift_card"; do
        set -- $pair
        both=$("$CLI" trends "${AN[@]}" --by "$by" --where "$1" --where "$2" --format csv 2>/dev/null) || {
            queries=$((queries + 1))
            continue
        }
        queries=$((queries + 1))
        for one in "$1" "$2"; do
            single=$("$CLI" trends "${AN[@]}" --by "$by" --where "$one" --format csv 2>/dev/null) || {
                queries=$((queries + 1))
                continue
            }
            queries=$((queries + 1))
            n=$(small_differences "$single" "$both")
            diffs=$((diffs + n))
        done
    done
done
expect_eq "small counts found by dropping one of two filters" "$diffs" "0"

# 3. the analyst sees only their region; the admin everything
set +e
"$CLI" trends "${AN[@]}" --by area --area E08000025 >/dev/null 2>"$TMP/err"; rc=$?
set -e
queries=$((queries + 1))
expect_eq "outside the analyst's areas: nothing" "$rc" "1"
expect_contains "says why" "$(cat "$TMP/err")" "fewer than 5 records match"

# 4. every query audited
audited=$("$CLI" audit "${Q[@]}" --key "$TMP/admin.key" --id yh-analyst --format csv | grep -c ',"trends by ')
expect_eq "trends queries audited" "$audited" "$queries"
finish
