#!/usr/bin/env bash
# Makes in DIR (default ./base) the base root filesystem that examples/stacker.yaml builds on, in
# place of the walkthrough's zothub.io/machine/bootkit/rootfs (which cannot be reached here): a
# statically linked busybox with its applets as links, the host's merged-/usr layout (/bin ->
# usr/bin, ...), root in /etc/passwd. Built into an image with
#   mosb image build --from DIR --to docker://HOST/machine/bootkit/rootfs:VERSION-squashfs
set -euo pipefail
dir=${1:-base}
busybox=${BUSYBOX:-/bin/busybox}
# ldd (libc-bin, always there) says so of a static program.
{ ldd "$busybox" 2>&1 || true; } | grep -q 'not a dynamic executable' || {
  echo "make-base.sh: $busybox is not a static busybox (install busybox-static)" >&2
  exit 1
}
mkdir -p "$dir/usr/bin" "$dir/etc" "$dir/tmp" "$dir/var/lib" "$dir/proc" "$dir/sys" "$dir/dev"
chmod 1777 "$dir/tmp"
for top in bin sbin lib lib64; do
  target=$(readlink "/$top" || true)
  case $target in
    usr/*)
      mkdir -p "$dir/$target"
      [ -e "$dir/$top" ] || [ -L "$dir/$top" ] || ln -s "$target" "$dir/$top"
      ;;
  esac
done
mkdir -p "$dir/bin"
install -m 0755 "$busybox" "$dir/usr/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || [ -e "$dir/usr/bin/$applet" ] || ln -s busybox "$dir/usr/bin/$applet"
done
printf 'root:x:0:0:root:/:/bin/sh\n' >"$dir/etc/passwd"
printf 'root:x:0:\n' >"$dir/etc/group"
echo "$dir: busybox $("$busybox" --list | wc -l) applets"
