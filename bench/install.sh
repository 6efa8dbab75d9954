#!/usr/bin/env bash
# Benchmark: `mosctl install` of 3 targets of 100 MiB each from a local registry (mos-registry on
# 127.0.0.1; verification, the copy of every blob with hashing, the git commit) against `skopeo
# copy` of the same three images from the same registry into an OCI layout. Several rounds each,
# in the same run, medians; peak RSS of mosctl through /usr/bin/time -v.
#   bench/install.sh [ROUNDS] [MIB]   (MOS_BIN=dir with built programs skips the release build)
# Last line: RESULT install ratio=<ours/skopeo> target=0.6
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
mib=${2:-100}
result() { echo "RESULT install ratio=$1 target=0.6"; exit 0; }
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || { echo "build failed"; result nan; }
  MOS_BIN="$top/build/release/bin"
fi
export MOS_BIN
work=$(mktemp -d)
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=../tests/e2e/helpers/mosctl.bash
source "$top/tests/e2e/helpers/mosctl.bash"
# shellcheck source=../tests/e2e/helpers/registry.bash
source "$top/tests/e2e/helpers/registry.bash"

port=$(free_port)
registry=127.0.0.1:$port
"$MOS_BIN/mos-registry" serve --root "$work/registry" --address 127.0.0.1 --port "$port" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 300); do curl -fs "http://$registry/v2/" >/dev/null && break; sleep 0.1; done
curl -fs "http://$registry/v2/" >/dev/null || { cat "$work/registry.log"; result nan; }

# Three images of MIB MiB (one random layer each), published with a signed install manifest by
# mosb manifest publish (the images go to $registry/mos:<hex>).
export XDG_DATA_HOME=$work/share
"$MOS_BIN/trust" -q keyset add --no-bootkit bench || result nan
keys=$XDG_DATA_HOME/machine/trust/keys/bench
{
  echo "version: 1"
  echo "product: $(cat "$keys/manifest/default/uuid")"
  echo "update_type: complete"
  echo "targets:"
} > "$work/manifest.yaml"
digests=()
for i in 1 2 3; do
  head -c $((mib * 1024 * 1024)) /dev/urandom > "$work/payload$i"
  read -r d _ < <(mos_make_image "$work/images" "t$i" "$work/payload$i")
  rm -f "$work/payload$i"
  digests+=("$d")
  cat >> "$work/manifest.yaml" <<YAML
  - service_name: t$i
    source: "oci:$work/images:t$i"
    version: 1.0.$i
    service_type: fs-only
    network:
      type: none
YAML
done
"$MOS_BIN/mosb" -q manifest publish --project bench:default --skip-bootkit --repo "$registry" \
  --name machine/install:1.0.0 "$work/manifest.yaml" || result nan
rm -rf "$work/images"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
ours=() peer=() rss=()
for round in $(seq 1 "$rounds"); do
  root=$work/root
  rm -rf "$root"; mkdir -p "$root/factory/secure"
  cp "$keys/manifest-ca/cert.pem" "$root/factory/secure/manifestCA.pem"
  sync
  start=$(now)
  /usr/bin/time -v -o "$work/time.txt" "$MOS_BIN/mosctl" -q install -r "$root" "$registry/machine/install:1.0.0" \
    >/dev/null || { echo "mosctl install failed"; result nan; }
  end=$(now)
  ours+=("$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}')")
  rss+=("$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")")
  layout=$work/skopeo
  rm -rf "$layout"
  sync
  start=$(now)
  for d in "${digests[@]}"; do
    skopeo copy -q --src-tls-verify=false "docker://$registry/mos@$d" "oci:$layout:${d#sha256:}" >/dev/null ||
      { echo "skopeo copy failed"; result nan; }
  done
  end=$(now)
  peer+=("$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}')")
  echo "round $round: mosctl install ${ours[-1]} s (peak RSS ${rss[-1]} KiB), skopeo copy ${peer[-1]} s"
done
ours_m=$(printf '%s\n' "${ours[@]}" | median)
peer_m=$(printf '%s\n' "${peer[@]}" | median)
rss_m=$(printf '%s\n' "${rss[@]}" | median)
echo "median: mosctl install ${ours_m} s, skopeo copy ${peer_m} s; mosctl peak RSS ${rss_m} KiB (target <= 65536)"
result "$(awk -v a="$ours_m" -v b="$peer_m" 'BEGIN {printf "%.2f", a / b}')"
