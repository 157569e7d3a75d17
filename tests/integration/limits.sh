#!/usr/bin/env bash
# Limits per peer (issue 15): a token bucket per client key on the query
# socket ([limits] queries_per_minute = 1, query_burst = 3 here); refused
# queries, by rate or by role, read nothing and so no longer apply the
# ingest log (drains held back an hour here, so only an answered query
# applies it); repeated refusals audited one by one up to
# audit_refusals_per_minute (2 here), the rest as one entry written when
# the minute has passed or at a clean stop; the audit log purged to its
# retention at start-up; the new counters of `tessera stats`; and -n
# naming file, line and field for the new settings.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
LIMITS=$'[ingest]\napply_quiet_ms = 3600000\napply_delay_ms = 3600000\n[limits]\nqueries_per_minute = 1\nquery_burst = 3\naudit_refusals_per_minute = 2'
EXTRA_CONF="$LIMITS"
"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
for k in agent liaison admin; do "$CLI" keygen --curve "$TMP/$k" >/dev/null; done
pub() { grep -v '^#' "$TMP/$1.pub"; }
Q=(--collector "$QUERY")

# 1. audit entries older than the retention (24 months) are purged at
# start-up, newer ones kept: 4 written 800 days ago, 3 500 days ago (the
# audit log is appended in time order, so they go in before any other)
mkdir -m 700 "$DATA"
now=$(date +%s)
"$TSR_BUILD_DIR/tests/integration/storetool" audit "$DATA" $((now - 800 * 86400)) 4 old-1 admin "stats -> ok"
"$TSR_BUILD_DIR/tests/integration/storetool" audit "$DATA" $((now - 500 * 86400)) 3 mid-1 admin "stats -> ok"
expect_eq "seven entries seeded" "$(db_entries "$DATA" audit)" "7"
start_collector "$DATA"
Q+=(--server-key "$DATA/collector.pub")
cat >"$DATA/authorized_clients" <<AC
$(pub agent)   agent   leeds-cs-01 E08000035
$(pub liaison) liaison liaison-1   *
$(pub admin)   admin   ops-1       *
AC
kill -HUP "$COLLECTOR_PID"
sleep 0.3
expect_eq "purged at start-up: the four older than 24 months" "$(db_entries "$DATA" audit)" "3"

submit() { "$TESTCLIENT" submit "$INGEST" "$DATA/collector.pub" "$TMP/agent.key" "$TMP/network.key" leeds-cs-01 "$1" "$2"; }
case_line L-1 1 E08000035 '[{"kind":"phone","value":"07700 900999"}]' >"$TMP/l1.jsonl"
case_line L-2 2 E08000035 '[{"kind":"phone","value":"07700 900998"}]' >"$TMP/l2.jsonl"

# run WHO CMD ARGS...: `tessera CMD` with WHO's key; sets RC, OUT, ERR
run() {
    local who="$1" cmd="$2"
    shift 2
    set +e
    "$CLI" "$cmd" "${Q[@]}" --key "$TMP/$who.key" "$@" >"$TMP/out" 2>"$TMP/err"
    RC=$?
    set -e
    OUT=$(cat "$TMP/out")
    ERR=$(cat "$TMP/err")
}
LIMIT_MSG="rate limited: over the limit of 1 query a minute for this key (bursts of 3; [limits] queries_per_minute); try again in "

# 2. an agent key asks five times: three refused for its role, then its
# bucket is empty and two are refused for the rate; none applies the log
expect_eq "one record submitted" "$(field accepted "$(submit 1 "$TMP/l1.jsonl")")" "1"
expect_eq "acknowledged, waiting in the log" "$(db_entries "$DATA" ingest_log)" "1"
for i in 1 2 3; do
    run agent stats
    expect_eq "agent query $i refused for its role" "$RC/$ERR" "1/tessera stats: permission denied: agents may not query"
done
for i in 4 5; do
    run agent stats
    expect_contains "agent query $i refused for the rate" "$RC/$ERR" "1/tessera stats: $LIMIT_MSG"
done
# the bucket refills one token a minute, counted from the third query
expect_eq "told when to ask again" "$(grep -cE 'try again in ([1-5][0-9]|60)\.[0-9] s$' <<<"$ERR")" "1"
expect_eq "refused queries did not apply the log" "$(db_entries "$DATA" ingest_log)/$(db_entries "$DATA" records)" "1/0"

# 3. a liaison lookup is answered: it applies the log first; the fourth
# in a burst of three is refused, and does not apply the log
run liaison lookup --network-key "$TMP/network.key" --kind phone "07700 900999"
expect_contains "lookup answered" "$RC/$OUT" "0/phone +447700900999: known"
# (applied before the answer; trimmed from the log a little after the step)
expect_eq "the answered query applied the log" "$(db_entries "$DATA" records)/$(entries "$DATA" ingest_log)" "1/0"
run liaison lookup --network-key "$TMP/network.key" --kind phone "07700 900999"
run liaison lookup --network-key "$TMP/network.key" --kind phone "07700 900999"
expect_eq "the third is answered" "$RC" "0"
expect_eq "second record submitted" "$(field accepted "$(submit 2 "$TMP/l2.jsonl")")" "1"
run liaison lookup --network-key "$TMP/network.key" --kind phone "07700 900998"
expect_contains "the fourth refused for the rate" "$RC/$ERR" "1/tessera lookup: $LIMIT_MSG"
expect_eq "...without applying the log" "$(db_entries "$DATA" ingest_log)" "1"

