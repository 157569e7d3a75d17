#!/usr/bin/env bash
# Operator mistakes are loud (issue 16): a wrong network key, a collector
# that is down, a wrong collector.pub, an agent key not listed (or listed
# without a SIGHUP), and a collector that takes the connection but does not
# answer. Each gives its own message naming what to fix, its own exit code,
# the collector's log line where there is one, and nothing acknowledged or
# queued is lost or sent twice.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
# new_key FILE: makes a network key; prints its id as keygen reports it
new_key() {
    "$AGENT" keygen --network-key "$1" | sed -n 's/.*(key id \([0-9]*\))$/\1/p'
}
RIGHT=$(new_key "$TMP/network.key")
WRONG=$(new_key "$TMP/wrong.key")
OTHER=$(new_key "$TMP/other.key")

# stat NAME: a collector counter (admin), 0 when absent
stat() { counter "$@"; }
# export FILE PREFIX COUNT AREA: COUNT cases, each with its own phone number
export_file() {
    local i
    for i in $(seq 1 "$3"); do
        case_line "$2-$i" 3 "$4" "[{\"kind\":\"phone\",\"value\":\"+4477009$(printf %05d "$i")\"}]"
    done >"$1"
}

# --- the collector knows its network key: [network] key_ids ----------------
cat >"$TMP/bad.conf" <<CONF
[collector]
data_dir = $TMP/nowhere

[network]
key_ids = $RIGHT until 2027-02-30
CONF
run_rc rc "$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/bad.conf" -n
expect_eq "-n: bad key_ids exit" "$rc" "1"
expect_eq "-n: names file, line and key" "$(cat "$TMP/err")" \
    "tessera-collector: $TMP/bad.conf:5: network.key_ids: '2027-02-30' is not a date (YYYY-MM-DD)"
run_rc rc "$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/bad.conf"
expect_eq "start: bad key_ids refused too" "$rc/$(cat "$TMP/err")" \
    "1/tessera-collector: $TMP/bad.conf:5: network.key_ids: '2027-02-30' is not a date (YYYY-MM-DD)"
expect_eq "nothing made before the refusal" "$([ -e "$TMP/nowhere" ] && echo made || echo none)" "none"
EXTRA_CONF=$'\n[network]\nkey_ids = '"$RIGHT"
sed -i "s/until 2027-02-30/until 2027-03-01, $WRONG/" "$TMP/bad.conf"
run_rc rc "$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/bad.conf" -n
expect_eq "-n: a rotation's two keys" "$rc/$(tail -n 1 "$TMP/out")" \
    "0/network key ids: $RIGHT until 2027-03-01, $WRONG"

start_collector "$DATA"
staff admin liaison
agency leeds-01 school E08000035
kill -HUP "$COLLECTOR_PID"
sleep 0.3
LEEDS=(--config "$TMP/leeds-01/agent.conf")
export_file "$TMP/leeds.jsonl" L 3 E08000035
submit_as leeds-01 "$TMP/leeds.jsonl"
expect_eq "the right key is accepted" "$(stat agency:leeds-01)" "3"

# --- a wrong network key ------------------------------------------------------
# init cannot check it (the collector answers only listed keys) and says so
run_rc rc "$AGENT" init "${ALLOW_ROOT[@]}" --dir "$TMP/york-01" --agency-id york-01 --agency-type school \
    --area E06000014 --network-key "$TMP/wrong.key" --server-key "$DATA/collector.pub" --collector "$INGEST"
expect_eq "init exit" "$rc" "0"
expect_eq "init: checked what it could" "$(sed -n 1,2p "$TMP/out")" \
    "collector       $INGEST: reachable, and $DATA/collector.pub is its public key
network key id  $WRONG: checked by 'tessera-agent status' once the line below is in the collector's authorized_clients"
tail -n 1 "$TMP/out" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
YORK=(--config "$TMP/york-01/agent.conf")
WRONG_MSG="tessera-agent: wrong network key: this agent's network key $TMP/wrong.key ($TMP/york-01/agent.conf:13 ([keys] network_key)) has key id $WRONG, but the collector at $INGEST accepts only $RIGHT. Records under it would never link with other agencies' records, so"
# status refuses
run_rc rc "$AGENT" status "${ALLOW_ROOT[@]}" "${YORK[@]}"
expect_eq "status: wrong key exit" "$rc" "7"
expect_eq "status: says why and how to recover" "$(cat "$TMP/err")" \
    "$WRONG_MSG nothing can be queued or sent. Install the network's key (key id $RIGHT) as $TMP/wrong.key, then run this again."
