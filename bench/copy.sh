#!/usr/bin/env bash
# Benchmark: `mosb oci copy` against `skopeo copy` for an image of ~1 GiB of random data in 8
# layers, both directions between a local docker-registry and an OCI layout. Fresh destinations
# every round (a fresh registry for pushes, so no blob can be mounted or skipped). Wall time and
# peak RSS from /usr/bin/time -v; medians over the rounds. Ours leaves every layout durable
# (one syncfs before the index names the blobs); skopeo does not sync, so a second peer is
# skopeo followed by `sync -f` of the layout's file system (durable against durable, pulls).
# Also: one-core SHA-256 throughput of OpenSSL (what our Hasher uses) and of a layout-to-layout
# copy (read, hash twice, write).
#   bench/copy.sh [ROUNDS] [LAYER_MIB]      (MOS_BIN=dir with a built mosb skips the build)
# Last line: RESULT copy ratio=<our time / skopeo time, both directions> target=0.5
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
layer_mib=${2:-128}
result_fail() { echo "$1"; echo "RESULT copy ratio=nan target=0.5"; exit 0; }
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || result_fail "build failed"
  MOS_BIN="$top/build/release/bin"
fi
work=$(mktemp -d /var/tmp/mos-bench-copy.XXXXXX)
cleanup() {
  stop_registries
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# free_port, start_docker_registry and stop_registries as the end-to-end tests use them; they
# keep their pid list in $BATS_FILE_TMPDIR.
. "$top/tests/e2e/helpers/registry.bash"
export BATS_FILE_TMPDIR=$work

# start_registry DIR: prints host:port of a docker-registry storing into DIR (the end-to-end
# helper's start_docker_registry; stop_registries at exit stops every one).
start_registry() {
  start_docker_registry "$1" || return 1
  echo "$DOCKER_REGISTRY_PID" >"$1/pid"
  echo "$DOCKER_REGISTRY"
}
stop_registry() {
  local pid
  pid=$(cat "$1/pid")
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -rf "$1"
}

# The image: 8 uncompressed tar layers of random data in an OCI layout (made by hand, so the
# benchmark measures copying, not gzip).
echo "building an image of 8 x $layer_mib MiB random layers" >&2
img=$work/img
mkdir -p "$img/blobs/sha256" "$work/gen"
printf '{"imageLayoutVersion":"1.0.0"}' >"$img/oci-layout"
layers="" diffids=""
for n in $(seq 1 8); do
  head -c $((layer_mib * 1024 * 1024)) /dev/urandom >"$work/gen/file$n"
  tar -C "$work/gen" -cf "$work/gen/layer$n.tar" "file$n"
  rm "$work/gen/file$n"
  hex=$(sha256sum "$work/gen/layer$n.tar" | cut -d' ' -f1)
  size=$(stat -c %s "$work/gen/layer$n.tar")
  mv "$work/gen/layer$n.tar" "$img/blobs/sha256/$hex"
  layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$hex\",\"size\":$size}"
  diffids+="${diffids:+,}\"sha256:$hex\""
done
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$diffids" >"$work/gen/config"
chex=$(sha256sum "$work/gen/config" | cut -d' ' -f1)
csize=$(stat -c %s "$work/gen/config")
mv "$work/gen/config" "$img/blobs/sha256/$chex"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
  "$chex" "$csize" "$layers" >"$work/gen/manifest"
mhex=$(sha256sum "$work/gen/manifest" | cut -d' ' -f1)
msize=$(stat -c %s "$work/gen/manifest")
mv "$work/gen/manifest" "$img/blobs/sha256/$mhex"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
  "$mhex" "$msize" >"$img/index.json"
total_bytes=$(du -sb "$img/blobs" | cut -f1)

src_dir=$work/src-registry
SRC=$(start_registry "$src_dir") || result_fail "docker-registry did not start"
skopeo copy -q --dest-tls-verify=false "oci:$img:latest" "docker://$SRC/bench/img:1" || result_fail "skopeo push failed"

# measure NAME CMD...: appends "seconds rss_kib" to $work/NAME.times; fails loudly on error.
measure() {
  local name=$1
  shift
  /usr/bin/time -v -o "$work/time.out" "$@" >/dev/null 2>"$work/cmd.err" || {
    echo "$name failed:" >&2
    cat "$work/cmd.err" >&2
    return 1
  }
  local wall rss cpu
  cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$work/time.out")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.out")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.out")
  echo "$wall $rss $cpu" >>"$work/$name.times"
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v c="$2" '{print $c}' "$work/$1.times" | median; }

