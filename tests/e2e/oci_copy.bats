#!/usr/bin/env bats
# mosb oci copy/inspect/referrers against real components: Debian's docker-registry (no referrers
# API, so the tag-schema fallback), with and without htpasswd Basic auth; umoci builds images and
# skopeo reads what we write (and writes what we read); digests must never change.

load helpers/registry
load helpers/oci_copy
load helpers/tamper

setup_file() {
  export WORK=$BATS_FILE_TMPDIR
  make_umoci_image "$WORK/img" latest 3 200000
  start_docker_registry "$WORK/docker"
  export REG=$DOCKER_REGISTRY
  start_docker_registry "$WORK/auth" alice s3cret
  export AUTH_REGISTRY=$DOCKER_REGISTRY
}

teardown_file() {
  stop_registries
}

mosb() { "$MOS_BIN/mosb" "$@"; }
raw_digest() { skopeo inspect --raw --tls-verify=false "$1" | sha256sum | cut -d' ' -f1; }

@test "layout -> docker-registry -> layout keeps the manifest digest; skopeo reads both" {
  want=$(raw_digest "oci:$WORK/img:latest")
  mosb oci copy --quiet "oci:$WORK/img:latest" "docker://$REG/rt/img:1.0"
  [ "$(raw_digest "docker://$REG/rt/img:1.0")" = "$want" ]
  mosb oci copy --quiet "docker://$REG/rt/img:1.0" "oci:$BATS_TEST_TMPDIR/back:1.0"
  [ "$(raw_digest "oci:$BATS_TEST_TMPDIR/back:1.0")" = "$want" ]
  # umoci and skopeo accept the layout we wrote as an image.
  umoci unpack --rootless --image "$BATS_TEST_TMPDIR/back:1.0" "$BATS_TEST_TMPDIR/bundle" >/dev/null
  cmp "$BATS_TEST_TMPDIR/bundle/rootfs/data2/file" <(umoci unpack --rootless --image "$WORK/img:latest" "$BATS_TEST_TMPDIR/b2" >/dev/null && cat "$BATS_TEST_TMPDIR/b2/rootfs/data2/file")
  skopeo copy -q "oci:$BATS_TEST_TMPDIR/back:1.0" "oci:$BATS_TEST_TMPDIR/skopeo-copy:x"
  [ "$(raw_digest "oci:$BATS_TEST_TMPDIR/skopeo-copy:x")" = "$want" ]
}

@test "what skopeo pushed, mosb copies; a second copy skips every blob" {
  skopeo copy -q --dest-tls-verify=false "oci:$WORK/img:latest" "docker://$REG/sk/img:2"
  run mosb oci copy "docker://$REG/sk/img:2" "oci:$BATS_TEST_TMPDIR/out:2"
  [ "$status" -eq 0 ]
  [[ "$output" == *"4 blobs copied"* ]]
  [ "$(raw_digest "oci:$BATS_TEST_TMPDIR/out:2")" = "$(raw_digest "docker://$REG/sk/img:2")" ]
  run mosb oci copy "docker://$REG/sk/img:2" "oci:$BATS_TEST_TMPDIR/out:2"
  [ "$status" -eq 0 ]
  [[ "$output" == *"0 blobs copied"*"4 already present"* ]]
}

@test "registry to registry within docker-registry (cross-repository mount) and inspect" {
  mosb oci copy --quiet "oci:$WORK/img:latest" "docker://$REG/a/img:1"
  run mosb oci copy "docker://$REG/a/img:1" "docker://$REG/b/img:1"
  [ "$status" -eq 0 ]
  [[ "$output" == *"0 blobs copied"*"4 mounted from"* ]]
  [ "$(raw_digest "docker://$REG/b/img:1")" = "$(raw_digest "oci:$WORK/img:latest")" ]
  run mosb oci inspect "docker://$REG/b/img:1"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Layers:"* ]]
  [ "$(echo "$output" | grep -c 'application/vnd.oci.image.layer.v1.tar+gzip')" = 3 ]
  mosb oci inspect --raw "docker://$REG/b/img:1" | cmp - <(skopeo inspect --raw --tls-verify=false "docker://$REG/b/img:1")
  mosb oci inspect --config "docker://$REG/b/img:1" | jq -e '.os == "linux"'
}

@test "an image index is copied recursively with identical bytes" {
  cp -r "$WORK/img" "$BATS_TEST_TMPDIR/idx"
  d=$(layout_manifest_digest "$WORK/img" latest)
  s=$(stat -c %s "$WORK/img/blobs/sha256/${d#sha256:}")
  jq -cn --arg d "$d" --argjson s "$s" '{schemaVersion:2, mediaType:"application/vnd.oci.image.index.v1+json",
    manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$d, size:$s, platform:{architecture:"amd64", os:"linux"}}]}' \
    | tr -d '\n' >"$BATS_TEST_TMPDIR/index.json.blob"
  layout_add_manifest "$BATS_TEST_TMPDIR/idx" "$BATS_TEST_TMPDIR/index.json.blob" application/vnd.oci.image.index.v1+json multi
  want=$(sha256sum "$BATS_TEST_TMPDIR/index.json.blob" | cut -d' ' -f1)
  mosb oci copy --quiet "oci:$BATS_TEST_TMPDIR/idx:multi" "docker://$REG/idx/img:multi"
  [ "$(raw_digest "docker://$REG/idx/img:multi")" = "$want" ]
  mosb oci copy --quiet "docker://$REG/idx/img:multi" "oci:$BATS_TEST_TMPDIR/idx-back:multi"
  [ "$(raw_digest "oci:$BATS_TEST_TMPDIR/idx-back:multi")" = "$want" ]
  [ -f "$BATS_TEST_TMPDIR/idx-back/blobs/sha256/${d#sha256:}" ]
}

@test "referrers travel with --referrers through docker-registry's tag-schema fallback" {
  cp -r "$WORK/img" "$BATS_TEST_TMPDIR/signed"
  d=$(layout_manifest_digest "$WORK/img" latest)
  s=$(stat -c %s "$WORK/img/blobs/sha256/${d#sha256:}")
  sig=$(add_signature_referrer "$BATS_TEST_TMPDIR/signed" "$d" "$s" application/vnd.machine.signature "sig-bytes")
  cert=$(add_signature_referrer "$BATS_TEST_TMPDIR/signed" "$d" "$s" application/vnd.machine.pubkeycrt "cert-bytes")
  run mosb oci referrers "oci:$BATS_TEST_TMPDIR/signed:latest"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 2 ]
  mosb oci copy --quiet --referrers "oci:$BATS_TEST_TMPDIR/signed:latest" "docker://$REG/signed/img:1"
  # docker-registry has no referrers API: the client maintained the sha256-<hex> index tag.
  tagindex=$(skopeo inspect --raw --tls-verify=false "docker://$REG/signed/img:sha256-${d#sha256:}")
  [ "$(echo "$tagindex" | jq '.manifests | length')" = 2 ]
  echo "$tagindex" | jq -e --arg sig "$sig" '.manifests[] | select(.digest == $sig) | .artifactType == "application/vnd.machine.signature" and .annotations["org.example.kind"] == "application/vnd.machine.signature"'
  run mosb oci referrers --artifact-type application/vnd.machine.signature "docker://$REG/signed/img:1"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "${lines[0]}" == "$sig"*"application/vnd.machine.signature"* ]]
  # Pushing the same referrers again adds no duplicates.
  mosb oci copy --quiet --referrers "oci:$BATS_TEST_TMPDIR/signed:latest" "docker://$REG/signed/img:1"
  [ "$(skopeo inspect --raw --tls-verify=false "docker://$REG/signed/img:sha256-${d#sha256:}" | jq '.manifests | length')" = 2 ]
  # And back into a fresh layout, where they are referrers again.
  mosb oci copy --quiet --referrers "docker://$REG/signed/img:1" "oci:$BATS_TEST_TMPDIR/signed-back:1"
  run mosb oci referrers "oci:$BATS_TEST_TMPDIR/signed-back:1"
  [ "${#lines[@]}" -eq 2 ]
  [[ "$output" == *"$cert"* ]]
}

