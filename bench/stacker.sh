#!/usr/bin/env bash
# Benchmark: build an image from a base, one import and one run step that installs files,
# `stacker build` (mosb under that name) of a stacker.yaml against `podman build` of the
# equivalent Containerfile, same run, rounds alternating, medians; cold and warm.
#   bench/stacker.sh [ROUNDS]   (MOS_BIN=dir with built programs skips the release build)
# The base: a static busybox root (bench/podman_activate.sh's make_httpd_rootfs with a few
# applets), ours a squashfs image in an OCI layout (`mosb image build`), podman's the same tree
# imported as a tar-layer image (podman cannot read squashfs). The step, both sides: the import
# (20 files of 100 KB) bind-mounted read-only at /stacker/imports (ours: `imports: [files/]`;
# podman: `RUN --mount=type=bind`), then `mkdir /opt/app`, the imports copied there and 200
# small files written, in a container with the host's network.
# Cold: ours from an empty stacker dir and output layout each round (so the base is copied into
#   the build's layout and unpacked, the container run, the layer packed as squashfs with dm-verity
#   appended: more than podman does), podman with --no-cache (its base already unpacked in its
#   storage, its layer a plain diff in overlay storage, no compression).
# Warm: the same build again, unchanged: ours from the build cache, podman from its layer cache.
# Also reported: ours with --layer-type tar (a gzip tar layer, as podman would push one).
# Last line: RESULT stacker ratio=<ours cold / podman cold> target=0.7
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
result() { echo "RESULT stacker ratio=$1 target=0.7"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "needs root"; result nan; }
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || { echo "build failed"; result nan; }
  MOS_BIN="$top/build/release/bin"
fi
# shellcheck source=podman_activate.sh
source "$top/bench/podman_activate.sh"

work=$(mktemp -d)
cleanup() {
  podman_cleanup
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || result nan
export SOURCE_DATE_EPOCH=1700000000

make_httpd_rootfs base >/dev/null || result nan
for a in cat ls cp mkdir rm echo chmod seq; do ln -sf busybox "base/bin/$a"; done
mkdir -p ctx/files
for i in $(seq 20); do head -c 100000 /dev/urandom >"ctx/files/f$i"; done
script='mkdir -p /opt/app && cp /stacker/imports/* /opt/app/ && for i in $(seq 1 200); do echo $i > /opt/app/n$i; done'

"$MOS_BIN/mosb" -q image build --from base --to "oci:$work/bases:busybox" >/dev/null || result nan
cat >ctx/stacker.yaml <<EOF
built:
  from: {type: oci, url: "$work/bases:busybox"}
  imports: [files/]
  run: '$script'
EOF
podman_setup "$work/podman" || result nan
podman_import_rootfs base mosbench-base '["/bin/sh"]' || result nan
cat >ctx/Containerfile <<EOF
FROM localhost/mosbench-base:latest
RUN --mount=type=bind,source=files,target=/stacker/imports $script
EOF

now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.3f\n", e - s }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ours() {  # ours TYPE DIR: one build; prints its wall seconds
  local type=$1 dir=$2 s e
  s=$(now)
  (cd ctx && "$MOS_BIN/stacker" -q --stacker-dir "$dir/st" --oci-dir "$dir/oci" --roots-dir "$dir/roots" \
    build --layer-type "$type" >/dev/null 2>&1) || return 1
  e=$(now)
  elapsed "$s" "$e"
}
theirs() {  # theirs [--no-cache]: one podman build; prints its wall seconds
  local s e
  s=$(now)
  podman_cmd build --network host "${PODMAN_RUN_ARGS[@]}" "$@" -q -t mosbench-built ctx >/dev/null || return 1
  e=$(now)
  elapsed "$s" "$e"
}

# One of each first, not counted: caches of the programs and files warm on both sides.
ours squashfs "$work/warmup" >/dev/null || { echo "our build failed"; result nan; }
theirs --no-cache >/dev/null || { echo "podman build failed"; result nan; }
: >"$work/ours_cold" >"$work/ours_warm" >"$work/ours_tar" >"$work/theirs_cold" >"$work/theirs_warm"
for r in $(seq "$rounds"); do
  rm -rf "$work/r"
  ours squashfs "$work/r" >>"$work/ours_cold" || result nan
  ours squashfs "$work/r" >>"$work/ours_warm" || result nan
  rm -rf "$work/t"
  ours tar "$work/t" >>"$work/ours_tar" || result nan
  theirs --no-cache >>"$work/theirs_cold" || result nan
  theirs >>"$work/theirs_warm" || result nan
done
oc=$(median <"$work/ours_cold")
ow=$(median <"$work/ours_warm")
ot=$(median <"$work/ours_tar")
tc=$(median <"$work/theirs_cold")
tw=$(median <"$work/theirs_warm")
printf 'rounds %s, load %s\n' "$rounds" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %10s %10s %8s\n' "" ours podman ratio
printf '%-44s %10s %10s %8s\n' "cold build (ours squashfs+verity)" "$oc" "$tc" "$(awk -v a="$oc" -v b="$tc" 'BEGIN { printf "%.2f", a / b }')"
printf '%-44s %10s %10s %8s\n' "cold build (ours gzip tar layer)" "$ot" "$tc" "$(awk -v a="$ot" -v b="$tc" 'BEGIN { printf "%.2f", a / b }')"
printf '%-44s %10s %10s %8s\n' "unchanged rebuild (cache)" "$ow" "$tw" "$(awk -v a="$ow" -v b="$tw" 'BEGIN { printf "%.2f", a / b }')"
result "$(awk -v a="$oc" -v b="$tc" 'BEGIN { printf "%.2f", a / b }')"
