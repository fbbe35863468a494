#!/usr/bin/env bash
# Makes the card renderer ready (make card-preview, the renderer test in
# make test): Debian's chromium, Node and npm, then the exact npm packages
# of tools/card-preview/package-lock.json (npm ci). Installs what is missing
# where it can (apt as root, the npm registry); otherwise says what is
# missing and exits 1, so the caller can skip with that message.
set -uo pipefail

dir=$(cd "$(dirname "$0")/../tools/card-preview" && pwd)

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "card renderer: ${missing[*]} missing and not root to install them"
        exit 1
    fi
    echo "card renderer: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get install -y -q --no-install-recommends "${missing[@]}" ||
           { apt-get update -q &&
             apt-get install -y -q --no-install-recommends "${missing[@]}"; }
         } >/dev/null; then
        echo "card renderer: apt-get could not install ${missing[*]}"
        exit 1
    fi
fi

# npm ci again only when the lock file changed since the last install
stamp="$dir/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); then
        echo "card renderer: npm ci failed (is the npm registry reachable?)"
        exit 1
    fi
fi
exit 0
