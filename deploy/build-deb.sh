#!/usr/bin/env bash
# build-deb.sh [OUT]: the Debian packages of this tree (debian/), built the
# Debian way (dpkg-buildpackage -b -us -uc), into OUT (default build-deb/):
# tessera-collector, tessera-agent and tessera (.deb), their -dbgsym
# (.ddeb), .buildinfo and .changes. `make deb` runs it.
#
# dpkg-buildpackage writes to the parent of the source directory, so it runs
# on a copy of the tree in OUT/src (without .git, build directories and the
# demo's output: what a clean clone holds), and nothing is written outside OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build-deb}"

version=$(dpkg-parsechangelog -S Version)
cmake_version=$(sed -n 's/^project(tessera VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
if [ "$version" != "$cmake_version" ]; then
    echo "build-deb: debian/changelog is at $version but CMakeLists.txt at $cmake_version:" \
        "add a debian/changelog entry for $cmake_version" >&2
    exit 1
fi

rm -rf "$out"
src="$out/src/tessera-$version"
mkdir -p "$src"
tar -C . --exclude=./.git --exclude='./build*' --exclude=./demo-run --exclude='./obj-*' \
    --exclude=./debian/.debhelper --exclude='./debian/tessera*/' --exclude=./debian/tmp \
    -cf - . | tar -C "$src" -xf -
(cd "$src" && DEB_BUILD_OPTIONS="parallel=${JOBS:-2} ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -b -us -uc)
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/
mv "$out"/src/*.ddeb "$out"/ 2>/dev/null || true
rm -rf "$out/src"
echo "build-deb: packages in $out/:"
ls -1 "$out"
