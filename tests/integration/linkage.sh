#!/usr/bin/env bash
# Linkage end to end: agencies in different areas report the same offender
# phone number written differently; police liaison gets the alerts on the
# live stream and from the log, looks the number up, lists the cluster; a
# retraction that removes the only link splits the cluster and the next link
# alerts afresh; an analyst is refused everything record-level; every query
# is audited; a subscriber stopped in a burst of alerts and restarted sees
# each alert exactly once, in order.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
EXTRA_CONF="log_level = info" # the "alert raised" lines (section 11)
start_collector "$DATA"

agency leeds-school school E08000035
agency leeds-police police E08000035
agency bradford-school school E08000032
agency york-school school E06000014
staff liaison analyst admin
kill -HUP "$COLLECTOR_PID"
sleep 0.3
Q=(--collector "$QUERY" --server-key "$DATA/collector.pub")
LIAISON=("${Q[@]}" --key "$TMP/liaison.key")

alerts_json() { "$CLI" alerts "${LIAISON[@]}" --since 0 --format json --state "$TMP/scratch.seq"; }

# a liaison subscriber follows the stream from the start
"$CLI" alerts "${LIAISON[@]}" --alerts "$ALERTS" --follow --format json --state "$TMP/follow.seq" \
    >"$TMP/follow.out" 2>"$TMP/follow.err" &
FOLLOW=$!
sleep 0.5

# 1. the same phone in three notations at three agencies in two areas
case_line L-1 1 E08000035 '[{"kind":"phone","value":"07700 900123"},{"kind":"handle:instagram","value":"@Jake_2009"}]' >"$TMP/l1.jsonl"
case_line P-1 2 E08000035 '[{"kind":"phone","value":"+44 (0)7700 900123"}]' >"$TMP/p1.jsonl"
case_line B-1 3 E08000032 '[{"kind":"phone","value":"0044 7700 900123"},{"kind":"bank:uk","value":"20-20-15 55555555"}]' >"$TMP/b1.jsonl"
submit_as leeds-school "$TMP/l1.jsonl"
expect_eq "one record: no alert" "$(alerts_json | wc -l)" "0"
submit_as leeds-police "$TMP/p1.jsonl"
submit_as bradford-school "$TMP/b1.jsonl"
out=$(alerts_json)
expect_eq "two alerts so far" "$(wc -l <<<"$out")" "2"
expect_eq "first: two agencies in Leeds" "$(jq -r 'select(.seq == 1) | .trigger' <<<"$out")" \
    "first linked across 1 area and 2 agencies"
expect_eq "then Bradford: spanning both areas" "$(jq -r 'select(.seq == 2) | "\(.trigger) | \(.areas | join(","))"' <<<"$out")" \
    "new area E08000032, victims reached 3 | E08000032,E08000035"
expect_eq "three agencies named" "$(jq -r 'select(.seq == 2) | .agencies | join(",")' <<<"$out")" \
    "bradford-school,leeds-police,leeds-school"
expect_eq "three record ids" "$(jq -r 'select(.seq == 2) | .record_ids | length' <<<"$out")" "3"
expect_eq "linked by phone" "$(jq -r 'select(.seq == 2) | .token_kinds | join(",")' <<<"$out")" "phone"
CID=$(jq -r 'select(.seq == 2) | .cluster_id' <<<"$out")

# 2. a fourth agency, in York, through the bank account written as an IBAN: growth
case_line Y-1 4 E06000014 '[{"kind":"bank:iban","value":"GB33 BUKB 2020 1555 5555 55"}]' >"$TMP/y1.jsonl"
submit_as york-school "$TMP/y1.jsonl"
out=$(alerts_json)
expect_eq "growth alert" "$(jq -r 'select(.seq == 3) | "\(.cluster_id) \(.trigger)"' <<<"$out")" \
    "$CID new area E06000014"
