#!/usr/bin/env bats
# The walkthrough (shared/seed/image-manifest-walkthrough.md) followed literally as far as it
# goes without a VM: the registry started with the walkthrough's zot-config.json, `trust keyset
# add snakeoil`, `mosb --debug manifest publish ...` of the walkthrough's manifest.yaml (with a
# locally built image in place of zothub's demo-zot), then the files, the referrers API and the
# openssl check the walkthrough shows. Also: republishing, oci: layouts, a registry without the
# referrers API (Debian's docker-registry), and refusals.

load helpers/registry
load helpers/mosctl

setup_file() {
  export T="$BATS_FILE_TMPDIR"
  use_home "$T"
  export ZOT_ROOT="$T/zot"
  MOS_REGISTRY_PORT=$(free_port)
  # The walkthrough's zot-config.json (examples/), with this run's storage and a free port.
  jq --arg root "$ZOT_ROOT" --arg port "$MOS_REGISTRY_PORT" \
    '.storage.rootDirectory = $root | .http.port = $port' \
    "$MOS_SOURCE_DIR/examples/zot-config.json" > "$T/zot-config.json"
  mos-registry serve "$T/zot-config.json" >"$T/registry.log" 2>&1 &
  echo $! >>"$T/registry-pids"
  export MOS_REGISTRY=127.0.0.1:$MOS_REGISTRY_PORT
  wait_for_http "http://$MOS_REGISTRY/v2/" "$!"

  trust keyset add snakeoil
  export KEYS="$XDG_DATA_HOME/machine/trust/keys"

  # The service image: built locally, pushed where the manifest's source points.
  printf 'demo service payload\n' > "$T/payload"
  mos_make_image "$T/images" demo-zot "$T/payload" >/dev/null
  skopeo copy --quiet --dest-tls-verify=false oci:"$T/images":demo-zot \
    "docker://$MOS_REGISTRY/machine/bootkit/demo-zot:0.0.4-squashfs"
  export IMAGE_DIGEST=$(skopeo inspect --raw --tls-verify=false "docker://$MOS_REGISTRY/machine/bootkit/demo-zot:0.0.4-squashfs" | sha256sum | cut -d' ' -f1)

  # The walkthrough's manifest.yaml (examples/), its image's source on this run's registry.
  sed -E "s|source: \"docker://[^/]+/|source: \"docker://$MOS_REGISTRY/|" \
    "$MOS_SOURCE_DIR/examples/manifest.yaml" > "$T/manifest.yaml"
  grep -q "source: \"docker://$MOS_REGISTRY/machine/bootkit/demo-zot:0.0.4-squashfs\"" "$T/manifest.yaml"
  cd "$T"
  mosb --debug manifest publish \
    --project snakeoil:default \
    --repo "$MOS_REGISTRY" --name machine/install:1.0.0 \
    manifest.yaml
}

teardown_file() {
  stop_registries
}

install_digest() {
  jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="1.0.0") | .digest' \
    "$ZOT_ROOT/machine/install/index.json"
}

blob() { echo "$ZOT_ROOT/machine/install/blobs/sha256/${1#sha256:}"; }

