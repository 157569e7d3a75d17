#!/usr/bin/env bash
# The ingest log, with its drains held back (apply_quiet_ms and
# apply_delay_ms an hour, and apply_quiet_max 0, so the link probe does not
# apply a linking record at once): an Ack comes once a record is logged, before it is
# applied; a query applies the log before it answers; a collector killed
# with entries waiting applies them when it starts again, once, and the
# linkage alert they raise reaches a subscriber (docs/STORAGE.md).
source "$(dirname "$0")/lib.sh"
FOLLOW=""
trap '[ -n "$FOLLOW" ] && kill "$FOLLOW" 2>/dev/null; stop_collector; rm -rf "$TMP"' EXIT
DATA="$TMP/data"
EXTRA_CONF=$'[ingest]\napply_quiet_ms = 3600000\napply_delay_ms = 3600000\napply_quiet_max = 0'
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
start_collector "$DATA"
agency leeds-school school E08000035
agency bradford-school school E08000032
staff liaison admin
kill -HUP "$COLLECTOR_PID"
sleep 0.3
Q=(--collector "$QUERY" --server-key "$DATA/collector.pub")

# 1. acknowledged while only in the log
case_line L-1 1 E08000035 '[{"kind":"phone","value":"07700 900999"}]' >"$TMP/l1.jsonl"
submit_as leeds-school "$TMP/l1.jsonl"
expect_eq "acknowledged: in the log" "$(db_entries "$DATA" ingest_log)" "1"
expect_eq "not applied yet" "$(db_entries "$DATA" records)" "0"
sleep 0.5
expect_eq "still waiting half a second later" "$(db_entries "$DATA" ingest_log)" "1"

# 2. a query applies the log before it answers
look=$("$CLI" lookup "${Q[@]}" --key "$TMP/liaison.key" --network-key "$TMP/network.key" --kind phone "07700 900999")
expect_contains "the lookup sees the acknowledged record" "$look" "phone +447700900999: known"
expect_eq "applied by the query" "$(db_entries "$DATA" records)" "1"
# and trimmed from the log a little later (100 ms after the step, when no
# batch comes: docs/STORAGE.md, Trim); entries waits up to 10 s
expect_eq "log empty" "$(entries "$DATA" ingest_log)" "0"

# 3. a subscriber follows; the second agency's record waits in the log when
# the collector is killed
audited=$(db_entries "$DATA" audit)
"$CLI" alerts "${Q[@]}" --key "$TMP/liaison.key" --alerts "$ALERTS" --follow --format json \
    --state "$TMP/follow.seq" >"$TMP/follow.out" 2>"$TMP/follow.err" &
FOLLOW=$!
# its catch-up query (which applies the log) is answered before B-1 is sent
for _ in $(seq 100); do
    [ "$(db_entries "$DATA" audit)" -gt "$audited" ] && break
    sleep 0.05
done
sleep 0.2
case_line B-1 2 E08000032 '[{"kind":"phone","value":"+44 7700 900999"}]' >"$TMP/b1.jsonl"
submit_as bradford-school "$TMP/b1.jsonl"
kill -9 "$COLLECTOR_PID"
wait "$COLLECTOR_PID" 2>/dev/null || true
expect_eq "killed with the entry waiting" "$(db_entries "$DATA" ingest_log)" "1"
expect_eq "no alert yet" "$(wc -l <"$TMP/follow.out")" "0"

# 4. the restart applies it and the subscriber gets the alert, once
start_collector "$DATA"
for _ in $(seq 100); do
    [ -s "$TMP/follow.out" ] && break
    sleep 0.1
done
sleep 0.5
kill "$FOLLOW" 2>/dev/null || true
wait "$FOLLOW" 2>/dev/null || true
FOLLOW=""
expect_eq "one alert reached the subscriber" "$(jq -r .seq "$TMP/follow.out" | tr '\n' ' ')" "1 "
expect_eq "one alert in the log" \
    "$("$CLI" alerts "${Q[@]}" --key "$TMP/liaison.key" --since 0 --format json --state "$TMP/scratch.seq" | wc -l)" "1"
