# Helpers for the mosb oci end-to-end tests: images built with umoci, hand-made artifacts and
# indexes in layouts, blobs in docker-registry's storage. Registries are started with
# helpers/registry.bash (load it first; its start_docker_registry takes htpasswd credentials).

# make_umoci_image DIR TAG LAYERS BYTES: an OCI layout with an image of LAYERS layers of random
# files of BYTES bytes each (umoci).
make_umoci_image() {
  local dir=$1 tag=$2 layers=$3 bytes=$4 n work
  work=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/content.XXXXXX")
  umoci init --layout "$dir" >/dev/null
  umoci new --image "$dir:$tag" >/dev/null
  for n in $(seq 1 "$layers"); do
    mkdir -p "$work/c$n/data$n"
    head -c "$bytes" /dev/urandom >"$work/c$n/data$n/file"
    umoci insert --image "$dir:$tag" "$work/c$n/data$n" "/data$n" >/dev/null
  done
  rm -rf "$work"
}

# layout_put_blob DIR FILE: stores FILE as a blob of the layout; prints its digest.
layout_put_blob() {
  local dir=$1 file=$2 hex
  hex=$(sha256sum "$file" | cut -d' ' -f1)
  mkdir -p "$dir/blobs/sha256"
  cp "$file" "$dir/blobs/sha256/$hex"
  echo "sha256:$hex"
}

# layout_add_manifest DIR FILE MEDIATYPE [TAG]: stores FILE as a manifest blob and lists it in
# index.json (tagged when TAG is given).
layout_add_manifest() {
  local dir=$1 file=$2 type=$3 tag=${4:-} digest size entry
  digest=$(layout_put_blob "$dir" "$file")
  size=$(stat -c %s "$file")
  entry=$(jq -cn --arg t "$type" --arg d "$digest" --argjson s "$size" '{mediaType:$t, digest:$d, size:$s}')
  if [ -n "$tag" ]; then
    entry=$(echo "$entry" | jq -c --arg tag "$tag" '. + {annotations:{"org.opencontainers.image.ref.name":$tag}}')
  fi
  jq -c --argjson e "$entry" '.manifests += [$e]' "$dir/index.json" >"$dir/index.json.new"
  mv "$dir/index.json.new" "$dir/index.json"
}

# layout_manifest_digest DIR TAG
layout_manifest_digest() {
  jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$1/index.json"
}

# add_signature_referrer DIR SUBJECT_DIGEST SUBJECT_SIZE ARTIFACT_TYPE CONTENT: an artifact
# manifest (empty config, one layer holding CONTENT) whose subject is the given manifest,
# listed untagged in the layout; prints its digest.
add_signature_referrer() {
  local dir=$1 sd=$2 ss=$3 at=$4 content=$5 tmp empty layer ld ls
  tmp=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/ref.XXXXXX")
  printf '{}' >"$tmp/empty"
  printf '%s' "$content" >"$tmp/layer"
  layout_put_blob "$dir" "$tmp/empty" >/dev/null
  ld=$(layout_put_blob "$dir" "$tmp/layer")
  ls=$(stat -c %s "$tmp/layer")
  jq -cn --arg sd "$sd" --argjson ss "$ss" --arg at "$at" --arg ld "$ld" --argjson ls "$ls" \
    '{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json", artifactType:$at,
      config:{mediaType:"application/vnd.oci.empty.v1+json", digest:"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size:2, data:"e30="},
      layers:[{mediaType:"application/octet-stream", digest:$ld, size:$ls}],
      subject:{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$sd, size:$ss},
      annotations:{"org.example.kind":$at}}' | tr -d '\n' >"$tmp/manifest"
  layout_add_manifest "$dir" "$tmp/manifest" application/vnd.oci.image.manifest.v1+json
  sha256_of "$tmp/manifest"
  rm -rf "$tmp"
}

# The file holding a blob in docker-registry's filesystem storage.
registry_blob_file() { # STORAGE_DIR DIGEST
  local hex=${2#sha256:}
  echo "$1/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

# No staging files and no blob but the listed digests' in a layout after a failed copy.
layout_has_no_partial_state() { # DIR
  local dir=$1 f
  for f in "$dir"/blobs/sha256/*; do
    [ -e "$f" ] || continue
    [ "sha256:$(sha256sum "$f" | cut -d' ' -f1)" = "sha256:$(basename "$f")" ] || { echo "corrupt blob $f" >&2; return 1; }
  done
  if [ -d "$dir/.uploads" ] && [ -n "$(ls -A "$dir/.uploads")" ]; then
    echo "staging files left in $dir/.uploads" >&2
    return 1
  fi
}
