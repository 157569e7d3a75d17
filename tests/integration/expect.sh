# Assertions shared by the integration scripts (through lib.sh) and the
# package check (tests/package/check.sh): each counts a pass or prints why
# it failed; finish prints the counts and fails if any did. Sourced.
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
