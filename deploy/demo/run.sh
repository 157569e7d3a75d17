#!/usr/bin/env bash
# The demo: what a school's agent would send, and proof that nothing raw
# leaves. Run through `make demo` (which installs dependencies and builds
# first). Leaves its scratch directory, demo-run/, for a look.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
AGENT="$BUILD/agent/tessera-agent"
DEMO="$ROOT/demo-run"
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
