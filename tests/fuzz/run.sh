#!/usr/bin/env bash
# Runs every libFuzzer harness for FUZZ_SECONDS each (make fuzz).
#   tests/fuzz/run.sh BUILD_DIR [HARNESS...]
# The committed seed corpus tests/fuzz/corpus/<harness>/ is replayed first
# (libFuzzer runs every file of its corpus before it mutates), so a crash
# input committed there fails at once. New inputs go to BUILD_DIR/corpus/
# (not committed); a crash, leak, sanitizer report or timeout stops the
# harness, its input is kept as BUILD_DIR/crash/<harness>-*, and the run
# fails: see "When a harness finds something" in tests/fuzz/README.md.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD="${1:?usage: run.sh BUILD_DIR [HARNESS...]}"
shift
SECONDS_EACH="${FUZZ_SECONDS:-60}"
HARNESSES=("$@")
[ ${#HARNESSES[@]} -eq 0 ] && HARNESSES=(wire reader canon config series)
mkdir -p "$BUILD/crash" "$BUILD/fuzz-logs"
failed=()
for h in "${HARNESSES[@]}"; do
    bin="$BUILD/tests/fuzz/fuzz_$h"
    [ -x "$bin" ] || { echo "fuzz: $bin not built (make fuzz builds it)" >&2; exit 1; }
    mkdir -p "$BUILD/corpus/$h"
    log="$BUILD/fuzz-logs/$h.log"
    echo "== fuzz $h: $SECONDS_EACH s"
    "$bin" -max_total_time="$SECONDS_EACH" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$BUILD/crash/$h-" "$BUILD/corpus/$h" "tests/fuzz/corpus/$h" >"$log" 2>&1
    rc=$?
    # the last status line and the final counters, for docs/RELIABILITY.md
    grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -n 1
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log"
    if [ "$rc" -ne 0 ]; then
        echo "fuzz: $h FAILED (exit $rc); the report:" >&2
        grep -E -A 25 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|fuzz check failed' "$log" | head -n 60 >&2
        ls "$BUILD/crash/$h-"* 2>/dev/null >&2
        failed+=("$h")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    cat >&2 <<MSG
fuzz: findings in: ${failed[*]}
Fix the cause, then copy each input to tests/fuzz/corpus/<harness>/ (name it
after what it shows, e.g. crash-<issue>-<what>) and commit it with the fix: the
corpus is replayed by every run and by ctest (fuzz_replay_<harness>), so it
stays a regression test.
MSG
    exit 1
fi
echo "fuzz: ${#HARNESSES[@]} harness(es), no findings"
