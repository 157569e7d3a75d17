#!/usr/bin/env bash
# A damaged audit entry is never hidden (issue 15): `tessera audit` fails,
# naming the entry and what is wrong, and lists nothing rather than a log
# that looks whole without it; the collector's start-up walk of the audit
# log (the daily budget) names it in its log and starts all the same.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
start_collector "$DATA"
staff admin
kill -HUP "$COLLECTOR_PID"
sleep 0.3
AD=(--collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/admin.key")
"$CLI" stats "${AD[@]}" >/dev/null
"$CLI" stats "${AD[@]}" >/dev/null
aud=$("$CLI" audit "${AD[@]}" --format csv)
expect_eq "both queries listed" "$(grep -c ',admin-1,admin,"stats -> ok",' <<<"$aud")" "2"

# entry 1 becomes seven bytes of garbage behind the collector's back
# (mdb_load -T: a key line and a value line, \XX for a byte)
stop_collector
printf '\\00\\00\\00\\00\\00\\00\\00\\01\ngarbage\n' | mdb_load -T -s audit "$DATA/audit"
WHY="entry 1 cannot be read: its 7 bytes end inside its fields (the audit log is damaged: docs/STORAGE.md, Errors)"
start_collector "$DATA"
expect_contains "the start-up walk names it" "$(cat "$TMP/collector.log")" \
    "error audit: $WHY; left out of this walk"
set +e
"$CLI" audit "${AD[@]}" >"$TMP/out" 2>"$TMP/err"
rc=$?
set -e
expect_eq "tessera audit fails" "$rc" "1"
expect_eq "naming the entry and why" "$(cat "$TMP/err")" "tessera audit: audit: $WHY"
expect_eq "and lists nothing" "$(cat "$TMP/out")" ""
# the refused listing is itself audited (appended after the damaged entry)
expect_eq "audit entries" "$(db_entries "$DATA" audit)" "4"
finish
