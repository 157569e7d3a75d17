# shellcheck shell=bash
# Shared by the ingest benchmarks (sourced, not run): eight agent keys the
# collector accepts, and one end-to-end run that also times the apply.
# Needs tests/integration/lib.sh sourced first.
BENCH="$TSR_BUILD_DIR/tests/bench/bench_ingest"

# bench_agents DATA_DIR: keys agent-0 .. agent-7 in $TMP (made once), listed
# in DATA_DIR's authorized_clients, and the running collector told so.
bench_agents() {
    local data="$1" i
    : >"$data/authorized_clients"
    for i in $(seq 0 7); do
        [ -e "$TMP/agent-$i.pub" ] || "$CLI" keygen --curve "$TMP/agent-$i" >/dev/null
        echo "$(grep -v '^#' "$TMP/agent-$i.pub") agent bench-$i E08000035" >>"$data/authorized_clients"
    done
    kill -HUP "$COLLECTOR_PID"
    sleep 0.5
}

# e2e DATA_DIR AGENTS BATCH TOTAL: one end-to-end run (rec/s = Acks), then
# the rate counting until the collector had applied its whole ingest log too
# (from before the run started, so it includes the agents' start-up).
e2e() {
    local data="$1" t0 t1
    shift
    t0=$(date +%s.%N)
    "$BENCH" e2e "$INGEST" "$data/collector.pub" "$TMP" "$@"
    until [ "$(db_entries "$data" ingest_log)" = 0 ]; do
        sleep 0.005
    done
    t1=$(date +%s.%N)
    awk -v t0="$t0" -v t1="$t1" -v n="$3" 'BEGIN {
        printf "       ... and applied: %.0f rec/s (%.2f s until the ingest log was empty)\n", n / (t1 - t0), t1 - t0 }'
}
