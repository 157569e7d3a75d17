#!/usr/bin/env bash
# Tokenisation per core (issue 20): bench_token's identifiers/s for
# canonicalisation alone, the token step alone, both, and raw HMAC-SHA256
# in process, next to `openssl speed -hmac sha256` on messages of the
# tokens' mean size, in the same run. Every figure is per CPU second of
# one thread (openssl speed divides by CPU time too). Targets: both at
# least 1,000,000 identifiers/s; the token step at least 50 % of openssl
# speed. BENCH_SECONDS sets the CPU seconds per figure (default 3).
set -euo pipefail
: "${TSR_BUILD_DIR:?set by ctest}"
SECS="${BENCH_SECONDS:-3}"
OUT="$(mktemp /tmp/tsr-bench-token-XXXXXX)"
trap 'rm -f "$OUT"' EXIT

echo "load before: $(uptime)"
"$TSR_BUILD_DIR/tests/bench/bench_token" "$SECS" >"$OUT"
get() { sed -n "s/^$1=//p" "$OUT"; }
bytes=$(get msg_bytes)
# -mr: "+F:<n>:hmac(sha256):<bytes per second>"
speed_bps=$(openssl speed -seconds "$SECS" -bytes "$bytes" -mr -hmac sha256 2>/dev/null |
    awk -F: '/^\+F:/ { print $NF }')
speed=$(echo "$speed_bps / $bytes" | bc)
echo "load after: $(uptime)"
echo "$(openssl version); identifiers: $(get identifiers | sed 's/ kinds=/ of the kinds /')"
echo "message: $bytes bytes on average (\"tessera/v1/id\" 0x00 kind 0x00 canonical form)"
commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }
row() { printf '%-44s %12s %s\n' "$1" "$(commas "$2")" "${3:-}"; }
pct() { echo "$1 * 100 / $2" | bc; }
row "canonicalisation alone" "$(get canon_per_s)"
row "token step alone (HMAC, context keyed once)" "$(get token_per_s)" \
    "($(pct "$(get token_per_s)" "$speed") % of openssl speed; target >= 50 %)"
row "canonicalisation + token" "$(get both_per_s)" "(target >= 1,000,000)"
row "raw HMAC-SHA256 in process (EVP_MAC)" "$(get raw_hmac_per_s)"
row "openssl speed -hmac sha256 -bytes $bytes" "$speed"
