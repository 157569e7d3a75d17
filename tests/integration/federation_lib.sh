# Shared by the federation tests (sourced after lib.sh): a national
# collector (nat) and three regional ones (yh, nw, ne) on loopback, each in
# $TMP/NAME with its own config; a regional one relays to nat with the key
# $TMP/NAME-relay.key, forwarding ${FORWARD[NAME]:-records}.
NODES=(nat yh nw ne)
declare -A PID IDX FORWARD
for i in 0 1 2 3; do IDX[${NODES[$i]}]=$i; done
# ports: 12 from PORT_BASE (lib.sh's pick_ports), three per collector
port() { echo "tcp://127.0.0.1:$((PORT_BASE + 3 * IDX[$1] + $2))"; }

# start_node NAME: a collector in $TMP/NAME; a regional one relays to nat
# (unless NO_UPSTREAM is set). NODE_CONF, if set, is added to every config.
start_node() {
    local n="$1" up=""
    if [ "$n" != nat ] && [ -z "${NO_UPSTREAM:-}" ]; then
        up="[upstream]
endpoint = $(port nat 0)
server_key = $TMP/nat/collector.pub
client_key = $TMP/$n-relay.key
timeout_ms = 1000
forward = ${FORWARD[$n]:-records}"
    fi
    cat >"$TMP/$n.conf" <<CONF
[collector]
data_dir = $TMP/$n
ingest_endpoint = $(port "$n" 0)
query_endpoint = $(port "$n" 1)
alerts_endpoint = $(port "$n" 2)
log_level = ${LOG_LEVEL:-info}
[ingest]
apply_delay_ms = 20
${NODE_CONF:-}
$up
CONF
    : >"$TMP/$n.out"
    "$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/$n.conf" >"$TMP/$n.out" 2>>"$TMP/$n.log" &
    PID[$n]=$!
    for _ in $(seq 200); do
        grep -q "server public key" "$TMP/$n.out" 2>/dev/null && return 0
        kill -0 "${PID[$n]}" 2>/dev/null || break
        sleep 0.05
    done
    echo "collector $n did not start:" >&2
    cat "$TMP/$n.log" >&2
    return 1
}
stop_node() {
    [ -n "${PID[$1]:-}" ] || return 0
    kill "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
}
trap 'for n in "${NODES[@]}"; do [ -n "${PID[$n]:-}" ] && kill -9 "${PID[$n]}" 2>/dev/null; done; rm -rf "$TMP"' EXIT

# start_national: the national collector first (its key is every relay's
# server key); a port already taken by another test: new ports. Then a
# relay key for each region.
start_national() {
    local try n
    for try in 1 2 3 4 5; do
        start_node nat && break
        [ "$try" = 5 ] && exit 1
        pick_ports
    done
    for n in yh nw ne; do "$CLI" keygen --curve "$TMP/$n-relay" >/dev/null; done
}
relay_pub() { grep -v '^#' "$TMP/$1-relay.pub"; }
# staff_in NODE: liaison, admin and analyst keys for that collector, every area
staff_in() {
    local who
    for who in liaison admin analyst; do
        "$CLI" keygen --curve "$TMP/$1-$who" >/dev/null
        echo "$(grep -v '^#' "$TMP/$1-$who.pub") $who $1-$who *" >>"$TMP/$1/authorized_clients"
    done
}
# agencies, each listed at its regional collector
agency_at() { # NODE ID TYPE AREA
    DATA="$TMP/$1" INGEST="$(port "$1" 0)" agency "$2" "$3" "$4"
}
q() { # NODE ROLE: the query options of that collector's key
    echo --collector "$(port "$1" 1)" --server-key "$TMP/$1/collector.pub" --key "$TMP/$1-$2.key"
}
counter() { # NODE NAME
    # shellcheck disable=SC2046
    "$CLI" stats $(q "$1" admin) --format csv | awk -F, -v n="$2" '$1 == n { print $2 }'
}
# records NODE: "record_id version agency" per stored record, sorted (read-only)
records() {
    local key val alen agency v
    mdb_dump -s records "$TMP/$1/db" | sed -n '/^HEADER=END/,/^DATA=END/p' | sed '1d;$d' |
        while read -r key && read -r val; do
            alen=$((16#${val:2:2}))
            agency=$(xxd -r -p <<<"${val:4:$((2 * alen))}")
            v=${val:$((2 * (2 + alen + 8))):8}
            echo "$key $((16#${v:6:2}${v:4:2}${v:2:2}${v:0:2})) $agency"
        done | sort
}
queue_empty() { [ "$(db_entries "$TMP/$1" upstream)" = 0 ] && [ "$(db_entries "$TMP/$1" ingest_log)" = 0 ]; }
# relayed NODE: national records relayed by NODE, as "record_id version agency"
# without the namespace
relayed() { records nat | awk -v p="$1-collector/" 'index($3, p) == 1 { sub(p, "", $3); print }'; }
same_records() { [ "$(records "$1")" = "$(relayed "$1")" ]; }
# wait_until DESC CMD...: up to 20 s for CMD to succeed
wait_until() {
    local desc="$1" i
    shift
    for i in $(seq 200); do
        "$@" && return 0
        sleep 0.1
    done
    echo "FAIL: $desc (waited 20 s)" >&2
    return 1
}
