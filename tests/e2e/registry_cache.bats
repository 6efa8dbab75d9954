#!/usr/bin/env bats
# mos-registry answers manifest GETs from memory (src/registry/manifest_cache.hpp) and must
# never answer a stale one: after a push to the tag, a delete, or another process changing the
# repository's index.json on disk, the very next GET sees the change. No sleeps: each check
# follows the change at once, which is what a stale cache would get wrong.

load helpers/registry

setup() {
  W=$BATS_TEST_TMPDIR
  start_mos_registry "$W/root"
  REG=$MOS_REGISTRY
  echo '{"architecture":"amd64","os":"linux"}' >"$W/config.json"
  for i in 1 2 3; do
    echo "layer $i" >"$W/layer$i"
    push_blob app "$W/config.json" >/dev/null
    push_blob app "$W/layer$i" >/dev/null
    make_manifest "$W/config.json" "$W/layer$i" >"$W/m$i.json"
  done
}

teardown() {
  stop_registries
}

put_manifest() { # FILE TAG
  req PUT "http://$REG/v2/app/manifests/$2" -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$1"
  expect_status 201
}

# get_digest REFERENCE: GET the manifest; prints the digest of the body it got (and checks the
# Docker-Content-Digest header says the same).
get_digest() {
  req GET "http://$REG/v2/app/manifests/$1" -H 'Accept: application/vnd.oci.image.manifest.v1+json'
  expect_status 200 || return 1
  [ "$(hdr Docker-Content-Digest)" = "$(sha256_of "$BODY")" ] || return 1
  sha256_of "$BODY"
}

@test "a push to the tag, a delete, a push back: each seen by the next GET" {
  put_manifest "$W/m1.json" t
  [ "$(get_digest t)" = "$(sha256_of "$W/m1.json")" ]
  [ "$(get_digest t)" = "$(sha256_of "$W/m1.json")" ]  # now from memory
  put_manifest "$W/m2.json" t
  [ "$(get_digest t)" = "$(sha256_of "$W/m2.json")" ]
  d2=$(sha256_of "$W/m2.json")
  [ "$(get_digest "$d2")" = "$d2" ]
  req DELETE "http://$REG/v2/app/manifests/$d2"
  expect_status 202
  req GET "http://$REG/v2/app/manifests/t"
  expect_status 404
  req GET "http://$REG/v2/app/manifests/$d2"
  expect_status 404
  put_manifest "$W/m1.json" t
  [ "$(get_digest t)" = "$(sha256_of "$W/m1.json")" ]
  # Quick retags, each GET right after its push.
  for round in $(seq 1 30); do
    i=$((round % 3 + 1))
    put_manifest "$W/m$i.json" t
    [ "$(get_digest t)" = "$(sha256_of "$W/m$i.json")" ] || { echo "round $round: stale answer"; false; }
  done
}

@test "another process changing index.json on disk is seen by the next GET" {
  put_manifest "$W/m1.json" t
  put_manifest "$W/m2.json" other
  [ "$(get_digest t)" = "$(sha256_of "$W/m1.json")" ]
  [ "$(get_digest t)" = "$(sha256_of "$W/m1.json")" ]
  index=$W/root/app/index.json
  d2=$(sha256_of "$W/m2.json")
  # Rewritten in place (same inode), pointing the tag at the other manifest.
  jq -c --arg d "$d2" '(.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "t")).digest = $d' \
    "$index" >"$W/index.new"
  cat "$W/index.new" >"$index"
  [ "$(get_digest t)" = "$d2" ]
  # Replaced by a rename, as our own tools do: mosb writes the layout directly.
  jq -c --arg d "$(sha256_of "$W/m1.json")" '(.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "t")).digest = $d' \
    "$index" >"$W/index.new"
  mv "$W/index.new" "$index"
  [ "$(get_digest t)" = "$(sha256_of "$W/m1.json")" ]
  # The tag removed by hand: gone at once.
  jq -c 'del(.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "t"))' "$index" >"$W/index.new"
  mv "$W/index.new" "$index"
  req GET "http://$REG/v2/app/manifests/t"
  expect_status 404
  # The repository's directory removed: unknown at once.
  [ "$(get_digest other)" = "$d2" ]
  mv "$W/root/app" "$W/moved"
  req GET "http://$REG/v2/app/manifests/other"
  expect_status 404
}
