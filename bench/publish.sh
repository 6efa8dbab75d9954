#!/usr/bin/env bash
# Benchmark: `mosb manifest publish` of a manifest with 3 targets of 100 MiB each (sources in an
# OCI layout) to a local mos-registry, against a shell baseline doing the same job with the
# usual tools: `skopeo copy` of each image to REGISTRY/mos:<hex>, `openssl dgst -sha256 -sign`
# of install.json, and curl uploads of the blobs and PUTs of the three artifact manifests.
# Fresh registry every round; medians over the rounds. Then a republish with unchanged images
# (target ≤ 1 s).
#   bench/publish.sh [ROUNDS] [TARGET_MIB]   (MOS_BIN=dir with built programs skips the build)
# Last line: RESULT publish ratio=<our time / baseline time> target=0.5
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
mib=${2:-100}
result_fail() { echo "$1"; echo "RESULT publish ratio=nan target=0.5"; exit 0; }
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || result_fail "build failed"
  MOS_BIN="$top/build/release/bin"
fi
export PATH="$MOS_BIN:$PATH"
work=$(mktemp -d /var/tmp/mos-bench-publish.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=../tests/e2e/helpers/mosctl.bash
. "$top/tests/e2e/helpers/mosctl.bash"

# free_port (and wait_for_http) as the end-to-end tests use them.
. "$top/tests/e2e/helpers/registry.bash"
start_registry() {
  local root=$1 port
  port=$(free_port)
  mos-registry serve --root "$root" --address 127.0.0.1 --port "$port" >"$root.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && { registry=127.0.0.1:$port; return 0; }
    sleep 0.1
  done
  return 1
}
stop_registry() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

export HOME="$work/home" XDG_DATA_HOME="$work/home/.local/share"
mkdir -p "$HOME"
trust keyset add --no-bootkit bench >/dev/null || result_fail "keyset add failed"
keys="$XDG_DATA_HOME/machine/trust/keys/bench/manifest/default"

echo "making 3 images of $mib MiB of random data"
for i in 1 2 3; do
  head -c "$((mib * 1024 * 1024))" /dev/urandom > "$work/payload$i"
  read -r digest size < <(mos_make_image "$work/src" "img$i" "$work/payload$i")
  eval "digest$i=$digest size$i=$size"
  rm -f "$work/payload$i"
done
{
  printf 'version: 1\nproduct: default\nupdate_type: complete\ntargets:\n'
  for i in 1 2 3; do
    printf '  - service_name: svc%s\n    source: oci:%s:img%s\n    version: 1.0.0\n    service_type: fs-only\n' "$i" "$work/src" "$i"
  done
} > "$work/manifest.yaml"

# The baseline: the same artifacts with skopeo, openssl and curl.
upload_blob() {  # REGISTRY REPO FILE
  local location
  location=$(curl -fsS -D - -o /dev/null -X POST "http://$1/v2/$2/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  case "$location" in http*) ;; *) location="http://$1$location" ;; esac
  local sep='?'; case "$location" in *\?*) sep='&' ;; esac
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$3" \
    "$location${sep}digest=sha256:$(sha256sum "$3" | cut -d' ' -f1)"
}
put_manifest() {  # REGISTRY REPO REF FILE
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$4" "http://$1/v2/$2/manifests/$3"
}
baseline() {
  local b=$work/baseline targets=() i d s
  rm -rf "$b"; mkdir -p "$b"
  for i in 1 2 3; do
    eval "d=\$digest$i s=\$size$i"
    skopeo copy --quiet --dest-tls-verify=false "oci:$work/src:img$i" "docker://$registry/mos:${d#sha256:}" || return 1
    targets+=("$(mos_target_json "svc$i" 1.0.0 "$d" "$s")")
  done
  mos_install_json default complete null "${targets[@]}" > "$b/install.json"
  openssl dgst -sha256 -sign "$keys/privkey.pem" -out "$b/install.json.signed" "$b/install.json" || return 1
  cp "$keys/cert.pem" "$b/cert.pem"
  printf '{}' > "$b/empty"
  for f in empty install.json cert.pem install.json.signed; do upload_blob "$registry" machine/install "$b/$f" || return 1; done
  desc() { printf '{"mediaType":"%s","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.title":"%s"}}' \
    "$1" "$(sha256sum "$2" | cut -d' ' -f1)" "$(stat -c %s "$2")" "$3"; }
  local config='{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="}'
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.machine.install","config":%s,"layers":[%s]}' \
    "$config" "$(desc application/vnd.machine.install "$b/install.json" index.json)" > "$b/install.manifest"
  put_manifest "$registry" machine/install 1.0.0 "$b/install.manifest" || return 1
  local subject
  subject=$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s}' \
    "$(sha256sum "$b/install.manifest" | cut -d' ' -f1)" "$(stat -c %s "$b/install.manifest")")
  for a in "pubkeycrt cert.pem" "signature install.json.signed"; do
    set -- $a
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.machine.%s","config":%s,"layers":[%s],"subject":%s}' \
      "$1" "$config" "$(desc application/vnd.oci.image.layer.v1.tar "$b/$2" "$2")" "$subject" > "$b/$1.manifest"
    put_manifest "$registry" machine/install "sha256:$(sha256sum "$b/$1.manifest" | cut -d' ' -f1)" "$b/$1.manifest" || return 1
  done
}

ours_times=() base_times=() again_times=()
for r in $(seq 1 "$rounds"); do
  rm -rf "$work/reg"; start_registry "$work/reg" || result_fail "registry did not start"
  t0=$(now); baseline || result_fail "baseline failed"; t1=$(now)
  base_times+=("$(echo "$t1 - $t0" | bc)")
  stop_registry
  rm -rf "$work/reg"; start_registry "$work/reg" || result_fail "registry did not start"
  t0=$(now)
  (cd "$work" && mosb -q manifest publish --skip-bootkit --project bench:default --repo "$registry" \
    --name machine/install:1.0.0 manifest.yaml >/dev/null) || result_fail "mosb publish failed"
  t1=$(now)
  (cd "$work" && mosb -q manifest publish --skip-bootkit --project bench:default --repo "$registry" \
    --name machine/install:1.0.0 manifest.yaml >/dev/null) || result_fail "mosb republish failed"
  t2=$(now)
  ours_times+=("$(echo "$t1 - $t0" | bc)")
  again_times+=("$(echo "$t2 - $t1" | bc)")
  stop_registry
  echo "round $r: baseline ${base_times[-1]} s, mosb ${ours_times[-1]} s, republish ${again_times[-1]} s"
done
base=$(printf '%s\n' "${base_times[@]}" | median)
ours=$(printf '%s\n' "${ours_times[@]}" | median)
again=$(printf '%s\n' "${again_times[@]}" | median)
echo "median: baseline $base s, mosb publish $ours s, republish unchanged $again s (target ≤ 1 s)"
echo "RESULT publish ratio=$(echo "scale=3; $ours / $base" | bc) target=0.5"
