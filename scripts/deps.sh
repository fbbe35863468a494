#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need. Idempotent:
# it does nothing when everything is already there.
set -euo pipefail

PKGS="build-essential cmake pkg-config dpkg-dev curl ca-certificates
      libssl-dev libpcre2-dev zlib1g-dev rapidjson-dev libcurl4-openssl-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      perl libcrypt-jwt-perl libjson-xs-perl libcrypt-openssl-rsa-perl
      nginx-core"

missing=()
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
        || missing+=("$p")
done

src_entry=/etc/apt/sources.list.d/opay-deb-src.sources
need_src=0
if [ ! -f "$src_entry" ] && ! grep -rqs '^deb-src .*bookworm\|^Types: .*deb-src' \
        /etc/apt/sources.list /etc/apt/sources.list.d/; then
    need_src=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $need_src -eq 0 ]; then
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

if [ $need_src -eq 1 ]; then
    echo "deps: adding a deb-src entry for bookworm ($src_entry)"
    # deb822 form, with the same Signed-By as Debian's own entry, so apt
    # does not see two conflicting keyrings for one archive.
    printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' \
        'Suites: bookworm' 'Components: main' \
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
        | $SUDO tee "$src_entry" >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    # The packaged nginx must not grab port 80 or keep running: we only
    # want its binary to load our dynamic module in the tests.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