@test "index.json holds the install manifest and its two referrers, as in the walkthrough" {
  cd "$ZOT_ROOT/machine/install"
  run jq -r '.manifests | length' index.json
  [ "$output" = 3 ]
  run jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' index.json
  [ "$output" = 1.0.0 ]
  d=$(install_digest)
  run jq -r '.artifactType, .config.mediaType, .config.digest, .config.size, .config.data, .layers[0].mediaType, .layers[0].annotations["org.opencontainers.image.title"]' "$(blob "$d")"
  [ "${lines[0]}" = application/vnd.machine.install ]
  [ "${lines[1]}" = application/vnd.oci.empty.v1+json ]
  [ "${lines[2]}" = sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a ]
  [ "${lines[3]}" = 2 ]
  [ "${lines[4]}" = e30= ]
  [ "${lines[5]}" = application/vnd.machine.install ]
  [ "${lines[6]}" = index.json ]
  # Every referrer names the install manifest as its subject.
  for r in $(jq -r '.manifests[1:][] .digest' index.json); do
    run jq -r '.subject.digest, .layers[0].mediaType' "$(blob "$r")"
    [ "${lines[0]}" = "$d" ]
    [ "${lines[1]}" = application/vnd.oci.image.layer.v1.tar ]
  done
  run jq -r '.manifests[1:][] | .digest' index.json
  types=$(for r in $output; do jq -r '.artifactType + " " + .layers[0].annotations["org.opencontainers.image.title"]' "$(blob "$r")"; done | sort)
  [ "$types" = "application/vnd.machine.pubkeycrt cert.pem
application/vnd.machine.signature install.json.signed" ]
}

@test "the certificate blob is the project's cert.pem and install.json pins the image" {
  d=$(install_digest)
  cert=$(for r in $(jq -r '.manifests[1:][] .digest' "$ZOT_ROOT/machine/install/index.json"); do
    jq -r 'select(.artifactType=="application/vnd.machine.pubkeycrt") | .layers[0].digest' "$(blob "$r")"; done)
  cmp "$(blob "$cert")" "$KEYS/snakeoil/manifest/default/cert.pem"
  install_json=$(jq -r '.layers[0].digest' "$(blob "$d")")
  # As the walkthrough shows: the keyset's hostfs, the manifest's zot, the keyset's bootkit.
  run jq -r '.product, .update_type, ([.targets[].service_name] | join(",")), (.targets[] | select(.service_name == "zot") | .digest, .network.ports[0].host)' "$(blob "$install_json")"
  [ "${lines[0]}" = default ]
  [ "${lines[1]}" = complete ]
  [ "${lines[2]}" = hostfs,zot,bootkit ]
  [ "${lines[3]}" = "sha256:$IMAGE_DIGEST" ]
  [ "${lines[4]}" = 80 ]
  # The image was copied as the original does: repository mos, tagged with its hex digest.
  run skopeo inspect --raw --tls-verify=false "docker://$MOS_REGISTRY/mos:$IMAGE_DIGEST"
  [ "$status" -eq 0 ]
}

@test "the referrers API lists the certificate and the signature" {
  d=$(install_digest)
  run curl -fsS "http://$MOS_REGISTRY/v2/machine/install/referrers/$d"
  [ "$status" -eq 0 ]
  run jq -r '.mediaType, (.manifests | length), ([.manifests[].artifactType] | sort | join(","))' <<<"$output"
  [ "${lines[0]}" = application/vnd.oci.image.index.v1+json ]
  [ "${lines[1]}" = 2 ]
  [ "${lines[2]}" = application/vnd.machine.pubkeycrt,application/vnd.machine.signature ]
}

@test "the walkthrough's openssl check verifies the signature over install.json" {
  d=$(install_digest)
  for r in $(jq -r '.manifests[1:][] .digest' "$ZOT_ROOT/machine/install/index.json"); do
    t=$(jq -r .artifactType "$(blob "$r")")
    l=$(jq -r '.layers[0].digest' "$(blob "$r")")
    [ "$t" = application/vnd.machine.pubkeycrt ] && cert=$(blob "$l")
    [ "$t" = application/vnd.machine.signature ] && sig=$(blob "$l")
  done
  install_json=$(blob "$(jq -r '.layers[0].digest' "$(blob "$d")")")
  openssl x509 -in "$cert" -pubkey -noout > "$BATS_TEST_TMPDIR/pub.pem"
  run openssl dgst -sha256 -verify "$BATS_TEST_TMPDIR/pub.pem" -signature "$sig" "$install_json"
  [ "$status" -eq 0 ]
  [ "$output" = "Verified OK" ]
}

@test "mosb manifest verify accepts it with the keyset's CA, and inspect shows the tree" {
  run mosb manifest verify --keyset snakeoil "$MOS_REGISTRY/machine/install:1.0.0"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"verified"* ]]
  uuid=$(cat "$KEYS/snakeoil/manifest/default/uuid")
  run mosb manifest verify --ca "$KEYS/snakeoil/manifest-ca/cert.pem" --product-uuid "$uuid" "docker://$MOS_REGISTRY/machine/install:1.0.0"
  [ "$status" -eq 0 ]
  run mosb manifest verify --keyset snakeoil --product-uuid 00000000-0000-4000-8000-000000000000 "$MOS_REGISTRY/machine/install:1.0.0"
  [ "$status" -ne 0 ]
  [[ "$output" == *"expected 00000000-0000-4000-8000-000000000000"* ]]
  run mosb manifest inspect "$MOS_REGISTRY/machine/install:1.0.0"
  [ "$status" -eq 0 ]
  [[ "$output" == *application/vnd.machine.pubkeycrt* ]]
  [[ "$output" == *"zot 1.0.0 container sha256:$IMAGE_DIGEST"* ]]
}

