#!/usr/bin/env bash
# Forwarding benchmark (issue 19; label bench, not in the default run): a
# regional collector (Yorkshire) with an [upstream] to a national one, and a
# second region (North West), on loopback with real CURVE keys.
#   1. throughput: bench_ingest's synthetic submitter sends N records
#      (BENCH_FEDERATION_RECORDS, default 20,000) in 100-record batches to
#      the regional collector; records/s from the submitter's start (its
#      first Ack follows within milliseconds) until the national store holds
#      all N (mdb_stat on its records database, read-only, polled every 5 ms).
#   2. delay: P pairs (BENCH_FEDERATION_PAIRS, default 200), each a Leeds
#      record already held nationally and a Manchester record with the same
#      phone number, submitted by the agent: from the Manchester agent's Ack
#      (its `submit` returning) to the national linkage alert on the stream
#      (`tessera alerts --follow`), p50 and p99.
#   3. backfill: the regional collector holds N records before it is given
#      an [upstream]: the extra time its first start with one takes, and
#      the time until the national store holds all N.
# Run: nice -n 19 ctest --test-dir build -R bench_federation -V
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=../integration/federation_lib.sh
source "$(dirname "$0")/../integration/federation_lib.sh"
BENCH="$TSR_BUILD_DIR/tests/bench/bench_ingest"
N="${BENCH_FEDERATION_RECORDS:-20000}"
P="${BENCH_FEDERATION_PAIRS:-200}"
LOG_LEVEL=warn
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null

