#!/usr/bin/env bash
# The README's `make demo-national` runs to completion and shows what it
# says: each regional liaison sees only its own half of the campaign, the
# national liaison the whole (four records, two regions, each named with its
# region and agency), each record resolves at its own agency only, and no
# raw identifier or case reference is on the national collector's disk.
source "$(dirname "$0")/lib.sh"
export TSR_DEMO_DIR="$TMP/demo-national"
out=$(bash "$TSR_SOURCE_DIR/deploy/demo/national.sh" "$TSR_BUILD_DIR" 2>&1) ||
    { echo "$out" >&2; echo "FAIL: the national demo did not finish" >&2; exit 1; }
nat="$TSR_DEMO_DIR/national-alert.json"
expect_eq "national alert: the four areas" "$(jq -r '.areas | join(" ")' "$nat")" \
    "E08000003 E08000006 E08000032 E08000035"
expect_eq "national alert: each agency named with its region" "$(jq -r '.agencies | join(" ")' "$nat")" \
    "nw-collector/manchester-school-01 nw-collector/salford-school-01 yh-collector/bradford-school-01 yh-collector/leeds-school-01"
expect_eq "national alert: four records" "$(jq -r '.record_ids | length' "$nat")" "4"
expect_contains "Yorkshire's liaison: its own half" "$out" \
    "agencies: bradford-school-01, leeds-school-01"
expect_contains "the North West's liaison: its own half" "$out" \
    "agencies: manchester-school-01, salford-school-01"
expect_eq "no regional alert names the other region" \
    "$(grep -E '^     agencies: ' <<<"$out" | grep -v '/' | grep -cE 'manchester.*leeds|leeds.*manchester|salford.*bradford|bradford.*salford')" "0"
expect_eq "each record resolves at its own agency, once" \
    "$(grep -E -- '->' <<<"$out" | awk '{ print $3, $5 }' | sort | tr '\n' ' ')" \
    "bradford-school-01 BD-207 leeds-school-01 LS-101 manchester-school-01 M-33 salford-school-01 S-12 "
# privacy: the national collector's files hold no raw identifier and no case
# reference (the longer ones: four characters could occur in binary pages by chance)
for raw in ella_x_2010 Ella_X_2010 900777 LS-101 BD-207; do
    expect_eq "not on the national disk: $raw" \
        "$(grep -rlaF -- "$raw" "$TSR_DEMO_DIR/nat" | wc -l)" "0"
done
finish
