#!/usr/bin/env bash
# tessera-agent run: files dropped into the inbox are delivered once, also
# across a collector outage; SIGTERM stops it cleanly.
source "$(dirname "$0")/lib.sh"
AGENT="$TSR_BUILD_DIR/agent/tessera-agent"
DATA="$TMP/data"
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
start_collector "$DATA"
"$AGENT" init "${ALLOW_ROOT[@]}" --dir "$TMP/a" --agency-id york-01 --agency-type school --area E06000014 \
    --network-key "$TMP/network.key" --server-key "$DATA/collector.pub" --collector "$INGEST" |
    tail -n 1 >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
sed -i 's/^\[agent\]/[agent]\ninterval_s = 1\ntimeout_ms = 500\nattempts = 2/' "$TMP/a/agent.conf"
"$AGENT" run "${ALLOW_ROOT[@]}" --config "$TMP/a/agent.conf" 2>"$TMP/run.log" &
RUN=$!
# a failure below must not leave the daemon holding ctest's output open
trap 'kill "$RUN" 2>/dev/null || true; stop_collector; rm -rf "$TMP"' EXIT

# wait_records N: until the collector holds N records (10 s at most)
wait_records() {
    for _ in $(seq 100); do
        [ "$(entries "$DATA" records 2>/dev/null)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
drop() { # drop NAME FIRST COUNT: an export written under a hidden name, then renamed
    for i in $(seq "$2" $(($2 + $3 - 1))); do
        printf '{"case_ref":"Y-%d","reported_date":"2026-10-01"}\n' "$i"
    done >"$TMP/a/inbox/.$1"
    mv "$TMP/a/inbox/.$1" "$TMP/a/inbox/$1"
}
# until it watches the inbox it creates (a sanitizer build under load may
# take longer than a fixed wait)
for _ in $(seq 100); do grep -q "watching" "$TMP/run.log" 2>/dev/null && break; sleep 0.1; done
drop first.jsonl 1 5
wait_records 5 && PASSES=$((PASSES + 1)) || { echo "FAIL: first file not delivered"; FAILS=$((FAILS + 1)); }
sleep 2.5 # the same file, seen again, is not queued again
expect_contains "nothing queued" "$("$AGENT" status "${ALLOW_ROOT[@]}" --config "$TMP/a/agent.conf")" "queued          0"

stop_collector
drop second.jsonl 6 3
sleep 3
expect_contains "queued while the collector is away" "$("$AGENT" status "${ALLOW_ROOT[@]}" --config "$TMP/a/agent.conf")" "queued          3"
start_collector "$DATA"
wait_records 8 && PASSES=$((PASSES + 1)) || { echo "FAIL: second file not delivered after restart"; FAILS=$((FAILS + 1)); }
expect_eq "each record once" "$(entries "$DATA" records)" "8"
kill -TERM "$RUN"
set +e
wait "$RUN"; rc=$?
set -e
expect_eq "run exits cleanly on SIGTERM" "$rc" "0"
expect_contains "says it stops" "$(cat "$TMP/run.log")" "tessera-agent run: stopping"
finish
