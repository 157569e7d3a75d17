#!/usr/bin/env bash
# Trends end to end: three agencies submit the scenario's exports; every
# count the collector gives is within D = 5 of the count made from the raw
# files, 0 exactly where they have none, and never 1 to k-1 (the cell-key
# method); the same records give the same number in every table shape; an
# analyst is never given a number from 1 to k-1 by any of the --by /
# filter combinations below; every trends query is audited. Attacks that
# combine tables are tests/privacy/'s.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
# about 150 distinct queries below, and a query refused for the budget or
# the rate limit would silently check nothing (on a quiet machine they come
# faster than the default 60-query burst): those are roles.sh's and
# limits.sh's to test
EXTRA_CONF=$'[disclosure]\ndaily_query_budget = 100000\n[limits]\nqueries_per_minute = 1000000\nquery_burst = 1000000'
yorkshire_scenario
cat $(for a in $AREAS; do echo "$TMP/scenario/la-$a.jsonl"; done) >"$TMP/all.jsonl"
Q=(--collector "$QUERY" --server-key "$DATA/collector.pub")
AN=("${Q[@]}" --key "$TMP/analyst.key")
queries=0

# within D of true, zero where true is zero, never 1..4
near() { # WHAT SHOWN RAW
    local ok=yes
    if [ "$3" -eq 0 ]; then [ "$2" = 0 ] || ok="no: $2 for none"
    elif [ "$2" -ge 1 ] && [ "$2" -le 4 ]; then ok="no: $2 is below k"
    elif [ $(($2 - $3)) -gt 5 ] || [ $(($3 - $2)) -gt 5 ]; then ok="no: $2 for $3"; fi
    expect_eq "$1" "$ok" "yes"
}

# 1. released counts are near the raw files' counts; totals too
out=$("$CLI" trends "${AN[@]}" --by area --format csv); queries=$((queries + 1))
for area in $AREAS; do
    raw=$(jq -r --arg a "$area" 'select(.area_code == $a) | .case_ref' "$TMP/all.jsonl" | wc -l)
    near "records in $area" "$(grep "^$area," <<<"$out" | cut -d, -f2)" "$raw"
done
near "the total" "$(grep '^,' <<<"$out" | cut -d, -f2)" "$(wc -l <"$TMP/all.jsonl")"
expect_eq "one total row" "$(grep -c '^,' <<<"$out")" "1"
out=$("$CLI" trends "${AN[@]}" --by area,contact_platform --format csv); queries=$((queries + 1))
checked=0
while IFS=, read -r area platform shown; do
    [ -n "$area" ] && [ -n "$platform" ] || continue
    raw=$(jq -r --arg a "$area" --arg p "$platform" \
        'select(.area_code == $a and (.contact_platforms | index($p))) | .case_ref' "$TMP/all.jsonl" | wc -l)
    near "$area $platform" "$shown" "$raw"
    checked=$((checked + 1))
done < <(tail -n +2 <<<"$out")
expect_eq "area x platform cells checked" "$([ "$checked" -ge 15 ] && echo yes)" "yes"
expect_eq "some counts perturbed" \
    "$(while IFS=, read -r area platform shown; do
        [ -n "$area" ] && [ -n "$platform" ] || continue
        jq -r --arg a "$area" --arg p "$platform" \
            'select(.area_code == $a and (.contact_platforms | index($p))) | .case_ref' "$TMP/all.jsonl" |
            wc -l | awk -v s="$shown" '$1 != s'
    done < <(tail -n +2 <<<"$out") | wc -l | awk '$1 > 0 { print "yes" }')" "yes"

# 1b. one set of records, one number: Leeds in every shape that holds it
leeds=()
leeds+=("$("$CLI" trends "${AN[@]}" --by area --format csv | grep '^E08000035,' | cut -d, -f2)")
leeds+=("$("$CLI" trends "${AN[@]}" --by area,gender --format csv | grep '^E08000035,,' | cut -d, -f3)")
leeds+=("$("$CLI" trends "${AN[@]}" --by gender --area E08000035 --format csv | grep '^,' | cut -d, -f2)")
leeds+=("$("$CLI" trends "${AN[@]}" --by region --area E08000035 --format json | jq -r '.cells[] | select(.region == null) | .count')")
leeds+=("$("$CLI" trends "${AN[@]}" --by week,area --format csv | grep '^,E08000035,' | cut -d, -f3)")
queries=$((queries + 5))
expect_eq "Leeds in five shapes" "$(printf '%s\n' "${leeds[@]}" | sort -u | wc -l)" "1"
expect_eq "Leeds is a number" "$([[ "${leeds[0]}" =~ ^[0-9]+$ ]] && echo yes)" "yes"
# and a month is whole weeks: March 2025 by month and by its weeks' range
m=$("$CLI" trends "${AN[@]}" --by month --since 2025-03-03 --until 2025-04-06 --format csv | grep '^2025-03,' | cut -d, -f2)
w=$("$CLI" trends "${AN[@]}" --by month --since 2025-03-03 --until 2025-03-30 --format csv | grep '^,' | cut -d, -f2)
queries=$((queries + 2))
expect_eq "March is the weeks Monday 3 to Sunday 30" "$m" "$w"

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

# 3. the analyst sees only their region
set +e
"$CLI" trends "${AN[@]}" --by area --area E08000025 >/dev/null 2>"$TMP/err"; rc=$?
set -e
queries=$((queries + 1))
expect_eq "outside the analyst's areas: nothing" "$rc" "1"
expect_contains "says why" "$(cat "$TMP/err")" "too few records match this query"

# 4. every query audited
audited=$("$CLI" audit "${Q[@]}" --key "$TMP/admin.key" --id yh-analyst --format csv | grep -c ',"trends by ')
expect_eq "trends queries audited" "$audited" "$queries"

# 5. the perturbation's parameters: unsafe values refused by -n and at start,
# naming the setting; tessera ptable prints the table the collector uses
for bad in "variance = 1" "variance = 11" "variance = five" "max_deviation = 3" "k = 2"; do
    printf '[collector]\ndata_dir = %s\n[disclosure]\n%s\n' "$TMP/unused" "$bad" >"$TMP/bad.conf"
    set +e
    "$COLLECTOR" "${ALLOW_ROOT[@]}" -n --config "$TMP/bad.conf" >/dev/null 2>"$TMP/err"; rc=$?
    set -e
    expect_eq "-n refuses $bad" "$rc" "1"
    expect_contains "says where: $bad" "$(cat "$TMP/err")" "bad.conf"
done
expect_contains "variance too small, why" "$(printf '[disclosure]\nvariance = 1\n' >"$TMP/bad.conf";
    "$COLLECTOR" "${ALLOW_ROOT[@]}" -n --config "$TMP/bad.conf" 2>&1 || true)" "must be a number of at least 2"
pt=$("$CLI" ptable --format csv)
expect_eq "ptable: a 0 stays 0" "$(grep '^0,' <<<"$pt" | cut -d, -f2)" "1.000000"
expect_eq "ptable: every row's mean is its count" \
    "$(tail -n +2 <<<"$pt" | awk -F, '{ sub(/\+$/, "", $1); if ($(NF - 1) + 0 != $1 + 0) print }' | wc -l)" "0"
expect_eq "ptable: no released 1 to 4" "$(head -1 <<<"$pt")" \
    "count,0,5,6,7,8,9,10,11,12,13,14,15,mean,variance"
finish
