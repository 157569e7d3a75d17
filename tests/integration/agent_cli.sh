#!/usr/bin/env bash
# tessera-agent keygen / hash / check as a person or a script uses them.
source "$(dirname "$0")/lib.sh"
KEY="$TMP/network.key"

# keygen: 0600, refuses to overwrite
out=$("$AGENT" keygen --network-key "$KEY")
expect_contains "keygen output" "$out" "wrote network key $KEY (key id "
expect_eq "key mode" "$(stat -c %a "$KEY")" "600"
set +e
"$AGENT" keygen --network-key "$KEY" 2>"$TMP/err"; rc=$?
set -e
expect_eq "keygen overwrite exit" "$rc" "1"

# hash with the test-vector key 000102...1f: the line scripts rely on
printf '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n' >"$TMP/v.key"
chmod 600 "$TMP/v.key"
want=$(jq -r '.tokens[] | select(.kind == "handle:instagram" and .canonical == "jake_2009") | .token' \
    "$TSR_SOURCE_DIR/tests/vectors/tokens.json" | head -n 1)
out=$("$AGENT" hash --network-key "$TMP/v.key" --kind handle:instagram '@Jake_2009')
expect_eq "hash line" "$out" "$(printf 'handle:instagram\tjake_2009\t%s' "$want")"
# a profile URL's platform wins over the one given
out=$("$AGENT" hash --network-key "$TMP/v.key" --kind handle:tiktok \
    'https://www.instagram.com/jake_2009/?hl=en')
expect_eq "hash url platform wins" "$(cut -f1,2 <<<"$out")" "$(printf 'handle:instagram\tjake_2009')"
expect_eq "hash url same token" "$(cut -f3 <<<"$out")" "$want"
set +e
"$AGENT" hash --network-key "$TMP/v.key" --kind phone '123' >"$TMP/out" 2>"$TMP/err"; rc=$?
set -e
expect_eq "hash invalid exit" "$rc" "1"
expect_eq "hash invalid stdout empty" "$(cat "$TMP/out")" ""
expect_contains "hash invalid says why" "$(cat "$TMP/err")" "value"
chmod 644 "$TMP/v.key"
set +e
"$AGENT" hash --network-key "$TMP/v.key" --kind phone '07700 900123' 2>"$TMP/err"; rc=$?
set -e
expect_eq "world-readable key refused" "$rc" "1"
expect_contains "key mode message" "$(cat "$TMP/err")" "chmod 600"
chmod 600 "$TMP/v.key"

# usage errors exit 2
set +e
"$AGENT" hash --kind phone 2>/dev/null; rc=$?
"$AGENT" frobnicate 2>/dev/null; rc2=$?
set -e
expect_eq "usage exit" "$rc" "2"
expect_eq "unknown command exit" "$rc2" "2"
"$AGENT" --help | grep -q "check FILE" && PASSES=$((PASSES + 1))

# check: the example is valid, 12 records, one JSON object each
"$AGENT" check --network-key "$KEY" --agency-id t-01 --agency-type school --area E08000035 \
    "$TSR_SOURCE_DIR/schemas/examples/incidents.jsonl" >"$TMP/min.jsonl" 2>"$TMP/err"
expect_eq "check count" "$(wc -l <"$TMP/min.jsonl")" "12"
expect_eq "check all json" "$(jq -c 'has("record_id") and has("offender_tokens")' "$TMP/min.jsonl" | sort -u)" "true"
expect_eq "no case_ref key" "$(jq -c 'has("case_ref")' "$TMP/min.jsonl" | sort -u)" "false"
expect_contains "check summary" "$(cat "$TMP/err")" "check: 12 valid, 0 invalid records in 1 file"

# check: invalid lines are reported FILE:LINE: FIELD: reason, valid ones still printed, exit 1
cat >"$TMP/mixed.jsonl" <<'J'
{"case_ref":"a","reported_date":"2026-10-01","age":14}
{"case_ref":"b","reported_date":"2026-10-01","contact_platforms":["myspace"]}
{"case_ref":"c","reported_date":"2026-10-01","area_code":"E10000023"}
J
set +e
"$AGENT" check --network-key "$KEY" --agency-id t-01 --agency-type school --area E08000035 \
    "$TMP/mixed.jsonl" >"$TMP/out" 2>"$TMP/err"; rc=$?
set -e
expect_eq "check invalid exit" "$rc" "1"
expect_eq "valid line still printed" "$(wc -l <"$TMP/out")" "1"
expect_contains "error names file line field" "$(cat "$TMP/err")" "$TMP/mixed.jsonl:2: contact_platforms: 'myspace' is not one of"
expect_contains "retired area names successor" "$(cat "$TMP/err")" "$TMP/mixed.jsonl:3: area_code: area code E10000023 was retired by a reorganisation; use E06000065"
set +e
"$AGENT" check --network-key "$KEY" --agency-id t-01 --agency-type nursery "$TMP/mixed.jsonl" 2>"$TMP/err"; rc=$?
set -e
expect_eq "bad agency type exit" "$rc" "2"
expect_contains "bad agency type lists choices" "$(cat "$TMP/err")" "school, college"

finish
