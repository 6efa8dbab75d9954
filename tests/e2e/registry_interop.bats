#!/usr/bin/env bats
# mos-registry with real clients and real layout writers: skopeo pushes to and pulls from it,
# umoci and skopeo read the layouts it writes, and it serves layouts that skopeo and umoci wrote
# (zot's storage shape). Also crash safety: kill -9 mid-upload and mid-push, then restart.

load helpers/registry

setup_file() {
  export WORK=$BATS_FILE_TMPDIR
  export ROOT=$WORK/root
  # A three-layer image built by umoci.
  cd "$WORK"
  umoci init --layout img
  umoci new --image img:latest
  for n in 1 2 3; do
    mkdir -p "content$n/data$n"
    head -c $((100000 * n)) /dev/urandom >"content$n/data$n/file"
    umoci insert --image img:latest "content$n/data$n" "/data$n"
  done
  start_mos_registry "$ROOT"
}

teardown_file() {
  stop_registries
}

setup() {
  HDRS=$BATS_TEST_TMPDIR/headers
  BODY=$BATS_TEST_TMPDIR/body
  REG=$MOS_REGISTRY
}

manifest_digest_of_layout() { # DIR TAG
  jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$1/index.json"
}

# Every repository under ROOT: index.json parses, every listed manifest and every blob file
# exists with the content its name says.
check_root_consistent() {
  local root=$1 layout f d
  while read -r layout; do
    layout=$(dirname "$layout")
    jq -e '.schemaVersion == 2' "$layout/index.json" >/dev/null
    for d in $(jq -r '.manifests[].digest' "$layout/index.json"); do
      [ -f "$layout/blobs/sha256/${d#sha256:}" ] || { echo "missing manifest blob $d in $layout" >&2; return 1; }
    done
    for f in "$layout"/blobs/sha256/*; do
      [ -e "$f" ] || continue
      [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || { echo "corrupt blob $f" >&2; return 1; }
    done
  done < <(find "$root" -name oci-layout)
}

@test "skopeo copies a multi-layer image to mos-registry and back, digests unchanged" {
  skopeo copy --dest-tls-verify=false "oci:$WORK/img:latest" "docker://$REG/interop/img:1.0"
  skopeo inspect --tls-verify=false "docker://$REG/interop/img:1.0" >"$BATS_TEST_TMPDIR/inspect.json"
  [ "$(jq '.Layers | length' "$BATS_TEST_TMPDIR/inspect.json")" = 3 ]
  skopeo copy --src-tls-verify=false "docker://$REG/interop/img:1.0" "oci:$BATS_TEST_TMPDIR/back:1.0"
  [ "$(manifest_digest_of_layout "$WORK/img" latest)" = "$(manifest_digest_of_layout "$BATS_TEST_TMPDIR/back" 1.0)" ]
  [ "$(manifest_digest_of_layout "$WORK/img" latest)" = "$(manifest_digest_of_layout "$ROOT/interop/img" 1.0)" ]
  skopeo inspect --raw --tls-verify=false "docker://$REG/interop/img:1.0" | cmp - "$ROOT/interop/img/blobs/sha256/$(manifest_digest_of_layout "$ROOT/interop/img" 1.0 | cut -d: -f2)"
}

@test "umoci and skopeo read the layout mos-registry wrote" {
  skopeo copy --dest-tls-verify=false "oci:$WORK/img:latest" "docker://$REG/interop/layout:v1"
  # Our extra files (.mos-index.lock, .referrers/, .uploads/) must not disturb them.
  umoci ls --layout "$ROOT/interop/layout" | grep -qx v1
  umoci stat --image "$ROOT/interop/layout:v1" | grep -c 'umoci insert' | grep -qx 3
  umoci unpack --rootless --image "$ROOT/interop/layout:v1" "$BATS_TEST_TMPDIR/bundle"
  cmp "$BATS_TEST_TMPDIR/bundle/rootfs/data2/file" "$WORK/content2/data2/file"
  skopeo copy "oci:$ROOT/interop/layout:v1" "oci:$BATS_TEST_TMPDIR/copy:v1"
  [ "$(manifest_digest_of_layout "$BATS_TEST_TMPDIR/copy" v1)" = "$(manifest_digest_of_layout "$WORK/img" latest)" ]
}

@test "mos-registry serves layouts that skopeo and umoci wrote into its root (zot's shape)" {
  # skopeo writes a repository straight into the root, from a docker-archive.
  skopeo copy "oci:$WORK/img:latest" "docker-archive:$BATS_TEST_TMPDIR/img.tar:example/img:7"
  mkdir -p "$ROOT/foreign"
  skopeo copy "docker-archive:$BATS_TEST_TMPDIR/img.tar" "oci:$ROOT/foreign/skopeo:7"
  skopeo inspect --tls-verify=false "docker://$REG/foreign/skopeo:7" | jq -e '.Layers | length == 3'
  skopeo copy --src-tls-verify=false "docker://$REG/foreign/skopeo:7" "oci:$BATS_TEST_TMPDIR/pulled:7"
  # umoci makes one too.
  umoci init --layout "$ROOT/foreign/umoci"
  umoci new --image "$ROOT/foreign/umoci:base"
  req GET "http://$REG/v2/foreign/umoci/tags/list"
  expect_status 200
  [ "$(jq -c .tags "$BODY")" = '["base"]' ]
  req GET "http://$REG/v2/_catalog"
  jq -e '.repositories | index("foreign/skopeo") != null and index("foreign/umoci") != null' "$BODY"
  # A referrer pushed to a layout without our referrers index is found (index built by a scan).
  subject=$(manifest_digest_of_layout "$ROOT/foreign/skopeo" 7)
  size=$(stat -c %s "$ROOT/foreign/skopeo/blobs/sha256/${subject#sha256:}")
  echo '{}' >"$BATS_TEST_TMPDIR/cfg"
  echo 'signature' >"$BATS_TEST_TMPDIR/sig"
  push_blob foreign/skopeo "$BATS_TEST_TMPDIR/cfg" >/dev/null
  push_blob foreign/skopeo "$BATS_TEST_TMPDIR/sig" >/dev/null
  make_manifest "$BATS_TEST_TMPDIR/cfg" "$BATS_TEST_TMPDIR/sig" "$subject" "$size" application/vnd.example.sig >"$BATS_TEST_TMPDIR/m.json"
  req PUT "http://$REG/v2/foreign/skopeo/manifests/$(sha256_of "$BATS_TEST_TMPDIR/m.json")" \
    -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary "@$BATS_TEST_TMPDIR/m.json"
  expect_status 201
  # skopeo adds another tag behind our back: the referrers index notices index.json changed.
  skopeo copy "docker-archive:$BATS_TEST_TMPDIR/img.tar" "oci:$ROOT/foreign/skopeo:8"
  req GET "http://$REG/v2/foreign/skopeo/referrers/$subject"
  expect_status 200
  [ "$(jq -r '.manifests[0].digest' "$BODY")" = "$(sha256_of "$BATS_TEST_TMPDIR/m.json")" ]
  [ "$(jq -r '.manifests[0].artifactType' "$BODY")" = application/vnd.example.sig ]
  umoci ls --layout "$ROOT/foreign/skopeo" | sort | tr '\n' ' ' | grep -q '^7 8 $'
}

@test "kill -9 mid-upload: the restarted server serves a consistent root and the upload resumes" {
  # A server of its own: this test kills it.
  ROOT=$WORK/crash-upload-root
  start_mos_registry "$ROOT"
  REG=$MOS_REGISTRY
  head -c $((24 * 1024 * 1024)) /dev/urandom >"$BATS_TEST_TMPDIR/big"
  req POST "http://$REG/v2/crash/upload/blobs/uploads/"
  expect_status 202
  location=$(absolute "$(hdr Location)")
  id=$(hdr Docker-Upload-UUID)
  upload=$ROOT/crash/upload/.uploads/$id
  # A slow client streams the blob; the server dies once part of it has arrived.
  curl -s --limit-rate 2M -X PATCH -H 'Content-Type: application/octet-stream' \
    --data-binary "@$BATS_TEST_TMPDIR/big" "$location" >/dev/null 2>&1 &
  client=$!
  for _ in $(seq 1 600); do
    [ "$(stat -c %s "$upload")" -gt 1000000 ] && break
    sleep 0.05
  done
  [ "$(stat -c %s "$upload")" -gt 1000000 ]
  kill -9 "$MOS_REGISTRY_PID"
  wait "$client" || true
  check_root_consistent "$ROOT"
  [ ! -e "$ROOT/crash/upload/blobs/sha256/$(sha256sum "$BATS_TEST_TMPDIR/big" | cut -d' ' -f1)" ]

  start_mos_registry "$ROOT"
  REG=$MOS_REGISTRY
  location=http://$REG/v2/crash/upload/blobs/uploads/$id
  req GET "$location"
  expect_status 204
  have=$(stat -c %s "$upload")
  expect_header Range "0-$((have - 1))"
  tail -c +$((have + 1)) "$BATS_TEST_TMPDIR/big" >"$BATS_TEST_TMPDIR/rest"
  req PATCH "$location" -H "Content-Range: $have-$(($(stat -c %s "$BATS_TEST_TMPDIR/big") - 1))" \
    --data-binary "@$BATS_TEST_TMPDIR/rest"
  expect_status 202
  req PUT "$(with_query "$location" "digest=$(sha256_of "$BATS_TEST_TMPDIR/big")")"
  expect_status 201
  req GET "http://$REG/v2/crash/upload/blobs/$(sha256_of "$BATS_TEST_TMPDIR/big")"
  cmp "$BODY" "$BATS_TEST_TMPDIR/big"
}

@test "kill -9 during a stream of pushes leaves every repository readable and consistent" {
  ROOT=$WORK/crash-push-root
  start_mos_registry "$ROOT"
  REG=$MOS_REGISTRY
  ( for i in $(seq 1 200); do
      skopeo copy -q --dest-tls-verify=false "oci:$WORK/img:latest" "docker://$REG/crash/pushes:t$i" || exit 0
    done ) >/dev/null 2>&1 &
  pusher=$!
  for _ in $(seq 1 1200); do
    [ -f "$ROOT/crash/pushes/index.json" ] && [ "$(jq '.manifests | length' "$ROOT/crash/pushes/index.json")" -ge 1 ] &&
      [ "$(jq '[.manifests[].annotations] | length' "$ROOT/crash/pushes/index.json")" -ge 3 ] && break
    sleep 0.05
  done
  kill -9 "$MOS_REGISTRY_PID"
  wait "$pusher" || true
  check_root_consistent "$ROOT"
  start_mos_registry "$ROOT"
  REG=$MOS_REGISTRY
  req GET "http://$REG/v2/crash/pushes/tags/list"
  expect_status 200
  for t in $(jq -r '.tags[]' "$BODY"); do
    skopeo inspect --raw --tls-verify=false "docker://$REG/crash/pushes:$t" >/dev/null
  done
  skopeo copy --dest-tls-verify=false "oci:$WORK/img:latest" "docker://$REG/crash/pushes:after"
}

@test "SIGTERM stops the server cleanly" {
  start_mos_registry "$WORK/sigterm-root"
  kill -TERM "$MOS_REGISTRY_PID"
  wait "$MOS_REGISTRY_PID"
  grep -q stopped "$MOS_REGISTRY_LOG"
}

@test "zot's config file is taken as is" {
  port=$(free_port)
  # The walkthrough's zot-config.json (examples/), with this test's storage and port.
  jq --arg root "$WORK/zot" --arg port "$port" '.storage.rootDirectory = $root | .http.port = $port' \
    "$MOS_SOURCE_DIR/examples/zot-config.json" >"$BATS_TEST_TMPDIR/zot-config.json"
  "$MOS_BIN/mos-registry" serve "$BATS_TEST_TMPDIR/zot-config.json" >"$BATS_TEST_TMPDIR/log" 2>&1 &
  pid=$!
  echo "$pid" >>"$BATS_FILE_TMPDIR/registry-pids"
  wait_for_http "http://127.0.0.1:$port/v2/" "$pid"
  skopeo copy --dest-tls-verify=false "oci:$WORK/img:latest" "docker://127.0.0.1:$port/machine/install:1.0.0"
  jq -e '.manifests[0].annotations["org.opencontainers.image.ref.name"] == "1.0.0"' "$WORK/zot/machine/install/index.json"
  kill "$pid"
  # A config with a wrong type is one clear error.
  echo '{"storage":{"rootDirectory":"/tmp/x","gc":"yes"}}' >"$BATS_TEST_TMPDIR/bad.json"
  run "$MOS_BIN/mos-registry" serve "$BATS_TEST_TMPDIR/bad.json"
  [ "$status" -ne 0 ]
  [[ "$output" == *'"gc" must be true or false'* ]]
}
