# Shared helpers for the integration scripts (sourced, not run).
set -euo pipefail
: "${TSR_SOURCE_DIR:?set by ctest}"
: "${TSR_BUILD_DIR:?set by ctest}"
AGENT="$TSR_BUILD_DIR/agent/tessera-agent"
TMP="$(mktemp -d /tmp/tsr-it-XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=expect.sh
source "$TSR_SOURCE_DIR/tests/integration/expect.sh"

CLI="$TSR_BUILD_DIR/cli/tessera"
COLLECTOR="$TSR_BUILD_DIR/collector/tessera-collector"
TESTCLIENT="$TSR_BUILD_DIR/tests/integration/testclient"
COLLECTOR_PID=""
# The collector and the agent refuse to run as root (issue 15); CI runs the
# tests as root, so every start passes "${ALLOW_ROOT[@]}", which is empty
# for anyone else. tests/integration/filemodes.sh checks the refusal.
ALLOW_ROOT=()
if [ "$(id -u)" -eq 0 ]; then ALLOW_ROOT=(--allow-root); fi

# A port base no other test is likely to use (ports BASE..BASE+2), below
# Linux's ephemeral range (32768 and up) so no client connection holds it.
pick_ports() {
    PORT_BASE=$((20000 + (RANDOM % 1200) * 10))
    INGEST="tcp://127.0.0.1:$PORT_BASE"
    QUERY="tcp://127.0.0.1:$((PORT_BASE + 1))"
    ALERTS="tcp://127.0.0.1:$((PORT_BASE + 2))"
}
pick_ports
COLLECTOR_STARTS=0

# start_collector DATA_DIR: starts it on INGEST/QUERY and waits until it listens.
# EXTRA_CONF, if set, is appended to its config file.
start_collector() {
    local data="$1" try
    # the first start may pick other ports if another test holds these;
    # restarts keep them (agents are configured with them by then)
    for try in 1 2 3 4 5; do
        start_collector_once "$data" && { COLLECTOR_STARTS=$((COLLECTOR_STARTS + 1)); return 0; }
        if [ "$COLLECTOR_STARTS" -eq 0 ] && grep -q "Address already in use" "$TMP/collector.log"; then
            pick_ports
            continue
        fi
        break
    done
    echo "collector did not start:" >&2
    cat "$TMP/collector.log" >&2
    return 1
}

# collector_conf DATA_DIR: the config start_collector uses: DATA_DIR, the
# endpoints, log_level = warn, then EXTRA_CONF
collector_conf() {
    cat <<CONF
[collector]
data_dir = $1
ingest_endpoint = $INGEST
query_endpoint = $QUERY
alerts_endpoint = $ALERTS
log_level = warn
${EXTRA_CONF:-}
CONF
}

start_collector_once() {
    local data="$1"
    : >"$TMP/collector.out"
    collector_conf "$data" >"$TMP/collector.conf"
    "$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/collector.conf" >"$TMP/collector.out" 2>>"$TMP/collector.log" &
    COLLECTOR_PID=$!
    # START_WAIT_S (default 10): how long it may take to listen
    for _ in $(seq $((${START_WAIT_S:-10} * 20))); do
        grep -q "server public key" "$TMP/collector.out" 2>/dev/null && return 0
        kill -0 "$COLLECTOR_PID" 2>/dev/null || break
        sleep 0.05
    done
    return 1
}

stop_collector() {
    if [ -n "$COLLECTOR_PID" ]; then
        kill "$COLLECTOR_PID" 2>/dev/null || true
        wait "$COLLECTOR_PID" 2>/dev/null || true
        COLLECTOR_PID=""
    fi
}
trap 'stop_collector; rm -rf "$TMP"' EXIT

# run_rc VAR CMD...: runs CMD, stdout in $TMP/out, stderr in $TMP/err, exit code in VAR
run_rc() {
    local var=$1
    shift
    set +e
    "$@" >"$TMP/out" 2>"$TMP/err"
    printf -v "$var" '%s' "$?"
    set -e
}

# entries DATA_DIR DB: entries of a named LMDB database, read-only (mdb_stat),
# once the collector has applied its ingest log (it does within milliseconds
# of ingest going quiet while at most 64 entries wait, within 300 ms
# otherwise; waits up to 10 s). An acknowledged record is in the
# log first: see "The ingest log" in docs/STORAGE.md.
entries() {
    local i
    for i in $(seq 100); do
        [ "$(db_entries "$1" ingest_log 2>/dev/null)" = 0 ] && break
        [ "$i" = 100 ] && echo "note: the ingest log of $1 is still not empty after 10 s" >&2
        sleep 0.1
    done
    db_entries "$1" "$2"
}

