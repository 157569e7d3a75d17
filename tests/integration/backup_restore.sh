#!/usr/bin/env bash
# Backup and restore (issue 18): a backup made while an agent streams
# batches, restored into a new directory, served by a collector started
# there. Every record acknowledged before the backup began is present (and
# nothing twice); the alert sequence goes on from the backup's last, with no
# number used twice. Restore refuses a live store and a directory holding
# one. The agent's outbox has the same pair.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
KEY_ID=$("$AGENT" keygen --network-key "$TMP/network.key" | sed -n 's/.*(key id \([0-9]*\))$/\1/p')
export TSR_TEST_KEY_ID="$KEY_ID" # the stream's records are under the agents' key
start_collector "$DATA"
agency leeds-school school E08000035
agency bradford-school school E08000032
staff liaison admin
"$CLI" keygen --curve "$TMP/stream" >/dev/null
echo "$(grep -v '^#' "$TMP/stream.pub") agent leeds-cs-01 E08000035" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
Q=(--collector "$QUERY" --server-key "$DATA/collector.pub")
alert_seqs() { "$CLI" alerts "${Q[@]}" --key "$TMP/liaison.key" --since 0 --format json --state "$TMP/scratch.seq" | jq -r .seq | tr '\n' ' '; }

# alert 1 before the backup: one phone number in two areas
case_line L-1 1 E08000035 '[{"kind":"phone","value":"07700 900123"}]' >"$TMP/l1.jsonl"
case_line B-1 2 E08000032 '[{"kind":"phone","value":"+44 7700 900123"}]' >"$TMP/b1.jsonl"
submit_as leeds-school "$TMP/l1.jsonl"
submit_as bradford-school "$TMP/b1.jsonl"
expect_eq "one alert before the backup" "$(alert_seqs)" "1 "

# a stream of one-record batches; once 50 are acknowledged, the backup
COUNT=1500
"$TESTCLIENT" stream "$INGEST" "$DATA/collector.pub" "$TMP/stream.key" leeds-cs-01 1 "$COUNT" "$TMP/acked" &
STREAM=$!
for _ in $(seq 300); do
    [ -f "$TMP/acked" ] && [ "$(wc -l <"$TMP/acked")" -ge 50 ] && break
    sleep 0.1
done
cp "$TMP/acked" "$TMP/acked.before" # each line is written (fsync'd) once its Ack came
"$COLLECTOR" backup "${ALLOW_ROOT[@]}" --config "$TMP/collector.conf" "$TMP/backup" >"$TMP/backup.out"
expect_eq "the backup was made during ingest" "$(kill -0 "$STREAM" 2>/dev/null && echo streaming)" "streaming"
cat "$TMP/backup.out"
expect_contains "backup says what it holds" "$(cat "$TMP/backup.out")" "backup $TMP/backup: store format 3, "
wait "$STREAM"
stop_collector

M="$TMP/backup/manifest.json"
expect_eq "manifest: program" "$(jq -r .program "$M")" "tessera-collector"
expect_eq "manifest: store format" "$(jq -r .store_format "$M")" "3"
expect_eq "manifest: last alert" "$(jq -r .last_alert_seq "$M")" "1"
expect_eq "manifest: environments and files" "$(jq -c '[.environments, .files]' "$M")" \
    '[["db","log","audit"],["collector.key","collector.pub","authorized_clients"]]'
expect_eq "manifest: time" "$(jq -r '.created | test("^20[0-9-]{8}T[0-9:]{8}Z$")' "$M")" "true"
expect_eq "backup directory 0700" "$(stat -c %a "$TMP/backup")" "700"
expect_eq "copied key 0600" "$(stat -c %a "$TMP/backup/collector.key")" "600"
held=$(($(jq -r '.records + .ingest_log_waiting' "$M") - 2)) # the stream's records in the copy
acked_before=$(awk '{ n += $2 } END { print n + 0 }' "$TMP/acked.before")
echo "acknowledged before the backup began: $acked_before; the stream's records in the backup: $held"
expect_eq "every record acknowledged before the backup is in it" "$([ "$held" -ge "$acked_before" ] && [ "$acked_before" -ge 50 ] && echo yes)" "yes"
expect_eq "the backup is not the end of the stream" "$([ "$held" -lt "$COUNT" ] && echo yes)" "yes"

# restore refuses a live store, then one that is only there
start_collector "$DATA"
rc=0; out=$("$COLLECTOR" restore "${ALLOW_ROOT[@]}" --data "$DATA" "$TMP/backup" 2>&1) || rc=$?
expect_eq "restore over a live store: exit" "$rc" "1"
expect_contains "names the live store and its process" "$out" \
    "tessera-collector restore: $DATA/db/data.mdb: a live store: process $COLLECTOR_PID has it open. Stop the service first; nothing was changed"
stop_collector
rc=0; out=$("$COLLECTOR" restore "${ALLOW_ROOT[@]}" --data "$DATA" "$TMP/backup" 2>&1) || rc=$?
expect_eq "restore over a stopped store: exit" "$rc" "1"
expect_contains "refuses to overwrite it" "$out" "$DATA/db/data.mdb: a store is already here; restore never overwrites one"
rc=0; out=$("$COLLECTOR" backup "${ALLOW_ROOT[@]}" --data "$DATA" "$TMP/backup" 2>&1) || rc=$?
expect_eq "backup into a used directory: exit" "$rc" "1"
expect_contains "never over an older backup" "$out" "$TMP/backup: exists and is not an empty directory"

