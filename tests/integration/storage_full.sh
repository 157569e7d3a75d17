#!/usr/bin/env bash
# When the map is at its maximum, batches get RETRY_LATER, no batch is
# acknowledged in part, and the collector keeps answering.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
"$TSR_BUILD_DIR/agent/tessera-agent" keygen --network-key "$TMP/network.key" >/dev/null
"$CLI" keygen --curve "$TMP/agent" >/dev/null
EXTRA_CONF=$'[storage]\nmap_size_mib = 1\nmap_step_mib = 1\nmap_max_mib = 2'
start_collector "$DATA"
echo "$(grep -v '^#' "$TMP/agent.pub") agent a-1 E08000035" >"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
status=1
for b in $(seq 1 40); do
    for i in $(seq 1 1000); do
        printf '{"case_ref":"c-%d-%d","reported_date":"2026-10-01","area_code":"E08000035","identifiers":[{"kind":"phone","value":"+4477009%05d"},{"kind":"email","value":"x%d.%d@example.org"}]}\n' \
            "$b" "$i" "$i" "$b" "$i"
    done >"$TMP/batch.jsonl"
    out=$("$TESTCLIENT" submit "$INGEST" "$DATA/collector.pub" "$TMP/agent.key" "$TMP/network.key" a-1 "$b" "$TMP/batch.jsonl")
    status=$(field status "$out")
    [ "$status" = "2" ] && break
done
expect_eq "map full answers RETRY_LATER" "$status" "2"
# what was acknowledged is in the ingest log (applied or waiting: the
# apply cannot put all of it into a full map); every record new, so one
# entry each
logged=$(logged_total "$DATA")
stored=$(db_entries "$DATA" records)
expect_eq "only whole batches acknowledged" "$((logged % 1000))" "0"
expect_eq "some batches were" "$([ "$logged" -ge 1000 ] && echo yes)" "yes"
expect_eq "no more stored than acknowledged" "$([ "$stored" -le "$logged" ] && echo yes)" "yes"
# still alive and answering: a small batch of records already stored is all duplicates
head -n 1 "$TMP/batch.jsonl" >"$TMP/one.jsonl"
out=$("$TESTCLIENT" submit "$INGEST" "$DATA/collector.pub" "$TMP/agent.key" "$TMP/network.key" a-1 99 "$TMP/one.jsonl")
kill -0 "$COLLECTOR_PID" && PASSES=$((PASSES + 1))
expect_contains "still answering" "$out" "status="
finish