# setup: fresh national, Yorkshire and North West collectors
setup() {
    local n
    for n in nat yh nw; do stop_node "$n"; rm -rf "${TMP:?}/$n"; done
    rm -f "$TMP"/*-relay.* "$TMP"/nat-*.key "$TMP"/nat-*.pub
    start_national
    {
        echo "$(relay_pub yh) relay yh-collector E12000003"
        echo "$(relay_pub nw) relay nw-collector E12000002"
    } >>"$TMP/nat/authorized_clients"
    staff_in nat
    kill -HUP "${PID[nat]}"
    start_node yh
    start_node nw
}
held() { db_entries "$TMP/$1" records 2>/dev/null || echo 0; }

# 1. throughput
setup
"$CLI" keygen --curve "$TMP/agent-0" >/dev/null # bench_ingest's KEYDIR/agent-0.key
echo "$(grep -v '^#' "$TMP/agent-0.pub") agent bench-0 E08000035" >>"$TMP/yh/authorized_clients"
kill -HUP "${PID[yh]}"
sleep 0.5
t0=$(date +%s.%N)
"$BENCH" e2e "$(port yh 0)" "$TMP/yh/collector.pub" "$TMP" 1 100 "$N" | sed 's/^/regional ingest: /'
t1=$(date +%s.%N)
until [ "$(held nat)" -ge "$N" ]; do sleep 0.005; done
t2=$(date +%s.%N)
awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v n="$N" 'BEGIN {
    printf "forwarding: %d records held nationally %.2f s after the first was submitted: %.0f records/s (the last regional Ack at %.2f s)\n", n, t2 - t0, n / (t2 - t0), t1 - t0 }'

# 2. regional Ack to national alert
setup
agency_at yh leeds-school school E08000035
agency_at nw manc-school school E08000003
kill -HUP "${PID[yh]}"
kill -HUP "${PID[nw]}"
sleep 0.5
phone() { printf '07700 %06d' "$1"; }
for i in $(seq "$P"); do
    printf '{"case_ref":"L-%d","reported_date":"%s","area_code":"E08000035","age":14,"gender":"boy_man","contact_platforms":["instagram"],"demands":["money"],"identifiers":[{"kind":"phone","value":"%s"}]}\n' \
        "$i" "$(date -u +%F)" "$(phone "$i")"
done >"$TMP/leeds.jsonl"
submit_as leeds-school "$TMP/leeds.jsonl"
until [ "$(held nat)" -ge "$P" ]; do sleep 0.01; done
# the national stream, each alert line stamped with its arrival (ns)
mkfifo "$TMP/fifo"
while IFS= read -r line; do echo "$(date +%s%N) $line"; done <"$TMP/fifo" >"$TMP/stream" &
STAMP=$!
# shellcheck disable=SC2046
stdbuf -oL "$CLI" alerts $(q nat liaison) --alerts "$(port nat 2)" --follow --since 0 --format json \
    --state "$TMP/stream.seq" >"$TMP/fifo" 2>"$TMP/stream.err" &
STREAM=$!
sleep 1
: >"$TMP/delays"
for i in $(seq "$P"); do
    printf '{"case_ref":"M-%d","reported_date":"%s","area_code":"E08000003","age":15,"gender":"girl_woman","contact_platforms":["snapchat"],"demands":["money"],"identifiers":[{"kind":"phone","value":"%s"}]}\n' \
        "$i" "$(date -u +%F)" "$(phone "$i")" >"$TMP/m.jsonl"
    submit_as manc-school "$TMP/m.jsonl"
    ack=$(date +%s%N)
    for _ in $(seq 2000); do
        [ "$(wc -l <"$TMP/stream")" -ge "$i" ] && break
        sleep 0.002
    done
    at=$(sed -n "${i}p" "$TMP/stream" | cut -d' ' -f1)
    [ -n "$at" ] || { echo "FAIL: no national alert for pair $i" >&2; cat "$TMP/stream.err" >&2; exit 1; }
    echo $(((at - ack) / 1000)) >>"$TMP/delays"
done
kill "$STREAM" 2>/dev/null || true
wait "$STREAM" "$STAMP" 2>/dev/null || true
sort -n "$TMP/delays" | awk -v p="$P" '{ v[NR] = $1 } END {
    i50 = int(0.50 * NR + 0.999); i99 = int(0.99 * NR + 0.999)
    printf "regional Ack to national alert: %d pairs, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", NR, v[i50] / 1000, v[i99] / 1000, v[NR] / 1000 }'

# 3. backfill: Yorkshire held N records before it was given an [upstream]
# (docs/FEDERATION.md, "Backfill"): how much longer its start takes (the
# backfill queues them before it listens), and when the national store
# holds them all
setup
stop_node yh
rm -rf "${TMP:?}/yh"
NO_UPSTREAM=1 start_node yh
echo "$(grep -v '^#' "$TMP/agent-0.pub") agent bench-0 E08000035" >>"$TMP/yh/authorized_clients"
kill -HUP "${PID[yh]}"
sleep 0.5
# batch 100 as in 1 (at 1000 the driver stops at the first RETRY_LATER, the
# collector's back-pressure while the apply catches up; an agent would retry)
"$BENCH" e2e "$(port yh 0)" "$TMP/yh/collector.pub" "$TMP" 1 100 "$N" |
    sed 's/^/regional ingest, no upstream yet: /'

until [ "$(held yh)" -ge "$N" ]; do sleep 0.01; done
stop_node yh
t0=$(date +%s.%N)
NO_UPSTREAM=1 start_node yh
t1=$(date +%s.%N)
stop_node yh
t2=$(date +%s.%N)
LOG_LEVEL=info start_node yh
t3=$(date +%s.%N)
until [ "$(held nat)" -ge "$N" ]; do sleep 0.005; done
t4=$(date +%s.%N)
awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v t4="$t4" -v n="$N" 'BEGIN {
    printf "backfill: %d records; a start without [upstream] %.2f s, the first with one %.2f s (+%.2f s); all held nationally %.2f s after that start began: %.0f records/s\n",
        n, t1 - t0, t3 - t2, (t3 - t2) - (t1 - t0), t4 - t2, n / (t4 - t2) }'
grep -h "upstream backfill: queued" "$TMP/yh.log" | sed 's/^/  /' || true
echo "machine load after: $(cut -d' ' -f1-3 /proc/loadavg)"
