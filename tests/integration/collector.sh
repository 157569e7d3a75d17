#!/usr/bin/env bash
# The collector over real CURVE sockets and a real LMDB environment: ingest,
# duplicates, versions, retractions, rights, SIGHUP, junk, and privacy.
source "$(dirname "$0")/lib.sh"
EX="$TSR_SOURCE_DIR/schemas/examples/incidents.jsonl"
DATA="$TMP/data"

"$TSR_BUILD_DIR/agent/tessera-agent" keygen --network-key "$TMP/network.key" >/dev/null
for k in leeds york analyst admin stranger; do "$CLI" keygen --curve "$TMP/$k" >/dev/null; done
pub() { grep -v '^#' "$TMP/$1.pub"; }

# -n checks the config without starting
start_collector "$DATA"
expect_eq "data dir mode" "$(stat -c %a "$DATA")" "700"
expect_eq "server key mode" "$(stat -c %a "$DATA/collector.key")" "600"
SERVER="$DATA/collector.pub"
cat >"$DATA/authorized_clients" <<AC
# test clients
$(pub leeds)  agent    leeds-cs-01   E08000035,E08000032
$(pub york)   agent    york-cs-01    E06000014
$(pub analyst) analyst yh-analyst-1  E12000003
$(pub admin)  admin    ops-1         *
AC
kill -HUP "$COLLECTOR_PID"
sleep 0.3
out=$("$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/collector.conf" -n)
expect_contains "-n checks" "$out" "config ok"
expect_contains "-n counts clients" "$out" "4 clients"

submit() { "$TESTCLIENT" submit "$INGEST" "$SERVER" "$TMP/$1.key" "$TMP/network.key" "$2" "$3" "$4" "${@:5}"; }

# 1. leeds submits the example: its two areas are accepted, the rest refused
want_ok=$(jq -r 'select(.area_code == "E08000035" or .area_code == "E08000032") | .case_ref' "$EX" | wc -l)
total=$(wc -l <"$EX")
out=$(submit leeds leeds-cs-01 1 "$EX")
expect_eq "accepted" "$(field accepted "$out")" "$want_ok"
expect_eq "rejected (area not bound)" "$(field rejected "$out")" "$((total - want_ok))"
expect_eq "reason 2 on every rejection" "$(grep -c '^rejected [0-9]* 2 area ' <<<"$out")" "$((total - want_ok))"
expect_eq "records in LMDB" "$(entries "$DATA" records)" "$want_ok"
tokens=$(entries "$DATA" by_token)

# 2. the same batch again: all duplicates, nothing twice
out=$(submit leeds leeds-cs-01 1 "$EX")
expect_eq "resend accepted" "$(field accepted "$out")" "0"
expect_eq "resend duplicates" "$(field duplicates "$out")" "$want_ok"
expect_eq "records unchanged" "$(entries "$DATA" records)" "$want_ok"
expect_eq "tokens unchanged" "$(entries "$DATA" by_token)" "$tokens"

# 3. version 2 replaces version 1; a retraction removes it and its index entries
head -n 1 "$EX" | jq -c '.version = 2 | .identifiers = [.identifiers[0]]' >"$TMP/v2.jsonl"
out=$(submit leeds leeds-cs-01 2 "$TMP/v2.jsonl")
expect_eq "replaced" "$(field replaced "$out")" "1"
expect_eq "v2 has one token less" "$(entries "$DATA" by_token)" "$((tokens - 1))"
printf '' >"$TMP/empty.jsonl"
out=$(submit leeds leeds-cs-01 3 "$TMP/empty.jsonl" retract:LCC-2026-0412:2)
expect_eq "retracted" "$(field retracted "$out")" "1"
expect_eq "record gone" "$(entries "$DATA" records)" "$((want_ok - 1))"
expect_eq "its tokens gone" "$(entries "$DATA" by_token)" "$((tokens - 2))"
expect_eq "its area/day entry gone" "$(entries "$DATA" by_area_day)" "$((want_ok - 1))"
out=$(submit leeds leeds-cs-01 1 "$EX")
expect_eq "stale version stays retracted" "$(field accepted "$out")" "0"

# 4. rights: an unknown key gets no reply at all; an analyst may not submit
set +e
submit stranger x 9 "$EX" >/dev/null 2>&1; rc=$?
set -e
expect_eq "unlisted key: no reply" "$rc" "3"
out=$(submit analyst yh-analyst-1 9 "$EX")
expect_eq "analyst denied" "$(field status "$out")" "3"
expect_eq "nothing stored by them" "$(entries "$DATA" records)" "$((want_ok - 1))"

# 5. stats: admin only
st=$("$CLI" stats --collector "$QUERY" --server-key "$SERVER" --key "$TMP/admin.key" --format csv)
expect_contains "stats records" "$st" "records,$((want_ok - 1))"
expect_eq "stats: nothing waits in the ingest log" "$(grep '^ingest_log_waiting,' <<<"$st")" "ingest_log_waiting,0"
expect_contains "stats area rejections" "$st" "rejected:area_not_bound,$(( (total - want_ok) * 3 ))"
set +e
"$CLI" stats --collector "$QUERY" --server-key "$SERVER" --key "$TMP/analyst.key" 2>"$TMP/err"; rc=$?
set -e
expect_eq "analyst stats refused" "$rc" "1"
expect_contains "says why" "$(cat "$TMP/err")" "stats are for the admin role"

# 6. 10,000 junk frames from an authorised key; valid batches still work
"$TESTCLIENT" fuzz "$INGEST" "$SERVER" "$TMP/york.key" 10000
echo '{"case_ref":"Y-1","reported_date":"2026-10-01","area_code":"E06000014"}' >"$TMP/york.jsonl"
out=$(submit york york-cs-01 11 "$TMP/york.jsonl")
expect_eq "valid after junk" "$(field accepted "$out")" "1"
kill -0 "$COLLECTOR_PID" && PASSES=$((PASSES + 1))
st=$("$CLI" stats --collector "$QUERY" --server-key "$SERVER" --key "$TMP/admin.key" --format csv)
malformed=$(grep '^malformed_frames,' <<<"$st" | cut -d, -f2)
[ "${malformed:-0}" -ge 9000 ] && PASSES=$((PASSES + 1)) || { echo "FAIL: malformed=$malformed"; FAILS=$((FAILS + 1)); }

# 7. SIGHUP without york: york is refused from then on, on the same kind of connection
grep -v york-cs-01 "$DATA/authorized_clients" >"$TMP/ac" && cp "$TMP/ac" "$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
set +e
submit york york-cs-01 12 "$TMP/york.jsonl" >/dev/null 2>&1; rc=$?
set -e
expect_eq "removed key refused" "$rc" "3"
# a broken file on SIGHUP keeps the previous list
echo "garbage line" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
out=$(submit leeds leeds-cs-01 13 "$TMP/empty.jsonl")
expect_eq "bad reload keeps list" "$(field status "$out")" "1"
expect_contains "bad reload logged" "$(cat "$TMP/collector.log")" "keeping the previous client list"

# 8. privacy: no raw identifier or case reference in the LMDB files
stop_collector
for raw in Jake_2009 jake_2009 07700 447700900123 55555555 LCC-2026 Oliver Hillside QuickCash J.Smith; do
    # every environment: records (db), the ingest log (log), the audit log
    if grep -aqi -- "$raw" "$DATA"/{db,log,audit}/data.mdb; then
        echo "FAIL: '$raw' found in a data.mdb" >&2
        FAILS=$((FAILS + 1))
    else
        PASSES=$((PASSES + 1))
    fi
done
finish
