# Shared helpers for the integration scripts (sourced, not run).
set -euo pipefail
: "${TSR_SOURCE_DIR:?set by ctest}"
: "${TSR_BUILD_DIR:?set by ctest}"
AGENT="$TSR_BUILD_DIR/agent/tessera-agent"
TMP="$(mktemp -d /tmp/tsr-it-XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
FAILS=0
PASSES=0

# expect_eq WHAT GOT WANT
expect_eq() {
    if [ "$2" == "$3" ]; then
        PASSES=$((PASSES + 1))
    else
        echo "FAIL: $1: got [$2], want [$3]" >&2
        FAILS=$((FAILS + 1))
    fi
}

# expect_contains WHAT HAYSTACK NEEDLE
expect_contains() {
    if grep -qF -- "$3" <<<"$2"; then
        PASSES=$((PASSES + 1))
    else
        echo "FAIL: $1: [$2] does not contain [$3]" >&2
        FAILS=$((FAILS + 1))
    fi
}

finish() {
    echo "$PASSES passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
}
