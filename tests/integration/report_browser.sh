#!/usr/bin/env bash
# The regional report in a browser: three agencies submit the scenario's
# exports to a real collector, an analyst runs `tessera report`, and headless
# Chromium takes a screenshot of the file. The page must render (a PNG of
# the window's size, not blank, with the bars' colour in it) and load
# nothing from anywhere: Chromium's network log shows no request made by the
# page, and the HTML has no external reference in it (no url() at all). The
# network-log checker is first shown to catch a page that does load things.
# Skips (exit 77) only when chromium is not installed; deploy/install-deps.sh
# installs it, and python3-pil for reading the PNG.
source "$(dirname "$0")/lib.sh"
if ! command -v chromium >/dev/null 2>&1; then
    echo "SKIP: chromium not installed (deploy/install-deps.sh installs it)"
    exit 77
fi
PY=/usr/bin/python3
if ! "$PY" -c 'import PIL' 2>/dev/null; then
    echo "FAIL: $PY has no PIL (python3-pil; deploy/install-deps.sh installs it)" >&2
    exit 1
fi
DATA="$TMP/data"
yorkshire_scenario
Q=(--collector "$QUERY" --server-key "$DATA/collector.pub")
REPORT="$TMP/report.html"
"$CLI" report "${Q[@]}" --key "$TMP/analyst.key" --region E12000003 --out "$REPORT" >/dev/null

# shoot FILE.html PREFIX: a screenshot PREFIX.png and network log PREFIX.json,
# in a fresh profile; background networking off, though Chromium's own
# update and account requests still show in the log (told apart below)
shoot() {
    rm -rf "$2.profile"
    timeout 60 chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --disable-extensions --disable-default-apps \
        --user-data-dir="$2.profile" --log-net-log="$2.json" \
        --screenshot="$2.png" --window-size=1200,3000 "file://$1" >"$2.log" 2>&1 || true
}

# page_requests NETLOG: the URLs a page asked for. Chromium's own requests
# carry no initiating origin ("not an origin"); a file:// page's have the
# opaque origin "null" and site_for_cookies file://. A websocket shows as
# its ws:// or wss:// URL either way.
page_requests() {
    "$PY" - "$1" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
seen = set()
for e in log["events"]:
    p = e.get("params") or {}
    url = p.get("url", "")
    if not url or names.get(e["type"]) not in ("URL_REQUEST_START_JOB", "WEB_SOCKET_SEND_REQUEST_HEADERS"):
        continue
    by_page = p.get("initiator", "not an origin") != "not an origin" or "file://" in str(p.get("site_for_cookies", ""))
    if (by_page or url.startswith(("ws:", "wss:"))) and url not in seen:
        seen.add(url)
        print(url)
PY
}

# 0. the checker catches a page that loads a stylesheet and an image
cat >"$TMP/bad.html" <<'HTML'
<!DOCTYPE html><html><head><link rel="stylesheet" href="http://127.0.0.1:9/a.css"></head>
<body><img src="https://tessera.invalid/b.png" alt=""><p>bad</p></body></html>
HTML
shoot "$TMP/bad.html" "$TMP/bad"
expect_eq "the checker sees a page's requests" "$(page_requests "$TMP/bad.json" | sort | tr '\n' ' ')" \
    "http://127.0.0.1:9/a.css https://tessera.invalid/b.png "

# 1. the report renders
shoot "$REPORT" "$TMP/shot"
expect_eq "screenshot taken" "$([ -s "$TMP/shot.png" ] && echo yes)" "yes"
png=$("$PY" - "$TMP/shot.png" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
w, h = im.size
small = im.resize((w // 2, h // 2), Image.NEAREST)
colours = small.getcolors(1 << 20) or []
px = small.width * small.height
ink = sum(n for n, c in colours if c != (255, 255, 255))
# the bars' fill (#3b6ea8), drawn flat inside each bar
bars = sum(n for n, c in colours if c == (0x3b, 0x6e, 0xa8))
print("%dx%d colours=%s ink=%s bars=%s" % (w, h, "many" if len(colours) > 30 else len(colours),
      "yes" if ink > px // 50 else "%d/%d" % (ink, px), "yes" if bars > 500 else bars))
PY
)
expect_eq "the page renders (size, colours, ink, bars)" "$png" "1200x3000 colours=many ink=yes bars=yes"

# 2. nothing is loaded from anywhere
expect_eq "requests made by the report page" "$(page_requests "$TMP/shot.json")" ""
expect_eq "the network log was written" "$(grep -c '"URL_REQUEST' "$TMP/shot.json" >/dev/null && echo yes)" "yes"
external=$(grep -oiE 'https?://|wss?://|src=|href=|@import|<script|<link|<iframe|<object|<embed|url\(' \
    "$REPORT" | sort | uniq -c || true)
expect_eq "external references in the HTML" "$external" ""

# 3. what the report says
html=$(cat "$REPORT")
expect_contains "a legend" "$html" 'class="legend"'
expect_contains "the spike list" "$html" "Spike alerts in this period"
expect_contains "spike marks say date, method, observed vs expected" "$html" "<title>Spike alert 20"
expect_contains "period on period" "$html" "This period against the previous one"
if grep -q 'name="tessera-max-deviation" content="0"' "$REPORT"; then
    expect_contains "how numbers are released (suppression)" "$html" "released with suppression"
else
    expect_contains "how numbers are released (cell-key)" "$html" \
        "Every number is released by the cell-key method"
fi
# a bare "x" is only ever a suppressed cell, never the platform X
expect_eq "bare x labels" "$(grep -oE '<text[^>]*>x</text>' "$REPORT" | grep -vc 'data-kind="protective"' || true)" "0"
queries=$(sed -n 's/.* in \([0-9]*\) queries.*/\1/p' "$REPORT")
expect_eq "about ten queries, not one per area" "$([ "${queries:-99}" -le 11 ] && echo yes)" "yes"
audited=$("$CLI" audit "${Q[@]}" --key "$TMP/admin.key" --id yh-analyst --format csv | grep -c ',"trends by ')
expect_eq "trends queries audited = the report's (less the alerts query)" "$audited" "$((queries - 1))"
cp "$TMP/shot.png" "${TSR_REPORT_SHOT:-/dev/null}" 2>/dev/null || true
finish