@test "htpasswd Basic auth: right credentials work, wrong and missing ones give one clear line" {
  mosb oci copy --quiet --creds alice:s3cret "oci:$WORK/img:latest" "docker://$AUTH_REGISTRY/priv/img:1"
  mosb oci copy --quiet --user alice --pass s3cret "docker://$AUTH_REGISTRY/priv/img:1" "oci:$BATS_TEST_TMPDIR/priv:1"
  [ "$(raw_digest "oci:$BATS_TEST_TMPDIR/priv:1")" = "$(raw_digest "oci:$WORK/img:latest")" ]
  run mosb oci inspect --creds alice:wrong "docker://$AUTH_REGISTRY/priv/img:1"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "mosb: error: "*"refused the credentials of user \"alice\""* ]]
  run mosb oci inspect "docker://$AUTH_REGISTRY/priv/img:1"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"no credentials given"* ]]
  # An auth file in the containers format.
  printf '{"auths":{"%s":{"auth":"%s"}}}' "$AUTH_REGISTRY" "$(printf alice:s3cret | base64)" >"$BATS_TEST_TMPDIR/auth.json"
  mosb oci inspect --authfile "$BATS_TEST_TMPDIR/auth.json" "docker://$AUTH_REGISTRY/priv/img:1" >/dev/null
  XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR/xdg
  mkdir -p "$XDG_RUNTIME_DIR/containers"
  cp "$BATS_TEST_TMPDIR/auth.json" "$XDG_RUNTIME_DIR/containers/auth.json"
  XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR HOME=$BATS_TEST_TMPDIR mosb oci inspect "docker://$AUTH_REGISTRY/priv/img:1" >/dev/null
}

