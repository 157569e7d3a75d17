#!/usr/bin/env bash
# The agent's half of issue 16 ("mistakes are loud"): one process per
# agency directory; records past the collector's retention refused at
# check/submit time; `run` moves each file to done/ or failed/ (with its
# errors); a full outbox loses nothing; input errors capped with a summary;
# JSON errors on the right line and column. Each asserts the message, the
# exit code, and that nothing queued or acknowledged is lost or sent twice.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
# lines PREFIX FIRST COUNT [DAY]: JSONL cases PREFIX-FIRST.. reported on DAY
lines() {
    local i
    for i in $(seq "$2" $(($2 + $3 - 1))); do
        printf '{"case_ref":"%s-%d","reported_date":"%s","identifiers":[{"kind":"phone","value":"+4477009%05d"}]}\n' \
            "$1" "$i" "${4:-2026-10-01}" "$i"
    done
}
queued() { # queued AGENCY: the outbox depth its status reports (the collector up or not)
    { "$AGENT" status "${ALLOW_ROOT[@]}" --config "$TMP/$1/agent.conf" 2>/dev/null || true; } |
        sed -n 's/^queued *\([0-9]*\)$/\1/p'
}

EXTRA_CONF=$'\n[retention]\nmonths = 12'
start_collector "$DATA"
staff admin
agency a-01 school E06000014
agency full-01 school E06000014
kill -HUP "$COLLECTOR_PID"
sleep 0.3
A=(--config "$TMP/a-01/agent.conf")

# --- one agent process per directory ------------------------------------------
sed -i 's/^\[agent\]/[agent]\ninterval_s = 1/' "$TMP/a-01/agent.conf"
mkdir -p "$TMP/a-01/inbox"
"$AGENT" run "${ALLOW_ROOT[@]}" "${A[@]}" 2>"$TMP/run.log" &
RUN=$!
trap 'kill "$RUN" 2>/dev/null || true; stop_collector; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do grep -q "watching" "$TMP/run.log" 2>/dev/null && break; sleep 0.1; done
lines L 1 2 >"$TMP/l.jsonl"
T0=$(date +%s)
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${A[@]}" "$TMP/l.jsonl"
T1=$(date +%s)
expect_eq "second process: exit 8" "$rc" "8"
expect_eq "second process: names the PID and what to do" "$(cat "$TMP/err")" \
    "tessera-agent: tessera-agent process $RUN is using the agency directory $TMP/a-01 (it holds $TMP/a-01/agent.lock); waited 2 s. One process per directory: let it finish, or stop it (a 'tessera-agent run' daemon delivers what is queued itself), then run this again. Nothing was queued or sent."
expect_eq "it waited briefly" "$(((T1 - T0) >= 2 && (T1 - T0) <= 5))" "1"
run_rc rc "$AGENT" init "${ALLOW_ROOT[@]}" --dir "$TMP/a-01" --agency-id a-01 --agency-type school --area E06000014 \
    --area E06000014 --network-key "$TMP/network.key" --server-key "$DATA/collector.pub" --collector "$INGEST"
expect_eq "init on a directory in use: exit 8" "$rc" "8"
expect_contains "init: names the PID" "$(cat "$TMP/err")" "tessera-agent process $RUN is using the agency directory $TMP/a-01"
expect_eq "nothing was queued by either" "$(counter records)" "0"
run_rc rc "$AGENT" status "${ALLOW_ROOT[@]}" "${A[@]}"
expect_eq "status only reads: not locked out" "$rc" "0"

# --- run: done/ and failed/, no file deleted ----------------------------------
lines G 1 3 >"$TMP/a-01/inbox/.good.jsonl"
mv "$TMP/a-01/inbox/.good.jsonl" "$TMP/a-01/inbox/good.jsonl"
{
    lines B 1 1
    echo '{"case_ref":"B-2","reported_date":"2026-13-01"}'
    lines B 3 1
} >"$TMP/a-01/inbox/.bad.jsonl"
mv "$TMP/a-01/inbox/.bad.jsonl" "$TMP/a-01/inbox/bad.jsonl"
for _ in $(seq 100); do [ -e "$TMP/a-01/inbox/failed/bad.jsonl" ] && [ -e "$TMP/a-01/inbox/done/good.jsonl" ] && break; sleep 0.1; done
expect_eq "inbox: only done/ and failed/ left" "$(cd "$TMP/a-01/inbox" && find . -type f | sort | tr '\n' ' ')" \
    "./done/good.jsonl ./failed/bad.jsonl ./failed/bad.jsonl.errors "