expect_contains "status: the collector's key id" "$(cat "$TMP/out")" \
    "collector       reachable (answered in"
expect_contains "status: and this agent's" "$(cat "$TMP/out")" "; accepts network key id $RIGHT, not this agent's"
expect_contains "status: own key id" "$(cat "$TMP/out")" "network key id  $WRONG ($TMP/wrong.key)"
# submit refuses before anything is queued
export_file "$TMP/york.jsonl" Y 4 E06000014
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${YORK[@]}" "$TMP/york.jsonl"
expect_eq "submit: wrong key exit" "$rc" "7"
expect_eq "submit: nothing queued" "$(cat "$TMP/err")" \
    "$WRONG_MSG nothing new was queued or sent. Install the network's key (key id $RIGHT) as $TMP/wrong.key, then run this again."
expect_contains "submit: outbox empty" "$("$AGENT" status "${ALLOW_ROOT[@]}" "${YORK[@]}" 2>/dev/null || true)" "queued          0"

# records queued under the wrong key while the collector was away are held back
stop_collector
sed -i 's/^\[agent\]/[agent]\ntimeout_ms = 500\nattempts = 1/' "$TMP/york-01/agent.conf"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${YORK[@]}" "$TMP/york.jsonl"
expect_eq "queued while away: exit" "$rc" "3"
expect_contains "queued while away: 4" "$(cat "$TMP/err")" "4 record(s) stay queued and go next time."
start_collector "$DATA"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${YORK[@]}"
expect_eq "held: exit" "$rc" "7"
expect_eq "held: says how to recover" "$(tail -n 1 "$TMP/err")" \
    "tessera-agent: 4 record(s) queued under network key id $WRONG are held back, not sent: the collector accepts only $RIGHT. Install the network's key as $TMP/wrong.key, then submit the same exports again (tessera-agent submit FILE...): their new versions replace the held records."
run_rc rc "$AGENT" status "${ALLOW_ROOT[@]}" "${YORK[@]}"
expect_contains "held: status shows them" "$(cat "$TMP/out")" \
    "held back       4 (under network key id $WRONG, which the collector does not accept)"
expect_eq "held: nothing of york-01 reached the collector" \
    "$(stat agency:york-01)/$(stat records)/$(stat rejected:wrong_network_key)" "0/3/0"

# recovery: the right key in place, the same export again replaces the held records
cp "$TMP/network.key" "$TMP/wrong.key"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${YORK[@]}" "$TMP/york.jsonl"
expect_eq "recovered: exit" "$rc" "0"
expect_contains "recovered: the held records replaced" "$(cat "$TMP/err")" \
    "$TMP/york.jsonl: 4 record(s) held under another network key replaced by these new versions"
expect_contains "recovered: each sent once" "$(cat "$TMP/err")" \
    "delivered: 4 accepted, 0 already there, 0 updated, 0 withdrawn, 0 rejected"
run_rc rc "$AGENT" status "${ALLOW_ROOT[@]}" "${YORK[@]}"
expect_eq "recovered: status exit" "$rc" "0"
expect_contains "recovered: outbox empty" "$(cat "$TMP/out")" "queued          0"
expect_eq "recovered: all of york-01 once, nothing under the wrong key" \
    "$(stat agency:york-01)/$(stat records)/$(stat rejected:wrong_network_key)" "4/7/0"
wait_entries() { entries "$DATA" records >/dev/null; }
wait_entries
# the recovered records link: Leeds' case L-1 and York's Y-1 share a phone number
run_rc rc "$CLI" lookup --collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/liaison.key" \
    --network-key "$TMP/network.key" --kind phone +447700900001
expect_eq "lookup: exit" "$rc" "0"
expect_contains "lookup: the two agencies link" "$(cat "$TMP/out")" "agencies:  leeds-01, york-01"