@test "publishing again changes nothing" {
  before=$(cat "$ZOT_ROOT/machine/install/index.json")
  cd "$T"
  run mosb manifest publish --project snakeoil:default --repo "$MOS_REGISTRY" --name machine/install:1.0.0 manifest.yaml
  [ "$status" -eq 0 ]
  [ "$(cat "$ZOT_ROOT/machine/install/index.json")" = "$before" ]
}

@test "SOURCE_DATE_EPOCH makes publishing reproducible, into an oci: layout" {
  cd "$T"
  SOURCE_DATE_EPOCH=1703083683 mosb manifest publish --skip-bootkit --project snakeoil:default \
    --repo "oci:$T/out1" --name machine/install:1.0.0 manifest.yaml
  # A second run into another root gives the same bytes.
  SOURCE_DATE_EPOCH=1703083683 mosb manifest publish --skip-bootkit --project snakeoil:default \
    --repo "oci:$T/out2" --name machine/install:1.0.0 manifest.yaml
  [ "$(jq -c . "$T/out1/machine/install/index.json")" = "$(jq -c . "$T/out2/machine/install/index.json")" ]
  run jq -r '.manifests | length' "$T/out1/machine/install/index.json"
  [ "$output" = 3 ]
  [ -f "$T/out1/mos/blobs/sha256/$IMAGE_DIGEST" ]
  run mosb manifest verify --keyset snakeoil "oci:$T/out1/machine/install:1.0.0"
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "a registry without the referrers API gets the tag-schema index (docker-registry)" {
  start_docker_registry "$T/docker"
  cd "$T"
  skopeo copy --quiet --dest-tls-verify=false oci:"$T/images":demo-zot \
    "docker://$DOCKER_REGISTRY/machine/bootkit/demo-zot:0.0.4-squashfs"
  sed "s|$MOS_REGISTRY|$DOCKER_REGISTRY|" manifest.yaml > manifest-docker.yaml
  run mosb manifest publish --skip-bootkit --project snakeoil:default --repo "$DOCKER_REGISTRY" \
    --name machine/install:1.0.0 manifest-docker.yaml
  echo "$output"
  [ "$status" -eq 0 ]
  d=sha256:$(skopeo inspect --raw --tls-verify=false "docker://$DOCKER_REGISTRY/machine/install:1.0.0" | sha256sum | cut -d' ' -f1)
  run skopeo inspect --raw --tls-verify=false "docker://$DOCKER_REGISTRY/machine/install:sha256-${d#sha256:}"
  [ "$status" -eq 0 ]
  [ "$(jq -r '.manifests | length' <<<"$output")" = 2 ]
  run mosb manifest verify --keyset snakeoil "$DOCKER_REGISTRY/machine/install:1.0.0"
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "bad input is refused with one clear line" {
  cd "$T"
  printf 'version: 1\nproduct: p\nupdate_type: complete\ntargets:\n  - service_name: x\n    source: oci:/nowhere:t\n    version: 1\n    service_type: vm\n' > bad.yaml
  run mosb manifest publish --skip-bootkit --project snakeoil:default --repo "oci:$T/bad" --name a/b:1 bad.yaml
  [ "$status" -ne 0 ]
  [[ "$output" == *"bad.yaml:8:19"* ]]
  [[ "$output" == *"hostfs, container, fs-only"* ]]
  [ ! -e "$T/bad" ]
  run mosb manifest publish --skip-bootkit --project snakeoil:nope --repo "oci:$T/bad" --name a/b:1 manifest.yaml
  [ "$status" -ne 0 ]
  [[ "$output" == *nope* ]]
  run mosb manifest publish --skip-bootkit --project snakeoil:default --repo "oci:$T/bad" --name "a/b" manifest.yaml
  [ "$status" -ne 0 ]
  [[ "$output" == *"REPOSITORY:TAG"* ]]
  run mosb manifest verify --keyset snakeoil "$MOS_REGISTRY/machine/install:9.9.9"
  [ "$status" -ne 0 ]
  [[ "$output" == *"9.9.9"* ]]
}