expect_eq "linked by bank and phone" "$(jq -r 'select(.seq == 3) | .token_kinds | join(",")' <<<"$out")" "bank:uk,phone"
csv=$("$CLI" alerts "${LIAISON[@]}" --since 0 --format csv --state "$TMP/scratch.seq")
expect_eq "alerts csv: header and one row each" "$(head -n 1 <<<"$csv")/$(wc -l <<<"$csv")" \
    "seq,kind,created_at,cluster_id,series,method,period,observed,expected,threshold,areas,agencies,linked_by,record_ids,first_day,last_day,trigger,summary/4"
expect_eq "alerts csv: lists quoted, as json has them" \
    "$(sed -n 4p <<<"$csv" | cut -d, -f1,2,4-10)/$(sed -n 4p <<<"$csv" | grep -o ',"E06000014,E08000032,E08000035","bradford-school,leeds-police,leeds-school,york-school","bank:uk,phone",')" \
    "3,linkage,$CID,,,,,,/,\"E06000014,E08000032,E08000035\",\"bradford-school,leeds-police,leeds-school,york-school\",\"bank:uk,phone\","

# 3. lookup and cluster detail
look=$("$CLI" lookup "${LIAISON[@]}" --network-key "$TMP/network.key" --kind phone "+447700900123")
expect_contains "lookup knows the phone" "$look" "phone +447700900123: known"
expect_contains "lookup names the cluster" "$look" "cluster:   $CID (4 records in 3 areas from 4 agencies)"
expect_contains "lookup names York" "$look" "E06000014 York"
look=$("$CLI" lookup "${LIAISON[@]}" --network-key "$TMP/network.key" --kind phone "07700 900999")
expect_contains "unknown phone" "$look" "not known to the collector"
cl=$("$CLI" cluster "${LIAISON[@]}" "$CID")
expect_contains "cluster lists its records" "$cl" "cluster $CID: 4 records"
# columns as wide as their widest cell (issue 16), two spaces between
expect_contains "cluster row" "$cl" "bradford-school  E08000032  2026-10-03  13_15  bank:uk,phone  "
expect_contains "what joins York" "$cl" "york-school      E06000014  2026-10-04  13_15  bank:uk        instagram  money    fake_peer_persona"
expect_eq "cluster header" "$(sed -n 2p <<<"$cl" | tr -s ' ')" \
    "record agency area reported age linked_by platforms demands tactics"
# and for scripts: csv (a list quoted when it has a comma) and json
cl=$("$CLI" cluster "${LIAISON[@]}" --format csv "$CID")
expect_eq "cluster csv header" "$(head -n 1 <<<"$cl")" "record,agency,area,reported,age,linked_by,platforms,demands,tactics"
expect_eq "cluster csv rows" "$(tail -n +2 <<<"$cl" | cut -d, -f2- | sort)" \
"bradford-school,E08000032,2026-10-03,13_15,\"bank:uk,phone\",instagram,money,fake_peer_persona
leeds-police,E08000035,2026-10-02,13_15,phone,instagram,money,fake_peer_persona
leeds-school,E08000035,2026-10-01,13_15,phone,instagram,money,fake_peer_persona
york-school,E06000014,2026-10-04,13_15,bank:uk,instagram,money,fake_peer_persona"
cl=$("$CLI" cluster "${LIAISON[@]}" --format json "$CID")
expect_eq "cluster json" "$(jq -c '[.cluster, (.records | length), (.records[] | select(.agency == "bradford-school") | .linked_by)]' <<<"$cl")" \
    "[$CID,4,[\"bank:uk\",\"phone\"]]"
look=$("$CLI" lookup "${LIAISON[@]}" --network-key "$TMP/network.key" --kind phone --format json "+447700900123")
expect_eq "lookup json" "$(jq -c '[.kind, .value, .known, .cluster, .cluster_records, .areas, (.agencies | length), (.record_ids | length)]' <<<"$look")" \
    "[\"phone\",\"+447700900123\",true,$CID,4,[\"E06000014\",\"E08000032\",\"E08000035\"],4,4]"
