#!/usr/bin/env bats
# The README's flow with the walkthrough's manifests: `mosb manifest publish` of manifest.yaml
# files whose `product` is the project name `default` (not a uuid), then on a root that has only
# the factory CA (no product file, no --product-uuid): install, update, rollback, status. The
# product the machine keeps is the one its certificates name, so rollback finds it, and an
# update signed by another project of the same keyset (also `product: default`) is refused.

load helpers/registry
load helpers/mosctl

setup_file() {
  export T="$BATS_FILE_TMPDIR"
  use_home "$T"
  start_mos_registry "$T/zot"
  trust -q keyset add --no-bootkit snakeoil
  trust -q project add snakeoil other
  export KEYS="$XDG_DATA_HOME/machine/trust/keys/snakeoil"
  local version
  for version in 1.0.0 2.0.0; do
    printf 'service %s\n' "$version" >"$T/payload-$version"
    mos_make_image "$T/images" "svc-$version" "$T/payload-$version" >/dev/null
    mosb -q oci copy "oci:$T/images:svc-$version" "$MOS_REGISTRY/demo/svc:$version"
    sed -e "s|@SOURCE@|$MOS_REGISTRY/demo/svc:$version|" -e "s|@VERSION@|$version|" \
      >"$T/manifest-$version.yaml" <<'YAML'
version: 1
product: default
update_type: complete
targets:
  - service_name: svc
    source: "@SOURCE@"
    version: @VERSION@
    service_type: container
    nsgroup: svc
    network:
      type: none
YAML
    mosb -q manifest publish --project snakeoil:default --repo "$MOS_REGISTRY" \
      --name "machine/install:$version" --skip-bootkit "$T/manifest-$version.yaml"
  done
  # Other content than 2.0.0's: the same bytes would make the same install manifest, whose
  # referrers then hold the default project's signature too (and that one verifies).
  sed 's/version: 2.0.0/version: 2.0.1/' "$T/manifest-2.0.0.yaml" >"$T/manifest-other.yaml"
  mosb -q manifest publish --project snakeoil:other --repo "$MOS_REGISTRY" \
    --name machine/install:other --skip-bootkit "$T/manifest-other.yaml"
}

teardown_file() {
  stop_registries
}

setup() {
  R="$BATS_TEST_TMPDIR/root"
  mkdir -p "$R/factory/secure"
  cp "$KEYS/manifest-ca/cert.pem" "$R/factory/secure/manifestCA.pem"
}

svc_version() {
  mosctl status -r "$R" --json | jq -r '.system.targets[] | select(.name=="svc") | .version'
}

@test "install, update, rollback and status with the factory CA only" {
  run mosctl install -r "$R" "$MOS_REGISTRY/machine/install:1.0.0"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(svc_version)" = 1.0.0 ]
  run mosctl update -r "$R" "$MOS_REGISTRY/machine/install:2.0.0"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(svc_version)" = 2.0.0 ]
  run mosctl rollback -r "$R"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ "$output" == *"Rollback to"*"svc 1.0.0"* ]]
  [ "$(svc_version)" = 1.0.0 ]
  run mosctl status -r "$R"
  [ "$status" -eq 0 ]
  [[ "$output" == *"svc"*"1.0.0"* ]]
  # The history's names are install.json hashes, not OCI manifest digests: status says which.
  sha=$(jq -r .system.install.source <(mosctl status -r "$R" --json))
  [[ "$output" == *"install.json ${sha:0:12} (sha256 of the signed file) from $MOS_REGISTRY/machine/install:1.0.0"* ]]
}

@test "an update signed for another project of the keyset is refused without a product file" {
  mosctl install -r "$R" "$MOS_REGISTRY/machine/install:1.0.0"
  before=$(mos_tree_hash "$R")
  run mosctl update -r "$R" "$MOS_REGISTRY/machine/install:other"
  [ "$status" -eq 1 ]
  [[ "$output" == *"is signed for product $(cat "$KEYS/manifest/other/uuid"), but the installed system runs product $(cat "$KEYS/manifest/default/uuid")"* ]]
  [ "$(mos_tree_hash "$R")" = "$before" ]
}

@test "without --root, a host that is no mos machine is refused; the root in use is named first" {
  [ ! -e /factory/secure/manifestCA.pem ] && [ ! -e /config/manifest.git ] || skip "this host is a mos machine"
  had_config=no
  [ -e /config ] && had_config=yes
  run mosctl install "$MOS_REGISTRY/machine/install:1.0.0"
  [ "$status" -eq 1 ]
  [ "${lines[0]}" = "mosctl: installing into root /" ]
  [[ "$output" == *"no --root given, and / is not a mos machine"*"--root /"* ]]
  [ "$had_config" = yes ] || [ ! -e /config ]
  run mosctl install -r "$R" "$MOS_REGISTRY/machine/install:1.0.0"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "mosctl: installing into root $R" ]
}

@test "a --ca file that does not exist is named as missing" {
  run mosctl install -r "$R" --ca "$R/nope.pem" "$MOS_REGISTRY/machine/install:1.0.0"
  [ "$status" -eq 1 ]
  [[ "$output" == *"--ca $R/nope.pem: no such file"* ]]
}
