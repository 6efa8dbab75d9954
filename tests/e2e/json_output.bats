#!/usr/bin/env bats
# --json on the status-like commands (shapes documented in docs/manifest.md and docs/oci.md):
# manifest verify (also on failure, with the exit code a CI job gates on), manifest inspect,
# oci inspect, oci referrers. The text outputs render the same documents.

load helpers/mosctl

setup_file() {
  export T="$BATS_FILE_TMPDIR"
  use_home "$T"
  trust -q keyset add --no-bootkit snakeoil
  trust -q keyset add --no-bootkit stranger
  printf 'payload\n' >"$T/payload"
  mos_make_image "$T/lay" img "$T/payload" >/dev/null
  cat >"$T/manifest.yaml" <<YAML
version: 1
product: default
update_type: complete
storage:
  - label: data
    persistent: true
    nsgroup: svc
    size: 16
targets:
  - service_name: svc
    source: "oci:$T/lay:img"
    version: 1.0.0
    service_type: container
    nsgroup: svc
    storage:
      - dest: /data
        label: data
    network:
      type: simple
      ports:
        - host: 8080
          container: 80
YAML
  mosb -q manifest publish --project snakeoil:default --repo "oci:$T/pub" \
    --name machine/install:1.0.0 --skip-bootkit "$T/manifest.yaml"
  export REF="oci:$T/pub/machine/install:1.0.0"
}

@test "manifest verify --json: the verdict, the certificate and install.json" {
  run mosb manifest verify --json --keyset snakeoil "$REF"
  [ "$status" -eq 0 ]
  [ "$(jq -r .verified <<<"$output")" = true ]
  [ "$(jq -r .reference <<<"$output")" = "$REF" ]
  [ "$(jq -r .certificate.product_uuid <<<"$output")" = \
    "$(cat "$XDG_DATA_HOME/machine/trust/keys/snakeoil/manifest/default/uuid")" ]
  [ "$(jq -r '.install.targets[0].service_name' <<<"$output")" = svc ]
  [ "$(jq -r '.install.targets[0].network.ports[0].host' <<<"$output")" = 8080 ]
  [ "$(jq -r '.install.storage[0].size_mib' <<<"$output")" = 16 ]
  [[ "$(jq -r .install_json.digest <<<"$output")" == sha256:* ]]
}

@test "manifest verify --json with the wrong CA: verified false, the reason, exit 1" {
  run --separate-stderr mosb manifest verify --json --keyset stranger "$REF"
  [ "$status" -eq 1 ]
  [ "$(jq -r .verified <<<"$output")" = false ]
  [[ "$(jq -r .error <<<"$output")" == *"not signed by the trusted CA"* ]]
  [[ "$stderr" == "mosb: error: "*"not signed by the trusted CA"* ]]
}

@test "manifest inspect shows storage volumes, closes every branch, and --json says the same" {
  run mosb manifest inspect "$REF"
  [ "$status" -eq 0 ]
  [[ "$output" == *"├─ storage data persistent nsgroup svc 16 MiB"* ]]
  [[ "$output" == *"└─ target svc 1.0.0 container"* ]]
  [[ "${lines[-1]}" == *"└─ target svc"* ]]
  # The manifest's last child is install.json, drawn with └─, and nothing hangs below it on ├─.
  [[ "$output" == *"└─ install.json: product default, update_type complete"* ]]
  run mosb manifest inspect --json "$REF"
  [ "$status" -eq 0 ]
  [ "$(jq -r .verified <<<"$output")" = false ]
  [ "$(jq -r '.referrers | length' <<<"$output")" = 2 ]
  [ "$(jq -r '[.referrers[].artifactType] | sort | join(",")' <<<"$output")" = \
    application/vnd.machine.pubkeycrt,application/vnd.machine.signature ]
  [ "$(jq -r '.layers[0].title' <<<"$output")" = index.json ]
  [ "$(jq -r '.install.storage[0].label' <<<"$output")" = data ]
}

@test "oci inspect --json and oci referrers --json" {
  run mosb oci inspect --json "oci:$T/lay:img"
  [ "$status" -eq 0 ]
  [ "$(jq -r .mediaType <<<"$output")" = application/vnd.oci.image.manifest.v1+json ]
  [ "$(jq -r '.layers | length' <<<"$output")" = 1 ]
  [ "$(jq -r .config.os <<<"$output")" = linux ]
  [ "$(jq -r .layersSize <<<"$output")" = "$(jq -r '.layers[0].size' <<<"$output")" ]
  run mosb oci referrers --json "$REF"
  [ "$status" -eq 0 ]
  [ "$(jq -r '.referrers | length' <<<"$output")" = 2 ]
  [[ "$(jq -r .subject <<<"$output")" == sha256:* ]]
  run mosb oci referrers --json --artifact-type application/vnd.machine.signature "$REF"
  [ "$(jq -r '.referrers | length' <<<"$output")" = 1 ]
}

@test "trust project show --json" {
  run trust project show --json snakeoil default
  [ "$status" -eq 0 ]
  [ "$(jq -r .uuid <<<"$output")" = \
    "$(cat "$XDG_DATA_HOME/machine/trust/keys/snakeoil/manifest/default/uuid")" ]
  [[ "$(jq -r .certificate.subject <<<"$output")" == "CN = manifest PRODUCT:"* ]]
  [ "$(jq -r '.sudi | length' <<<"$output")" = 0 ]
}