expect_eq "failed/FILE.errors: the invalid record, file:line" "$(cat "$TMP/a-01/inbox/failed/bad.jsonl.errors")" \
    "$TMP/a-01/inbox/bad.jsonl:2: reported_date: '2026-13-01' is not a real date written YYYY-MM-DD"
expect_eq "moved files are whole" "$(wc -l <"$TMP/a-01/inbox/done/good.jsonl")/$(wc -l <"$TMP/a-01/inbox/failed/bad.jsonl")" "3/3"
expect_contains "run's log: done" "$(cat "$TMP/run.log")" "tessera-agent run: good.jsonl: done (3 queued, 0 already waiting); moved to $TMP/a-01/inbox/done/good.jsonl"
expect_contains "run's log: failed" "$(cat "$TMP/run.log")" "tessera-agent run: bad.jsonl: 1 invalid record(s), 2 queued; moved to $TMP/a-01/inbox/failed/bad.jsonl, the errors in $TMP/a-01/inbox/failed/bad.jsonl.errors"
for _ in $(seq 100); do [ "$(counter records)" = 5 ] && break; sleep 0.1; done
expect_eq "the valid records of both went" "$(counter records)" "5"
# the same export dropped again: not overwritten, and nothing sent twice
lines G 1 3 >"$TMP/a-01/inbox/.good.jsonl"
mv "$TMP/a-01/inbox/.good.jsonl" "$TMP/a-01/inbox/good.jsonl"
for _ in $(seq 100); do [ -e "$TMP/a-01/inbox/done/good.2.jsonl" ] && break; sleep 0.1; done
expect_eq "same name again: beside the first" "$(ls "$TMP/a-01/inbox/done" | tr '\n' ' ')" "good.2.jsonl good.jsonl "
sleep 1.5
expect_eq "no record twice" "$(counter records)/$(counter agency:a-01)" "5/5"
kill -TERM "$RUN"
wait "$RUN" || true

# --- the collector's retention ------------------------------------------------
run_rc rc "$AGENT" status "${ALLOW_ROOT[@]}" "${A[@]}"
CUT=$(sed -n 's/^retention *12 months (records reported from \([0-9-]*\) on; the collector.s)$/\1/p' "$TMP/out")
expect_eq "status: the collector's retention" "$rc/$(date -u -d "$CUT + 12 months" +%Y-%m)" "0/$(date -u +%Y-%m)"
OLD=$(date -u -d "$CUT - 1 month" +%F)
{
    lines R 1 1
    lines R 2 1 "$OLD"
} >"$TMP/r.jsonl"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${A[@]}" "$TMP/r.jsonl"
PAST="$TMP/r.jsonl:2: reported_date: $OLD is before the collector's retention period (12 months: from $CUT); it would be refused there. Leave it out of the export"
expect_eq "submit: past retention refused here, exit 1" "$rc" "1"
expect_contains "submit: file:line and why" "$(cat "$TMP/err")" "$PAST"
expect_eq "only the valid record went" "$(counter agency:a-01)/$(counter rejected:past_retention)" "6/0"
run_rc rc "$AGENT" check --network-key "$TMP/network.key" --agency-id a-01 --agency-type school --area E06000014 \
    --retention-months 12 "$TMP/r.jsonl"
expect_eq "check: the same refusal" "$rc/$(head -n 1 "$TMP/err")/$(wc -l <"$TMP/out")" "1/$PAST/1"
# offline, the agent goes by what the collector said last (24 here), so a
# record it queues may be past the collector's 12 by the time it arrives:
# the collector counts it under its own reason
stop_collector
EXTRA_CONF=$'\n[retention]\nmonths = 24'
start_collector "$DATA"
run_rc rc "$AGENT" status "${ALLOW_ROOT[@]}" "${A[@]}"
expect_contains "status: learns 24" "$(cat "$TMP/out")" "retention       24 months"
stop_collector
lines R 2 1 "$OLD" >"$TMP/r2.jsonl"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${A[@]}" "$TMP/r2.jsonl"
expect_eq "offline: queued under the retention last heard (exit 3)" "$rc/$(queued a-01)" "3/1"
expect_contains "offline status: says where the figure comes from" \
    "$("$AGENT" status "${ALLOW_ROOT[@]}" "${A[@]}" 2>/dev/null)" \
    "retention       24 months (records reported from $(date -u -d "$CUT - 12 months" +%F) on; the collector's as last heard, or [collector] retention_months)"
