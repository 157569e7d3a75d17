#!/usr/bin/env bash
# tests/package/check.sh [DIR]: installs the Debian packages `make deb` made
# (DIR, default build-deb/) into this machine, checks them as an operator
# would meet them, and purges them again. .ci/run runs it; run it by hand
# the same way, as root:  make deb && sudo bash tests/package/check.sh
#
# Checked: each installed program's --version against its package's
# version; man pages; the system users and their 0700 state directories;
# systemd-analyze verify and security --offline=true on the installed units
# (exposure <= 2.0 each); lintian (no errors; warnings printed); a collector
# and an agent run as their system users with the shipped config and the
# steps of docs/DEPLOYING.md, a record delivered end to end; an edited
# conffile survives a reinstall; purge removes the packages and keeps the
# data (removed here afterwards, with the users, when this check made them).
# Works without systemd running (CI: a Debian 12 container).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEBS="${1:-build-deb}"
case "$DEBS" in /*) ;; *) DEBS="./$DEBS" ;; esac
PKGS=(tessera-collector tessera-agent tessera)
USERS=(tessera-collector tessera-agent)
DIRS=(/var/lib/tessera-collector /var/lib/tessera-agent /etc/tessera)
CDIR=/var/lib/tessera-collector
ADIR=/var/lib/tessera-agent
CONF=/etc/tessera/collector.conf
# shellcheck source=../integration/expect.sh
source tests/integration/expect.sh
ok() { PASSES=$((PASSES + 1)); }
fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'; }

if [ "$(id -u)" -ne 0 ]; then
    echo "check: run as root: it installs packages and creates system users" >&2
    exit 1
fi
for p in "${PKGS[@]}"; do
    if ! compgen -G "$DEBS/${p}_*.deb" >/dev/null; then
        echo "check: no $DEBS/${p}_*.deb: run 'make deb' first" >&2
        exit 1
    fi
    if installed "$p"; then
        echo "check: $p is installed on this machine already; this check installs and" \
            "purges its own copy, so it leaves yours alone and stops (apt-get purge $p first)" >&2
        exit 1
    fi
done

# what exists before, so the clean-up removes only what this check made
PRE_USERS=" "
for u in "${USERS[@]}"; do getent passwd "$u" >/dev/null && PRE_USERS+="$u "; done
PRE_DIRS=" "
for d in "${DIRS[@]}"; do [ -e "$d" ] && PRE_DIRS+="$d "; done
TMP=$(mktemp -d /tmp/tsr-pkg-XXXXXX)
COLLECTOR_PID=""
AGENT_PID=""
cleanup() {
    local pid
    for pid in $AGENT_PID $COLLECTOR_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${PKGS[@]}" >/dev/null 2>&1 || true
    for u in "${USERS[@]}"; do
        if [[ "$PRE_USERS" != *" $u "* ]] && getent passwd "$u" >/dev/null; then
            userdel "$u" 2>/dev/null || true
        fi
        if [[ "$PRE_USERS" != *" $u "* ]] && getent group "$u" >/dev/null; then
            groupdel "$u" 2>/dev/null || true
        fi
    done
    for d in "${DIRS[@]}"; do
        [[ "$PRE_DIRS" == *" $d "* ]] || rm -rf "$d"
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "== install ${PKGS[*]} from $DEBS"
debs=()
for p in "${PKGS[@]}"; do debs+=("$(ls "$DEBS/${p}"_*.deb | head -n 1)"); done
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debs[@]}" \
    >"$TMP/apt.log" 2>&1 || { cat "$TMP/apt.log" >&2; exit 1; }
for p in "${PKGS[@]}"; do installed "$p" && ok || fail "$p not installed"; done

echo "== programs, versions, man pages"
for p in "${PKGS[@]}"; do
    version=$(dpkg-query -W -f='${Version}' "$p")
    expect_eq "$p: program in /usr/bin" "$(command -v "$p")" "/usr/bin/$p"
    # as nobody: what any user sees (and the daemons refuse root)
    expect_eq "$p --version" "$(setpriv --reuid nobody --regid nogroup --clear-groups -- \
        "/usr/bin/$p" --version)" "$p $version"
    page="/usr/share/man/man1/$p.1.gz"
    if [ -f "$page" ]; then
        expect_contains "$p(1): its name" "$(zcat "$page")" ".TH ${p^^} \"1\""
        expect_contains "$p(1): its version" "$(zcat "$page")" "$p $version"
    else
        fail "no man page $page"
    fi
done
expect_contains "tessera-agent(1) has each command's help" \
    "$(zcat /usr/share/man/man1/tessera-agent.1.gz)" "usage: tessera-agent submit [--config FILE]"

echo "== system users, state directories, conffiles"
for u in "${USERS[@]}"; do
    IFS=: read -r _ _ uid _ _ home shell <<<"$(getent passwd "$u")"
    expect_eq "$u: home" "$home" "/var/lib/$u"
    expect_eq "$u: no login shell" "$shell" "/usr/sbin/nologin"
    [ "$uid" -lt 1000 ] && ok || fail "$u: uid $uid is not a system uid"
    expect_eq "/var/lib/$u: mode and owner" "$(stat -c '%a %U:%G' "/var/lib/$u")" "700 $u:$u"
done
expect_contains "collector.conf is a conffile" "$(dpkg-query -W -f='${Conffiles}' tessera-collector)" \
    "$CONF"
expect_contains "the shipped config uses the state directory" "$(cat "$CONF")" "data_dir = $CDIR"

echo "== systemd-analyze verify and security (exposure <= 2.0)"
# the daemons, and the one-shot services of the backup and metrics timers
for unit in tessera-collector tessera-agent tessera-collector-backup tessera-agent-backup \
    tessera-collector-metrics; do
    file="/lib/systemd/system/$unit.service"
    [ -f "$file" ] && ok || fail "no $file"
    out=$(systemd-analyze verify "$file" 2>&1) && rc=0 || rc=$?
    expect_eq "verify $unit.service: exit code" "$rc" "0"
    expect_eq "verify $unit.service: nothing to say" "$out" ""
    out=$(systemd-analyze security --offline=true --no-pager "$file" 2>&1) || true
    level=$(sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' <<<"$out")
    if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
        ok
        echo "   $unit.service: exposure $level"
    else
        fail "$unit.service: exposure [${level:-none}] is not <= 2.0"
        echo "$out" >&2
    fi
done

for unit in tessera-collector-backup tessera-agent-backup tessera-collector-metrics; do
    out=$(systemd-analyze verify "/lib/systemd/system/$unit.timer" 2>&1) && rc=0 || rc=$?
    expect_eq "verify $unit.timer: exit code" "$rc" "0"
    expect_eq "verify $unit.timer: nothing to say" "$out" ""
done

echo "== lintian (no errors)"
changes=$(ls "$DEBS"/*.changes 2>/dev/null | head -n 1 || true)
lintian --display-info ${changes:-"${debs[@]}"} >"$TMP/lintian.txt" 2>&1 || true
grep -v 'running with root privileges' "$TMP/lintian.txt" | sed 's/^/   /' || true
expect_eq "lintian errors" "$(grep -c '^E: ' "$TMP/lintian.txt" || true)" "0"

echo "== first start as the system users (docs/DEPLOYING.md)"
# where systemd runs, the package started its collector: this check runs
# its own, by hand, on the same state directory
if [ -d /run/systemd/system ]; then
    systemctl stop tessera-collector.service tessera-agent.service || true
fi
# the operator's edit: endpoints on ports free here (a conffile change)
base=$((20000 + (RANDOM % 1200) * 10))
ingest="tcp://127.0.0.1:$base"
sed -i -e "s#^ingest_endpoint = .*#ingest_endpoint = $ingest#" \
    -e "s#^query_endpoint = .*#query_endpoint = tcp://127.0.0.1:$((base + 1))#" \
    -e "s#^alerts_endpoint = .*#alerts_endpoint = tcp://127.0.0.1:$((base + 2))#" "$CONF"
# as USER CMD...: CMD as the unit runs it (User=, Group=, UMask=0077), without
# systemd; each step execs the next, so `as ... &` leaves CMD's own PID in $!
as() {
    local u="$1"
    shift
    setpriv --reuid "$u" --regid "$u" --init-groups -- sh -c 'umask 0077 && exec "$0" "$@"' "$@"
}
out=$(as tessera-collector tessera-collector --config "$CONF" -n 2>&1) && rc=0 || rc=$?
expect_eq "tessera-collector -n on the shipped config" "$rc" "0"
setpriv --reuid tessera-collector --regid tessera-collector --init-groups -- \
    sh -c 'umask 0077 && exec "$0" "$@"' tessera-collector --config "$CONF" \
    >"$TMP/collector.out" 2>"$TMP/collector.log" &
COLLECTOR_PID=$!
for _ in $(seq 100); do
    grep -q "server public key" "$TMP/collector.out" 2>/dev/null && break
    sleep 0.1
done
expect_contains "collector listens" "$(cat "$TMP/collector.out")" "server public key"
kill -0 "$COLLECTOR_PID" 2>/dev/null || { cat "$TMP/collector.log" >&2; fail "the collector stopped"; }
expect_eq "server key: mode and owner" "$(stat -c '%a %U' "$CDIR/collector.key" 2>&1)" \
    "600 tessera-collector"
expect_eq "client list: mode and owner" "$(stat -c '%a %U' "$CDIR/authorized_clients" 2>&1)" \
    "600 tessera-collector"

# an agency: its keys in its directory, init as its user, listed at the collector
install -o tessera-agent -g tessera-agent -m 0600 "$CDIR/collector.pub" "$ADIR/collector.pub"
as tessera-agent tessera-agent keygen --network-key "$ADIR/network.key" >/dev/null
as tessera-agent tessera-agent init --dir "$ADIR" --agency-id pkg-check-01 --agency-type school \
    --area E08000035 --network-key "$ADIR/network.key" --server-key "$ADIR/collector.pub" \
    --collector "$ingest" >"$TMP/init.out"
tail -n 1 "$TMP/init.out" >>"$CDIR/authorized_clients"
kill -HUP "$COLLECTOR_PID"
sleep 0.3
sed -i 's/^\[agent\]/[agent]\ninterval_s = 1/' "$ADIR/agent.conf"
expect_eq "agent.conf: mode and owner" "$(stat -c '%a %U' "$ADIR/agent.conf")" "600 tessera-agent"

# what the agent's unit runs: `run`, watching the inbox
setpriv --reuid tessera-agent --regid tessera-agent --init-groups -- \
    sh -c 'umask 0077 && exec "$0" "$@"' tessera-agent run --config "$ADIR/agent.conf" \
    >"$TMP/agent.out" 2>"$TMP/agent.log" &
AGENT_PID=$!
for _ in $(seq 50); do [ -d "$ADIR/inbox" ] && break; sleep 0.1; done
printf '{"case_ref":"PKG-1","reported_date":"%s"}\n' "$(date -u -d yesterday +%F)" >"$TMP/export.jsonl"
install -o tessera-agent -g tessera-agent -m 0600 "$TMP/export.jsonl" "$ADIR/inbox/.export.jsonl"
mv "$ADIR/inbox/.export.jsonl" "$ADIR/inbox/export.jsonl"
records=""
for _ in $(seq 150); do
    records=$(mdb_stat -s records "$CDIR/db" 2>/dev/null | awk '/Entries:/ { print $2 }')
    [ "$records" = "1" ] && break
    sleep 0.1
done
expect_eq "the export's record reached the collector" "$records" "1"
[ "$records" = "1" ] || { echo "agent:" >&2; cat "$TMP/agent.log" >&2; echo "collector:" >&2
    cat "$TMP/collector.log" >&2; }
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" && rc=0 || rc=$?
AGENT_PID=""
expect_eq "agent run: clean stop" "$rc" "0"
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID" && rc=0 || rc=$?
COLLECTOR_PID=""
expect_eq "collector: clean stop" "$rc" "0"

echo "== reinstall keeps the edited conffile and the data"
key_sum=$(sha256sum "$CDIR/collector.key")
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "${debs[0]}" >"$TMP/apt.log" 2>&1 ||
    { cat "$TMP/apt.log" >&2; fail "reinstall"; }
expect_contains "edited collector.conf kept" "$(cat "$CONF")" "ingest_endpoint = $ingest"
expect_eq "server key kept" "$(sha256sum "$CDIR/collector.key")" "$key_sum"

echo "== purge"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${PKGS[@]}" >"$TMP/apt.log" 2>&1 ||
    { cat "$TMP/apt.log" >&2; fail "purge"; }
for p in "${PKGS[@]}"; do
    installed "$p" && fail "$p still installed" || ok
    [ -e "/usr/bin/$p" ] && fail "/usr/bin/$p still there" || ok
done
[ -e "$CONF" ] && fail "$CONF still there after purge" || ok
[ -e /lib/systemd/system/tessera-collector.service ] && fail "unit still there after purge" || ok
# by design: purging a package never deletes a region's records or keys
[ -f "$CDIR/collector.key" ] && ok || fail "purge deleted the collector's data"

finish
