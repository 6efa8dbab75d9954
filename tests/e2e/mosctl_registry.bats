#!/usr/bin/env bats
# mosctl install and update from registries, with install manifests published by the real tool
# (`mosb manifest publish`): our mos-registry (referrers API) and Debian's docker-registry
# (distribution 2.8: no referrers API, so the tag-schema fallback), both on 127.0.0.1.

load helpers/mosctl
load helpers/registry
load helpers/tls

# Registry access flags of mosb and mosctl (--cacert, --creds) for the registry under test.
ACCESS=()

# publish REGISTRY TAG VERSION IMAGE...: manifest.yaml with one fs-only target per image
# (t1, t2, ...) sourced from the fixtures' layout, published as machine/install:TAG.
publish() {
  local registry=$1 tag=$2 version=$3
  shift 3
  local yaml=$BATS_FILE_TMPDIR/manifest-$tag.yaml i=0 image
  printf 'version: 1\nproduct: %s\nupdate_type: complete\ntargets:\n' "$MOS_PRODUCT" > "$yaml"
  for image in "$@"; do
    i=$((i + 1))
    printf '  - service_name: t%s\n    source: "oci:%s:%s"\n    version: %s\n    service_type: fs-only\n    network:\n      type: none\n' \
      "$i" "$MOS_FX/pub/mos" "$image" "$version" >> "$yaml"
  done
  "$MOS_BIN/mosb" -q manifest publish "${ACCESS[@]}" --project fx:default --skip-bootkit --repo "$registry" \
    --name "machine/install:$tag" "$yaml"
}

setup_file() {
  mos_fixtures "$BATS_FILE_TMPDIR"
  start_mos_registry "$BATS_FILE_TMPDIR/zot"
  start_docker_registry "$BATS_FILE_TMPDIR/docker"
  for registry in "$MOS_REGISTRY" "$DOCKER_REGISTRY"; do
    publish "$registry" 1.0.0 1.0.0 A1 B1
    publish "$registry" 2.0.0 2.0.0 A2 C1
  done
}

teardown_file() {
  stop_registries
}

setup() {
  R=$BATS_TEST_TMPDIR/root
  mos_new_root "$R"
  M=$MOS_BIN/mosctl
}

check_install_and_update() {
  local registry=$1
  run "$M" install "${ACCESS[@]}" -r "$R" "$registry/machine/install:1.0.0"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(mos_targets "$R")" = "t1=1.0.0@$A1_D t2=1.0.0@$B1_D" ]
  [[ "$("$M" status -r "$R" --json | jq -r .system.install.reference)" == "$registry/machine/install:1.0.0" ]]
  run "$M" update "${ACCESS[@]}" -r "$R" "docker://$registry/machine/install:2.0.0"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(mos_targets "$R")" = "t1=2.0.0@$A2_D t2=2.0.0@$C1_D" ]
  # Every blob in the store hashes to its name (nothing unverified was kept).
  for blob in "$R"/atomfs-store/mos/blobs/sha256/*; do
    [ "$(sha256sum "$blob" | cut -d' ' -f1)" = "$(basename "$blob")" ]
  done
  run "$M" rollback -r "$R"
  [ "$status" -eq 0 ]
  [ "$(mos_targets "$R")" = "t1=1.0.0@$A1_D t2=1.0.0@$B1_D" ]
}

@test "install, update and rollback from mos-registry" {
  check_install_and_update "$MOS_REGISTRY"
}

@test "install, update and rollback from docker-registry (referrers by tag schema)" {
  check_install_and_update "$DOCKER_REGISTRY"
}

@test "install, update and rollback from mos-registry over TLS with htpasswd (--cacert, --creds)" {
  make_tls_ca "$BATS_FILE_TMPDIR/pki" ca
  make_tls_server_cert "$BATS_FILE_TMPDIR/pki" ca server
  htpasswd -Bbn installer 'pa:ss' >"$BATS_FILE_TMPDIR/htpasswd"
  start_mos_registry "$BATS_FILE_TMPDIR/secure" --htpasswd "$BATS_FILE_TMPDIR/htpasswd" \
    --tls-cert "$BATS_FILE_TMPDIR/pki/server.crt" --tls-key "$BATS_FILE_TMPDIR/pki/server.key"
  ACCESS=(--cacert "$BATS_FILE_TMPDIR/pki/ca.crt" --creds 'installer:pa:ss')
  publish "$MOS_REGISTRY" 1.0.0 1.0.0 A1 B1
  publish "$MOS_REGISTRY" 2.0.0 2.0.0 A2 C1
  check_install_and_update "$MOS_REGISTRY"
  # Without the CA, or without the password, nothing is installed.
  R2=$BATS_TEST_TMPDIR/root2
  mos_new_root "$R2"
  before=$(mos_tree_hash "$R2")
  run "$M" install --creds 'installer:pa:ss' -r "$R2" "$MOS_REGISTRY/machine/install:1.0.0"
  [ "$status" -ne 0 ]
  run "$M" install --cacert "$BATS_FILE_TMPDIR/pki/ca.crt" -r "$R2" "$MOS_REGISTRY/machine/install:1.0.0"
  [ "$status" -ne 0 ]
  [[ "$output" == *"requires authentication"* ]]
  [ "$(mos_tree_hash "$R2")" = "$before" ]
}

@test "an unreachable registry or unknown tag changes nothing" {
  before=$(mos_tree_hash "$R")
  run "$M" install -r "$R" "$MOS_REGISTRY/machine/install:9.9.9"
  [ "$status" -eq 1 ]
  [ "$(mos_tree_hash "$R")" = "$before" ]
  port=$(free_port)
  run "$M" install -r "$R" "127.0.0.1:$port/machine/install:1.0.0"
  [ "$status" -eq 1 ]
  [ "$(mos_tree_hash "$R")" = "$before" ]
}
