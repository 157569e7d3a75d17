#!/usr/bin/env bash
# tessera keygen --curve: modes, the public key printed, refusal to overwrite.
source "$(dirname "$0")/lib.sh"
CLI="$TSR_BUILD_DIR/cli/tessera"

out=$("$CLI" keygen --curve "$TMP/analyst")
expect_eq "secret mode" "$(stat -c %a "$TMP/analyst.key")" "600"
expect_eq "public mode" "$(stat -c %a "$TMP/analyst.pub")" "644"
pub=$(grep -v '^#' "$TMP/analyst.pub")
expect_eq "public key length" "${#pub}" "40"
expect_contains "prints public key" "$out" "$pub"
set +e
"$CLI" keygen --curve "$TMP/analyst" 2>"$TMP/err"; rc=$?
set -e
expect_eq "refuse overwrite exit" "$rc" "1"
expect_contains "names the file" "$(cat "$TMP/err")" "$TMP/analyst.key: exists; refusing to overwrite"
"$CLI" keygen --curve "$TMP/analyst" --force >/dev/null
expect_eq "force replaces" "$(grep -v '^#' "$TMP/analyst.pub" | grep -cF -- "$pub" || true)" "0"
set +e
"$CLI" keygen 2>/dev/null; rc=$?
set -e
expect_eq "usage exit" "$rc" "2"
finish