look=$("$CLI" lookup "${LIAISON[@]}" --network-key "$TMP/network.key" --kind phone --format csv "07700 900999")
expect_eq "lookup csv, not known" "$look" "kind,value,known,cluster,cluster_records,areas,agencies,first_reported,last_reported,record_ids
phone,+447700900999,no,,,,,,,"

# the record id of an alert resolves only at its agency
rid=$(jq -r 'select(.seq == 3) | .record_ids[]' <<<"$out" | while read -r r; do
    "$AGENT" resolve "${ALLOW_ROOT[@]}" --config "$TMP/york-school/agent.conf" "$r" 2>/dev/null || true; done)
expect_eq "York resolves its own record" "$rid" "Y-1"

# 4. retracting Bradford's record removes the only link to York: a split, no alert
"$AGENT" retract "${ALLOW_ROOT[@]}" --config "$TMP/bradford-school/agent.conf" B-1 2>/dev/null
expect_eq "no alert for a split" "$(alerts_json | wc -l)" "3"
look=$("$CLI" lookup "${LIAISON[@]}" --network-key "$TMP/network.key" --kind bank:uk "20-20-15 55555555")
expect_contains "York is on its own" "$look" "cluster:   none (1 record in 1 area from 1 agency"
# and the next link is news again
case_line L-2 5 E08000035 '[{"kind":"bank:uk","value":"202015 55555555"},{"kind":"handle:instagram","value":"https://instagram.com/JAKE_2009"}]' >"$TMP/l2.jsonl"
submit_as leeds-school "$TMP/l2.jsonl"
out=$(alerts_json)
expect_eq "relinked York" "$(jq -r 'select(.seq == 4) | .trigger' <<<"$out")" "new area E06000014"

# 5. an analyst may not see linkage, look up or list a cluster; an agent may not query
AN=("${Q[@]}" --key "$TMP/analyst.key")
set +e
"$CLI" alerts "${AN[@]}" --kind linkage --since 0 >/dev/null 2>"$TMP/err"; rc=$?
expect_eq "analyst alerts exit" "$rc" "1"
expect_contains "analyst alerts refused" "$(cat "$TMP/err")" "permission denied"
"$CLI" lookup "${AN[@]}" --network-key "$TMP/network.key" --kind phone 07700900123 >/dev/null 2>"$TMP/err"; rc=$?
expect_eq "analyst lookup exit" "$rc" "1"
expect_contains "analyst lookup refused" "$(cat "$TMP/err")" "permission denied: lookups are for the liaison role only"
"$CLI" cluster "${AN[@]}" "$CID" >/dev/null 2>"$TMP/err"; rc=$?
expect_contains "analyst cluster refused" "$(cat "$TMP/err")" "permission denied"
out=$("$CLI" alerts "${AN[@]}" --since 0 --format json 2>/dev/null); rc=$?
expect_eq "analyst's own alerts hold no linkage" "$rc/$out" "0/"
timeout 5 "$CLI" alerts "${AN[@]}" --alerts "$ALERTS" --kind linkage --follow >/dev/null 2>"$TMP/err"; rc=$?
expect_eq "analyst cannot follow linkage" "$rc" "1"
"$CLI" lookup "${Q[@]}" --key "$TMP/leeds-school/agent.key" --network-key "$TMP/network.key" \
    --kind phone 07700900123 >/dev/null 2>"$TMP/err"; rc=$?
expect_eq "agent lookup exit" "$rc" "1"
expect_contains "agent may not query" "$(cat "$TMP/err")" "permission denied: agents may not query"
set -e
expect_contains "analyst kept off the stream" "$(cat "$TMP/collector.log")" "denied analyst-1 (analyst) on the alert stream"

# 6. the follower saw every alert once, in order
sleep 1.5
kill "$FOLLOW"
wait "$FOLLOW" || true
expect_eq "follower got 1..4 in order" "$(jq -r .seq "$TMP/follow.out" | tr '\n' ' ')" "1 2 3 4 "
expect_eq "follower state" "$(cat "$TMP/follow.seq")" "4"

