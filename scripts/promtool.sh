#!/usr/bin/env bash
# Makes Prometheus' own checker ready for 75-status.t: promtool from
# Debian's prometheus package, taken out of the .deb into build/tools/, so
# no Prometheus server is installed or started. Prints its path; exits 1
# with the reason when it cannot (the test then skips and says why).
set -uo pipefail

tools=$(cd "$(dirname "$0")/.." && pwd)/build/tools

if command -v promtool >/dev/null 2>&1; then
    command -v promtool
    exit 0
fi
if [ -x "$tools/promtool" ]; then
    echo "$tools/promtool"
    exit 0
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
if ! apt-get download -q prometheus >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ] || ! apt-get update -q >/dev/null 2>&1 ||
       ! apt-get download -q prometheus >/dev/null 2>&1; then
        echo "promtool: could not download Debian's prometheus package" >&2
        exit 1
    fi
fi
if ! dpkg-deb --fsys-tarfile prometheus_*.deb |
     tar -x ./usr/bin/promtool 2>/dev/null; then
    echo "promtool: not found in the prometheus package" >&2
    exit 1
fi
mkdir -p "$tools" && mv usr/bin/promtool "$tools/promtool" || exit 1
echo "$tools/promtool"
