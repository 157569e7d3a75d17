#!/usr/bin/env bash
# Soak test (issue 15; label soak, not in the default run; `make soak`).
# For SOAK_SECONDS (default 1800) one collector with real CURVE keys takes:
#   - 8 agents (tessera-agent submit, each its own agency, key and outbox)
#     submitting exports of SOAK_RECORDS_PER_FILE distinct cases, one after
#     another, every 4th export also updating 5 cases of the one before;
#   - a probe: one more, well-behaved agent (testclient stream) sending a
#     10-record batch every 100 ms and timing each Ack;
#   - a hostile agent key sending 4 MiB frames of empty incidents, batches
#     of 1,500, frames one byte over the limit, random junk, and now and
#     then a 5 MiB frame the socket itself drops with the connection;
#   - an analyst key asking trends and alerts as fast as it is answered;
#   - kill -9 of agents (and the probe) at random moments throughout, and of
#     the collector at random moments in the first third, then once more at
#     the end (restarted at once, agents resubmitting). The RNG is seeded
#     (SOAK_SEED, printed) so the schedule can be replayed.
# Every SOAK_SAMPLE_SECONDS it samples the collector's memory and open file
# descriptors into samples.csv. At the end it asserts:
#   - the collector never died except when killed;
#   - flat memory and fds: the collector killed in the first third only,
#     one process runs the second and last thirds, and the highest RssAnon
#     of the last third is within SOAK_RSS_SLACK_MIB (8) of the highest of
#     the second third, and the most fds within SOAK_FD_SLACK (4)
#     (docs/RELIABILITY.md, "Soak test", says why these numbers);
#   - exactly once: every record an agent got acknowledged is stored once
#     with its latest version and agency, nothing else is stored, and the
#     counters count each once (testclient check);
#   - the hostile peer stored nothing and every frame it got answered was
#     answered MALFORMED.
# It prints each agent's share of the accepted records and the probe's Ack
# latency, then measures the probe's Ack p50/p99 for SOAK_LATENCY_SECONDS
# without and then with the query flooder (a benchmark figure: printed,
# never asserted). Output: $SOAK_OUT (default BUILD/soak): report.txt,
# samples.csv, schedule.txt, the probe's Ack logs, the collector's log.
# SOAK_EXTRA_CONF is appended to the collector's config (a curve over a
# setting, e.g. "[limits]\nquery_thread_nice = 0").
source "$(dirname "$0")/../integration/lib.sh"

T=${SOAK_SECONDS:-1800}
SEED=${SOAK_SEED:-$((($(date +%s) ^ $$) % 1000000))}
SAMPLE=${SOAK_SAMPLE_SECONDS:-2}
R=${SOAK_RECORDS_PER_FILE:-50}
RSS_SLACK_MIB=${SOAK_RSS_SLACK_MIB:-8}
FD_SLACK=${SOAK_FD_SLACK:-4}
L=${SOAK_LATENCY_SECONDS:-$((T / 15 < 30 ? 30 : T / 15 > 120 ? 120 : T / 15))}
OUT=${SOAK_OUT:-$TSR_BUILD_DIR/soak}
export START_WAIT_S=60 # a restart may replay a long audit log
PROBE_BATCH=10
PROBE_MS=100
PROBE_TIMEOUT_MS=30000 # as bench_ingest waits: a slow Ack is measured, not retried
PROBE_FIRST=1
[ "$T" -ge 60 ] || { echo "SOAK_SECONDS must be at least 60" >&2; exit 2; }
rm -rf "$OUT"
mkdir -p "$OUT" "$TMP/exports"
REPORT="$OUT/report.txt"
say() { echo "$*" | tee -a "$REPORT"; }
now_ms() { local t=$EPOCHREALTIME; echo $((${t/./} / 1000)); }

say "soak: SOAK_SECONDS=$T seed=$SEED records/file=$R sample=${SAMPLE}s latency phases=${L}s"
say "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"