# 7. a liaison key taken off the list loses the stream at the SIGHUP
"$CLI" keygen --curve "$TMP/liaison2" >/dev/null
echo "$(grep -v '^#' "$TMP/liaison2.pub") liaison liaison-2 *" >>"$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
"$CLI" alerts "${Q[@]}" --key "$TMP/liaison2.key" --alerts "$ALERTS" --follow --format json \
    --state "$TMP/l2.seq" >"$TMP/l2.out" 2>"$TMP/l2.err" &
F2=$!
sleep 1
grep -v ' liaison-2 ' "$DATA/authorized_clients" >"$TMP/ac" && cp "$TMP/ac" "$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.5
case_line R-1 7 E08000035 '[{"kind":"email","value":"removed@example.com"}]' >"$TMP/r1.jsonl"
case_line R-2 7 E08000032 '[{"kind":"email","value":"REMOVED@example.com"}]' >"$TMP/r2.jsonl"
submit_as leeds-school "$TMP/r1.jsonl"
submit_as bradford-school "$TMP/r2.jsonl"
sleep 1.5
# refused by the restarted stream, the follower stops and says why (issue 16)
for _ in $(seq 50); do kill -0 "$F2" 2>/dev/null || break; sleep 0.1; done
kill "$F2" 2>/dev/null || true
set +e
wait "$F2"; rc=$?
set -e
expect_eq "the removed key's follower stops: exit 5" "$rc" "5"
expect_contains "and says which line is missing" "$(cat "$TMP/l2.err")" \
    "tessera alerts: the collector at $ALERTS refused your key: add the line \`$(grep -v '^#' "$TMP/liaison2.pub") liaison YOUR-ID *\`"
expect_eq "the removed key saw the alerts before its removal only" \
    "$(jq -r .seq "$TMP/l2.out" | tr '\n' ' ')" "1 2 3 4 "
expect_eq "a listed liaison still gets alert 5" "$(alerts_json | jq -r 'select(.seq == 5) | .trigger')" \
    "first linked across 2 areas and 2 agencies"

# 8. a burst: the subscriber is stopped halfway and restarted; every alert once, in order
"$CLI" alerts "${LIAISON[@]}" --alerts "$ALERTS" --follow --format json --state "$TMP/burst.seq" --since 5 \
    >"$TMP/burst.out" 2>"$TMP/burst.err" &
FOLLOW=$!
sleep 0.5
for i in $(seq 1 30); do # each pair of records in two areas: one new alert
    case_line "BL-$i" 6 E08000035 "[{\"kind\":\"email\",\"value\":\"offender$i@example.com\"}]"
done >"$TMP/burst-l.jsonl"
for i in $(seq 1 30); do
    case_line "BB-$i" 6 E08000032 "[{\"kind\":\"email\",\"value\":\"Offender$i@Example.com\"}]"
done >"$TMP/burst-b.jsonl"
submit_as leeds-school "$TMP/burst-l.jsonl"
split -l 1 -d -a 2 --additional-suffix=.jsonl "$TMP/burst-b.jsonl" "$TMP/burst-b-"
n=0
for f in "$TMP"/burst-b-*; do
    submit_as bradford-school "$f"
    n=$((n + 1))
    if [ "$n" -eq 12 ]; then kill "$FOLLOW"; wait "$FOLLOW" || true; fi
    if [ "$n" -eq 20 ]; then
        "$CLI" alerts "${LIAISON[@]}" --alerts "$ALERTS" --follow --format json --state "$TMP/burst.seq" \
            >>"$TMP/burst.out" 2>>"$TMP/burst.err" &
        FOLLOW=$!
    fi
done
sleep 2
kill "$FOLLOW"
wait "$FOLLOW" || true
expect_eq "burst: 30 alerts, each once, in order" "$(jq -r .seq "$TMP/burst.out" | tr '\n' ' ')" \
    "$(seq 6 35 | tr '\n' ' ')"

