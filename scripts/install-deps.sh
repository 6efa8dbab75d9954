#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/deps.txt (idempotent; quick when all are there).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t pkgs < <(grep -v -E '^\s*(#|$)' "$here/deps.txt")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The kernel package is a part of the bootkit, not this host's boot: no initramfs for it
  # (initramfs-tools' kernel hook honours INITRD=No; building one takes minutes).
  export INITRD=No
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# docker-registry's package starts a system service on :5000; the tests and demo run their own.
# Stop it through its service manager (by unit or init script), never by killing processes by
# name: another docker-registry on this machine may be somebody else's.
if systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
  systemctl disable docker-registry >/dev/null 2>&1 || true
elif [ -x /etc/init.d/docker-registry ] && /etc/init.d/docker-registry status >/dev/null 2>&1; then
  /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
fi
