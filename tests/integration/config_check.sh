#!/usr/bin/env bash
# The collector's configuration mistakes are loud (issue 16): -n refuses
# every value start would refuse (endpoints, methods, log levels, the server
# key's name), each with FILE:LINE and the key, before anything is created;
# a bare tessera-collector names --data and --config instead of serving from
# the current directory; the first start says plainly where the key pair is;
# logs stay on stderr.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
FORMS="write tcp://ADDRESS:PORT (for example tcp://127.0.0.1:7701, tcp://0.0.0.0:7701 or tcp://[::1]:7701) or ipc://PATH"

# refused WHAT LINE KEY_AND_VALUE MESSAGE: a config with [collector] data_dir
# and KEY_AND_VALUE (a "[section]\nkey = value" text) on line LINE; -n and a
# start both exit 1 with MESSAGE after "tessera-collector: FILE:LINE: ", and
# neither creates the data directory
refused() {
    local what="$1" line="$2" text="$3" want="$4" rc
    printf '[collector]\ndata_dir = %s\n%b\n' "$TMP/nowhere" "$text" >"$TMP/bad.conf"
    want="tessera-collector: $TMP/bad.conf:$line: $want"
    run_rc rc "$COLLECTOR" "${ALLOW_ROOT[@]}" -n --config "$TMP/bad.conf"
    expect_eq "-n: $what" "$rc/$(cat "$TMP/err")/$(cat "$TMP/out")" "1/$want/"
    run_rc rc timeout 10 "$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/bad.conf"
    expect_eq "start: $what" "$rc/$(cat "$TMP/err")" "1/$want"
    expect_eq "nothing created: $what" "$([ -e "$TMP/nowhere" ] && echo made || echo none)" "none"
}

# --- a bare tessera-collector ---------------------------------------------------------
mkdir "$TMP/cwd"
BARE="tessera-collector: say where the collector keeps its data: --data DIR (for example --data /var/lib/tessera), or --config FILE whose [collector] data_dir names it (see deploy/collector.conf); nothing was started"
run_rc rc bash -c 'cd "$1" && shift && exec timeout 10 "$@"' _ "$TMP/cwd" "$COLLECTOR" "${ALLOW_ROOT[@]}"
expect_eq "bare: refused, naming --data and --config" "$rc/$(cat "$TMP/err")" "2/$BARE"
run_rc rc bash -c 'cd "$1" && shift && exec timeout 10 "$@"' _ "$TMP/cwd" "$COLLECTOR" "${ALLOW_ROOT[@]}" -n
expect_eq "bare -n: refused too" "$rc/$(cat "$TMP/err")" "2/$BARE"
expect_eq "bare: nothing in the current directory" "$(ls -A "$TMP/cwd")" ""
printf '[collector]\nlog_level = warn\n' >"$TMP/nodata.conf"
run_rc rc bash -c 'cd "$1" && shift && exec timeout 10 "$@"' _ "$TMP/cwd" "$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/nodata.conf"
expect_eq "a config without data_dir: refused too" "$rc/$(cat "$TMP/err")" \
    "1/tessera-collector: $TMP/nodata.conf: collector.data_dir: not set: name the data directory ([collector] data_dir = /var/lib/tessera-collector) or pass --data DIR"
expect_eq "still nothing in the current directory" "$(ls -A "$TMP/cwd")" ""
expect_contains "--help says one is needed" "$("$COLLECTOR" --help)" \
    "usage: tessera-collector (--config FILE | --data DIR | both) [-n]"

# --- values -n used to pass and start refused (or ran) -----------------------------------
refused "endpoint without tcp://" 3 'ingest_endpoint = 127.0.0.1:8101' \
    "collector.ingest_endpoint: '127.0.0.1:8101' is not an endpoint: $FORMS"
refused "a host name is not bindable" 3 'query_endpoint = tcp://collector.example:7702' \
    "collector.query_endpoint: 'tcp://collector.example:7702': 'collector.example' is not an address the collector can listen on: write a numeric address of this machine, [IPv6], * or an interface name (a host name cannot be bound)"
refused "a port out of range" 3 'alerts_endpoint = tcp://127.0.0.1:77030' \
    "collector.alerts_endpoint: 'tcp://127.0.0.1:77030': the port '77030' is not a number from 1 to 65535"
refused "one endpoint twice" 4 'ingest_endpoint = tcp://127.0.0.1:7801\nalerts_endpoint = tcp://127.0.0.1:7801' \
    "collector.alerts_endpoint: 'tcp://127.0.0.1:7801' is already the ingest_endpoint: each needs its own"
refused "an unknown daily method" 4 '[spikes]\ndaily_methods = c1,c4' \
    "spikes.daily_methods: 'c4' is not a method; the daily methods are c1, c2 and c3 (comma-separated, for example c1,c2,c3), or none"
refused "an unknown cross_region" 4 '[spikes]\ncross_region = yes' \
    "spikes.cross_region: 'yes' is not auto, on or off: auto runs the cross-region rule on a collector whose authorized_clients lists a relay (the national tier)"
refused "a bad log level" 3 'log_level = loud' \
    "collector.log_level: 'loud' is not a log level: write debug, info, warn or error"
refused "a server key that cannot be made" 3 "server_key = $TMP/keys/server.secret" \
    "collector.server_key: '$TMP/keys/server.secret' does not exist, and a key pair is made only for a name ending in .key (NAME.key, with NAME.pub beside it)"
refused "an unsafe variance, with its line" 5 '\n[disclosure]\nvariance = 1' \
    "disclosure.variance: '1' must be a number of at least 2 (less lets a few averaged queries pin a small count)"