# 9. every query is in the audit log, with who asked
mdb_dump -p -s audit "$DATA/audit" >"$TMP/audit.dump"
expect_contains "audit: liaison lookup" "$(cat "$TMP/audit.dump")" "lookup 1 token(s) kind phone -> ok"
expect_contains "audit: analyst refused" "$(cat "$TMP/audit.dump")" "lookup 1 token(s) kind phone -> denied"
expect_contains "audit: analyst id" "$(cat "$TMP/audit.dump")" "analyst-1"
expect_contains "audit: cluster" "$(cat "$TMP/audit.dump")" "cluster $CID -> ok"
# and through tessera audit, for the admin only
aud=$("$CLI" audit "${Q[@]}" --key "$TMP/admin.key" --id analyst-1 --format csv)
expect_contains "tessera audit lists the analyst's refusal" "$aud" \
    ",analyst-1,analyst,\"lookup 1 token(s) kind phone -> denied\",0"
expect_eq "only the analyst's entries" "$(tail -n +2 <<<"$aud" | cut -d, -f2 | sort -u)" "analyst-1"
set +e
"$CLI" audit "${LIAISON[@]}" >/dev/null 2>"$TMP/err"; rc=$?
set -e
expect_eq "audit is for admins" "$rc" "1"
expect_contains "audit refused to liaison" "$(cat "$TMP/err")" "permission denied: the audit log is for the admin role"

# 10. retention on demand: purging before 2026-10-03 removes L-1 and P-1 (the
# admin only); the alert that named them stays, without their ids
set +e
"$CLI" admin purge "${LIAISON[@]}" --before 2026-10-04 >/dev/null 2>"$TMP/err"; rc=$?
set -e
expect_contains "purge is for admins" "$(cat "$TMP/err")" "permission denied: purging is for the admin role"
out=$("$CLI" admin purge "${Q[@]}" --key "$TMP/admin.key" --before 2026-10-03)
expect_eq "purged the first two days" "$out" "purged 2 records reported before 2026-10-03"
expect_eq "alert 1 no longer names them" "$(alerts_json | jq -r 'select(.seq == 1) | .record_ids | length')" "0"
expect_contains "purge audited" "$("$CLI" audit "${Q[@]}" --key "$TMP/admin.key" --id admin-1)" \
    "purge before 2026-10-03 -> ok"

# 11. disclosure control on spike alerts: four cases in Leeds yesterday make
# a spike (after quiet weeks). The analyst's count is released by the
# cell-key method, as a trend table's cell of the same records: never 1..4,
# at most D = 5 from the truth, and when it is 0 shown as <5 without the
# bounds (an alarm means observed > bound). Every alert on those four
# records (area, region, feature series) shows the same number.
# Spike alerts are the analyst's only (issue 14): liaison is refused them
# and gets only linkage alerts.
yday=$(date -u -d yesterday +%Y-%m-%d)
for i in 1 2 3 4; do
    printf '{"case_ref":"S-%s","reported_date":"%s","area_code":"E08000035","age":15,"gender":"boy_man","contact_platforms":["snapchat"],"demands":["money"],"identifiers":[{"kind":"email","value":"spike%s@example.com"}]}\n' "$i" "$yday" "$i"
done >"$TMP/spike.jsonl"
submit_as leeds-school "$TMP/spike.jsonl"
an=$("$CLI" alerts "${AN[@]}" --kind spike --since 0 --format json --state "$TMP/an.seq")
expect_eq "the analyst has the spike alerts" \
    "$([ "$(jq -s length <<<"$an")" -gt 0 ] && echo yes)" "yes"
expect_eq "no number from 1 to 4 reaches the analyst" \
    "$(jq -r 'select(.observed != null and .observed >= 1 and .observed <= 4) | .seq' <<<"$an" | wc -l)" "0"
expect_eq "a shown count is within 5 of the true 4" \
    "$(jq -r 'select(.observed != null and (.observed < 5 or .observed > 9)) | .seq' <<<"$an" | wc -l)" "0"
