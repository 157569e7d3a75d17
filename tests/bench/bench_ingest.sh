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
source "$(dirname "$0")/ingest_lib.sh"
DATA="$TMP/data"
N="${BENCH_INGEST_RECORDS:-100000}"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
"$BENCH" raw "$TMP" "$N"
start_collector "$DATA"
bench_agents "$DATA"
for b in 1 10 100 1000; do
    total=$([ "$b" = 1 ] && echo 1000 || echo "$N")
    e2e "$DATA" 1 "$b" "$total"
    # fresh ids per run: restart on a new environment so every record is new
    stop_collector; rm -rf "$DATA/db" "$DATA/log"; start_collector "$DATA"
done
EIGHT="1 10 100"
[ "${BENCH_INGEST_TABLE:-0}" = 1 ] && EIGHT=100
for b in $EIGHT; do
    total=$([ "$b" = 1 ] && echo 2000 || echo "$N")
    e2e "$DATA" 8 "$b" "$total"
    stop_collector; rm -rf "$DATA/db" "$DATA/log"; start_collector "$DATA"
done
[ "${BENCH_INGEST_TABLE:-0}" = 1 ] || "$BENCH" paced "$INGEST" "$DATA/collector.pub" "$TMP" 1000 10
