#!/usr/bin/env bash
# The national tier's spike rules (issue 19): three regional collectors
# relay to a national one. A campaign over Leeds (Yorkshire) and
# Manchester (North West) on one day raises exactly one cross-region spike
# alert at the national collector, naming both regions, and none at the
# regional collectors ([spikes] cross_region = auto: on where a relay is
# listed). National analysts (every area) see it, with released counts; an
# analyst bound to Yorkshire at the national collector does not.
source "$(dirname "$0")/lib.sh"
# shellcheck source=federation_lib.sh
source "$(dirname "$0")/federation_lib.sh"
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null

start_national
{
    echo "$(relay_pub yh) relay yh-collector E12000003"
    echo "$(relay_pub nw) relay nw-collector E12000002"
    echo "$(relay_pub ne) relay ne-collector E12000001"
} >>"$TMP/nat/authorized_clients"
staff_in nat
"$CLI" keygen --curve "$TMP/nat-yh-analyst" >/dev/null
echo "$(grep -v '^#' "$TMP/nat-yh-analyst.pub") analyst yh-analyst E12000003" >>"$TMP/nat/authorized_clients"
kill -HUP "${PID[nat]}"
wait_until "the national collector turns the rule on" \
    grep -q "cross-region spike rule: on (auto, 3 relay(s) listed)" "$TMP/nat.log"
for n in yh nw ne; do
    start_node "$n"
    staff_in "$n"
done
agency_at yh leeds-school school E08000035
agency_at nw manc-school school E08000003
agency_at ne newcastle-school school E08000021
for n in yh nw ne; do kill -HUP "${PID[$n]}"; done
sleep 0.3
expect_contains "a regional collector runs no cross-region rule" "$(cat "$TMP/yh.log")" \
    "cross-region spike rule: off (auto, 0 relay(s) listed)"

# day_line REF DAYS_AGO AREA: one record reported DAYS_AGO days before today (UTC)
day_line() {
    printf '{"case_ref":"%s","reported_date":"%s","area_code":"%s","age":14,"gender":"boy_man","contact_platforms":["instagram"],"demands":["money"],"identifiers":[{"kind":"phone","value":"07700 9%05d"}]}\n' \
        "$1" "$(date -u -d "-$2 days" +%F)" "$3" "$((RANDOM * 3 + ${#1}))"
}
national_records() { [ "$(db_entries "$TMP/nat" records)" = "$1" ]; }
# a quiet background: one case a day in each region for 20 days
for d in $(seq 20 -1 1); do day_line "L-$d" "$d" E08000035; done >"$TMP/leeds-bg.jsonl"
for d in $(seq 20 -1 1); do day_line "M-$d" "$d" E08000003; done >"$TMP/manc-bg.jsonl"
for d in $(seq 20 -1 1); do day_line "N-$d" "$d" E08000021; done >"$TMP/ncl-bg.jsonl"
submit_as leeds-school "$TMP/leeds-bg.jsonl"
submit_as manc-school "$TMP/manc-bg.jsonl"
submit_as newcastle-school "$TMP/ncl-bg.jsonl"
wait_until "the background reaches the national collector" national_records 60

# cross NODE ROLE: the cross-area and cross-region alerts that key sees, json lines
cross() { # shellcheck disable=SC2046
    "$CLI" alerts $(q "$1" "$2") --kind cross-area --since 0 --format json --state "$TMP/$1.$2.seq.$RANDOM"
}
national() { jq -c 'select(.series == "nation:all")'; }
expect_eq "no cross-region alert from the background" "$(cross nat analyst | national)" ""

# the campaign: six cases today in Leeds and six in Manchester
for i in 1 2 3 4 5 6; do day_line "L-c$i" 0 E08000035; done >"$TMP/leeds-c.jsonl"
for i in 1 2 3 4 5 6; do day_line "M-c$i" 0 E08000003; done >"$TMP/manc-c.jsonl"
submit_as leeds-school "$TMP/leeds-c.jsonl"
submit_as manc-school "$TMP/manc-c.jsonl"
wait_until "the campaign reaches the national collector" national_records 72
one_national() { [ "$(cross nat analyst | national | wc -l)" = 1 ]; }
wait_until "a cross-region alert at the national collector" one_national
sleep 1 # a second one would have come with the next evaluation
out=$(cross nat analyst | national)
expect_eq "exactly one cross-region alert" "$(wc -l <<<"$out")" "1"
expect_eq "it names both regions" "$(jq -r '.areas | join(",")' <<<"$out")" "E12000002,E12000003"
expect_contains "why, in words" "$(jq -r '.summary' <<<"$out")" \
    "cross-region: national, day $(date -u +%F): 2 regions alarm together"
expect_contains "...and the regions' names" "$(jq -r '.summary' <<<"$out")" \
    "regions: North West (E12000002), Yorkshire and The Humber (E12000003)"
# an analyst's count is released (cell-key: within 5 of the true 12, never 1..4)
obs=$(jq -r '.observed' <<<"$out")
expect_eq "a released count, no threshold" "$((obs >= 7 && obs <= 17))/$(jq -r '.upperbound' <<<"$out")" "1/null"
expect_eq "a Yorkshire analyst at the national tier: no cross-region alert" \
    "$(cross nat yh-analyst | national)" ""
# shellcheck disable=SC2046
expect_eq "...but Yorkshire's own spikes" "$("$CLI" alerts $(q nat yh-analyst) --kind spike --since 0 \
    --format json --state "$TMP/yhs.seq" | jq -r 'select(.series == "region:E12000003") | .series' | sort -u)" \
    "region:E12000003"
for n in yh nw ne; do
    expect_eq "no cross-region alert at $n" "$(cross "$n" analyst | national)" ""
done
# shellcheck disable=SC2046
expect_eq "no national spike at yh" "$("$CLI" alerts $(q yh analyst) --kind spike --since 0 \
    --format json --state "$TMP/yh.s.seq" | national)" ""
finish
