#!/usr/bin/env bash
# The collector under systemd, as its Type=notify unit runs it: sd_notify
# READY=1 (with the endpoints) once its sockets are bound, watchdog pings
# from the loop, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 on SIGTERM;
# and its log lines: with a priority prefix and no time when stderr is the
# journal's stream (JOURNAL_STREAM), with an ISO-8601 UTC time otherwise;
# key events (peer refused, batch refused) with their key=value fields.
# A Python datagram socket stands in for systemd's notification socket.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
NOTIFY="$TMP/notify.sock"
LISTENER=""
trap 'stop_collector; [ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null; rm -rf "$TMP"' EXIT

python3 - "$NOTIFY" "$TMP/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", "|") + "\n")
PY
LISTENER=$!
for _ in $(seq 100); do [ -S "$NOTIFY" ] && break; sleep 0.05; done
: >"$TMP/notify.log"

# notify_wait PATTERN: until a notification matches (5 s at most)
notify_wait() {
    for _ in $(seq 100); do
        grep -q -- "$1" "$TMP/notify.log" && return 0
        sleep 0.05
    done
    return 1
}

# stderr is "the journal": JOURNAL_STREAM names its device and inode
: >"$TMP/collector.log"
export NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=400000
JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/collector.log")
export JOURNAL_STREAM
start_collector "$DATA"
notify_wait "READY=1" && PASSES=$((PASSES + 1)) || { echo "FAIL: no READY=1" >&2; FAILS=$((FAILS + 1)); }
expect_eq "READY=1 first, with the endpoints" "$(head -n 1 "$TMP/notify.log")" \
    "READY=1|STATUS=listening: ingest $INGEST, query $QUERY, alerts $ALERTS; 0 clients"
sleep 1.2
pings=$(grep -c '^WATCHDOG=1$' "$TMP/notify.log" || true)
# WatchdogSec 0.4 s: a ping every 0.1 s at most, from a loop that wakes every 0.5 s at least
if [ "$pings" -ge 3 ] && [ "$pings" -le 20 ]; then PASSES=$((PASSES + 1)); else
    echo "FAIL: $pings watchdog pings in 1.2 s (want 3 to 20)" >&2
    FAILS=$((FAILS + 1)); fi

# an analyst listed (the reload), a stranger not: key events carry their fields
EX="$TSR_SOURCE_DIR/schemas/examples/incidents.jsonl"
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
for k in analyst stranger; do "$CLI" keygen --curve "$TMP/$k" >/dev/null; done
pub() { grep -v '^#' "$TMP/$1.pub"; }
echo "$(pub analyst) analyst yh-analyst-1 E12000003" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
notify_wait "RELOADING=1" && PASSES=$((PASSES + 1)) || { echo "FAIL: no RELOADING=1" >&2; FAILS=$((FAILS + 1)); }
expect_eq "reload: RELOADING=1 then READY=1" \
    "$(grep -v '^WATCHDOG=1$' "$TMP/notify.log" | tail -n 2 | tr '\n' ' ')" "RELOADING=1 READY=1 "

submit() { "$TESTCLIENT" submit "$INGEST" "$DATA/collector.pub" "$TMP/$1.key" "$TMP/network.key" "$2" 1 "$EX"; }
set +e
submit stranger x >/dev/null 2>&1
rc=$?
set -e
expect_eq "stranger: no reply" "$rc" "3"
expect_eq "analyst: DENIED" "$(field status "$(submit analyst yh-analyst-1)")" "3"
# a reload that fails is logged as an error (the tests log warnings and up)
echo "not a client line" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
for _ in $(seq 100); do grep -q "keeping the previous" "$TMP/collector.log" && break; sleep 0.05; done
kill -TERM "$COLLECTOR_PID"
set +e
wait "$COLLECTOR_PID"
rc=$?
set -e
COLLECTOR_PID=""
expect_eq "clean stop" "$rc" "0"
# the listener writes what it received on its own time: under load it may
# log STOPPING=1 after the collector has already exited
notify_wait "STOPPING=1" || true
expect_eq "STOPPING=1 last" "$(grep -v '^WATCHDOG=1$' "$TMP/notify.log" | tail -n 1)" "STOPPING=1"

# the journal's lines: a priority prefix, no time
log=$(cat "$TMP/collector.log")
expect_contains "journal: error line with its priority, no time" "$log" \
    "<3>error collector: SIGHUP: keeping the previous client list: $DATA/authorized_clients:5:"
expect_contains "journal: peer refused, with fields" "$log" \
    "<4>warn zap: denied unlisted key $(pub stranger) from 127.0.0.1: it is not in authorized_clients (add its line there, then send the collector SIGHUP: a line added without one is not in force) event=peer_refused reason=unlisted peer=127.0.0.1 key=$(pub stranger)"
expect_contains "journal: batch refused, with fields" "$log" \
    "<4>warn ingest: yh-analyst-1 (analyst) may not submit event=batch_rejected status=denied id=yh-analyst-1"
expect_eq "journal: every line has a priority prefix" "$(grep -cv '^<[3467]>' <<<"$log" || true)" "0"

# elsewhere (stderr to a file, JOURNAL_STREAM inherited but not that file's;
# no notification socket): an ISO-8601 UTC time, nothing to notify
unset NOTIFY_SOCKET WATCHDOG_USEC
: >"$TMP/notify.log"
mv "$TMP/collector.log" "$TMP/journal.log"
sed -i '$d' "$DATA/authorized_clients"
start_collector "$DATA"
echo "not a client line" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
for _ in $(seq 100); do grep -q "keeping the previous" "$TMP/collector.log" && break; sleep 0.05; done
stop_collector
first=$(grep -m 1 "keeping the previous client list" "$TMP/collector.log")
if [[ "$first" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\ error\ collector:\ SIGHUP:\ keeping\ the\ previous\ client\ list ]]; then
    PASSES=$((PASSES + 1))
else
    echo "FAIL: not a timestamped line: [$first]" >&2
    FAILS=$((FAILS + 1))
fi
expect_eq "no notifications without NOTIFY_SOCKET" "$(wc -l <"$TMP/notify.log")" "0"
finish
