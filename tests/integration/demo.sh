#!/usr/bin/env bash
# The README's demo runs to completion and shows what it says it shows.
source "$(dirname "$0")/lib.sh"
export TSR_DEMO_DIR="$TMP/demo"
out=$(bash "$TSR_SOURCE_DIR/deploy/demo/run.sh" "$TSR_BUILD_DIR" 2>&1)
n=$(wc -l <"$TSR_SOURCE_DIR/schemas/examples/incidents.jsonl")
expect_contains "nothing raw leaves" "$out" "0 of 43 raw values"
expect_contains "links across notations" "$out" "2 records share bank:uk"
expect_contains "links handles" "$out" "2 records share handle:instagram"
expect_eq "every record stored" "$(grep -E '^ +records ' <<<"$out" | awk '{print $2}')" "$n"
expect_eq "every agency submitted" "$(grep -c 'sent [0-9]* of [0-9]*' <<<"$out")" \
    "$(jq -r .area_code "$TSR_SOURCE_DIR/schemas/examples/incidents.jsonl" | sort -u | wc -l)"
expect_contains "resolves at the source" "$out" "-> case LCC-2026-0412"
finish