# --- set-up: keys, agencies, collector --------------------------------------
DATA="$TMP/data"
KEY_ID=$("$AGENT" keygen --network-key "$TMP/network.key" | sed -n 's/.*(key id \([0-9]*\))$/\1/p')
# The collector accepts the agents' network key only, as a deployment
# should; the synthetic peers' records claim the same id (testclient).
# Unset, the first record would pin its id, and the synthetic peers came
# first (the 30-minute run of 2026-12-01 shut every agent out that way).
export TSR_TEST_KEY_ID="$KEY_ID"
# SOAK_EXTRA_CONF is appended (a setting's curve: query_thread_nice ...).
EXTRA_CONF="[network]
key_ids = $KEY_ID
${SOAK_EXTRA_CONF:-}"
start_collector "$DATA"
SERVER="$DATA/collector.pub"
AREAS=(- E08000032 E08000033 E08000034 E08000035 E08000036 E08000016 E08000017 E08000018)
for i in $(seq 8); do
    agency "soak-a$i" school "${AREAS[$i]}"
    sed -i "s/^\\[agent\\]/[agent]\\nmax_batch = 20/" "$TMP/soak-a$i/agent.conf"
done
for k in probe hostile flood admin; do "$CLI" keygen --curve "$TMP/$k" >/dev/null; done
pub() { grep -v '^#' "$TMP/$1.pub"; }
cat >>"$DATA/authorized_clients" <<AC
$(pub probe)   agent   soak-probe   E08000035
$(pub hostile) agent   soak-hostile E06000014
$(pub flood)   analyst soak-flood   E12000003
$(pub admin)   admin   soak-admin   *
AC
kill -HUP "$COLLECTOR_PID"
sleep 0.5
echo "$COLLECTOR_PID" >"$TMP/collector.pid"

# The last 56 days, for reported dates.
DATES=()
for d in $(seq 0 55); do DATES+=("$(date -u -d "-$d day" +%F)"); done

# make_export I N: agent I's export N, R new cases (the first shares a phone
# number with export N of every other agent: linkage across areas), and for
# N = 4, 8, ... the first 5 cases of export N-1 again aged 16, not 14 (another age band:
# version 2). Appends what the collector must end up holding to expected.aI.
make_export() {
    local i=$1 n=$2 k d ids f="$TMP/exports/a$i-$n.jsonl"
    {
        for ((k = 0; k < R; k++)); do
            d=${DATES[$(((n * R + k) % 56))]}
            ids="{\"kind\":\"handle:instagram\",\"value\":\"soak_${i}_${n}_$k\"}"
            [ "$k" = 0 ] && ids="$ids,{\"kind\":\"phone\",\"value\":\"+4477$(printf %08d "$n")\"}"
            printf '{"case_ref":"S%d-%d-%d","reported_date":"%s","area_code":"%s","age":14,"gender":"girl_woman","contact_platforms":["instagram"],"demands":["money"],"tactics":["fake_peer_persona"],"identifiers":[%s]}\n' \
                "$i" "$n" "$k" "$d" "${AREAS[$i]}" "$ids"
            echo "soak-a$i 1 case:S$i-$n-$k" >>"$TMP/expected.a$i"
        done
        if [ "$n" -gt 0 ] && [ $((n % 4)) = 0 ]; then
            for ((k = 0; k < 5 && k < R; k++)); do
                d=${DATES[$((((n - 1) * R + k) % 56))]}
                ids="{\"kind\":\"handle:instagram\",\"value\":\"soak_${i}_$((n - 1))_$k\"}"
                [ "$k" = 0 ] && ids="$ids,{\"kind\":\"phone\",\"value\":\"+4477$(printf %08d $((n - 1)))\"}"
                printf '{"case_ref":"S%d-%d-%d","reported_date":"%s","area_code":"%s","age":16,"gender":"girl_woman","contact_platforms":["instagram"],"demands":["money"],"tactics":["fake_peer_persona"],"identifiers":[%s]}\n' \
                    "$i" "$((n - 1))" "$k" "$d" "${AREAS[$i]}" "$ids"
                echo "soak-a$i 2 case:S$i-$((n - 1))-$k" >>"$TMP/expected.a$i"
            done
        fi
    } >"$f.tmp"
    mv "$f.tmp" "$f"
}

# --- the peers ------------------------------------------------------------------
# agent_loop I: submits export 0, 1, 2, ... until $TMP/stop; an export whose
# submit did not end with every record acknowledged (exit 0) is submitted
# again: the outbox keeps what was queued, an unchanged case keeps its
# version. Each run is logged as "N EXIT" in aI.runs.
agent_loop() {
    local i=$1 n=0 rc f
    while [ ! -e "$TMP/stop" ]; do
        f="$TMP/exports/a$i-$n.jsonl"
        [ -e "$f" ] || make_export "$i" "$n"
        rc=0
        "$AGENT" submit "${ALLOW_ROOT[@]}" --config "$TMP/soak-a$i/agent.conf" "$f" >/dev/null 2>>"$TMP/a$i.err" &
        echo $! >"$TMP/a$i.pid"
        wait $! || rc=$?
        echo "$n $rc" >>"$TMP/a$i.runs"
        [ "$rc" = 0 ] && n=$((n + 1))
    done
}

