#!/usr/bin/env bash
# make deb: packages the dynamic module and the opay tool the way Debian
# packages its own nginx modules (libnginx-mod-*): the .so under
# /usr/lib/nginx/modules, its load_module snippet in
# /usr/share/nginx/modules-available, enabled by a symlink in
# /etc/nginx/modules-enabled (dh_nginx's maintainer scripts), and a
# Depends on the exact nginx ABI the module was built against.
#
#   scripts/deb.sh VERSION MODULE_SO OPAY_BINARY OUTPUT_DIR
set -euo pipefail

version=$1 so=$2 opay=$3 out=$4
root=$(cd "$(dirname "$0")/.." && pwd)
pkg=libnginx-mod-http-opay
conf=mod-http-opay.conf
link=50-mod-http-opay.conf
arch=$(dpkg --print-architecture)
maintainer="ngx_http_opay_module developers <opay@contoso.com>"
work=$out/work
stage=$work/$pkg

# The ABI of the nginx we built against: Debian's nginx provides
# nginx-abi-<version>-<n>, and a module is only loadable into that one.
abi=$(dpkg-query -W -f='${Provides}\n' nginx nginx-core 2>/dev/null \
      | tr ',' '\n' | grep -o 'nginx-abi-[^ ]*' | head -n1 || true)
if [ -z "$abi" ]; then
    echo "deb: Debian's nginx (which provides nginx-abi-*) is not installed" >&2
    exit 1
fi

rm -rf "$work" && mkdir -p "$stage/DEBIAN"
install -d "$stage/usr/lib/nginx/modules" "$stage/usr/bin" \
    "$stage/usr/share/nginx/modules-available" "$stage/usr/share/doc/$pkg"
install -m 644 "$so" "$stage/usr/lib/nginx/modules/ngx_http_opay_module.so"
install -m 755 "$opay" "$stage/usr/bin/opay"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$stage/usr/lib/nginx/modules/ngx_http_opay_module.so" \
    "$stage/usr/bin/opay"
echo "load_module modules/ngx_http_opay_module.so;" \
    > "$stage/usr/share/nginx/modules-available/$conf"

doc=$stage/usr/share/doc/$pkg
date=$(git -C "$root" log -1 --format=%cD 2>/dev/null || date -R)
printf '%s\n' "$pkg ($version) unstable; urgency=medium" '' \
    "  * Built by make deb from the ngx_http_opay_module repository." '' \
    " -- $maintainer  $date" | gzip -9n > "$doc/changelog.Debian.gz"
# The licence, in Debian's machine-readable copyright format.
{
    printf '%s\n' \
        'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' \
        'Upstream-Name: ngx_http_opay_module' '' \
        'Files: *' \
        'Copyright: 2026 The ngx_http_opay_module developers' \
        'License: BSD-2-Clause'
    # the licence text after its title line, each line indented, blank
    # lines as " ."
    sed -n '/^Redistribution/,$p' "$root/LICENSE" \
        | sed -e 's/^$/./' -e 's/^/ /'
    printf '%s\n' '' \
        'Comment: the module links RapidJSON (header-only; MIT licence,' \
        ' Copyright (C) 2015 THL A29 Limited, a Tencent company, and Milo Yip),' \
        ' OpenSSL and libcurl as packaged by Debian.'
} > "$doc/copyright"
# The operator's documentation in the repository's layout, so that
# README.md's links to docs/ lead somewhere (the contributors'
# docs/development.md is not shipped), the change log and the manual page.
gzip -9nc "$root/README.md" > "$doc/README.md.gz"
install -d "$doc/docs"
for page in README ngx_http_opay_module backends payment-complete \
            operations security; do
    gzip -9nc "$root/docs/$page.md" > "$doc/docs/$page.md.gz"
done
gzip -9nc "$root/CHANGES" > "$doc/changelog.gz"
install -d "$stage/usr/share/man/man1"
gzip -9nc "$root/docs/opay.1" > "$stage/usr/share/man/man1/opay.1.gz"
find "$doc" -type f -exec chmod 644 {} +
chmod 644 "$stage/usr/share/man/man1/opay.1.gz"

# Maintainer scripts: dh_nginx's, as Debian's own module packages have them.
cat > "$stage/DEBIAN/postinst" <<SCRIPT
#!/bin/sh
set -e
if [ -L /etc/nginx/modules-enabled/$link.removed ]; then
    rm /etc/nginx/modules-enabled/$link.removed
    removed_link=true
else
    removed_link=false
fi
# enable on a fresh install, and on a reinstall after a remove (an
# operator's own disabling of a configured package is kept)
if [ -z "\$2" ] || [ "\$removed_link" = "true" ]; then
    mkdir -p /etc/nginx/modules-enabled
    ln -sf /usr/share/nginx/modules-available/$conf \\
        /etc/nginx/modules-enabled/$link
fi
if [ "\$1" = "configure" ] && command -v dpkg-trigger >/dev/null 2>&1; then
    dpkg-trigger --no-await nginx-reload
fi
SCRIPT
cat > "$stage/DEBIAN/prerm" <<SCRIPT
#!/bin/sh
set -e
if [ "\$1" = "remove" ] || [ "\$1" = "deconfigure" ]; then
    if [ -L /etc/nginx/modules-enabled/$link ]; then
        mv /etc/nginx/modules-enabled/$link \\
            /etc/nginx/modules-enabled/$link.removed
    fi
fi
SCRIPT
cat > "$stage/DEBIAN/postrm" <<SCRIPT
#!/bin/sh
set -e
if [ "\$1" = "purge" ]; then
    rm -f /etc/nginx/modules-enabled/$link \\
        /etc/nginx/modules-enabled/$link.removed
fi
if [ "\$1" = "remove" ] && command -v dpkg-trigger >/dev/null 2>&1; then
    dpkg-trigger --no-await nginx-reload
fi
SCRIPT
chmod 755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" \
    "$stage/DEBIAN/postrm"

# Library dependencies, as dpkg-shlibdeps finds them.
mkdir -p "$work/shlibs/debian"
printf '%s\n' "Source: $pkg" '' "Package: $pkg" "Architecture: any" \
    > "$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O \
    "$stage/usr/lib/nginx/modules/ngx_http_opay_module.so" \
    "$stage/usr/bin/opay" | sed -n 's/^shlibs:Depends=//p')

cat > "$stage/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $abi, $shlibs
Recommends: nginx
Section: httpd
Priority: optional
Description: Payments in Outlook endpoint for nginx
 ngx_http_opay_module turns nginx into the endpoint for Payments in
 Outlook: the PaymentRequest webhook (load the invoice, shipping address
 and option changes) and the PaymentComplete webhook (charge the payment
 token through Stripe exactly once, journalled), with the bearer token
 checked inside the worker.
 .
 The package also holds the opay tool: token inspection, the payment
 request e-mail (opay card) and a simulator of the payment service
 (opay simulate).
CONTROL
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) \
    > "$stage/DEBIAN/md5sums"

deb=$out/${pkg}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "deb: $deb (Depends: $abi, $shlibs)"

if command -v lintian >/dev/null 2>&1; then
    lintian --fail-on error "$deb"
    echo "deb: lintian reports no error"
else
    echo "deb: lintian is not installed; not checked"
fi
