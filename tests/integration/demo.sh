#!/usr/bin/env bash
# The README's demo runs to completion and shows what it says it shows.
source "$(dirname "$0")/lib.sh"
export TSR_DEMO_DIR="$TMP/demo"
out=$(bash "$TSR_SOURCE_DIR/deploy/demo/run.sh" "$TSR_BUILD_DIR" 2>&1)
n=$(tail -n +2 "$TSR_DEMO_DIR/scenario/agencies.csv" | awk -F, '{ s += $4 } END { print s }')
agencies=$(tail -n +2 "$TSR_DEMO_DIR/scenario/agencies.csv" | wc -l)
expect_contains "nothing raw leaves" "$out" "0 of 43 raw values"
expect_contains "links across notations" "$out" "2 records share bank:uk"
expect_contains "links handles" "$out" "2 records share handle:instagram"
expect_eq "scenario size" "$n" "1275"
expect_eq "scenario agencies" "$agencies" "24"
expect_eq "every record stored" "$(grep -E '^ +records ' <<<"$out" | awk '{print $2}')" "$n"
expect_eq "every agency delivered, none rejected" "$(grep -cE 'delivered: [0-9]+ accepted, 0 already there, 0 updated, 0 withdrawn, 0 rejected$' <<<"$out")" "$agencies"
expect_contains "campaign bank account links 3 areas" "$out" "in 3 areas: E06000065 E08000032 E08000035"
expect_contains "campaign phone links 3 areas" "$out" "in 3 areas: E06000014 E08000032 E08000035"
expect_contains "resolves at the source" "$out" "-> case CAMP-0035-00"
finish