refused "key id 0" 4 '[network]\nkey_ids = 1857500892 until 2027-03-01, 0' \
    "network.key_ids: 0 is not a network key id: it is what a token without one carries; write the id 'tessera-agent keygen' printed"
run_rc rc "$COLLECTOR" "${ALLOW_ROOT[@]}" -n --data "$TMP/nowhere" --log-level loud
expect_eq "--log-level named as the option" "$rc/$(cat "$TMP/err")" \
    "1/tessera-collector: --log-level: 'loud' is not a log level: write debug, info, warn or error"

# an OpenSSL whose providers offer no SipHash (linkage's in-memory sets need
# it; here only the base provider is loaded): refused at start, and named
printf 'openssl_conf = init\n[init]\nproviders = prov\n[prov]\nbase = base\n[base]\nactivate = 1\n' \
    >"$TMP/base-only.cnf"
mkdir -m 700 "$TMP/nosiphash"
run_rc rc env OPENSSL_CONF="$TMP/base-only.cnf" timeout 10 "$COLLECTOR" "${ALLOW_ROOT[@]}" \
    --data "$TMP/nosiphash"
expect_eq "no SipHash: refused at start, named" "$rc/$(tail -n 1 "$TMP/err")" \
    "1/tessera-collector: openssl: SipHash is not available from OpenSSL's providers (linkage needs it for its in-memory sets; a FIPS-only configuration does not offer it)"

# a config that passes -n starts, and -n creates nothing
EXTRA_CONF=$'[spikes]\ndaily_methods = c3, c1' collector_conf "$DATA" >"$TMP/good.conf"
run_rc rc "$COLLECTOR" "${ALLOW_ROOT[@]}" -n --config "$TMP/good.conf"
expect_eq "-n: a good config" "$rc/$(head -n 1 "$TMP/out")" \
    "0/config ok: data $DATA, ingest $INGEST, query $QUERY, alerts $ALERTS, 0 clients"
expect_eq "-n: the cross-region rule, off without relays" "$(sed -n 2p "$TMP/out")" \
    "cross-region spike rule: off (auto, 0 relay(s) listed)"
expect_eq "-n: warns that key_ids is unset" "$(tail -n 1 "$TMP/out")" \
    "warning: [network] key_ids is not set: the first network key id a record brings will be pinned, and records under any other refused; whichever agency submits first decides, even with a wrong key. Set key_ids to the id 'tessera-agent keygen' printed"
expect_eq "-n: created nothing" "$([ -e "$DATA" ] && echo made || echo none)" "none"

# --- the first start: the key pair named plainly; logs on stderr only ----------------------
EXTRA_CONF=$'log_level = info\n[spikes]\ndaily_methods = c3, c1'
start_collector "$DATA"
expect_contains "first start names both key files" "$(cat "$TMP/collector.log")" \
    "info collector: created the server key pair: secret key $DATA/collector.key, public key $DATA/collector.pub (give the .pub file to agents and clients)"
expect_contains "start warns that key_ids is unset" "$(cat "$TMP/collector.log")" \
    "warn collector: [network] key_ids is not set: the first network key id a record brings will be pinned, and records under any other refused; set key_ids to the id 'tessera-agent keygen' printed to choose it yourself (unset, whichever agency submits first decides, even with a wrong key)"
expect_eq "stdout holds the public key line only" "$(sed 's/: .*//' "$TMP/collector.out")" "server public key"
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
staff admin
agency leeds-01 school E08000035
kill -HUP "$COLLECTOR_PID"
sleep 0.3
for i in 1 2 3; do
    case_line "L-$i" 3 E08000035 "[{\"kind\":\"phone\",\"value\":\"+447700900$i$i$i\"}]"
done >"$TMP/leeds.jsonl"
submit_as leeds-01 "$TMP/leeds.jsonl"
run_rc rc "$CLI" stats --collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/admin.key" --format csv
expect_eq "tessera stats: clean csv on stdout" "$rc/$(sed 1d "$TMP/out" | grep -c -v '^[a-zA-Z_:0-9.=+-]*,[0-9]*$')" "0/0"
expect_eq "tessera stats: nothing on stderr" "$(cat "$TMP/err")" ""
run_rc rc "$CLI" stats --collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/admin.key" --format json
expect_eq "tessera stats: json, counts as numbers" "$rc/$(jq -r '.[] | select(.counter == "agency:leeds-01") | .value | type' "$TMP/out")" "0/number"
run_rc rc "$CLI" audit --collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/admin.key" --format json
expect_eq "tessera audit: json" "$rc/$(jq -r '[.[] | select(.id == "admin-1")][0] | "\(.role) \(.request) \(.result_size | type)"' "$TMP/out")" \
    "0/admin stats -> ok number"
run_rc rc "$CLI" audit --collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/admin.key" --format xml
expect_eq "an unknown format names the three" "$rc/$(cat "$TMP/err")" "2/tessera audit: --format xml: write table, csv or json"
printf 'period,count\n' >"$TMP/series.csv"
for d in $(seq 1 14); do printf '2026-01-%02d,%d\n' "$d" $((d % 3 + (d == 14 ? 9 : 0))); done >>"$TMP/series.csv"
"$CLI" spikes backtest --method c1 --input "$TMP/series.csv" --format csv >"$TMP/bt.csv"
"$CLI" spikes backtest --method c1 --input "$TMP/series.csv" --format json >"$TMP/bt.json"
expect_eq "backtest json: the csv's rows" \
    "$(jq -r '.[] | "\(.period),\(.observed),\(.expected),\(.upperbound),\(if .alarm then 1 else 0 end)"' "$TMP/bt.json")" \
    "$(tail -n +2 "$TMP/bt.csv")"
expect_eq "still only the key line on the collector's stdout" "$(wc -l <"$TMP/collector.out")" "1"
stop_collector
finish
