#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need. Idempotent:
# it does nothing when everything is already there.
set -euo pipefail

PKGS="build-essential cmake pkg-config dpkg-dev curl ca-certificates
      libssl-dev libpcre2-dev zlib1g-dev rapidjson-dev libcurl4-openssl-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      perl libcrypt-jwt-perl libjson-xs-perl libcrypt-openssl-rsa-perl
      openssl ngtcp2-client libio-socket-ssl-perl
      nginx-core lintian
      clang libclang-rt-14-dev valgrind"

missing=()
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
        || missing+=("$p")
done

# The nginx source packages come from bookworm and trixie (make fetches
# them with scripts/nginx-source.sh, which leaves the system's apt sources
# alone); apt checks trixie's index with trixie's key, which bookworm's
# keyring has from 2023.3+deb12u2 on.
keyring=$(dpkg-query -W -f='${Version}' debian-archive-keyring 2>/dev/null || true)
if ! dpkg --compare-versions "${keyring:-0}" ge 2023.3+deb12u2; then
    missing+=(debian-archive-keyring)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

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
