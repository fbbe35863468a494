#!/usr/bin/env bash
# Fetches Debian's nginx source package from one suite into DEST:
#
#   scripts/nginx-source.sh SUITE VERSION DEST APTDIR
#
# apt runs with its own state in APTDIR (one deb-src entry, its own package
# lists), so the system's apt sources stay as they are: a system-wide
# trixie deb-src entry would make a plain `apt-get source nginx` on a
# bookworm machine fetch trixie's nginx. deb-src only, so no binary package
# can come from it. apt checks the suite's InRelease against Debian's
# archive keyring and each file against the signed Sources index.
set -euo pipefail

suite=$1 version=$2 dest=$3 aptdir=$4
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

mkdir -p "$aptdir/sources.list.d" "$aptdir/lists/partial" "$aptdir/cache"
printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' \
    "Suites: $suite" 'Components: main' "Signed-By: $keyring" \
    > "$aptdir/sources.list.d/$suite-src.sources"

apt_opts=(-q -o Dir::Etc::SourceList=/dev/null
          -o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
          -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache")

if ! apt-get "${apt_opts[@]}" -o APT::Update::Error-Mode=any update; then
    echo "nginx-source: cannot read $suite's signed source index." >&2
    echo "If apt said NO_PUBKEY, $keyring is older than $suite:" >&2
    echo "  apt-get install debian-archive-keyring  (bookworm's" >&2
    echo "  2023.3+deb12u2 or later holds trixie's keys)" >&2
    exit 1
fi

rm -rf "$dest" && mkdir -p "$dest"
cd "$dest"
if ! apt-get "${apt_opts[@]}" source "nginx/$suite"; then
    # Some mirrors and proxies hold the upstream tarball, which all of a
    # version's Debian revisions share, but not the latest revision's .dsc
    # and .debian.tar.xz. Build from the tarball then: its SHA-256 is the
    # one of the suite's signed Sources index. Debian's patches (packaging,
    # backported fixes) are then not applied; the nginx API is upstream's.
    echo "nginx-source: the full source package is not reachable;" \
        "using the upstream tarball of $suite's index" >&2
    rm -rf "$dest" && mkdir -p "$dest" && cd "$dest"
    read -r url file sha < <(apt-get "${apt_opts[@]}" source --print-uris \
        "nginx/$suite" | awk '$2 ~ /\.orig\.tar\./ {
            gsub("\047", "", $1); sub("SHA256:", "", $4); print $1, $2, $4 }')
    [ -n "${sha:-}" ] || { echo "nginx-source: no tarball in $suite" >&2; exit 1; }
    curl -fsS -o "$file" "$url"
    echo "$sha  $file" | sha256sum -c --quiet
    tar -xf "$file"
    echo "upstream tarball only, without Debian's patches: $url" \
        > "nginx-$version/OPAY-SOURCE"
fi
if [ ! -x "nginx-$version/configure" ]; then
    echo "nginx-source: $suite's nginx is not $version:" \
        "$(ls -d nginx-*/ 2>/dev/null)" >&2
    exit 1
fi