EXTRA_CONF=$'\n[retention]\nmonths = 12'
start_collector "$DATA"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${A[@]}"
expect_eq "collector: rejected, exit 1" "$rc/$(queued a-01)" "1/0"
expect_contains "collector: the reason" "$(cat "$TMP/err")" "rejected: reported_day: before the retention period (12 months)"
expect_eq "counted as past_retention, not invalid_field" \
    "$(counter rejected:past_retention)/$(counter rejected:invalid_field)/$(counter agency:a-01)" "1/0/6"
run_rc rc "$AGENT" status "${ALLOW_ROOT[@]}" "${A[@]}" --rejections
expect_eq "status --rejections: ISO 8601 times" \
    "$(grep -cP '^  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\tR-2\t[0-9a-f]{32}\treported_day: before the retention period \(12 months\)$' "$TMP/out")" "1"

# --- a full outbox loses nothing ----------------------------------------------
F=(--config "$TMP/full-01/agent.conf")
echo "outbox_max_mib = 1" >>"$TMP/full-01/agent.conf"
lines F 1 4000 >"$TMP/f.jsonl"
stop_collector
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${F[@]}" "$TMP/f.jsonl"
K=$(queued full-01)
expect_eq "outbox full: exit 1" "$rc" "1"
expect_contains "outbox full: says where and what to do" "$(cat "$TMP/err")" \
    "$TMP/f.jsonl:$((K + 1)): could not queue the records from this line on (the outbox is full at 1 MiB: let it deliver, or raise $TMP/full-01/agent.conf:$(grep -n outbox_max_mib "$TMP/full-01/agent.conf" | cut -d: -f1) ([agent] outbox_max_mib)); the $K before it are queued."
expect_eq "whole transactions only" "$((K > 0 && K < 4000 && K % 256 == 0))" "1"
sed -i 's/^outbox_max_mib = 1$/outbox_max_mib = 64/' "$TMP/full-01/agent.conf"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${F[@]}" "$TMP/f.jsonl"
expect_eq "submitted again: the rest queued, none twice" "$rc/$(queued full-01)" "3/4000"
expect_contains "says what was waiting" "$(cat "$TMP/err")" "$TMP/f.jsonl: $((4000 - K)) record(s) queued, $K already waiting in the outbox"
start_collector "$DATA"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${F[@]}"
expect_eq "delivered: every record once" "$rc/$(counter agency:full-01)/$(grep -c '^delivered: 4000 accepted, 0 already there' "$TMP/err")" "0/4000/1"

# --- input errors: 100 printed, then a summary; JSON line and column ----------
{
    lines J 1 1
    echo '{"case_ref": "J-2"'
    for i in $(seq 150); do echo "junk $i"; done
} >"$TMP/j.jsonl"
run_rc rc "$AGENT" check --network-key "$TMP/network.key" --agency-id a-01 --agency-type school --area E06000014 "$TMP/j.jsonl"
expect_eq "check: exit 1, 100 errors then the summary" "$rc/$(wc -l <"$TMP/err")" "1/102"
expect_eq "JSON: the file's line and the column in it" "$(head -n 1 "$TMP/err")" \
    "$TMP/j.jsonl:2: (json): column 18: '}' expected at the end of the line"
expect_eq "the summary" "$(tail -n 2 "$TMP/err")" "51 more; see $TMP/j.jsonl.errors
check: 1 valid, 151 invalid records in 1 file"
expect_eq "the full list" "$(wc -l <"$TMP/j.jsonl.errors")/$(tail -n 1 "$TMP/j.jsonl.errors")" \
    "151/$TMP/j.jsonl:152: (json): column 4: '[' or '{' expected near 'junk'"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${A[@]}" "$TMP/j.jsonl"
expect_eq "submit: the same cap" "$rc/$(grep -c '^51 more; see '"$TMP"'/j.jsonl.errors$' "$TMP/err")/$(counter agency:a-01)" "1/1/7"

finish