@test "a corrupted blob in the registry: one line naming it, no partial blob or tag in the layout" {
  mosb oci copy --quiet "oci:$WORK/img:latest" "docker://$REG/bad/img:1"
  layer=$(jq -r '.layers[1].digest' "$WORK/img/blobs/sha256/$(layout_manifest_digest "$WORK/img" latest | cut -d: -f2)")
  file=$(registry_blob_file "$WORK/docker/storage" "$layer")
  cp "$file" "$BATS_TEST_TMPDIR/saved"
  # Same size, one byte changed.
  flip_byte "$file" 100
  run mosb oci copy "docker://$REG/bad/img:1" "oci:$BATS_TEST_TMPDIR/dst:1"
  cp "$BATS_TEST_TMPDIR/saved" "$file"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"$layer"*"digest mismatch"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/dst/blobs/sha256/${layer#sha256:}" ]
  [ "$(jq '.manifests | length' "$BATS_TEST_TMPDIR/dst/index.json")" = 0 ]
  layout_has_no_partial_state "$BATS_TEST_TMPDIR/dst"
}

@test "a truncated blob download fails with one line and leaves nothing behind" {
  mosb oci copy --quiet "oci:$WORK/img:latest" "docker://$REG/trunc/img:1"
  layer=$(jq -r '.layers[2].digest' "$WORK/img/blobs/sha256/$(layout_manifest_digest "$WORK/img" latest | cut -d: -f2)")
  file=$(registry_blob_file "$WORK/docker/storage" "$layer")
  cp "$file" "$BATS_TEST_TMPDIR/saved"
  truncate -s 1000 "$file"
  run mosb oci copy "docker://$REG/trunc/img:1" "oci:$BATS_TEST_TMPDIR/dst:1"
  cp "$BATS_TEST_TMPDIR/saved" "$file"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"$layer"*"1000 of"*"truncated"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/dst/blobs/sha256/${layer#sha256:}" ]
  [ "$(jq '.manifests | length' "$BATS_TEST_TMPDIR/dst/index.json")" = 0 ]
  layout_has_no_partial_state "$BATS_TEST_TMPDIR/dst"
}

@test "kill -9 during a pull: every blob named in the layout is whole, the index only names what is there, a rerun completes it" {
  make_umoci_image "$BATS_TEST_TMPDIR/big" latest 6 6000000
  mosb oci copy --quiet "oci:$BATS_TEST_TMPDIR/big:latest" "docker://$REG/kill/img:1"
  dst=$BATS_TEST_TMPDIR/dst
  # Wherever the kill lands (the delays only spread the points): never a blob under a name its
  # bytes do not hash to, never an index entry whose manifest or blobs are missing.
  for delay in 0 0.05 0.15 0.3 0.6; do
    rm -rf "$dst"
    "$MOS_BIN/mosb" oci copy --quiet "docker://$REG/kill/img:1" "oci:$dst:1" 3>&- &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" || true
    for f in "$dst"/blobs/sha256/*; do
      [ -e "$f" ] || continue
      [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ]
    done
    if [ -s "$dst/index.json" ] && [ "$(jq '.manifests | length' "$dst/index.json")" -gt 0 ]; then
      skopeo inspect --raw "oci:$dst:1" >/dev/null
      umoci unpack --rootless --image "$dst:1" "$BATS_TEST_TMPDIR/bundle-$delay" >/dev/null
    fi
    mosb oci copy --quiet "docker://$REG/kill/img:1" "oci:$dst:1"
    [ "$(raw_digest "oci:$dst:1")" = "$(raw_digest "docker://$REG/kill/img:1")" ]
  done
}

@test "a non-JSON manifest and bad references are refused with one line" {
  mkdir -p "$BATS_TEST_TMPDIR/junk"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$BATS_TEST_TMPDIR/junk/oci-layout"
  printf '{"schemaVersion":2,"manifests":[]}' >"$BATS_TEST_TMPDIR/junk/index.json"
  printf 'this is not json' >"$BATS_TEST_TMPDIR/notjson"
  layout_add_manifest "$BATS_TEST_TMPDIR/junk" "$BATS_TEST_TMPDIR/notjson" application/vnd.oci.image.manifest.v1+json bad
  run mosb oci copy "oci:$BATS_TEST_TMPDIR/junk:bad" "docker://$REG/junk/img:1"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "mosb: error: "*"junk"* ]]
  run skopeo inspect --raw --tls-verify=false "docker://$REG/junk/img:1"
  [ "$status" -ne 0 ]
  run mosb oci copy "not a reference" "oci:$BATS_TEST_TMPDIR/x"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  run mosb oci inspect "docker://$REG/rt/img:nosuchtag"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"nosuchtag"*"MANIFEST_UNKNOWN"* ]]
}

@test "--help documents the oci commands and their options" {
  run mosb oci copy --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"--referrers"* && "$output" == *"--creds"* && "$output" == *"--authfile"* && "$output" == *"--insecure"* ]]
  run mosb oci referrers --help
  [[ "$output" == *"--artifact-type"* ]]
  run mosb oci inspect --help
  [[ "$output" == *"--raw"* ]]
}
