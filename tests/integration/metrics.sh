#!/usr/bin/env bash
# Metrics (issue 18): `tessera stats --format prometheus --output FILE`
# writes the Prometheus text exposition format, parsed here by the Python
# client's own parser (python3-prometheus-client), with the values this
# run produced: records, accepted, rejected by reason, alerts by kind, the
# Ack latency histogram, the last backup's age.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! "$PY" -c 'import prometheus_client.parser' 2>/dev/null; then
    echo "SKIP: python3-prometheus-client is not installed (deploy/install-deps.sh installs it)"
    exit 77
fi
DATA="$TMP/data"
KEY_ID=$("$AGENT" keygen --network-key "$TMP/network.key" | sed -n 's/.*(key id \([0-9]*\))$/\1/p')
EXTRA_CONF="[network]
key_ids = $KEY_ID"
start_collector "$DATA"
agency leeds-school school E08000035
agency bradford-school school E08000032
staff admin
kill -HUP "$COLLECTOR_PID"
sleep 0.3
case_line L-1 1 E08000035 '[{"kind":"phone","value":"07700 900123"}]' >"$TMP/l1.jsonl"
case_line L-2 2 E08000035 '[]' >>"$TMP/l1.jsonl"
case_line B-1 3 E08000032 '[{"kind":"phone","value":"+44 7700 900123"}]' >"$TMP/b1.jsonl"
submit_as leeds-school "$TMP/l1.jsonl"
submit_as bradford-school "$TMP/b1.jsonl"
# a Bradford record under Leeds' key: rejected, area not bound
out=$("$TESTCLIENT" submit "$INGEST" "$DATA/collector.pub" "$TMP/leeds-school/agent.key" "$TMP/network.key" \
    leeds-school 900 "$TMP/b1.jsonl")
expect_contains "the collector rejected it" "$out" "rejected=1"
entries "$DATA" ingest_log >/dev/null
"$COLLECTOR" backup "${ALLOW_ROOT[@]}" --data "$DATA" "$TMP/backup" >/dev/null

PROM="$TMP/textfile/tessera.prom"
mkdir "$TMP/textfile"
ST=(--collector "$QUERY" --server-key "$DATA/collector.pub" --key "$TMP/admin.key")
"$CLI" stats "${ST[@]}" --format prometheus --output "$PROM"
expect_eq "written for node_exporter to read" "$(stat -c %a "$PROM")" "644"
expect_eq "nothing else left in the directory" "$(ls "$TMP/textfile")" "tessera.prom"
# stdout without --output is the same text (but for the backup age, which
# may tick, and the audit log's map, which the first stats query's entry
# may have grown by a page)
VARIES='^tessera_(last_backup_age|audit_map_used)'
expect_eq "the same on stdout" "$("$CLI" stats "${ST[@]}" --format prometheus | grep -Ev "$VARIES" | md5sum)" \
    "$(grep -Ev "$VARIES" "$PROM" | md5sum)"

# Every sample as "name{label=value,...} value", in the file's order, by
# the reference parser: it raises on anything outside the format.
samples=$("$PY" - "$PROM" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "the file must end with a newline"
seen = set()
for fam in text_string_to_metric_families(text):
    assert fam.name not in seen, "family %s twice" % fam.name
    seen.add(fam.name)
    assert fam.documentation, "no HELP for %s" % fam.name
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s|%s{%s} %g" % (fam.type, s.name, labels, s.value))
PY
)
echo "$samples" | head -80
has() { expect_contains "$1" "$samples" "$2"; }
has "records (gauge)" "gauge|tessera_records{} 3"
has "accepted (counter)" "counter|tessera_records_accepted_total{} 3"
has "rejected by reason" "counter|tessera_records_rejected_total{reason=area_not_bound} 1"
has "accepted by agency" "counter|tessera_agency_records_accepted_total{agency=leeds-school} 2"
has "alerts by kind" "counter|tessera_alerts_total{kind=linkage} 1"
has "spike alerts: none" "counter|tessera_alerts_total{kind=spike} 0"
has "cross-area alerts: none" "counter|tessera_alerts_total{kind=cross_area} 0"
has "ingest log backlog" "gauge|tessera_ingest_log_backlog{} 0"
has "malformed frames" "counter|tessera_malformed_frames_total{} 0"
has "refused handshakes" "counter|tessera_handshakes_refused_total{} 0"
has "map in use" "gauge|tessera_map_used_bytes{}"
has "audit map in use" "gauge|tessera_audit_map_used_bytes{}"
steps=$(sed -n 's/^counter|tessera_apply_steps_total{mode=\(background\|foreground\)} //p' <<<"$samples" |
    awk '{ n += $1 } END { print n + 0 }')
expect_eq "apply steps counted (records were applied)" "$([ "$steps" -ge 1 ] && echo yes)" "yes"
has "last backup" "gauge|tessera_last_backup_timestamp_seconds{}"
age=$(sed -n 's/^gauge|tessera_last_backup_age_seconds{} //p' <<<"$samples")
expect_eq "backup age in seconds" "$([ -n "$age" ] && [ "$age" -ge 0 ] && [ "$age" -lt 120 ] && echo ok)" "ok"
# the histogram: cumulative buckets, +Inf = count = the Acks of stored
# batches (the agents' liveness probes, their batches, the rejected one)
buckets=$(sed -n 's/^histogram|tessera_ack_latency_seconds_bucket{le=\([^}]*\)} \(.*\)/\1 \2/p' <<<"$samples")
expect_eq "14 buckets" "$(wc -l <<<"$buckets")" "14"
expect_eq "the last is +Inf" "$(tail -n 1 <<<"$buckets" | cut -d' ' -f1)" "+Inf"
expect_eq "bounds in seconds" "$(head -n 3 <<<"$buckets" | cut -d' ' -f1 | tr '\n' ' ')" "0.0005 0.001 0.0025 "
expect_eq "cumulative" "$(cut -d' ' -f2 <<<"$buckets" | sort -n -c && echo yes)" "yes"
count=$(sed -n 's/^histogram|tessera_ack_latency_seconds_count{} //p' <<<"$samples")
expect_eq "+Inf bucket = count" "$(tail -n 1 <<<"$buckets" | cut -d' ' -f2)" "$count"
expect_eq "some Acks observed" "$([ "${count:-0}" -ge 3 ] && echo yes)" "yes"
has "the sum" "histogram|tessera_ack_latency_seconds_sum{}"

# a failure writes nothing: the last good file stays for node_exporter
stop_collector
before=$(md5sum <"$PROM")
rc=0
"$CLI" stats "${ST[@]}" --format prometheus --output "$PROM" 2>/dev/null || rc=$?
expect_eq "unreachable: exit 3" "$rc" "3"
expect_eq "the file is kept" "$(md5sum <"$PROM")" "$before"
rc=0
"$CLI" stats "${ST[@]}" --format xml 2>/dev/null || rc=$?
expect_eq "an unknown format is a usage error" "$rc" "2"
finish
