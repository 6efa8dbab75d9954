#!/usr/bin/env bats
# A command that fails leaves nothing behind: no new, empty layout, no staging directory, no lock
# file. And publishing other content to a tag that exists says so (or, with --no-overwrite,
# refuses and changes nothing).

load helpers/mosctl

setup_file() {
  export T="$BATS_FILE_TMPDIR"
  use_home "$T"
  trust -q keyset add --no-bootkit snakeoil
  printf 'payload\n' >"$T/payload"
  mos_make_image "$T/lay" img "$T/payload" >/dev/null
}

setup() {
  cd "$BATS_TEST_TMPDIR"
}

@test "image build from a missing directory creates no layout" {
  run mosb image build --from nonexistent --to oci:X:1
  [ "$status" -eq 1 ]
  [[ "$output" == *"nonexistent does not exist"* ]]
  [ ! -e X ]
}

@test "oci copy of a missing tag creates no destination layout" {
  run mosb oci copy "oci:$T/lay:nosuchtag" oci:Y:t
  [ "$status" -eq 1 ]
  [[ "$output" == *"nosuchtag"* ]]
  [ ! -e Y ]
}

write_manifest() { # VERSION [SOURCE]
  cat >manifest.yaml <<YAML
version: 1
product: default
update_type: complete
targets:
  - service_name: svc
    source: "${2:-oci:$T/lay:img}"
    version: $1
    service_type: fs-only
    network:
      type: host
YAML
}

@test "manifest publish with a missing source tag creates nothing under --repo" {
  write_manifest 1.0.0 "oci:$T/lay:nosuchtag"
  run mosb manifest publish --project snakeoil:default --repo oci:Z --name machine/install:1.0.0 \
    --skip-bootkit manifest.yaml
  [ "$status" -eq 1 ]
  [[ "$output" == *"target svc: resolving"*"nosuchtag"* ]]
  [ ! -e Z ]
}

tag_digest() {
  jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="1.0.0") | .digest' \
    Z/machine/install/index.json
}

@test "publishing other content to an existing tag warns, and --no-overwrite refuses" {
  write_manifest 1.0.0
  mosb -q manifest publish --project snakeoil:default --repo oci:Z --name machine/install:1.0.0 \
    --skip-bootkit manifest.yaml
  first=$(tag_digest)
  write_manifest 1.0.1
  run mosb manifest publish --no-overwrite --project snakeoil:default --repo oci:Z \
    --name machine/install:1.0.0 --skip-bootkit manifest.yaml
  [ "$status" -eq 1 ]
  [[ "$output" == *"already holds another install manifest ($first); not replaced (--no-overwrite)"* ]]
  [ "$(tag_digest)" = "$first" ]
  run mosb manifest publish --project snakeoil:default --repo oci:Z --name machine/install:1.0.0 \
    --skip-bootkit manifest.yaml
  [ "$status" -eq 0 ]
  [[ "$output" == *"held another install manifest ($first); the tag now names $(tag_digest)"* ]]
  [ "$(tag_digest)" != "$first" ]
  # The same content again is no overwrite: nothing to say, nothing refused.
  run mosb manifest publish --no-overwrite --project snakeoil:default --repo oci:Z \
    --name machine/install:1.0.0 --skip-bootkit manifest.yaml
  [ "$status" -eq 0 ]
  [[ "$output" != *"held another"* ]]
}
