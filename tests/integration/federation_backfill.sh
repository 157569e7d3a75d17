#!/usr/bin/env bash
# Federation joined late (issue 19, docs/FEDERATION.md "Backfill"): a
# regional collector that held records before it was given an [upstream]
# sends them all on its first start with one, before any later change; the
# national store then holds exactly its records (ids and versions); a later
# record follows as usual; a restart sends nothing twice; after
# `tessera-collector upstream-resend` the next start sends them all again.
source "$(dirname "$0")/lib.sh"
# shellcheck source=federation_lib.sh
source "$(dirname "$0")/federation_lib.sh"
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null

start_national
echo "$(relay_pub yh) relay yh-collector E12000003" >>"$TMP/nat/authorized_clients"
staff_in nat
kill -HUP "${PID[nat]}"

# Yorkshire runs on its own first: no [upstream]
NO_UPSTREAM=1 start_node yh
staff_in yh
agency_at yh leeds-school school E08000035
agency_at yh bradford-police police E08000032
kill -HUP "${PID[yh]}"
sleep 0.3
for i in 1 2 3 4 5; do
    case_line "L-$i" "$i" E08000035 "[{\"kind\":\"phone\",\"value\":\"07700 90010$i\"}]"
done >"$TMP/leeds.jsonl"
case_line B-1 6 E08000032 '[{"kind":"phone","value":"07700 900101"}]' >"$TMP/bradford.jsonl"
submit_as leeds-school "$TMP/leeds.jsonl"
submit_as bradford-police "$TMP/bradford.jsonl"
# L-1 again, changed: version 2 replaces it
case_line L-1 7 E08000035 '[{"kind":"phone","value":"07700 900101"}]' >"$TMP/leeds2.jsonl"
submit_as leeds-school "$TMP/leeds2.jsonl"
yh_records() { [ "$(records yh | wc -l)" = "$1" ]; }
wait_until "Yorkshire applies its six records" yh_records 6
expect_eq "one record at version 2" "$(records yh | awk '$2 == 2' | wc -l)" "1"
expect_eq "nothing national yet" "$(records nat | wc -l)" "0"

# given the [upstream]: the six held are sent, once
wait_until "Yorkshire's log is applied" queue_empty yh
stop_node yh
start_node yh
wait_until "the national store holds Yorkshire's history" same_records yh
expect_eq "national: the six, ids and versions" "$(relayed yh | wc -l)" "6"
expect_contains "the backfill is logged" "$(cat "$TMP/yh.log")" \
    "upstream backfill: queued 6 records held before the [upstream] was set (this start); they are sent before any later change. Not sent: 0 under a network key not accepted today, 0 damaged"
# shellcheck disable=SC2046
expect_eq "the national liaison is told of the Leeds-Bradford link" \
    "$("$CLI" alerts $(q nat liaison) --since 0 --format json --state "$TMP/nat.seq" | grep -c .)" "1"

# a later record follows as usual
case_line L-6 8 E08000035 '[{"kind":"phone","value":"07700 900199"}]' >"$TMP/leeds3.jsonl"
submit_as leeds-school "$TMP/leeds3.jsonl"
wait_until "the later record follows" bash -c "[ \"\$(mdb_stat -s records '$TMP/nat/db' | awk '/Entries/ { print \$2 }')\" = 7 ]"
expect_eq "national holds exactly Yorkshire's records" "$(relayed yh)" "$(records yh)"

# a restart backfills nothing again (once the queue is empty, so that an
# Ack's removal still on its way is not counted as a resend)
wait_until "Yorkshire's queue drains" queue_empty yh
dups=$(counter nat duplicates)
stop_node yh
start_node yh
sleep 0.5
expect_eq "one backfill in the log" "$(grep -c 'upstream backfill: queued' "$TMP/yh.log")" "1"
expect_eq "nothing queued upstream" "$(db_entries "$TMP/yh" upstream)" "0"
dups2=$(counter nat duplicates)
expect_eq "national: 7 accepted, nothing resent by the restart" \
    "$(counter nat accepted)/${dups2:-0}" "7/${dups:-0}"

# upstream-resend (say, a new national collector): the next start sends all
# again; here the same national collector counts them as duplicates
run_rc rc "$COLLECTOR" upstream-resend "${ALLOW_ROOT[@]}" --config "$TMP/yh.conf"
expect_eq "upstream-resend says what the next start sends" "$rc/$(cat "$TMP/out")" \
    "0/the next start with an [upstream] sends the 7 records held now (and any since) to the collector upstream"
stop_node yh
start_node yh
resent() { d=$(counter nat duplicates); [ "${d:-0}" = $((${dups2:-0} + 7)) ]; }
wait_until "the seven arrive again, as duplicates" resent
expect_eq "a second backfill in the log" "$(grep -c 'upstream backfill: queued 7 records' "$TMP/yh.log")" "1"
expect_eq "national still holds exactly Yorkshire's records" "$(relayed yh)" "$(records yh)"
run_rc rc "$COLLECTOR" upstream-resend "${ALLOW_ROOT[@]}" --data "$TMP/nowhere"
expect_eq "upstream-resend without a store says so" "$rc/$(cat "$TMP/err")" \
    "1/tessera-collector upstream-resend: $TMP/nowhere/db: no store here (is --data or the config's data_dir the collector's data directory?)"
finish
