#!/usr/bin/env bash
# Hostile and faulty peers (issue 15): memory stays bounded before decoding,
# every batch that can be answered is answered, and the frame limit means
# the payload. The collector's peak RSS is read from /proc/PID/status
# (VmHWM), so this test needs Linux.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
MIB=$((1 << 20))

"$TSR_BUILD_DIR/agent/tessera-agent" keygen --network-key "$TMP/network.key" >/dev/null
for k in leeds analyst admin; do "$CLI" keygen --curve "$TMP/$k" >/dev/null; done
pub() { grep -v '^#' "$TMP/$1.pub"; }
start_collector "$DATA"
SERVER="$DATA/collector.pub"
cat >"$DATA/authorized_clients" <<AC
$(pub leeds)   agent   leeds-cs-01  E08000035
$(pub analyst) analyst yh-analyst-1 E12000003
$(pub admin)   admin   ops-1        *
AC
kill -HUP "$COLLECTOR_PID"
sleep 0.3

# raw KEY SHAPE SIZE BATCH_ID COUNT (testclient.c says what each shape is)
raw() { "$TESTCLIENT" raw "$INGEST" "$SERVER" "$TMP/$1.key" "$2" "$3" "$4" "$5"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$COLLECTOR_PID/status"; }

# 0. a valid batch first, so the baseline holds a working collector
out=$(raw leeds one 0 1 1)
expect_eq "valid batch accepted" "$(field accepted "$out")" "1"
base=$(hwm_kib)

# 1. ten 4 MiB frames of empty incidents from a listed agent: each answered
#    MALFORMED with the reason, and the peak RSS grows by less than 64 MiB
n_empty=$(((4 * MIB - 32) / 2))
out=$(raw leeds empty $((4 * MIB)) 2 10)
expect_eq "ten answers" "$(grep -c '^status=4 ' <<<"$out")" "10"
expect_contains "says why" "$out" "error=incidents: batch of $n_empty incidents is over the limit of 1000"
peak=$(hwm_kib)
grew=$(((peak - base) / 1024))
echo "collector VmHWM: ${base} KiB before, ${peak} KiB after ten 4 MiB frames (+${grew} MiB)"
if [ "$grew" -lt 64 ]; then PASSES=$((PASSES + 1)); else
    echo "FAIL: peak RSS grew by $grew MiB (limit 64)" >&2; FAILS=$((FAILS + 1)); fi

# 2. ...and a valid batch is answered afterwards
out=$(raw leeds one 0 3 1)
expect_eq "valid batch after the flood" "$(field accepted "$out")" "1"

# 3. a decodable batch of 1,500 items gets an Ack that says why
out=$(raw leeds many:1500 0 4 1)
expect_eq "1500 items: MALFORMED" "$(field status "$out")" "4"
expect_contains "1500 items: why" "$out" "error=incidents: batch of 1500 incidents is over the limit of 1000"

# 4. the frame limit is the payload: exactly max_frame_mib is taken (CURVE's
#    overhead is allowed for), one byte more is answered with the reason
out=$(raw leeds one $((4 * MIB)) 5 1)
expect_eq "exactly 4 MiB: accepted" "$(field accepted "$out")" "1"
out=$(raw leeds one $((4 * MIB + 1)) 6 1)
expect_eq "4 MiB + 1: MALFORMED" "$(field status "$out")" "4"
expect_contains "4 MiB + 1: why" "$out" "error=frame of $((4 * MIB + 1)) bytes is over the limit of $((4 * MIB)) (max_frame_mib = 4)"

# 5. an analyst's 4 MiB batch is refused on its role, before any decode
out=$(raw analyst empty $((4 * MIB)) 7 3)
expect_eq "analyst: three DENIED" "$(grep -c '^status=3 ' <<<"$out")" "3"
expect_contains "analyst: why" "$out" "error=analysts may not submit"
peak2=$(hwm_kib)
# (64 MiB, not less: under ASan its quarantine keeps freed receive buffers)
expect_eq "no new peak from the analyst" "$((peak2 - peak < 64 * 1024))" "1"

# 6. the log names the peer, at most one line per peer per 10 s
lines=$(grep -c 'leeds-cs-01: malformed frame answered MALFORMED' "$TMP/collector.log" || true)
expect_contains "log names peer and reason" "$(cat "$TMP/collector.log")" \
    "leeds-cs-01: malformed frame answered MALFORMED (incidents: batch of $n_empty incidents"
if [ "$lines" -ge 1 ] && [ "$lines" -le 3 ]; then PASSES=$((PASSES + 1)); else
    echo "FAIL: $lines malformed lines for leeds-cs-01 (rate limit: one per 10 s)" >&2
    FAILS=$((FAILS + 1)); fi
st=$("$CLI" stats --collector "$QUERY" --server-key "$SERVER" --key "$TMP/admin.key" --format csv)
expect_eq "malformed counted" "$(grep '^malformed_frames,' <<<"$st")" "malformed_frames,12"
kill -0 "$COLLECTOR_PID" && PASSES=$((PASSES + 1))
finish
