#!/usr/bin/env bash
# Files are checked (issue 15): like sshd's StrictModes, the collector and the
# agent refuse files other users could change (or read, for secrets), naming
# each and the chown/chmod that fixes it, and -n says the same; both refuse
# root without --allow-root; secret files are created 0600 from the start and
# keygen --force never writes through a symlink.
source "$(dirname "$0")/lib.sh"
DATA="$TMP/data"
ROOT_NOTE="refusing to run as root: run %s as a dedicated unprivileged user that owns its files (for example: sudo -u tessera %s ...); --allow-root overrides this, for tests and demos only"

# run_rc OUT_FILE CMD...: runs CMD (10 s at most: a refusal is immediate),
# stderr to OUT_FILE, and prints its exit code
run_rc() {
    local out="$1" rc
    shift
    set +e
    timeout 10 "$@" >/dev/null 2>"$out"
    rc=$?
    set -e
    echo "$rc"
}

# collector_refuses WHAT LINE...: neither a start nor -n goes on; both print
# the same problem LINEs, then their summary
collector_refuses() {
    local what="$1" n=$(($# - 1)) rc
    shift
    local lines
    lines=$(printf 'tessera-collector: %s\n' "$@")
    rc=$(run_rc "$TMP/start.err" "$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/collector.conf")
    expect_eq "$what: start refused" "$rc" "1"
    expect_eq "$what: start says" "$(cat "$TMP/start.err")" "$lines
tessera-collector: refusing to start: $n file(s) other users could change or read (like sshd's StrictModes); fix them as shown"
    rc=$(run_rc "$TMP/check.err" "$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/collector.conf" -n)
    expect_eq "$what: -n fails" "$rc" "1"
    expect_eq "$what: -n says the same" "$(cat "$TMP/check.err")" "$lines
tessera-collector: config check failed: $n file(s) other users could change or read (like sshd's StrictModes); fix them as shown"
}

# --- the collector --------------------------------------------------------------

# a first start creates everything with safe modes
start_collector "$DATA"
expect_eq "data dir 0700" "$(stat -c %a "$DATA")" "700"
expect_eq "db dir 0700" "$(stat -c %a "$DATA/db")" "700"
expect_eq "authorized_clients 0600" "$(stat -c %a "$DATA/authorized_clients")" "600"
expect_eq "server key 0600" "$(stat -c %a "$DATA/collector.key")" "600"
expect_eq "data.mdb 0600" "$(stat -c %a "$DATA/db/data.mdb")" "600"
expect_eq "audit dir 0700" "$(stat -c %a "$DATA/audit")" "700"
expect_eq "audit data.mdb 0600" "$(stat -c %a "$DATA/audit/data.mdb")" "600"
stop_collector

if [ "$(id -u)" -eq 0 ]; then
    # root without --allow-root: refused, start and -n alike; with it, it starts
    # shellcheck disable=SC2059
    want=$(printf "tessera-collector: $ROOT_NOTE" tessera-collector tessera-collector)
    rc=$(run_rc "$TMP/err" "$COLLECTOR" --config "$TMP/collector.conf")
    expect_eq "root refused" "$rc" "1"
    expect_eq "root refusal names --allow-root" "$(cat "$TMP/err")" "$want"
    rc=$(run_rc "$TMP/err" "$COLLECTOR" --config "$TMP/collector.conf" -n)
    expect_eq "root refused with -n" "$rc" "1"
    expect_eq "-n root refusal" "$(cat "$TMP/err")" "$want"
    expect_contains "--help names --allow-root" "$("$COLLECTOR" --help)" "--allow-root   run even as root"
else
    echo "note: not root: the refusal of root is not tested here"
fi
start_collector "$DATA"
expect_contains "starts with --allow-root (or as a user)" "$(cat "$TMP/collector.out")" "server public key"
stop_collector
out=$("$COLLECTOR" "${ALLOW_ROOT[@]}" --config "$TMP/collector.conf" -n)
expect_contains "-n: safe files pass" "$out" "config ok: data $DATA"

# a world-writable client list: anyone could make themselves admin
chmod 666 "$DATA/authorized_clients"
collector_refuses "authorized_clients 666" \
    "$DATA/authorized_clients: writable by group or others (mode 0666); run: chmod 644 $DATA/authorized_clients"
chmod 600 "$DATA/authorized_clients"

# a world-writable data directory
chmod 777 "$DATA"
collector_refuses "data dir 777" \
    "$DATA: writable by group or others (mode 0777); run: chmod 755 $DATA"
chmod 700 "$DATA"

# a group-writable data.mdb (records: group-readable is refused too)
chmod 660 "$DATA/db/data.mdb"
collector_refuses "data.mdb 660" \
    "$DATA/db/data.mdb: readable or writable by group or others (mode 0660); run: chmod 600 $DATA/db/data.mdb"
chmod 600 "$DATA/db/data.mdb"

# the audit log (who asked what) is as private as the records
chmod 640 "$DATA/audit/data.mdb"
collector_refuses "audit data.mdb 640" \
    "$DATA/audit/data.mdb: readable or writable by group or others (mode 0640); run: chmod 600 $DATA/audit/data.mdb"
chmod 600 "$DATA/audit/data.mdb"

# every problem at once, each named, the count in the summary
chmod 640 "$DATA/collector.key"
chmod 664 "$DATA/db/lock.mdb"
chmod 666 "$TMP/collector.conf"
collector_refuses "three at once" \
    "$TMP/collector.conf: writable by group or others (mode 0666); run: chmod 644 $TMP/collector.conf" \
    "$DATA/collector.key: readable or writable by group or others (mode 0640); run: chmod 600 $DATA/collector.key" \
    "$DATA/db/lock.mdb: writable by group or others (mode 0664); run: chmod 644 $DATA/db/lock.mdb"
chmod 600 "$DATA/collector.key" "$DATA/db/lock.mdb" "$TMP/collector.conf"

if [ "$(id -u)" -eq 0 ]; then
    # a client list owned by someone else (as sshd: the user or root only)
    chown nobody "$DATA/authorized_clients"
    collector_refuses "authorized_clients owned by nobody" \
        "$DATA/authorized_clients: owned by nobody, not by root (who runs this); run: chown root $DATA/authorized_clients"
    chown root "$DATA/authorized_clients"
fi

# fixed as told: it starts again
start_collector "$DATA"
SERVER="$DATA/collector.pub"

# --- the agent -------------------------------------------------------------------

"$AGENT" keygen --network-key "$TMP/network.key" >/dev/null
agency leeds-cs school E08000035
kill -HUP "$COLLECTOR_PID"
sleep 0.3
A="$TMP/leeds-cs"
expect_eq "agent.conf 0600" "$(stat -c %a "$A/agent.conf")" "600"
expect_eq "agent key 0600" "$(stat -c %a "$A/agent.key")" "600"
expect_eq "agent data dir 0700" "$(stat -c %a "$A/data")" "700"
NK=$(awk -F' = ' '$1 == "network_key" { print $2 }' "$A/agent.conf")
expect_eq "network key in agent.conf" "$NK" "$(realpath "$TMP/network.key")"

if [ "$(id -u)" -eq 0 ]; then
    # shellcheck disable=SC2059
    want=$(printf "tessera-agent: $ROOT_NOTE" tessera-agent tessera-agent)
    rc=$(run_rc "$TMP/err" "$AGENT" status --config "$A/agent.conf")
    expect_eq "agent: root refused" "$rc" "1"
    expect_eq "agent: root refusal names --allow-root" "$(cat "$TMP/err")" "$want"
    rc=$(run_rc "$TMP/err" "$AGENT" init --dir "$TMP/other" --agency-id o --agency-type school \
        --area E08000035 --network-key "$TMP/network.key" --server-key "$SERVER")
    expect_eq "agent init: root refused" "$rc" "1"
    expect_eq "agent init: root refusal" "$(cat "$TMP/err")" "$want"
    expect_eq "agent init: nothing made as root" "$(test -e "$TMP/other" && echo yes || echo no)" "no"
fi
rc=$(run_rc "$TMP/err" "$AGENT" status "${ALLOW_ROOT[@]}" --config "$A/agent.conf")
expect_eq "agent status with safe files" "$rc" "0"

# agent_refuses WHAT LINE...: `status` refuses with these problem lines
agent_refuses() {
    local what="$1" n=$(($# - 1)) rc
    shift
    rc=$(run_rc "$TMP/err" "$AGENT" status "${ALLOW_ROOT[@]}" --config "$A/agent.conf")
    expect_eq "$what: refused" "$rc" "1"
    expect_eq "$what: says" "$(cat "$TMP/err")" "$(printf 'tessera-agent: %s\n' "$@")
tessera-agent: refusing to run: $n file(s) other users could change or read (like sshd's StrictModes); fix them as shown"
}

chmod 777 "$A"
agent_refuses "agent dir 777" "$A: writable by group or others (mode 0777); run: chmod 755 $A"
chmod 700 "$A"
chmod 666 "$A/agent.conf"
agent_refuses "agent.conf 666" \
    "$A/agent.conf: writable by group or others (mode 0666); run: chmod 644 $A/agent.conf"
chmod 600 "$A/agent.conf"
chmod 644 "$A/agent.key" "$NK"
chmod 640 "$A/data/data.mdb"
agent_refuses "agent keys and outbox" \
    "$A/data/data.mdb: readable or writable by group or others (mode 0640); run: chmod 600 $A/data/data.mdb" \
    "$A/agent.key: readable or writable by group or others (mode 0644); run: chmod 600 $A/agent.key" \
    "$NK: readable or writable by group or others (mode 0644); run: chmod 600 $NK"
chmod 600 "$A/agent.key" "$NK" "$A/data/data.mdb"
chmod 770 "$A/data"
agent_refuses "outbox dir 770" "$A/data: writable by group or others (mode 0770); run: chmod 750 $A/data"
chmod 700 "$A/data"

# init into a world-writable directory: refused before anything is written
mkdir -m 777 "$TMP/open"
chmod 777 "$TMP/open"
rc=$(run_rc "$TMP/err" "$AGENT" init "${ALLOW_ROOT[@]}" --dir "$TMP/open" --agency-id o \
    --agency-type school --area E08000035 --network-key "$TMP/network.key" --server-key "$SERVER")
expect_eq "init into 777 refused" "$rc" "1"
expect_eq "init into 777 says" "$(cat "$TMP/err")" "tessera-agent init: $TMP/open: writable by group or others (mode 0777); run: chmod 755 $TMP/open
tessera-agent init: refusing to set up: 1 file(s) other users could change or read (like sshd's StrictModes); fix them as shown"
expect_eq "init into 777 wrote nothing" "$(find "$TMP/open" -mindepth 1 | wc -l)" "0"

# fixed as told: the agent delivers
case_line C-1 5 E08000035 '[{"kind":"phone","value":"07700 900123"}]' >"$TMP/one.jsonl"
submit_as leeds-cs "$TMP/one.jsonl"
expect_contains "delivered after the fixes" "$(cat "$TMP/submit.err")" "delivered: 1 accepted"

# --- the tessera client: a secret key others can read is refused, like ssh ----

# a reload checks the client list again: one others could have written
# (here, to add an admin key) is not loaded, and the log says why
"$CLI" keygen --curve "$TMP/admin" >/dev/null
echo "$(grep -v '^#' "$TMP/admin.pub") admin admin-1 *" >>"$DATA/authorized_clients"
chmod 666 "$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
expect_contains "SIGHUP: a list others could write is not loaded" "$(cat "$TMP/collector.log")" \
    "error collector: SIGHUP: keeping the previous client list: $DATA/authorized_clients: writable by group or others (mode 0666); run: chmod 644 $DATA/authorized_clients"
rc=$(run_rc "$TMP/err" "$CLI" stats --collector "$QUERY" --server-key "$SERVER" --key "$TMP/admin.key")
# 5: the collector refuses this key (TSR_EXIT_NOT_AUTHORISED, lib/client.h)
expect_eq "SIGHUP: the key added meanwhile is not let in" "$rc" "5"
expect_contains "SIGHUP: and the client says so" "$(cat "$TMP/err")" "refused your key: add the line"
chmod 600 "$DATA/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
chmod 640 "$TMP/admin.key"
rc=$(run_rc "$TMP/err" "$CLI" stats --collector "$QUERY" --server-key "$SERVER" --key "$TMP/admin.key")
expect_eq "client: loose secret key refused" "$rc" "1"
expect_eq "client: says" "$(cat "$TMP/err")" "tessera stats: $TMP/admin.key: secret key: readable or writable by group or others (mode 0640); run: chmod 600 $TMP/admin.key"
chmod 600 "$TMP/admin.key"
expect_contains "client: fixed, answered" \
    "$("$CLI" stats --collector "$QUERY" --server-key "$SERVER" --key "$TMP/admin.key")" "records"
stop_collector

# --- keys are never written through a symlink ------------------------------------

echo precious >"$TMP/target"
ln -s "$TMP/target" "$TMP/k.key"
ln -s "$TMP/target" "$TMP/k.pub"
rc=$(run_rc "$TMP/err" "$CLI" keygen --curve "$TMP/k")
expect_eq "keygen onto a symlink: refused" "$rc" "1"
expect_eq "keygen onto a symlink: says" "$(cat "$TMP/err")" "tessera keygen: $TMP/k.key: exists; refusing to overwrite (use --force to replace it)"
"$CLI" keygen --curve "$TMP/k" --force >/dev/null
expect_eq "--force: target untouched" "$(cat "$TMP/target")" "precious"
expect_eq "--force: the key is a new file" "$(stat -c '%F %a' "$TMP/k.key")" "regular file 600"
expect_eq "--force: the public key too" "$(stat -c '%F %a' "$TMP/k.pub")" "regular file 644"
expect_eq "--force: no temporary left" "$(find "$TMP" -maxdepth 1 -name '.k.*' | wc -l)" "0"
# a dangling symlink is not followed to create its target either
ln -s "$TMP/nowhere" "$TMP/d.key"
rc=$(run_rc "$TMP/err" "$CLI" keygen --curve "$TMP/d")
expect_eq "keygen onto a dangling symlink: refused" "$rc" "1"
expect_eq "dangling target not created" "$(test -e "$TMP/nowhere" && echo yes || echo no)" "no"
ln -s "$TMP/target" "$TMP/net.key"
rc=$(run_rc "$TMP/err" "$AGENT" keygen --network-key "$TMP/net.key")
expect_eq "network keygen onto a symlink: refused" "$rc" "1"
expect_eq "network keygen: says" "$(cat "$TMP/err")" "tessera-agent keygen: $TMP/net.key: network key: exists; refusing to overwrite it"
expect_eq "network keygen: target untouched" "$(cat "$TMP/target")" "precious"
finish