# db_entries DATA_DIR DB: the same, at once, whatever waits in the log.
# audit is in the audit environment (DATA_DIR/audit). ingest_log is in
# the log environment (DATA_DIR/log), and holds entries
# waiting to be applied, plus applied ones until the next trim (the
# collector trims when ingest is idle: docs/STORAGE.md).
db_entries() {
    local env="$1/db"
    [ "$2" = ingest_log ] && env="$1/log"
    [ "$2" = audit ] && env="$1/audit"
    mdb_stat -s "$2" "$env" | awk '/Entries:/ { print $2 }'
}

# logged_total DATA_DIR: how many entries were ever logged (acknowledged
# record changes): the last sequence in the log environment, or the main
# environment's `applied` when the log has been trimmed past it.
logged_total() {
    local last applied
    last=$(mdb_dump -s ingest_log "$1/log" |
        awk '/^HEADER=END/ { f = 1; next } /^DATA=END/ { f = 0 } f { if (n++ % 2 == 0) k = $1 } END { print k }')
    applied=$(mdb_dump -s meta "$1/db" |
        awk '/^HEADER=END/ { f = 1; next } /^DATA=END/ { f = 0 } f && v { print $1; exit } f { v = ($1 == "6170706c696564") }')
    # applied is little-endian: reverse its bytes
    applied=$(sed 's/../& /g' <<<"${applied:-00}" | tr ' ' '\n' | tac | tr -d '\n')
    last=$((16#${last:-0}))
    applied=$((16#${applied:-0}))
    echo $((last > applied ? last : applied))
}

# field NAME LINE: the value of NAME=... in a testclient status line.
field() {
    sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<<"$2" | head -n 1
}

# counter NAME: a collector counter (tessera stats, with $TMP/admin.key), 0 when absent
counter() {
    local v
    v=$("$CLI" stats --collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/admin.key" \
        --format csv | awk -F, -v n="$1" '$1 == n { print $2 }')
    echo "${v:-0}"
}

# agency ID TYPE AREA: an agent set up in $TMP/ID (network key
# $TMP/network.key), listed in $DATA/authorized_clients.
agency() {
    "$AGENT" init "${ALLOW_ROOT[@]}" --dir "$TMP/$1" --agency-id "$1" --agency-type "$2" --area "$3" \
        --network-key "$TMP/network.key" --server-key "$DATA/collector.pub" --collector "$INGEST" |
        tail -n 1 >>"$DATA/authorized_clients"
}

# staff ROLE...: for each role a key pair $TMP/ROLE.key, listed in
# $DATA/authorized_clients as ROLE-1 for every area.
staff() {
    local who
    for who in "$@"; do
        "$CLI" keygen --curve "$TMP/$who" >/dev/null
        echo "$(grep -v '^#' "$TMP/$who.pub") $who $who-1 *" >>"$DATA/authorized_clients"
    done
}

# case_line CASE_REF DAY_OF_OCTOBER AREA IDENTIFIERS_JSON: one JSONL line,
# with a child's name and notes that must never travel.
case_line() {
    printf '{"case_ref":"%s","reported_date":"2026-10-%02d","area_code":"%s","age":14,"gender":"boy_man","contact_platforms":["instagram"],"demands":["money"],"tactics":["fake_peer_persona"],"identifiers":%s,"child_name":"Test Child","notes":"free text that must not travel"}\n' \
        "$1" "$2" "$3" "$4"
}

# submit_as AGENCY FILE: the agency's agent submits FILE.
submit_as() {
    "$AGENT" submit "${ALLOW_ROOT[@]}" --config "$TMP/$1/agent.conf" "$2" 2>"$TMP/submit.err" ||
        { cat "$TMP/submit.err" >&2; return 1; }
}

# yorkshire_scenario: the seeded scenario (tools/tessera-scenario) in
# $TMP/scenario; a collector started in $DATA; one council agency per area
# of AREAS (three Yorkshire areas), each submitting its export; an analyst
# key for Yorkshire (yh-analyst, $TMP/analyst.key) and an admin key
# (admin-1). Returns once the collector has applied what it acknowledged.
AREAS="E08000035 E08000032 E08000034"
yorkshire_scenario() {
    local area who
    "$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
    "$TSR_BUILD_DIR/tools/tessera-scenario" --out "$TMP/scenario" >/dev/null
    start_collector "$DATA"
    for area in $AREAS; do
        agency "la-$area" la_childrens_services "$area"
    done
    for who in analyst admin; do
        "$CLI" keygen --curve "$TMP/$who" >/dev/null
    done
    echo "$(grep -v '^#' "$TMP/analyst.pub") analyst yh-analyst E12000003" >>"$DATA/authorized_clients"
    echo "$(grep -v '^#' "$TMP/admin.pub") admin admin-1 *" >>"$DATA/authorized_clients"
    kill -HUP "$COLLECTOR_PID"
    sleep 0.3
    for area in $AREAS; do
        submit_as "la-$area" "$TMP/scenario/la-$area.jsonl"
    done
    entries "$DATA" ingest_log >/dev/null
}