expect_eq "it links the two areas" "$(jq -r .trigger "$TMP/follow.out")" \
    "first linked across 2 areas and 2 agencies"
expect_eq "log empty after the restart" "$(entries "$DATA" ingest_log)" "0"
st=$("$CLI" stats "${Q[@]}" --key "$TMP/admin.key" --format csv)
expect_eq "records counted once" "$(grep '^records,' <<<"$st")" "records,2"
expect_eq "accepted counted once" "$(grep '^accepted,' <<<"$st")" "accepted,2"
expect_eq "token index: one entry per record" "$(db_entries "$DATA" by_token)" "2"

# 5. the other triggers, one at a time: apply_batch entries waiting...
# wait_applied WHAT [SECONDS]: the log empties within SECONDS (2), with no query
wait_applied() {
    for _ in $(seq $((${2:-2} * 20))); do
        [ "$(db_entries "$DATA" ingest_log)" = 0 ] && break
        sleep 0.05
    done
    expect_eq "$1" "$(db_entries "$DATA" ingest_log)" "0"
}
stop_collector
# apply_step_ms = 0: a step bounded in time can stop after the first entry
# on a loaded machine (the background step yields the CPU), and the one left
# is below apply_batch, so it would wait for apply_delay_ms
EXTRA_CONF=$'[ingest]\napply_quiet_ms = 3600000\napply_delay_ms = 3600000\napply_batch = 2\napply_step_ms = 0'
start_collector "$DATA"
case_line C-1 3 E08000035 '[]' >"$TMP/c1.jsonl"
case_line C-2 3 E08000035 '[]' >"$TMP/c2.jsonl"
submit_as leeds-school "$TMP/c1.jsonl"
sleep 0.3
expect_eq "one entry waits below apply_batch" "$(db_entries "$DATA" ingest_log)" "1"
submit_as leeds-school "$TMP/c2.jsonl"
wait_applied "applied once apply_batch entries wait" 10
# ... and ingest quiet for apply_quiet_ms (the default 2 ms)
stop_collector
EXTRA_CONF=$'[ingest]\napply_delay_ms = 3600000'
start_collector "$DATA"
case_line C-3 3 E08000035 '[]' >"$TMP/c3.jsonl"
submit_as leeds-school "$TMP/c3.jsonl"
wait_applied "applied once ingest is quiet"
expect_eq "all five stored" "$(db_entries "$DATA" records)" "5"
# ... but only while at most apply_quiet_max entries wait; more wait for
# apply_delay_ms (here 3 s) however quiet ingest is
stop_collector
EXTRA_CONF=$'[ingest]\napply_quiet_max = 1\napply_delay_ms = 3000'
start_collector "$DATA"
{ case_line C-4 4 E08000035 '[]'; case_line C-5 4 E08000035 '[]'; } >"$TMP/c45.jsonl"
submit_as leeds-school "$TMP/c45.jsonl"
sleep 0.3
expect_eq "two entries wait through a quiet spell (apply_quiet_max 1)" \
    "$(db_entries "$DATA" ingest_log)" "2"
wait_applied "applied once apply_delay_ms has passed" 6
expect_eq "all seven stored" "$(db_entries "$DATA" records)" "7"
# ... and at once, however long the quiet spell and the delay, when a record
# may link: it shares a token with a stored one (the link probe,
# docs/STORAGE.md "Linkage alerts at once")
stop_collector
EXTRA_CONF=$'[ingest]\napply_quiet_ms = 3600000\napply_delay_ms = 3600000'
start_collector "$DATA"
case_line C-6 5 E08000035 '[]' >"$TMP/c6.jsonl"
submit_as leeds-school "$TMP/c6.jsonl"
sleep 0.3
expect_eq "a record that links nothing waits" "$(db_entries "$DATA" ingest_log)" "1"
case_line L-2 6 E08000035 '[{"kind":"phone","value":"07700 900999"}]' >"$TMP/l2.jsonl"
submit_as leeds-school "$TMP/l2.jsonl"
wait_applied "one that shares a token is applied at once, with the one before it"
expect_eq "all nine stored" "$(db_entries "$DATA" records)" "9"
finish
