#!/usr/bin/env bash
# Makes in DIR (default ./rootfs) the root filesystem of a service that runs our registry:
# /usr/bin/mos-registry with every shared library `ldd` lists (the dynamic loader included) at
# the paths the binary asks for, /etc/passwd and /etc/group with root, and
# /etc/mos-registry/config.json for `mos-registry serve` (storage /var/lib/registry, every
# address, port 5000 inside the container). Nothing else: no shell, no package manager. Where a
# service needs a registry (a machine that mirrors its own images) this is the image, built with
#   mosb image build --from DIR --to oci:LAYOUT:TAG \
#     --entrypoint '["/usr/bin/mos-registry","serve","/etc/mos-registry/config.json"]'
# The binary is MOS_REGISTRY, or mos-registry found on PATH. Its debug information is stripped
# (a release build with it is ~170 MiB, without ~6 MiB); MOS_STRIP=0 keeps the file as it is.
# The host's merged-/usr links (/lib -> usr/lib, ...) are made in DIR too, so a library is
# found under both the path ldd printed and its /usr twin, as on the host.
set -euo pipefail
dir=${1:-rootfs}
registry=${MOS_REGISTRY:-$(command -v mos-registry || true)}
if [ -z "$registry" ] || [ ! -x "$registry" ]; then
  echo "make-rootfs.sh: no mos-registry (set MOS_REGISTRY or put it on PATH)" >&2
  exit 1
fi

mkdir -p "$dir"
for top in bin sbin lib lib64; do
  target=$(readlink "/$top" || true)
  case $target in
    usr/*)
      mkdir -p "$dir/$target"
      [ -e "$dir/$top" ] || [ -L "$dir/$top" ] || ln -s "$target" "$dir/$top"
      ;;
  esac
done
mkdir -p "$dir/usr/bin" "$dir/etc/mos-registry" "$dir/var/lib/registry" "$dir/tmp" \
  "$dir/proc" "$dir/sys" "$dir/dev"
chmod 1777 "$dir/tmp"

install -m 0755 "$registry" "$dir/usr/bin/mos-registry"
if [ "${MOS_STRIP:-1}" != 0 ] && command -v strip >/dev/null; then
  strip --strip-debug "$dir/usr/bin/mos-registry"
fi

# Libraries: "name => /path (addr)" lines and the loader's "/path (addr)" line; the vDSO has
# no path. Each is copied (symlinks followed) to the same path in DIR.
ldd_out=$(ldd "$registry") || { echo "make-rootfs.sh: ldd $registry failed" >&2; exit 1; }
libs=$(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$ldd_out" | sort -u)
if grep -q 'not found' <<<"$ldd_out"; then
  echo "make-rootfs.sh: missing libraries:" >&2
  grep 'not found' <<<"$ldd_out" >&2
  exit 1
fi
grep -q '^/' <<<"$libs" || { echo "make-rootfs.sh: ldd listed no libraries (a static binary?)" >&2; exit 1; }
for lib in $libs; do
  mkdir -p "$dir$(dirname "$lib")"
  cp -L "$lib" "$dir$lib"
done

printf 'root:x:0:0:root:/:/usr/sbin/nologin\n' >"$dir/etc/passwd"
printf 'root:x:0:\n' >"$dir/etc/group"
cat >"$dir/etc/mos-registry/config.json" <<'EOF'
{
  "distSpecVersion": "1.1.0-dev",
  "storage": {
    "rootDirectory": "/var/lib/registry",
    "gc": false
  },
  "http": {
    "address": "0.0.0.0",
    "port": "5000"
  },
  "log": {
    "level": "info"
  }
}
EOF
echo "$dir: mos-registry serving /var/lib/registry on port 5000 ($(wc -l <<<"$libs") libraries;" \
  "entrypoint /usr/bin/mos-registry serve /etc/mos-registry/config.json)"