export SKOPEO_HOME=$work/skopeo-home
mkdir -p "$SKOPEO_HOME"
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds" >&2
  # registry -> layout; each starts with nothing dirty on the file system (ours ends with a
  # syncfs of it, the durable peer with sync -f).
  rm -rf "$work/dst"
  sync -f "$work"
  measure ours_pull "$MOS_BIN/mosb" oci copy -q "docker://$SRC/bench/img:1" "oci:$work/dst:1" || result_fail "mosb pull failed"
  rm -rf "$work/dst"
  sync -f "$work"
  HOME=$SKOPEO_HOME measure skopeo_pull skopeo copy -q --src-tls-verify=false "docker://$SRC/bench/img:1" "oci:$work/dst:1" || result_fail "skopeo pull failed"
  rm -rf "$work/dst"
  sync -f "$work"
  HOME=$SKOPEO_HOME measure skopeo_sync_pull sh -c 'skopeo copy -q --src-tls-verify=false "$1" "$2" && sync -f "${2#oci:}"' \
    sh "docker://$SRC/bench/img:1" "oci:$work/dst" || result_fail "skopeo pull (durable) failed"
  rm -rf "$work/dst"
  # layout -> a fresh registry (nothing to skip or mount)
  DST=$(start_registry "$work/dst-registry-$r-ours") || result_fail "docker-registry did not start"
  measure ours_push "$MOS_BIN/mosb" oci copy -q "oci:$img:latest" "docker://$DST/bench/img:1" || result_fail "mosb push failed"
  stop_registry "$work/dst-registry-$r-ours"
  DST=$(start_registry "$work/dst-registry-$r-skopeo") || result_fail "docker-registry did not start"
  HOME=$SKOPEO_HOME measure skopeo_push skopeo copy -q --dest-tls-verify=false "oci:$img:latest" "docker://$DST/bench/img:1" || result_fail "skopeo push failed"
  stop_registry "$work/dst-registry-$r-skopeo"
  rm -rf "$SKOPEO_HOME/.local"
  # layout -> layout (hash throughput of the whole pipeline)
  rm -rf "$work/dst"
  measure ours_local "$MOS_BIN/mosb" oci copy -q "oci:$img:latest" "oci:$work/dst:1" || result_fail "mosb local copy failed"
  rm -rf "$work/dst"
done

gib=$(awk -v b="$total_bytes" 'BEGIN {printf "%.2f", b/1073741824}')
printf '%-28s %10s %12s %10s\n' "copy of $gib GiB (median)" "wall s" "peak RSS MiB" "CPU s"
for n in ours_pull skopeo_pull skopeo_sync_pull ours_push skopeo_push ours_local; do
  printf '%-28s %10s %12.1f %10s\n' "$n" "$(col $n 1)" "$(awk -v k="$(col $n 2)" 'BEGIN {print k/1024}')" "$(col $n 3)"
done
sha=$(openssl speed -evp sha256 -bytes 1048576 -seconds 2 2>/dev/null | awk '/^sha256/ {print $NF}' | tr -d k)
echo "sha256 one core (OpenSSL EVP, as Hasher): $(awk -v k="${sha:-0}" 'BEGIN {printf "%.2f GB/s", k*1000/1e9}')"
echo "layout->layout copy throughput: $(awk -v b="$total_bytes" -v s="$(col ours_local 1)" 'BEGIN {printf "%.2f GB/s", b/s/1e9}')"
ratio=$(awk -v a="$(col ours_pull 1)" -v b="$(col ours_push 1)" -v c="$(col skopeo_pull 1)" -v d="$(col skopeo_push 1)" \
  'BEGIN {if (c+d > 0) printf "%.2f", (a+b)/(c+d); else print "nan"}')
echo "pull ratio $(awk -v a="$(col ours_pull 1)" -v c="$(col skopeo_pull 1)" 'BEGIN {printf "%.2f", a/c}'), push ratio $(awk -v b="$(col ours_push 1)" -v d="$(col skopeo_push 1)" 'BEGIN {printf "%.2f", b/d}')"
echo "durable against durable: pull ratio to skopeo + sync -f $(awk -v a="$(col ours_pull 1)" -v c="$(col skopeo_sync_pull 1)" 'BEGIN {printf "%.2f", a/c}')"
echo "RESULT copy ratio=$ratio target=0.5"
