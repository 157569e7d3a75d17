#!/usr/bin/env bash
# kill -9 the collector 50 times while an agent streams batches: every
# acknowledged record is there afterwards, and nothing is there twice. An Ack
# follows the commit of the ingest log; the kills land with entries waiting
# in it, and each restart applies them, once (docs/STORAGE.md).
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
"$CLI" keygen --curve "$TMP/agent" >/dev/null
"$CLI" keygen --curve "$TMP/admin" >/dev/null
start_collector "$DATA"
{
    echo "$(grep -v '^#' "$TMP/agent.pub") agent leeds-cs-01 E08000035"
    echo "$(grep -v '^#' "$TMP/admin.pub") admin ops-1 *"
} >"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
COUNT=1500
"$TESTCLIENT" stream "$INGEST" "$DATA/collector.pub" "$TMP/agent.key" leeds-cs-01 1 "$COUNT" "$TMP/acked" &
STREAM=$!
kills=0
with_log=0
while [ "$kills" -lt 50 ] && kill -0 "$STREAM" 2>/dev/null; do
    sleep "0.0$((RANDOM % 9 + 1))"
    kill -9 "$COLLECTOR_PID" 2>/dev/null || true
    wait "$COLLECTOR_PID" 2>/dev/null || true
    kills=$((kills + 1))
    [ "$(db_entries "$DATA" ingest_log)" -gt 0 ] && with_log=$((with_log + 1))
    start_collector "$DATA"
done
wait "$STREAM"
expect_eq "kills" "$kills" "50"
expect_eq "every batch acknowledged once in the log" "$(cut -d' ' -f1 "$TMP/acked" | sort -u | wc -l)" "$COUNT"
# how often depends on timing; tests/unit/test_store.c replays a log
# deterministically
echo "$with_log of the kills left acknowledged entries waiting in the ingest log"
# counters count once per acknowledged record: applied twice, "records"
# would exceed what the index holds
st=$("$CLI" stats --collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/admin.key" --format csv)
expect_eq "records counted once" "$(grep '^records,' <<<"$st")" "records,$COUNT"
expect_eq "accepted counted once" "$(grep '^accepted,' <<<"$st")" "accepted,$COUNT"
stop_collector
expect_eq "records stored" "$(entries "$DATA" records)" "$COUNT"
expect_eq "index entries" "$(entries "$DATA" by_area_day)" "$COUNT"
expect_eq "token entries" "$(entries "$DATA" by_token)" "$COUNT"
finish
