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
# two years of background (the count varies with the date), 8 campaign and 16 wave cases
expect_eq "scenario size" "$([ "$n" -ge 1200 ] && [ "$n" -le 1400 ] && echo plausible)" "plausible"
expect_eq "campaign and wave cases" "$(cat "$TSR_DEMO_DIR"/scenario/la-*.jsonl | grep -cE "\"case_ref\":\"(CAMP|WAVE)-")" "24"
expect_eq "scenario agencies" "$agencies" "24"
expect_eq "every record stored" "$(grep -E '^ +records ' <<<"$out" | awk '{print $2}')" "$n"
expect_eq "every agency delivered, none rejected" "$(grep -cE 'delivered: [0-9]+ accepted, 0 already there, 0 updated, 0 withdrawn, 0 rejected$' <<<"$out")" "$agencies"
alerts="$TSR_DEMO_DIR/alerts.jsonl"
expect_eq "the campaign raises linkage alerts" "$(jq -r .kind "$alerts" | sort -u)" "linkage"
expect_eq "the last alert spans the four campaign areas" \
    "$(tail -n 1 "$alerts" | jq -r '.areas | join(" ")')" "E06000014 E06000065 E08000032 E08000035"
expect_eq "its eight records" "$(tail -n 1 "$alerts" | jq -r '.record_ids | length')" "8"
expect_contains "alerts printed for the liaison" "$out" "why now:   first linked across 2 areas and 2 agencies"
expect_contains "the liaison's lookup finds the campaign" "$out" "(8 records in 4 areas from 4 agencies)"
expect_eq "every record of the alert resolves to a campaign case at its agency" \
    "$(grep -cE -- '-> la-E[0-9]+ case CAMP-' <<<"$out")" "8"
expect_eq "no background case is linked" \
    "$(jq -r '.record_ids[]' "$alerts" | sort -u | wc -l)" "8"
expect_contains "the analyst sees the wave as a cross-area spike" "$out" \
    "cross-area: Yorkshire and The Humber (E12000003), day"
expect_contains "the wave's areas" "$out" "E08000033 Calderdale, E08000034 Kirklees"
expect_eq "analysts get no linkage alert" \
    "$(jq -r 'select(.kind == "linkage")' "$TSR_DEMO_DIR/analyst-alerts.jsonl" | wc -l)" "0"
aa="$TSR_DEMO_DIR/analyst-alerts.jsonl"
expect_eq "no count from 1 to 4 reaches the analyst" \
    "$(jq -r 'select(.observed != null and .observed > 0 and .observed < 5)' "$aa" | wc -l)" "0"
expect_eq "hidden counts carry no bound either" \
    "$(jq -r 'select(.observed_suppressed and (.expected != null or .upperbound != null or (.summary | test("upper bound|threshold|expected|against"))))' "$aa" | wc -l)" "0"
# the regional report: self-contained, no number from 1 to k-1 anywhere in it
report="$TSR_DEMO_DIR/report-E12000003.html"
expect_contains "report written" "$out" "report written to $report"
expect_eq "no script, no external resource" \
    "$(grep -ciE '<script|https?://|src=|@import|url\(' "$report")" "0"
expect_eq "every figure in it is hidden, 0 or at least k" \
    "$(grep -o 'data-count="[^"]*"' "$report" | cut -d'"' -f2 | awk '$1 != "hidden" && !($1 == 0 || $1 >= 5)' | wc -l)" "0"
expect_eq "it has figures" "$([ "$(grep -c 'data-count=' "$report")" -gt 100 ] && echo yes)" "yes"
expect_contains "the wave's spike is marked" "$(cat "$report")" 'class="alert"'
# and it renders in a real browser, where one is installed (Debian: chromium)
if command -v chromium >/dev/null 2>&1; then
    timeout 120 chromium --headless --no-sandbox --disable-gpu --window-size=1200,2600 \
        --screenshot="$TMP/report.png" "file://$report" >/dev/null 2>&1 || true
    expect_eq "rendered by chromium" "$([ -s "$TMP/report.png" ] && [ "$(stat -c %s "$TMP/report.png")" -gt 20000 ] && echo yes)" "yes"
else
    echo "chromium not installed: the render check is skipped (apt-get install chromium)"
fi
finish
