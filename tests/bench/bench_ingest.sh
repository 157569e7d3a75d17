#!/usr/bin/env bash
# Ingest benchmark (label bench): the raw-LMDB baseline, then the collector
# end to end over CURVE on loopback, for batch sizes 1..1000 with 1 agent and
# 1..100 with 8, then Ack latency at 1,000 records/s offered. Prints its
# figures. BENCH_INGEST_RECORDS records per run at batch 10 and up (default
# 100,000), each run on a new environment: enough that the figures are
# sustained rates, with the indexes grown past the few pages a short run
# dirties and the collector's log applied many times over (batch 1: 1,000
# records, 2,000 for 8 agents). BENCH_INGEST_TABLE=1: only the runs of
# issue 17's table (batch 1, 10, 100, 1000 with 1 agent, 100 with 8; no
# paced run), for bench_table.sh.
source "$(dirname "$0")/../integration/lib.sh"
BENCH="$TSR_BUILD_DIR/tests/bench/bench_ingest"
DATA="$TMP/data"
N="${BENCH_INGEST_RECORDS:-100000}"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
"$BENCH" raw "$TMP" "$N"
start_collector "$DATA"
: >"$DATA/authorized_clients"
for i in $(seq 0 7); do
    "$CLI" keygen --curve "$TMP/agent-$i" >/dev/null
    echo "$(grep -v '^#' "$TMP/agent-$i.pub") agent bench-$i E08000035" >>"$DATA/authorized_clients"
done
kill -HUP "$COLLECTOR_PID"
sleep 0.5
# e2e AGENTS BATCH TOTAL: one end-to-end run (rec/s = Acks), then the rate
# counting until the collector had applied its whole ingest log too (from
# before the run started, so it includes the agents' start-up).
e2e() {
    local t0 t1
    t0=$(date +%s.%N)
    "$BENCH" e2e "$INGEST" "$DATA/collector.pub" "$TMP" "$@"
    until [ "$(db_entries "$DATA" ingest_log)" = 0 ]; do
        sleep 0.005
    done
    t1=$(date +%s.%N)
    awk -v t0="$t0" -v t1="$t1" -v n="$3" 'BEGIN {
        printf "       ... and applied: %.0f rec/s (%.2f s until the ingest log was empty)\n", n / (t1 - t0), t1 - t0 }'
}
for b in 1 10 100 1000; do
    total=$([ "$b" = 1 ] && echo 1000 || echo "$N")
    e2e 1 "$b" "$total"
    # fresh ids per run: restart on a new environment so every record is new
    stop_collector; rm -rf "$DATA/db" "$DATA/log"; start_collector "$DATA"
done
EIGHT="1 10 100"
[ "${BENCH_INGEST_TABLE:-0}" = 1 ] && EIGHT=100
for b in $EIGHT; do
    total=$([ "$b" = 1 ] && echo 2000 || echo "$N")
    e2e 8 "$b" "$total"
    stop_collector; rm -rf "$DATA/db" "$DATA/log"; start_collector "$DATA"
done
[ "${BENCH_INGEST_TABLE:-0}" = 1 ] || "$BENCH" paced "$INGEST" "$DATA/collector.pub" "$TMP" 1000 10