expect_eq "no bound reaches the analyst" \
    "$(jq -r 'select(.upperbound != null) | .seq' <<<"$an" | wc -l)" "0"
expect_eq "an expectation is a released count of four weeks, never 1 to 4" \
    "$(jq -r 'select(.expected != null) | .expected * (if .method == "farrington" then 4 else 28 end)
        | select((. - (. | round) | fabs) > 1e-6 or ((. | round) >= 1 and (. | round) <= 4))' <<<"$an" | wc -l)" "0"
expect_eq "a hidden count has no bounds" \
    "$(jq -r 'select(.observed == null and (.expected != null or .upperbound != null)) | .seq' <<<"$an" | wc -l)" "0"
expect_eq "a hidden count reads <5" \
    "$(jq -r 'select(.observed == null and (.summary | test("<5 reports") | not)) | .seq' <<<"$an" | wc -l)" "0"
expect_eq "the same four records give one number in every alert" \
    "$(jq -r --arg d "$yday" 'select(.period == $d and .method != "farrington") | .observed' <<<"$an" | sort -u | wc -l)" "1"
# each reads in user terms (issue 16): what was counted over which days, the
# threshold and the method's name; the analyst's without the threshold
monday=$(date -u -d "$yday -$(( ($(date -u -d "$yday" +%u) + 6) % 7 )) days" +%Y-%m-%d)
w0=$(date -u -d "$monday -28 days" +%Y-%m-%d)
w1=$(date -u -d "$monday -1 day" +%Y-%m-%d)
c1=$(jq -c --arg d "$yday" 'select(.period == $d and .method == "c1" and .series == "area:E08000035")' <<<"$an")
if [ "$(jq -r .observed_suppressed <<<"$c1")" = true ]; then
    want="spike: Leeds (E08000035), day $yday: <5 reports (EARS C1)"
else
    want=$(printf 'spike: Leeds (E08000035), day %s: %s reports against %.1f a day in the four weeks %s to %s; EARS C1 flagged it (its threshold is made from exact counts, so it is not shown)' \
        "$yday" "$(jq -r .observed <<<"$c1")" "$(jq -r .expected <<<"$c1")" "$w0" "$w1")
fi
expect_eq "the analyst's C1 alert reads in user terms" "$(jq -r .summary <<<"$c1")" "$want"
d7=$(date -u -d "$yday -7 days" +%Y-%m-%d)
d1=$(date -u -d "$yday -1 day" +%Y-%m-%d)
expect_eq "the collector's C1 line: the days, the threshold, the method" \
    "$(grep -cE "alert [0-9]+: spike: Leeds \(E08000035\), day $yday: 4 reports, expected [0-9]+\.[0-9] \(the mean of the 7 days $d7 to $d1\); EARS C1 flags more than [0-9]+\.[0-9] event=alert_raised" "$TMP/collector.log")" "1"
set +e
"$CLI" alerts "${LIAISON[@]}" --kind spike --since 0 --format json --state "$TMP/li.seq" \
    >"$TMP/out" 2>"$TMP/err"; rc=$?
set -e
expect_eq "liaison refused spike alerts" "$rc/$(cat "$TMP/out")" "1/"
expect_eq "says why" "$(cat "$TMP/err")" \
    "tessera alerts: permission denied: spike alerts are for the analyst role only"
expect_eq "liaison's own alerts: linkage only" "$(alerts_json | jq -r .kind | sort -u)" "linkage"

# 12. nothing raw on the collector's disk
for raw in "07700 900123" "7700900123" "Jake_2009" "jake_2009" "55555555" "Test Child" "free text" "offender1@"; do
    if grep -qaF -- "$raw" "$DATA"/{db,log,audit}/data.mdb; then
        expect_eq "raw '$raw' on disk" "found" "absent"
    else
        expect_eq "raw '$raw' on disk" "absent" "absent"
    fi
done
finish
