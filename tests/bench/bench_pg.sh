#!/usr/bin/env bash
# PostgreSQL 15 baseline for the ingest benchmark (label bench, optional).
#
# Does the inserts bench_ingest's raw-LMDB baseline does, per record: the
# record (16-byte id, 180-byte body), one area/day index row, and one token
# index row per token (3 tokens), with one transaction (one commit) per batch,
# for batch sizes 1, 10, 100, 1000 with one client and 100 with 8 clients.
# A throwaway cluster in a temp dir, listening on a unix socket only, with the
# default fsync=on and synchronous_commit=on (durable commits, like LMDB's
# default). pgbench runs a custom script for a fixed time per size; records/s
# is its tps x batch, p50/p99 come from its per-transaction log.
#
# Skips (exit 0) when the PostgreSQL server binaries are not installed; nothing
# else in the build, tests or CI needs PostgreSQL.
#
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), PG_BENCH_SECONDS
# (default 10), PG_RUN_USER (when run as root: the user the server runs as;
# default postgres if it exists, else nobody).
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
SECONDS_PER_RUN="${PG_BENCH_SECONDS:-10}"

for b in initdb pg_ctl postgres pgbench psql; do
    if [ ! -x "$PG_BIN/$b" ]; then
        echo "bench_pg: skipped: PostgreSQL server binaries not found ($PG_BIN/$b missing; apt-get install postgresql-15, or set PG_BIN)"
        exit 0
    fi
done

TMP="$(mktemp -d /tmp/tsr-pg-XXXXXX)"
AS=()         # prefix for commands that must not run as root
DBUSER="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
    # postgres refuses to run as root: run the server as an unprivileged user.
    if [ -n "${PG_RUN_USER:-}" ]; then
        DBUSER="$PG_RUN_USER"
    elif id postgres >/dev/null 2>&1; then
        DBUSER=postgres
    else
        DBUSER=nobody
    fi
    if ! runuser -u "$DBUSER" -- true 2>/dev/null; then
        echo "bench_pg: skipped: running as root and cannot run commands as $DBUSER with runuser"
        rm -rf "$TMP"
        exit 0
    fi
    AS=(runuser -u "$DBUSER" --)
    chown "$DBUSER" "$TMP"
fi
PGDATA="$TMP/data"
PORT=5432 # only names the socket file in $TMP; no TCP listener

cleanup() {
    if [ -f "$PGDATA/postmaster.pid" ]; then
        "${AS[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

"${AS[@]}" "$PG_BIN/initdb" -D "$PGDATA" -U "$DBUSER" --auth=trust -E UTF8 --locale=C >"$TMP/initdb.log" 2>&1 ||
    { cat "$TMP/initdb.log" >&2; exit 1; }
cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$TMP'
port = $PORT
fsync = on
synchronous_commit = on
full_page_writes = on
CONF
"${AS[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$TMP/server.log" -w start >/dev/null ||
    { cat "$TMP/server.log" >&2; exit 1; }

PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$TMP" -p "$PORT" -U "$DBUSER" -d postgres)
"${PSQL[@]}" <<'SQL'
CREATE TABLE records (id bytea PRIMARY KEY, body bytea);
CREATE TABLE by_area_day (area text, day int, id bytea, PRIMARY KEY (area, day, id));
CREATE TABLE by_token (token bytea, id bytea, kind text, PRIMARY KEY (token, id));
SQL

# One transaction = one batch. (No ':' inside string literals: pgbench takes
# it for a variable reference and then binds the wrong number of parameters,
# hence chr(58) in the kinds.) Ids are md5 of (two random numbers drawn per
# transaction, row number), so the three tables get the same 16-byte ids
# without extensions; tokens are 32 bytes (two md5s).
TODAY=$(($(date +%s) / 86400))
BODY="$(printf '5a%.0s' $(seq 180))"
ID="decode(md5(:s1::text || '.' || :s2::text || '.' || g), 'hex')"
cat >"$TMP/batch.sql" <<SQL
\set s1 random(1, 2000000000)
\set s2 random(1, 2000000000)
BEGIN;
INSERT INTO records (id, body) SELECT $ID, '\\x$BODY'::bytea FROM generate_series(1, :batch) g;
INSERT INTO by_area_day (area, day, id) SELECT 'E08000035', $TODAY - g % 700, $ID FROM generate_series(1, :batch) g;
INSERT INTO by_token (token, id, kind) SELECT decode(md5(:s1::text || '.' || :s2::text || '.' || g || '.' || k.t) || md5(:s2::text || '.' || :s1::text || '.' || g || '.' || k.t), 'hex'), $ID, k.kind FROM generate_series(1, :batch) g, (VALUES (0, 'handle' || chr(58) || 'instagram'), (1, 'phone'), (2, 'bank' || chr(58) || 'uk')) AS k (t, kind);
COMMIT;
SQL

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
echo "server: $("$PG_BIN/postgres" --version), fsync=$("${PSQL[@]}" -Atc 'SHOW fsync'), synchronous_commit=$("${PSQL[@]}" -Atc 'SHOW synchronous_commit'), ${SECONDS_PER_RUN} s per run"

# run CLIENTS BATCH: fresh tables, one pgbench run, one line of figures.
run() {
    local clients="$1" batch="$2" jobs=1
    [ "$clients" -gt 1 ] && jobs=2
    "${PSQL[@]}" -c 'TRUNCATE records, by_area_day, by_token' -c 'CHECKPOINT'
    rm -f "$TMP"/txlog*
    "$PG_BIN/pgbench" -h "$TMP" -p "$PORT" -U "$DBUSER" -n -M prepared -c "$clients" -j "$jobs" \
        -T "$SECONDS_PER_RUN" -D batch="$batch" -f "$TMP/batch.sql" --log --log-prefix="$TMP/txlog" \
        postgres >"$TMP/pgbench.out" 2>&1 || { cat "$TMP/pgbench.out" >&2; exit 1; }
    local tps avg txns
    tps=$(awk '/^tps = / {print $3; exit}' "$TMP/pgbench.out")
    avg=$(awk '/^latency average = / {print $4; exit}' "$TMP/pgbench.out")
    txns=$(awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); print a[1]; exit}' "$TMP/pgbench.out")
    local rows
    rows=$("${PSQL[@]}" -Atc "SELECT (SELECT count(*) FROM records) || ' ' || (SELECT count(*) FROM by_area_day) || ' ' || (SELECT count(*) FROM by_token)")
    if [ "$rows" != "$((txns * batch)) $((txns * batch)) $((txns * batch * 3))" ]; then
        echo "bench_pg: rows after batch $batch: $rows (records, by_area_day, by_token), want $((txns * batch)) each and 3x tokens" >&2
        exit 1
    fi
    # per-transaction log: client_id txn_no time_us script_no epoch epoch_us
    cat "$TMP"/txlog* | awk '{print $3}' | sort -n | awk -v what=pg -v c="$clients" -v b="$batch" \
        -v tps="$tps" -v avg="$avg" -v txns="$txns" '
        { lat[NR] = $1 }
        END {
            n = NR
            p50 = lat[int(n / 2) + 1] / 1000
            i = int(n * 0.99) + 1; if (i > n) i = n
            p99 = lat[i] / 1000
            printf "%-6s agents=%d batch=%-4d records=%-7d %9.0f rec/s  ack p50 %7.2f ms  p99 %7.2f ms  (avg %.2f ms)\n",
                what, c, b, txns * b, tps * b, p50, p99, avg
        }'
}

for b in 1 10 100 1000; do
    run 1 "$b"
done
run 8 100