# probe_loop LOG: the probe, restarted after each kill from the batch after
# the last it logged as acknowledged.
probe_next() { # LOG FIRST: the id the next batch starts at
    if [ -s "$1" ]; then tail -n 1 "$1" | awk -v b="$PROBE_BATCH" '{ print $1 + b }'; else echo "$2"; fi
}
probe_loop() {
    local log=$1 next
    while [ ! -e "$TMP/stop" ]; do
        next=$(probe_next "$log" "$PROBE_FIRST")
        "$TESTCLIENT" stream "$INGEST" "$SERVER" "$TMP/probe.key" soak-probe "$next" 100000000 "$log" \
            "$PROBE_BATCH" "$PROBE_MS" "$PROBE_TIMEOUT_MS" 2>>"$TMP/probe.err" &
        echo $! >"$TMP/a9.pid"
        wait $! || true
    done
}

# hostile_loop: frames the collector must answer MALFORMED (or, junk, drop),
# one after another; every answer line goes to hostile.out.
hostile_loop() {
    local b=1 MIB=$((1 << 20))
    raw() { "$TESTCLIENT" raw "$INGEST" "$SERVER" "$TMP/hostile.key" "$@" >>"$TMP/hostile.out" 2>>"$TMP/hostile.err" ||
        echo "exit=$?" >>"$TMP/hostile.out"; }
    local over="" cycle=0
    while [ ! -e "$TMP/stop" ]; do
        # every 5th round, beside the rest: a frame over even the socket's
        # limit, which libzmq drops with the connection (no answer; the
        # client waits 15 s and gives up)
        if [ $((cycle++ % 5)) = 0 ] && { [ -z "$over" ] || ! kill -0 "$over" 2>/dev/null; }; then
            "$TESTCLIENT" raw "$INGEST" "$SERVER" "$TMP/hostile.key" one $((5 * MIB)) 0 1 \
                >>"$TMP/hostile-over.out" 2>&1 &
            over=$!
        fi
        raw empty $((4 * MIB)) "$b" 3           # 2,097,136 empty incidents each
        raw many:1500 0 "$((b + 1))" 1          # decodable, over the 1,000-item limit
        raw one $((4 * MIB + 1)) "$((b + 2))" 1 # one byte over max_frame_mib
        "$TESTCLIENT" fuzz "$INGEST" "$SERVER" "$TMP/hostile.key" 50 2>>"$TMP/hostile.err" || true
        b=$((b + 3))
    done
    [ -z "$over" ] || wait "$over" 2>/dev/null || true
}

