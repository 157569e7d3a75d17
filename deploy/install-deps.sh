#!/usr/bin/env bash
# Install every Debian package Tessera's build, tests and demo need.
# Idempotent: packages already present are left alone. Runs as root, or
# through sudo when run by another user.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config     # toolchain
  libzmq3-dev                          # ZeroMQ with CURVE (libsodium)
  libprotobuf-c-dev protobuf-c-compiler # wire format
  libssl-dev                           # OpenSSL 3: HMAC-SHA256, SHA-256, random
  liblmdb-dev lmdb-utils               # storage; mdb_stat/mdb_copy for operators
  libcmocka-dev                        # unit tests
  libjansson-dev                       # JSON input/output
  libutf8proc-dev                      # Unicode NFKC for handles
  libcsv-dev                           # CSV input and code lists
  libinih-dev                          # INI config files
  libgsl-dev                           # distribution functions for spike detection
  jq                                   # the demo reads JSON output with it
  chromium                             # headless screenshot of the HTML report (report_browser test)
  python3-pil                          # that test reads the screenshot's pixels
  python3                              # the privacy adversary (tests/privacy), standard library only
  clang                                # make fuzz: libFuzzer with ASan and UBSan
  libsystemd-dev                       # sd_notify: the collector's Type=notify unit and watchdog
  debhelper help2man                   # make deb: Debian packages, man pages from --help
  lintian systemd                      # tests/package/check.sh: lintian, systemd-analyze
  python3-prometheus-client            # the metrics test parses tessera stats --format prometheus
  iproute2                             # the multi-host test: ip netns, veth pairs
)

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-deps: run as root or install sudo" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