# a raw client's record under the wrong key is refused per record, naming both ids
"$CLI" keygen --curve "$TMP/raw" >/dev/null
echo "$(grep -v '^#' "$TMP/raw.pub") agent raw-01 E08000035" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
export_file "$TMP/raw.jsonl" R 2 E08000035
out=$("$TESTCLIENT" submit "$INGEST" "$DATA/collector.pub" "$TMP/raw.key" "$TMP/other.key" raw-01 1 "$TMP/raw.jsonl")
expect_eq "raw: both refused" "$out" "status=1 accepted=0 duplicates=0 replaced=0 retracted=0 rejected=2
rejected 0 7 token under network key id $OTHER; this collector accepts only $RIGHT
rejected 1 7 token under network key id $OTHER; this collector accepts only $RIGHT"
expect_eq "raw: counted under their reason" "$(stat rejected:wrong_network_key)/$(stat records)" "2/7"
expect_contains "raw: the collector's log names the agency and both ids" "$(cat "$TMP/collector.log")" \
    "warn ingest: raw-01: 2 record(s) refused (WRONG_NETWORK_KEY): token under network key id $OTHER; this collector accepts only $RIGHT. The agency's network.key is not this network's"

# the liaison's lookup under the wrong key is refused, not answered "not known"
run_rc rc "$CLI" lookup --collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/liaison.key" \
    --network-key "$TMP/other.key" --kind phone +447700900001
expect_eq "lookup wrong key: exit" "$rc" "7"
expect_eq "lookup wrong key: names the file and both ids" "$(cat "$TMP/err")" \
    "tessera lookup: wrong network key: token under network key id $OTHER; this collector accepts only $RIGHT
tessera lookup: --network-key $TMP/other.key has key id $OTHER, but the collector accepts only $RIGHT: nothing was looked up. Use the network's key (key id $RIGHT), the one the agencies hold."
expect_eq "lookup wrong key: no answer printed" "$(cat "$TMP/out")" ""

# --- the collector down ------------------------------------------------------------
sed -i 's/^\[agent\]/[agent]\ntimeout_ms = 500\nattempts = 2/' "$TMP/leeds-01/agent.conf"
export_file "$TMP/leeds2.jsonl" M 2 E08000035
stop_collector
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${LEEDS[@]}" "$TMP/leeds2.jsonl"
expect_eq "down: exit" "$rc" "3"
expect_eq "down: message" "$(tail -n 1 "$TMP/err")" \
    "tessera-agent: cannot reach the collector at $INGEST: nothing is listening there (connection refused). Is tessera-collector running there, and is the endpoint ($TMP/leeds-01/agent.conf:8 ([collector] endpoint)) right? 2 record(s) stay queued and go next time."
run_rc rc "$CLI" stats --collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/admin.key"
expect_eq "down: tessera exit" "$rc" "3"
expect_eq "down: tessera message" "$(cat "$TMP/err")" \
    "tessera stats: cannot reach the collector at $QUERY: nothing is listening there (connection refused). Is tessera-collector running there, and is the endpoint (--collector) right?"
start_collector "$DATA"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${LEEDS[@]}"
expect_eq "down: delivered once back" "$rc/$(stat agency:leeds-01)/$(stat records)" "0/5/9"

# --- a wrong collector.pub -----------------------------------------------------------
"$CLI" keygen --curve "$TMP/impostor" >/dev/null
run_rc rc "$AGENT" init "${ALLOW_ROOT[@]}" --dir "$TMP/hull-01" --agency-id hull-01 --agency-type school --area E06000010 \
    --network-key "$TMP/network.key" --server-key "$TMP/impostor.pub" --collector "$INGEST"
expect_eq "init wrong pub: exit" "$rc" "4"
expect_eq "init wrong pub: message" "$(cat "$TMP/err")" \
    "tessera-agent init: wrong collector public key in $TMP/impostor.pub: the collector at $INGEST refused the CURVE handshake, so that key is not its key. Copy collector.pub from the collector's data directory to $TMP/impostor.pub (--server-key). Nothing was written."
expect_eq "init wrong pub: nothing written" "$(ls "$TMP/hull-01")" ""
sed -i "s|^server_key = .*|server_key = $TMP/impostor.pub|" "$TMP/leeds-01/agent.conf"
export_file "$TMP/leeds3.jsonl" N 1 E08000035
t0=$(date +%s%N)
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${LEEDS[@]}" "$TMP/leeds3.jsonl"
t1=$(date +%s%N)
expect_eq "wrong pub: exit" "$rc" "4"
expect_eq "wrong pub: message" "$(tail -n 1 "$TMP/err")" \
    "tessera-agent: wrong collector public key in $TMP/impostor.pub: the collector at $INGEST refused the CURVE handshake, so that key is not its key. Copy collector.pub from the collector's data directory to $TMP/impostor.pub ($TMP/leeds-01/agent.conf:9 ([collector] server_key)). 1 record(s) stay queued and go next time."