# sampler: the collector's memory and fds every SAMPLE seconds (bash
# builtins but one stat: the machine is busy, and a sample must be cheap).
sampler() {
    local pid t k v _u rss anon file hwm fds db
    echo "t_s,pid,vmrss_kib,rss_anon_kib,rss_file_kib,vmhwm_kib,fds,data_mdb_mib" >"$OUT/samples.csv"
    while [ ! -e "$TMP/stop-sampler" ]; do
        read -r pid <"$TMP/collector.pid"
        t=$((($(now_ms) - T0) / 1000))
        rss="" anon="" file="" hwm=""
        while read -r k v _u; do
            case "$k" in
            VmRSS:) rss=$v ;;
            RssAnon:) anon=$v ;;
            RssFile:) file=$v ;;
            VmHWM:) hwm=$v ;;
            esac
        done 2>/dev/null <"/proc/$pid/status" || true
        fds=(/proc/"$pid"/fd/*)
        if [ -n "$rss" ] && [ -e "${fds[0]}" ]; then
            db=$(($(stat -c %s "$DATA/db/data.mdb") >> 20))
            echo "$t,$pid,$rss,$anon,$file,$hwm,${#fds[@]},$db" >>"$OUT/samples.csv"
        fi
        sleep "$SAMPLE"
    done
}

# Background jobs this script started, ended on any exit.
JOBS_STARTED=()
cleanup() {
    local p
    touch "$TMP/stop" "$TMP/stop-sampler" 2>/dev/null || true
    for p in "${JOBS_STARTED[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in $(cat "$TMP"/a*.pid 2>/dev/null); do [ "$p" -gt 1 ] && kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -f "$TMP/collector.log" ] && cp "$TMP/collector.log" "$OUT/collector.log"
    stop_collector
    rm -rf "$TMP"
}
trap cleanup EXIT

# collector_alive: true while the collector runs (a zombie is dead)
collector_alive() {
    local state
    read -r _ _ state _ <"/proc/$COLLECTOR_PID/stat" 2>/dev/null && [ "$state" != Z ]
}
CRASHES=0
RESTART_MAX_MS=0
KILLS_COLLECTOR=0
restart_collector() { # after a kill -9 (or a crash): at once, same ports and data
    local t0 rc=0
    wait "$COLLECTOR_PID" 2>/dev/null || rc=$?
    t0=$(now_ms)
    start_collector "$DATA"
    echo "$COLLECTOR_PID" >"$TMP/collector.pid"
    t0=$(($(now_ms) - t0))
    [ "$t0" -gt "$RESTART_MAX_MS" ] && RESTART_MAX_MS=$t0
    return 0
}
check_alive() {
    collector_alive && return 0
    local rc=0
    wait "$COLLECTOR_PID" 2>/dev/null || rc=$?
    CRASHES=$((CRASHES + 1))
    say "FAIL: the collector died on its own (exit $rc) at t=$((($(now_ms) - T0) / 1000)) s; last log lines:"
    tail -n 5 "$TMP/collector.log" | tee -a "$REPORT"
    COLLECTOR_PID=""
    restart_collector
}

# --- the chaos schedule ---------------------------------------------------------
WARM=$((T / 12 < 10 ? 10 : T / 12))
CEND=$((T / 3 - WARM))          # collector kills in [5, CEND]
KC=${SOAK_COLLECTOR_KILLS:-$((T / 60 < 3 ? 3 : T / 60))}
KA=${SOAK_AGENT_KILLS:-$((T / 5))} # each of the 8 agents or the probe
awk -v seed="$SEED" -v T="$T" -v kc="$KC" -v ka="$KA" -v cend="$CEND" 'BEGIN {
    srand(seed)
    for (i = 0; i < kc; i++) printf "%.1f collector 0\n", 5 + rand() * (cend - 5)
    for (i = 0; i < ka; i++) printf "%.1f agent %d\n", 2 + rand() * (T - 4), 1 + int(rand() * 9)
}' | sort -n >"$OUT/schedule.txt"
say "chaos: $KC collector kills in [5, $CEND] s, $KA agent/probe kills in [2, $((T - 2))] s, one collector kill at the end"

T0=$(now_ms)
# (each loop's stderr to a file: bash's "Killed" notes for its children)
for i in $(seq 8); do
    agent_loop "$i" 2>>"$TMP/loops.err" &
    JOBS_STARTED+=($!)
done
probe_loop "$OUT/probe-soak.log" 2>>"$TMP/loops.err" &
JOBS_STARTED+=($!)
hostile_loop 2>>"$TMP/loops.err" &
JOBS_STARTED+=($!)
"$TESTCLIENT" flood "$QUERY" "$SERVER" "$TMP/flood.key" "$T" >"$OUT/flood-soak.txt" 2>&1 &
FLOOD=$!
JOBS_STARTED+=($FLOOD)
sampler &
SAMPLER=$!
JOBS_STARTED+=($SAMPLER)

AGENT_KILLS=0
KILLS_WITH_LOG=0
while read -r at what who; do
    at_ms=$(awk -v a="$at" 'BEGIN { printf "%d", a * 1000 }')
    while [ $(($(now_ms) - T0)) -lt "$at_ms" ]; do
        check_alive
        sleep 0.2
    done
    check_alive
    if [ "$what" = collector ]; then
        kill -9 "$COLLECTOR_PID"
        KILLS_COLLECTOR=$((KILLS_COLLECTOR + 1))
        wait "$COLLECTOR_PID" 2>/dev/null || true
        [ "$(db_entries "$DATA" ingest_log)" -gt 0 ] && KILLS_WITH_LOG=$((KILLS_WITH_LOG + 1))
        restart_collector
    else
        # (never an empty or 0 pid: `kill -9 0` is this whole process group)
        p=$(cat "$TMP/a$who.pid" 2>/dev/null || true)
        if [ "${p:-0}" -gt 1 ] && kill -9 "$p" 2>/dev/null; then AGENT_KILLS=$((AGENT_KILLS + 1)); fi
    fi
done <"$OUT/schedule.txt"
while [ $(($(now_ms) - T0)) -lt $((T * 1000)) ]; do
    check_alive
    sleep 0.2
done
touch "$TMP/stop-sampler"
wait "$SAMPLER"

# --- the end: one more crash, then everyone stops and delivers what is queued ---
waiting=$(db_entries "$DATA" ingest_log)
kill -9 "$COLLECTOR_PID"
KILLS_COLLECTOR=$((KILLS_COLLECTOR + 1))
restart_collector
say "final kill -9 with $waiting acknowledged entries waiting in the ingest log (the restart applies them)"
sleep 2
touch "$TMP/stop"
kill "$FLOOD" 2>/dev/null || true
p=$(cat "$TMP/a9.pid" 2>/dev/null || true)
[ "${p:-0}" -gt 1 ] && kill -9 "$p" 2>/dev/null || true
for p in "${JOBS_STARTED[@]}"; do wait "$p" 2>/dev/null || true; done
JOBS_STARTED=()

# Each agent delivers what its outbox holds; the export it was on when it
# stopped is submitted again (it may not have been queued when killed).
for i in $(seq 8); do
    n=0 rc=1
    [ -s "$TMP/a$i.runs" ] && read -r n rc < <(tail -n 1 "$TMP/a$i.runs")
    ok=0
    for _ in $(seq 10); do
        if [ "$rc" = 0 ]; then
            "$AGENT" submit "${ALLOW_ROOT[@]}" --config "$TMP/soak-a$i/agent.conf" 2>>"$TMP/a$i.err" && { ok=1; break; }
        else
            "$AGENT" submit "${ALLOW_ROOT[@]}" --config "$TMP/soak-a$i/agent.conf" "$TMP/exports/a$i-$n.jsonl" 2>>"$TMP/a$i.err" >/dev/null &&
                { ok=1; echo "$n 0" >>"$TMP/a$i.runs"; break; }
        fi
        sleep 1
    done
    expect_eq "agent $i delivered its outbox" "$ok" 1
    st=$("$AGENT" status "${ALLOW_ROOT[@]}" --config "$TMP/soak-a$i/agent.conf")
    expect_contains "agent $i: nothing queued" "$st" "queued          0"
    expect_contains "agent $i: nothing rejected" "$st" "rejections      0"
done
next=$(probe_next "$OUT/probe-soak.log" "$PROBE_FIRST")
"$TESTCLIENT" stream "$INGEST" "$SERVER" "$TMP/probe.key" soak-probe "$next" "$PROBE_BATCH" "$OUT/probe-soak.log" \
    "$PROBE_BATCH" 0 "$PROBE_TIMEOUT_MS"
PROBE_END=$(probe_next "$OUT/probe-soak.log" "$PROBE_FIRST")

# Counters as an operator sees them, once the log is applied.
entries "$DATA" ingest_log >/dev/null
"$CLI" stats --collector "$QUERY" --server-key "$SERVER" --key "$TMP/admin.key" --format csv >"$OUT/stats.csv"
stop_collector

# --- exactly once ---------------------------------------------------------------
cat "$TMP"/expected.a* >"$TMP/expected"
echo "soak-probe 1 stream:$PROBE_FIRST:$((PROBE_END - PROBE_FIRST))" >>"$TMP/expected"
set +e
"$TESTCLIENT" check "$DATA" "$TMP/network.key" "$TMP/expected" >"$TMP/check.out" 2>&1
check_rc=$?
set -e
grep '^check:' "$TMP/check.out" | tee -a "$REPORT"
expect_eq "exactly once (testclient check)" "$check_rc" 0
expect_eq "the collector never died on its own" "$CRASHES" 0

# --- the hostile peer -------------------------------------------------------------
h_answers=$(grep -c '^status=' "$TMP/hostile.out" || true)
h_malformed=$(grep -c '^status=4 ' "$TMP/hostile.out" || true)
h_none=$(grep -c '^exit=' "$TMP/hostile.out" || true)
say "hostile peer: $h_answers frames answered, $h_malformed of them MALFORMED, $h_none requests without an answer (collector down or killed meanwhile)"
h_over=$(grep -c 'testclient: request' "$TMP/hostile-over.out" || true)
say "hostile peer: $h_over frames of 5 MiB sent, which the socket drops: $(grep -c '^status=' "$TMP/hostile-over.out" || true) answered"
expect_eq "hostile: every answer MALFORMED" "$h_malformed" "$h_answers"
expect_eq "hostile: no answer to a frame over the socket's limit" "$(grep -c '^status=' "$TMP/hostile-over.out" || true)" 0
expect_eq "hostile: stored nothing" "$(grep -c '^agency soak-hostile ' "$TMP/check.out" || true)" 0
[ "$h_answers" -gt 0 ] && PASSES=$((PASSES + 1)) || { say "FAIL: the hostile peer got no answer at all"; FAILS=$((FAILS + 1)); }

# --- shares -----------------------------------------------------------------------
say ""
say "each agent's share of the accepted records ($T s; fair share of the 8 = 12.5 %):"
total8=$(awk '/^agency soak-a/ { sub("accepted=", "", $5); t += $5 } END { print t + 0 }' "$TMP/check.out")
{
    printf '%-11s %9s %7s %7s %8s %9s %8s %7s\n' agent accepted share rec/s exports submits killed unreach
    for i in $(seq 8); do
        acc=$(awk -v a="soak-a$i" '$1 == "agency" && $2 == a { sub("accepted=", "", $5); print $5 }' "$TMP/check.out")
        awk -v a="soak-a$i" -v acc="${acc:-0}" -v tot="$total8" -v T="$T" '
            { runs++; if ($2 == 0) done++; if ($2 == 137) killed++; if ($2 == 3) unreach++ }
            END { printf "%-11s %9d %6.1f%% %7.1f %8d %9d %8d %7d\n", a, acc, tot ? 100 * acc / tot : 0,
                  acc / T, done, runs, killed, unreach }' "$TMP/a$i.runs"
    done
    acc=$(awk '$1 == "agency" && $2 == "soak-probe" { sub("accepted=", "", $5); print $5 }' "$TMP/check.out")
    printf '%-11s %9d %7s %7.1f   (paced: %d records every %d ms)\n' soak-probe "${acc:-0}" - \
        "$(awk -v a="${acc:-0}" -v T="$T" 'BEGIN { print a / T }')" "$PROBE_BATCH" "$PROBE_MS"
} | tee -a "$REPORT"
min_share=$(awk '/^agency soak-a/ { sub("accepted=", "", $5); if (m == "" || $5 < m) m = $5 } END { print m + 0 }' "$TMP/check.out")
if [ "$total8" -gt 0 ] && [ $((min_share * 16)) -lt "$total8" ]; then
    say "WARNING: an agent got less than half its fair share"
fi

# pct FILE COLUMN: "p50 p99 n" in ms of the microsecond values in COLUMN,
# picked as bench_ingest.c picks them (sorted; [n/2] and [n*0.99]).
pct() {
    awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '{ v[NR - 1] = $1 } END {
        if (NR == 0) { print "- - 0"; exit }
        printf "%.2f %.2f %d\n", v[int(NR / 2)] / 1000, v[int(NR * 0.99)] / 1000, NR }'
}
read -r p50 p99 nb < <(pct "$OUT/probe-soak.log" 3)
retried=$(awk '$4 > 1' "$OUT/probe-soak.log" | wc -l)
say "probe Ack latency during the soak: p50 $p50 ms, p99 $p99 ms over $nb batches ($retried needed more than one try: a kill or a 30 s time-out)"
for w in 1 2 3; do # by third: does it hold as the store grows?
    awk -v t0="$T0" -v T="$T" -v w="$w" '{ t = ($5 - t0) / 1000 }
        t >= (w - 1) * T / 3 && (t < w * T / 3 || (w == 3 && t <= T))' "$OUT/probe-soak.log" >"$TMP/third"
    read -r q50 q99 qn < <(pct "$TMP/third" 3)
    say "  third $w: p50 $q50 ms, p99 $q99 ms ($qn batches)"
done
say "query flooder during the soak: $(tail -n 1 "$OUT/flood-soak.txt")"
say "collector: $KILLS_COLLECTOR kill -9 ($KILLS_WITH_LOG of the random ones with acknowledged entries waiting in the ingest log), slowest restart $RESTART_MAX_MS ms; agents and probe: $AGENT_KILLS kill -9 landed"
say "stats: $(grep -E '^(malformed_frames|unauthorised_messages|batches|duplicates|map_used_bytes),' "$OUT/stats.csv" | tr '\n' ' ' || true)"

# --- flat memory and fds ------------------------------------------------------------
# second third [T/3, 2T/3), last third [2T/3, T]: one collector process
read -r pids n2 n3 a2 a3 f2 f3 r2 r3 < <(awk -F, -v T="$T" 'NR > 1 && $1 >= T / 3 {
        w = $1 < 2 * T / 3 ? 2 : 3; n[w]++; pid[$2] = 1
        if ($4 > a[w]) a[w] = $4; if ($7 > f[w]) f[w] = $7; if ($3 > r[w]) r[w] = $3 }
    END { for (p in pid) np++; print np + 0, n[2] + 0, n[3] + 0, a[2] + 0, a[3] + 0, f[2] + 0, f[3] + 0, r[2] + 0, r[3] + 0 }' "$OUT/samples.csv")
say ""
say "flatness (samples every ${SAMPLE}s; second third $n2 samples, last third $n3):"
say "  RssAnon max: $((a2 / 1024)) MiB -> $((a3 / 1024)) MiB (limit +$RSS_SLACK_MIB MiB)"
say "  fds max:     $f2 -> $f3 (limit +$FD_SLACK)"
say "  VmRSS max:   $((r2 / 1024)) MiB -> $((r3 / 1024)) MiB (not asserted: includes LMDB's mapped pages, which grow with the data)"
say "  data.mdb:    $(tail -n 1 "$OUT/samples.csv" | cut -d, -f8) MiB at the end"
expect_eq "one collector process in the second and last thirds" "$pids" 1
[ "$n2" -gt 0 ] && [ "$n3" -gt 0 ] && PASSES=$((PASSES + 1)) || { say "FAIL: no samples"; FAILS=$((FAILS + 1)); }
expect_eq "RssAnon flat (max of the last third - max of the second <= $RSS_SLACK_MIB MiB)" \
    "$(((a3 - a2) <= RSS_SLACK_MIB * 1024))" 1
expect_eq "fds flat (max of the last third - max of the second <= $FD_SLACK)" "$(((f3 - f2) <= FD_SLACK))" 1

# --- Ack latency without and with the query flooder ---------------------------------
start_collector "$DATA"
echo "$COLLECTOR_PID" >"$TMP/collector.pid"
n=$((L * 1000 / PROBE_MS * PROBE_BATCH))
"$TESTCLIENT" stream "$INGEST" "$SERVER" "$TMP/probe.key" soak-probe 200000001 "$n" "$OUT/probe-alone.log" \
    "$PROBE_BATCH" "$PROBE_MS" "$PROBE_TIMEOUT_MS"
"$TESTCLIENT" flood "$QUERY" "$SERVER" "$TMP/flood.key" $((L + 3)) >"$OUT/flood-latency.txt" 2>&1 &
FLOOD=$!
JOBS_STARTED+=($FLOOD)
sleep 1
"$TESTCLIENT" stream "$INGEST" "$SERVER" "$TMP/probe.key" soak-probe 300000001 "$n" "$OUT/probe-flooded.log" \
    "$PROBE_BATCH" "$PROBE_MS" "$PROBE_TIMEOUT_MS"
wait "$FLOOD" || true
JOBS_STARTED=()
stop_collector
read -r w50 w99 wn < <(pct "$OUT/probe-alone.log" 3)
read -r f50 f99 fn < <(pct "$OUT/probe-flooded.log" 3)
say ""
say "Ack latency of one agent ($PROBE_BATCH-record batches every $PROBE_MS ms, ${L}s each; benchmark figure, not asserted):"
say "  without the query flooder: p50 $w50 ms, p99 $w99 ms ($wn batches)"
say "  with the query flooder:    p50 $f50 ms, p99 $f99 ms ($fn batches); flooder: $(tail -n 1 "$OUT/flood-latency.txt")"
say "  p99 with / without: $(awk -v a="$f99" -v b="$w99" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }') (issue 15 target: at most 2)"
say ""
say "seed $SEED; replay with SOAK_SEED=$SEED SOAK_SECONDS=$T"
finish | tee -a "$REPORT"