# 4. a batch of 1,500 incidents: answered MALFORMED, and counted
out=$("$TESTCLIENT" raw "$INGEST" "$DATA/collector.pub" "$TMP/agent.key" many:1500 0 9 1)
expect_eq "1,500 items: MALFORMED" "$(field status "$out")" "4"

# 5. the counters (the admin's first query)
run admin stats --format csv
expect_eq "stats answered" "$RC" "0"
count() { grep "^$1," <<<"$OUT" | cut -d, -f2; }
expect_eq "queries_rate_limited" "$(count queries_rate_limited)" "3"
expect_eq "refusals_aggregated (the agent's third role refusal)" "$(count refusals_aggregated)" "1"
expect_eq "refusal_aggregate_entries (none written yet)" "$(count refusal_aggregate_entries)" "0"
expect_eq "malformed_batches_answered" "$(count malformed_batches_answered)" "1"
expect_eq "malformed_frames" "$(count malformed_frames)" "1"
expect_eq "group_commits" "$(count group_commits)" "2"
expect_eq "commit_share_deferrals" "$(count commit_share_deferrals)" "0"
expect_eq "audit_purged" "$(count audit_purged)" "4"
expect_eq "audit_purged_since_start" "$(count audit_purged_since_start)" "4"
expect_eq "records (stats applied the log)" "$(count records)" "2"

# 6. the audit log: two role refusals and two rate refusals of the agent
# one by one (the third role refusal waits in the aggregate); the liaison's
run admin audit --format csv
aud="$OUT"
expect_eq "agent's entries" "$(grep -c ',leeds-cs-01,agent,' <<<"$aud")" "4"
expect_eq "role refusals one by one" "$(grep -c ',leeds-cs-01,agent,"query kind 1 -> denied",0' <<<"$aud")" "2"
expect_eq "rate refusals one by one" "$(grep -c ',leeds-cs-01,agent,"query kind 1 -> rate limited",0' <<<"$aud")" "2"
expect_eq "liaison's entries" "$(grep -c ',liaison-1,liaison,"lookup 1 token(s) kind phone -> ' <<<"$aud")" "4"
expect_eq "liaison's rate refusal" "$(grep -c ',liaison-1,liaison,"lookup 1 token(s) kind phone -> rate limited",0' <<<"$aud")" "1"
expect_eq "old entries purged" "$(grep -c ',old-1,' <<<"$aud")" "0"
expect_eq "newer entries kept" "$(grep -c ',mid-1,' <<<"$aud")" "3"

# 7. a clean stop writes the open aggregate; a restart with audit_months =
# 12 purges the entries of 500 days ago
stop_collector
EXTRA_CONF="$LIMITS"$'\n[retention]\naudit_months = 12'
start_collector "$DATA"
run admin audit --format csv
aud="$OUT"
expect_eq "agent's entries, with the aggregate" "$(grep -c ',leeds-cs-01,agent,' <<<"$aud")" "5"
expect_eq "the aggregate" "$(grep -cE ',leeds-cs-01,agent,"1 more refused ""query -> denied"" from 20[0-9-]{8}T[0-9:]{8}Z to 20[0-9-]{8}T[0-9:]{8}Z",0$' <<<"$aud")" "1"
expect_eq "purged to 12 months" "$(grep -c ',mid-1,' <<<"$aud")" "0"
run admin stats --format csv
expect_eq "audit_purged, for all time" "$(count audit_purged)" "7"
expect_eq "audit_purged_since_start" "$(count audit_purged_since_start)" "3"
expect_eq "the limit starts again with the collector" "$(count queries_rate_limited)" "0"
stop_collector

# 8. -n checks the new settings, naming file, line and field
check() {
    printf '%s\n' "$1" >"$TMP/limits.conf"
    set +e
    "$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/limits.conf" -n >"$TMP/n.out" 2>"$TMP/n.err"
    RC=$?
    set -e
}
check $'[collector]\ndata_dir = '"$DATA"$'\n[limits]\nqueries_per_minute = 0'
expect_contains "queries_per_minute 0" "$RC/$(cat "$TMP/n.err")" \
    "1/tessera-collector: $TMP/limits.conf:4: limits.queries_per_minute: '0' is not a whole number from 1 to 1000000"
check $'[limits]\nreceive_hwm = 0'
expect_contains "receive_hwm 0" "$RC/$(cat "$TMP/n.err")" \
    "1/tessera-collector: $TMP/limits.conf:2: limits.receive_hwm: '0' is not a whole number from 1 to 100000"
check $'[retention]\naudit_months = 601'
expect_contains "audit_months 601" "$RC/$(cat "$TMP/n.err")" \
    "1/tessera-collector: $TMP/limits.conf:2: retention.audit_months: '601' is not a whole number from 0 to 600"
check $'[ingest]\nmax_items = 0'
expect_contains "max_items 0" "$RC/$(cat "$TMP/n.err")" \
    "1/tessera-collector: $TMP/limits.conf:2: ingest.max_items: '0' is not a whole number from 1 to 10000000"
check $'[collector]\ndata_dir = '"$DATA"$'\n[limits]\nqueries_per_minute = 120\nquery_burst = 20\naudit_refusals_per_minute = 0\nreceive_hwm = 4\nsend_hwm = 100\n[retention]\naudit_months = 84'
expect_eq "good settings pass -n" "$RC" "0"
expect_contains "config ok" "$(cat "$TMP/n.out")" "config ok"
finish
