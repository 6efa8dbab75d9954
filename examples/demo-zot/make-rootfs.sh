#!/bin/sh
# Makes the root filesystem of the demo service in DIR (default ./rootfs): Debian's static
# busybox (package busybox-static) serving /www over HTTP on port 5000, started by
# /usr/bin/start-zot. It stands in for the walkthrough's demo-zot, whose base image lives on
# zothub.io; `mosb image build --from DIR` turns it into a squashfs+verity image.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-rootfs}
busybox=${BUSYBOX:-/bin/busybox}  # static: it runs in an empty root
mkdir -p "$dir/bin" "$dir/usr/bin" "$dir/www" "$dir/etc"
cp "$busybox" "$dir/bin/busybox"
ln -sf busybox "$dir/bin/sh"
cp "$here/start-zot" "$dir/usr/bin/start-zot"
echo '<h1>hello from a mos service</h1>' >"$dir/www/index.html"
echo "$dir: busybox httpd on port 5000 (entrypoint /usr/bin/start-zot)"