expect_eq "wrong pub: no retries to wait for" "$(( (t1 - t0) / 1000000 < 2500 ))" "1"
expect_contains "wrong pub: the collector's log" "$(cat "$TMP/collector.log")" \
    "warn ingest: refused a handshake on $INGEST: its CURVE HELLO cannot be decrypted: it holds another collector's public key. Give it this collector's collector.pub"
run_rc rc "$CLI" stats --collector "$QUERY" --server-key "$TMP/impostor.pub" --key "$TMP/admin.key"
expect_eq "wrong pub: tessera exit" "$rc" "4"
expect_contains "wrong pub: tessera names the option" "$(cat "$TMP/err")" \
    "tessera stats: wrong collector public key in $TMP/impostor.pub: the collector at $QUERY refused the CURVE handshake"
expect_contains "wrong pub: query log" "$(cat "$TMP/collector.log")" "warn query: refused a handshake on $QUERY"
sed -i "s|^server_key = .*|server_key = $DATA/collector.pub|" "$TMP/leeds-01/agent.conf"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${LEEDS[@]}"
expect_eq "wrong pub: delivered once fixed" "$rc/$(stat agency:leeds-01)/$(stat records)" "0/6/10"

# --- an agent key not listed, then listed without SIGHUP ---------------------------------
run_rc rc "$AGENT" init "${ALLOW_ROOT[@]}" --dir "$TMP/hull-01" --agency-id hull-01 --agency-type school --area E06000010 \
    --network-key "$TMP/network.key" --server-key "$DATA/collector.pub" --collector "$INGEST"
HULL_LINE=$(tail -n 1 "$TMP/out")
HULL_KEY=${HULL_LINE%% *}
HULL=(--config "$TMP/hull-01/agent.conf")
export_file "$TMP/hull.jsonl" H 2 E06000010
NOT_LISTED="tessera-agent: the collector at $INGEST refused this agent's key: add the line \`$HULL_LINE\` to the collector's authorized_clients and send the collector SIGHUP (a line added without SIGHUP is not in force). 2 record(s) stay queued and go next time."
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${HULL[@]}" "$TMP/hull.jsonl"
expect_eq "not listed: exit" "$rc" "5"
expect_eq "not listed: message" "$(tail -n 1 "$TMP/err")" "$NOT_LISTED"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${HULL[@]}"
expect_eq "not listed again: exit" "$rc" "5"
expect_eq "not listed: one log line for two refusals (rate-limited)" \
    "$(grep -cF "denied unlisted key $HULL_KEY from 127.0.0.1: it is not in authorized_clients (add its line there, then send the collector SIGHUP: a line added without one is not in force)" "$TMP/collector.log")" "1"
echo "$HULL_LINE" >>"$DATA/authorized_clients"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${HULL[@]}"
expect_eq "listed without SIGHUP: still refused" "$rc/$(tail -n 1 "$TMP/err")" "5/$NOT_LISTED"
run_rc rc "$CLI" stats --collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/impostor.key"
expect_eq "not listed: tessera exit" "$rc" "5"
expect_eq "not listed: tessera names the line" "$(cat "$TMP/err")" \
    "tessera stats: the collector at $QUERY refused your key: add the line \`$(grep -v '^#' "$TMP/impostor.pub") admin YOUR-ID *\` to the collector's authorized_clients and send the collector SIGHUP (a line added without SIGHUP is not in force)."
kill -HUP "$COLLECTOR_PID"
sleep 0.3
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${HULL[@]}"
expect_eq "listed and SIGHUP: delivered once" "$rc/$(stat agency:hull-01)/$(stat records)" "0/2/12"

# --- timed out while connected ------------------------------------------------------------
# a collector that authenticates and never answers
"$TESTCLIENT" mute "tcp://127.0.0.1:$((PORT_BASE + 5))" "$DATA/collector.key" "$DATA/authorized_clients" \
    >"$TMP/mute.out" 2>&1 &
