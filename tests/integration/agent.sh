#!/usr/bin/env bash
# tessera-agent against a real collector: init, submit, resubmit, update,
# retract, resolve, status, an unreachable collector, a bad input file, and
# a collector killed in the middle of a large submit.
source "$(dirname "$0")/lib.sh"
AGENT="$TSR_BUILD_DIR/agent/tessera-agent"
DATA="$TMP/data"
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
start_collector "$DATA"
line=$("$AGENT" init "${ALLOW_ROOT[@]}" --dir "$TMP/leeds" --agency-id leeds-01 --agency-type school --area E08000035 \
    --network-key "$TMP/network.key" --server-key "$DATA/collector.pub" --collector "$INGEST" | tail -n 1)
expect_contains "init prints the client line" "$line" " agent leeds-01 E08000035"
echo "$line" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
CONF=(--config "$TMP/leeds/agent.conf" "${ALLOW_ROOT[@]}")
expect_eq "config mode" "$(stat -c %a "$TMP/leeds/agent.conf")" "600"

# Leeds records only, so every one is accepted
jq -c 'select(.area_code == "E08000035")' "$TSR_SOURCE_DIR/schemas/examples/incidents.jsonl" >"$TMP/leeds.jsonl"
n=$(wc -l <"$TMP/leeds.jsonl")
"$AGENT" submit "${CONF[@]}" "$TMP/leeds.jsonl" 2>"$TMP/err"
expect_eq "records stored" "$(entries "$DATA" records)" "$n"
st=$("$AGENT" status "${CONF[@]}")
expect_contains "status queued 0" "$st" "queued          0"
expect_contains "status reachability" "$st" "collector       reachable (answered in"

# resubmit: duplicates, nothing stored twice, nothing queued
"$AGENT" submit "${CONF[@]}" "$TMP/leeds.jsonl" 2>"$TMP/err"
expect_contains "resubmit: all duplicates" "$(cat "$TMP/err")" "delivered: 0 accepted, $n already there, 0 updated"
expect_eq "resubmit stores nothing new" "$(entries "$DATA" records)" "$n"
expect_contains "collector counted duplicates (outcome counters: the log env)" "$(mdb_dump -p -s counters "$DATA/log")" " duplicates"

# update: a changed case goes as version 2 and replaces
head -n 1 "$TMP/leeds.jsonl" | jq -c '.age = 16' >"$TMP/update.jsonl"
"$AGENT" submit "${CONF[@]}" "$TMP/update.jsonl" 2>"$TMP/err"
expect_contains "update sent as a new version" "$(cat "$TMP/err")" "delivered: 0 accepted, 0 already there, 1 updated"
expect_eq "still one record per case" "$(entries "$DATA" records)" "$n"
expect_contains "the update replaced" "$(mdb_dump -p -s counters "$DATA/log")" " replaced"

# resolve: a record id back to its case reference, here only
rid=$("$AGENT" check --network-key "$TMP/network.key" --agency-id leeds-01 --agency-type school \
    "$TMP/leeds.jsonl" 2>/dev/null | head -n 1 | jq -r .record_id)
expect_eq "resolve" "$("$AGENT" resolve "${CONF[@]}" "$rid")" "$(head -n 1 "$TMP/leeds.jsonl" | jq -r .case_ref)"
set +e
"$AGENT" resolve "${CONF[@]}" 00000000000000000000000000000000 2>/dev/null; rc=$?
set -e
expect_eq "unknown record id" "$rc" "1"

# retract
"$AGENT" retract "${CONF[@]}" "$(head -n 1 "$TMP/leeds.jsonl" | jq -r .case_ref)" 2>"$TMP/err"
expect_eq "retracted" "$(entries "$DATA" records)" "$((n - 1))"

# bad input: errors name file, line and field; the valid lines still go
printf '%s\n' '{"case_ref":"B-1","reported_date":"2026-10-01"}' \
    '{"case_ref":"B-2","reported_date":"2026-10-01","gender":"boy"}' \
    '{"case_ref":"B-3","reported_date":"2026-10-02"}' >"$TMP/bad.jsonl"
set +e
"$AGENT" submit "${CONF[@]}" "$TMP/bad.jsonl" 2>"$TMP/err"; rc=$?
set -e
expect_eq "bad input exit" "$rc" "1"
expect_contains "error names file line field" "$(cat "$TMP/err")" "$TMP/bad.jsonl:2: gender: 'boy' is not one of"
expect_eq "valid lines delivered" "$(entries "$DATA" records)" "$((n + 1))"

# collector unreachable: exit 3, records stay queued; then delivered once
stop_collector
printf '%s\n' '{"case_ref":"U-1","reported_date":"2026-10-03"}' '{"case_ref":"U-2","reported_date":"2026-10-03"}' >"$TMP/later.jsonl"
sed -i 's/^\[agent\]/[agent]\ntimeout_ms = 300\nattempts = 2/' "$TMP/leeds/agent.conf"
set +e
"$AGENT" submit "${CONF[@]}" "$TMP/later.jsonl" 2>"$TMP/err"; rc=$?
set -e
expect_eq "unreachable exit" "$rc" "3"
set +e
st=$("$AGENT" status "${CONF[@]}" 2>"$TMP/err"); rc=$?
set -e
expect_eq "status exit when unreachable" "$rc" "3"
expect_contains "queued while away" "$st" "queued          2"
expect_contains "status says unreachable" "$st" "collector       not answering at $INGEST"
start_collector "$DATA"
"$AGENT" submit "${CONF[@]}" 2>"$TMP/err"
expect_eq "delivered after restart" "$(entries "$DATA" records)" "$((n + 3))"
expect_contains "queue empty" "$("$AGENT" status "${CONF[@]}")" "queued          0"

# kill -9 the collector in the middle of a large submit: all arrive once
sed -i 's/^timeout_ms = 300/timeout_ms = 2000/; s/^attempts = 2/attempts = 50\nmax_batch = 5/' "$TMP/leeds/agent.conf"
for i in $(seq 1 2000); do
    printf '{"case_ref":"K-%d","reported_date":"2026-10-04","identifiers":[{"kind":"phone","value":"+4477009%05d"}]}\n' "$i" "$i"
done >"$TMP/large.jsonl"
tokens_before=$(entries "$DATA" by_token)
"$AGENT" submit "${CONF[@]}" "$TMP/large.jsonl" 2>"$TMP/err" &
SUB=$!
kills_during=0
for _ in 1 2 3; do
    sleep 0.15
    kill -0 "$SUB" 2>/dev/null && kills_during=$((kills_during + 1))
    kill -9 "$COLLECTOR_PID" 2>/dev/null || true
    wait "$COLLECTOR_PID" 2>/dev/null || true
    start_collector "$DATA"
done
wait "$SUB"
expect_eq "the collector was killed during the submit" "$kills_during" "3"
expect_eq "large submit exactly once" "$(entries "$DATA" records)" "$((n + 3 + 2000))"
expect_eq "token entries exactly once" "$(entries "$DATA" by_token)" "$((tokens_before + 2000))"
finish