# restore into a new directory; a collector serves it
NEW="$TMP/new"
out=$("$COLLECTOR" restore "${ALLOW_ROOT[@]}" --data "$NEW" "$TMP/backup")
expect_contains "restore says what it did" "$out" "restored $TMP/backup into $NEW: "
expect_contains "and what comes next" "$out" "Start the collector; the next alert is 2"
expect_eq "the server key came back" "$(cmp "$NEW/collector.key" "$DATA/collector.key" && echo same)" "same"
# the audit log came back (the liaison's alert queries before the backup)
audited=$(mdb_stat -s audit "$TMP/backup/audit" | awk '/Entries:/ { print $2 }')
expect_eq "the backup holds the audit log" "$([ "${audited:-0}" -ge 1 ] && echo yes)" "yes"
expect_eq "the audit log came back" "$(db_entries "$NEW" audit)" "$audited"
# a backup that lost an environment its manifest lists is refused whole
cp -a "$TMP/backup" "$TMP/backup-noaudit"
rm -rf "$TMP/backup-noaudit/audit"
rc=0; out=$("$COLLECTOR" restore "${ALLOW_ROOT[@]}" --data "$TMP/new3" "$TMP/backup-noaudit" 2>&1) || rc=$?
expect_eq "restore without the audit log: exit" "$rc" "1"
expect_contains "names what is missing" "$out" \
    "$TMP/backup-noaudit/audit: missing, though manifest.json lists it (the audit log): the backup is incomplete; nothing was restored"
expect_eq "and restored nothing" "$(ls "$TMP/new3" 2>/dev/null | wc -l)" "0"
start_collector "$NEW"
case_line Y-1 3 E08000032 '[{"kind":"phone","value":"0044 7700 900123"}]' >"$TMP/y1.jsonl"
submit_as bradford-school "$TMP/y1.jsonl"
expect_eq "the alert sequence goes on without reuse" "$(alert_seqs)" "1 2 "
st=$("$CLI" stats "${Q[@]}" --key "$TMP/admin.key" --format csv)
expect_contains "linkage alerts counted" "$st" "alerts:linkage,2"
stop_collector
{
    echo "leeds-school 1 case:L-1"
    echo "bradford-school 1 case:B-1"
    echo "bradford-school 1 case:Y-1"
    echo "leeds-cs-01 1 stream:1:$held"
} >"$TMP/expected"
"$TESTCLIENT" check "$NEW" "$TMP/network.key" "$TMP/expected" >"$TMP/check.out" || { cat "$TMP/check.out"; false; }
expect_contains "the restored store holds each record once" "$(cat "$TMP/check.out")" "check: "

# the old collector went on alerting after the backup (to 10, say): a
# restore told so numbers new alerts after it, never reusing one a liaison saw
rc=0
"$COLLECTOR" restore "${ALLOW_ROOT[@]}" --data "$TMP/new2" --alerts-after ten "$TMP/backup" 2>/dev/null || rc=$?
expect_eq "--alerts-after takes a number" "$rc" "2"
out=$("$COLLECTOR" restore "${ALLOW_ROOT[@]}" --data "$TMP/new2" --alerts-after 10 "$TMP/backup")
expect_contains "restore --alerts-after" "$out" "last alert 1 (made "
expect_contains "the next alert after it" "$out" "Start the collector; the next alert is 11"
start_collector "$TMP/new2"
submit_as bradford-school "$TMP/y1.jsonl"
expect_eq "the next alert is 11" "$(alert_seqs)" "1 11 "
stop_collector

# the agent's outbox: queued records survive a backup and restore
AG="$TMP/leeds-school/agent.conf"
case_line L-2 4 E08000035 '[]' >"$TMP/l2.jsonl"
"$AGENT" submit "${ALLOW_ROOT[@]}" --config "$AG" "$TMP/l2.jsonl" >/dev/null 2>&1 || true # nothing listens: queued
out=$("$AGENT" backup "${ALLOW_ROOT[@]}" --config "$AG" "$TMP/outbox-backup")
expect_eq "agent backup" "$out" "backup $TMP/outbox-backup: outbox of leeds-school, 1 queued, 0 rejections"
expect_eq "agent manifest" "$(jq -c '[.program, .agency_id, .queued]' "$TMP/outbox-backup/manifest.json")" \
    '["tessera-agent","leeds-school",1]'
rc=0; out=$("$AGENT" restore "${ALLOW_ROOT[@]}" --config "$AG" "$TMP/outbox-backup" 2>&1) || rc=$?
expect_eq "agent restore over an outbox: exit" "$rc" "1"
expect_contains "agent restore refuses" "$out" "data.mdb: a store is already here"
DDIR=$(dirname "$AG")/data
mv "$DDIR" "$TMP/old-outbox"
mkdir -m 0700 "$DDIR"
out=$("$AGENT" restore "${ALLOW_ROOT[@]}" --config "$AG" "$TMP/outbox-backup")
expect_contains "agent restore" "$out" "restored the outbox of leeds-school from $TMP/outbox-backup: 1 queued, 0 rejections"
out=$("$AGENT" restore "${ALLOW_ROOT[@]}" --config "$TMP/bradford-school/agent.conf" "$TMP/outbox-backup" 2>&1) || true
expect_contains "another agency's outbox is refused" "$out" "agency_id: this is the outbox of leeds-school"
finish