MUTE=$!
for _ in $(seq 50); do grep -q listening "$TMP/mute.out" && break; sleep 0.1; done
cp "$TMP/hull-01/agent.conf" "$TMP/hull-01/mute.conf"
sed -i "s|^endpoint = .*|endpoint = tcp://127.0.0.1:$((PORT_BASE + 5))|; s/^\[agent\]/[agent]\ntimeout_ms = 400\nattempts = 2/" \
    "$TMP/hull-01/mute.conf"
export_file "$TMP/hull2.jsonl" I 1 E06000010
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" --config "$TMP/hull-01/mute.conf" "$TMP/hull2.jsonl"
kill "$MUTE"
wait "$MUTE" || true
expect_eq "timed out: exit" "$rc" "6"
expect_eq "timed out: message" "$(tail -n 1 "$TMP/err")" \
    "tessera-agent: the collector at tcp://127.0.0.1:$((PORT_BASE + 5)) accepted the connection and this agent's key but did not answer within 400 ms: it may be busy or stopping. 1 record(s) stay queued and go next time. If it keeps happening, look at the collector's log, or raise $TMP/hull-01/mute.conf:20 ([agent] timeout_ms)."
# a hung collector: the connection is taken, the handshake never completes
sed -i 's/^\[agent\]/[agent]\ntimeout_ms = 400\nattempts = 2/' "$TMP/hull-01/agent.conf"
kill -STOP "$COLLECTOR_PID"
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${HULL[@]}"
kill -CONT "$COLLECTOR_PID"
expect_eq "hung: exit" "$rc" "6"
expect_eq "hung: message" "$(tail -n 1 "$TMP/err")" \
    "tessera-agent: the collector at $INGEST took the connection but did not complete the handshake within 400 ms: it may be hung or overloaded, or not a Tessera collector. 1 record(s) stay queued and go next time. If it keeps happening, look at the collector's log, or raise $TMP/hull-01/agent.conf:20 ([agent] timeout_ms)."
run_rc rc "$AGENT" submit "${ALLOW_ROOT[@]}" "${HULL[@]}"
expect_eq "timed out: delivered once back" "$rc/$(stat agency:hull-01)/$(stat records)" "0/3/13"
expect_eq "nothing twice: every record once" "$(entries "$DATA" records)" "13"

# --- without key_ids: the first key id is pinned, loudly ------------------------------------
stop_collector
EXTRA_CONF=""
DATA="$TMP/data2"
start_collector "$DATA"
expect_contains "unset: the collector says what it will do" "$(cat "$TMP/collector.log")" \
    "warn collector: [network] key_ids is not set: the first network key id a record brings will be pinned, and records under any other refused; set key_ids to the id 'tessera-agent keygen' printed to choose it yourself"
"$CLI" keygen --curve "$TMP/first" >/dev/null
"$CLI" keygen --curve "$TMP/second" >/dev/null
echo "$(grep -v '^#' "$TMP/first.pub") agent first-01 E08000035" >>"$DATA/authorized_clients"
echo "$(grep -v '^#' "$TMP/second.pub") agent second-01 E08000035" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
out=$("$TESTCLIENT" submit "$INGEST" "$DATA/collector.pub" "$TMP/first.key" "$TMP/network.key" first-01 1 "$TMP/raw.jsonl")
expect_eq "pin: the first is accepted" "$(head -n 1 <<<"$out")" "status=1 accepted=2 duplicates=0 replaced=0 retracted=0 rejected=0"
expect_contains "pin: logged loudly" "$(cat "$TMP/collector.log")" \
    "warn store: network key id $RIGHT pinned: no [network] key_ids are configured, and the first record with tokens (from first-01) was under it."
export_file "$TMP/second.jsonl" S 1 E08000035
out=$("$TESTCLIENT" submit "$INGEST" "$DATA/collector.pub" "$TMP/second.key" "$TMP/other.key" second-01 1 "$TMP/second.jsonl")
expect_eq "pin: another key refused" "$(tail -n 1 <<<"$out")" \
    "rejected 0 7 token under network key id $OTHER; this collector accepts only $RIGHT"
stop_collector
start_collector "$DATA"
out=$("$TESTCLIENT" submit "$INGEST" "$DATA/collector.pub" "$TMP/second.key" "$TMP/other.key" second-01 2 "$TMP/second.jsonl")
expect_eq "pin: kept across a restart" "$(tail -n 1 <<<"$out")" \
    "rejected 0 7 token under network key id $OTHER; this collector accepts only $RIGHT"
finish
