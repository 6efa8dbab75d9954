#!/usr/bin/env bats
# A conformance suite modelled on opencontainers/distribution-spec's (pull, push, content
# discovery, content management), driven with curl. Each check runs against mos-registry and,
# where distribution 2.8 implements that part of the spec, against Debian's docker-registry too,
# which shows that the check itself is right. Checks that docker-registry is known to fail
# (416 on out-of-order chunks, tag pagination, the referrers API, 413 for big manifests; see
# standards-and-peers.md §7) run against mos-registry only.

load helpers/registry

setup_file() {
  export WORK=$BATS_FILE_TMPDIR
  start_mos_registry "$WORK/mos-root"
  start_docker_registry "$WORK/docker"
  # Test data: a config and two layers of random bytes, shared by the checks.
  echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$WORK/config.json"
  head -c 300000 /dev/urandom >"$WORK/layer1"
  head -c 70000 /dev/urandom >"$WORK/layer2"
}

teardown_file() {
  stop_registries
}

use() {
  case $1 in
    mos) REG=$MOS_REGISTRY ;;
    docker) REG=$DOCKER_REGISTRY ;;
  esac
  REPO=conformance/t$BATS_TEST_NUMBER
  HDRS=$BATS_TEST_TMPDIR/headers
  BODY=$BATS_TEST_TMPDIR/body
}

# Pushes config + layer1 and a manifest tagged TAG; sets MANIFEST (file) and MANIFEST_DIGEST.
push_image() {
  local tag=$1
  push_blob "$REPO" "$WORK/config.json" >/dev/null || return 1
  push_blob "$REPO" "$WORK/layer1" >/dev/null || return 1
  MANIFEST=$BATS_TEST_TMPDIR/manifest.json
  make_manifest "$WORK/config.json" "$WORK/layer1" | tr -d '\n' >"$MANIFEST"
  MANIFEST_DIGEST=$(sha256_of "$MANIFEST")
  req PUT "http://$REG/v2/$REPO/manifests/$tag" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
    --data-binary "@$MANIFEST"
  expect_status 201 || return 1
}

# ---------------------------------------------------------------- push

check_push_monolithic() {
  local digest
  digest=$(push_blob "$REPO" "$WORK/layer1")
  [ "$digest" = "$(sha256_of "$WORK/layer1")" ]
  expect_header Location
  expect_header Docker-Content-Digest "$digest"
  req HEAD "http://$REG/v2/$REPO/blobs/$digest"
  expect_status 200
  expect_header Content-Length "$(stat -c %s "$WORK/layer1")"
  expect_header Docker-Content-Digest "$digest"
}
@test "push: monolithic POST then PUT [mos-registry]" { use mos; check_push_monolithic; }
@test "push: monolithic POST then PUT [docker-registry]" { use docker; check_push_monolithic; }

check_push_single_post() {
  local digest
  digest=$(sha256_of "$WORK/layer2")
  req POST "http://$REG/v2/$REPO/blobs/uploads/?digest=$digest" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$WORK/layer2"
  # 201 when the registry supports single POST, 202 (continue with PUT) when it does not.
  expect_status "$@"
}
@test "push: single POST with ?digest= answers 201 [mos-registry]" {
  use mos
  check_push_single_post 201
  expect_header Docker-Content-Digest "$(sha256_of "$WORK/layer2")"
  req GET "http://$REG/v2/$REPO/blobs/$(sha256_of "$WORK/layer2")"
  expect_status 200
  cmp "$BODY" "$WORK/layer2"
}
@test "push: single POST with ?digest= answers 201 or 202 [docker-registry]" { use docker; check_push_single_post 201 202; }

check_push_chunked() {
  local digest location size
  digest=$(sha256_of "$WORK/layer1")
  size=$(stat -c %s "$WORK/layer1")
  head -c 100000 "$WORK/layer1" >"$BATS_TEST_TMPDIR/chunk1"
  tail -c +100001 "$WORK/layer1" >"$BATS_TEST_TMPDIR/chunk2"
  req POST "http://$REG/v2/$REPO/blobs/uploads/" -H 'Content-Length: 0'
  expect_status 202
  location=$(absolute "$(hdr Location)")
  req PATCH "$location" -H 'Content-Type: application/octet-stream' -H 'Content-Range: 0-99999' \
    --data-binary "@$BATS_TEST_TMPDIR/chunk1"
  expect_status 202
  expect_header Range "0-99999"
  location=$(absolute "$(hdr Location)")
  req GET "$location"
  expect_status 204
  expect_header Range "0-99999"
  req PATCH "$location" -H 'Content-Type: application/octet-stream' -H "Content-Range: 100000-$((size - 1))" \
    --data-binary "@$BATS_TEST_TMPDIR/chunk2"
  expect_status 202
  expect_header Range "0-$((size - 1))"
  location=$(absolute "$(hdr Location)")
  req PUT "$(with_query "$location" "digest=$digest")" -H 'Content-Length: 0'
  expect_status 201
  expect_header Docker-Content-Digest "$digest"
  req GET "http://$REG/v2/$REPO/blobs/$digest"
  expect_status 200
  cmp "$BODY" "$WORK/layer1"
}
@test "push: chunked PATCH uploads with status GET [mos-registry]" { use mos; check_push_chunked; }
@test "push: chunked PATCH uploads with status GET [docker-registry]" { use docker; check_push_chunked; }

@test "push: out-of-order chunk answers 416, then GET gives the Range to resume from [mos-registry]" {
  use mos
  head -c 1000 "$WORK/layer2" >"$BATS_TEST_TMPDIR/c1"
  req POST "http://$REG/v2/$REPO/blobs/uploads/"
  location=$(absolute "$(hdr Location)")
  req PATCH "$location" -H 'Content-Range: 0-999' --data-binary "@$BATS_TEST_TMPDIR/c1"
  expect_status 202
  location=$(absolute "$(hdr Location)")
  req PATCH "$location" -H 'Content-Range: 5000-5999' --data-binary "@$BATS_TEST_TMPDIR/c1"
  expect_status 416
  expect_error BLOB_UPLOAD_INVALID
  req GET "$location"
  expect_status 204
  expect_header Range "0-999"
}

check_push_digest_mismatch() {
  req POST "http://$REG/v2/$REPO/blobs/uploads/"
  location=$(absolute "$(hdr Location)")
  req PUT "$(with_query "$location" "digest=$(sha256_of "$WORK/layer2")")" --data-binary "@$WORK/layer1"
  expect_status 400
  expect_error DIGEST_INVALID
  req HEAD "http://$REG/v2/$REPO/blobs/$(sha256_of "$WORK/layer2")"
  expect_status 404
}
@test "push: a body that does not match ?digest= is refused [mos-registry]" { use mos; check_push_digest_mismatch; }
@test "push: a body that does not match ?digest= is refused [docker-registry]" { use docker; check_push_digest_mismatch; }

check_cross_mount() {
  local digest
  digest=$(push_blob "$REPO" "$WORK/layer2")
  req POST "http://$REG/v2/$REPO-other/blobs/uploads/?mount=$digest&from=$REPO"
  expect_status 201
  expect_header Location
  req GET "http://$REG/v2/$REPO-other/blobs/$digest"
  expect_status 200
  cmp "$BODY" "$WORK/layer2"
  # A blob the source does not have: a regular upload is opened instead.
  req POST "http://$REG/v2/$REPO-other/blobs/uploads/?mount=sha256:$(printf '0%.0s' {1..64})&from=$REPO"
  expect_status 202
}
@test "push: cross-repository mount [mos-registry]" { use mos; check_cross_mount; }
@test "push: cross-repository mount [docker-registry]" { use docker; check_cross_mount; }

check_manifest_push() {
  push_image v1
  expect_header Location
  expect_header Docker-Content-Digest "$MANIFEST_DIGEST"
  # By digest too.
  req PUT "http://$REG/v2/$REPO/manifests/$MANIFEST_DIGEST" \
    -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary "@$MANIFEST"
  expect_status 201
}
@test "push: manifest by tag and by digest [mos-registry]" { use mos; check_manifest_push; }
@test "push: manifest by tag and by digest [docker-registry]" { use docker; check_manifest_push; }

check_manifest_missing_blob() {
  push_blob "$REPO" "$WORK/config.json" >/dev/null
  make_manifest "$WORK/config.json" "$WORK/layer2" >"$BATS_TEST_TMPDIR/m.json"
  req PUT "http://$REG/v2/$REPO/manifests/broken" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
    --data-binary "@$BATS_TEST_TMPDIR/m.json"
  expect_status 400
  expect_error MANIFEST_BLOB_UNKNOWN
}
@test "push: manifest naming a missing blob gets MANIFEST_BLOB_UNKNOWN [mos-registry]" { use mos; check_manifest_missing_blob; }
@test "push: manifest naming a missing blob gets MANIFEST_BLOB_UNKNOWN [docker-registry]" { use docker; check_manifest_missing_blob; }

check_manifest_invalid() {
  printf '{"schemaVersion":2,"config":' >"$BATS_TEST_TMPDIR/bad.json"
  req PUT "http://$REG/v2/$REPO/manifests/bad" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
    --data-binary "@$BATS_TEST_TMPDIR/bad.json"
  expect_status 400
  expect_error MANIFEST_INVALID
}
@test "push: malformed manifest JSON gets MANIFEST_INVALID [mos-registry]" { use mos; check_manifest_invalid; }
@test "push: malformed manifest JSON gets MANIFEST_INVALID [docker-registry]" { use docker; check_manifest_invalid; }

@test "push: manifests over 4 MiB get 413 [mos-registry]" {
  use mos
  push_blob "$REPO" "$WORK/config.json" >/dev/null
  head -c 4300000 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/pad"
  jq -cn --rawfile pad "$BATS_TEST_TMPDIR/pad" --arg cd "$(sha256_of "$WORK/config.json")" \
    --argjson cs "$(stat -c %s "$WORK/config.json")" \
    '{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
      config:{mediaType:"application/vnd.oci.image.config.v1+json", digest:$cd, size:$cs}, layers:[],
      annotations:{pad:$pad}}' >"$BATS_TEST_TMPDIR/big.json"
  # curl asks "Expect: 100-continue" for a body this size: the refusal comes instead of the
  # invitation, and the body is never sent.
  req PUT "http://$REG/v2/$REPO/manifests/big" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
    --data-binary "@$BATS_TEST_TMPDIR/big.json"
  expect_status 413
  expect_error SIZE_INVALID
  grep -qi "^expect: 100-continue" <(curl -sv -o /dev/null -X PUT --data-binary "@$BATS_TEST_TMPDIR/big.json" "http://$REG/v2/$REPO/manifests/big" 2>&1 | sed -n 's/^> //p')
  run grep -c "^HTTP/1.1 100" "$HDRS"
  [ "$output" = 0 ]
  # Without Expect the body comes at once: the answer still arrives whole (the server reads
  # and drops the rest rather than resetting the connection), five times over.
  for _ in 1 2 3 4 5; do
    req PUT "http://$REG/v2/$REPO/manifests/big" -H "Expect:" --data-binary "@$BATS_TEST_TMPDIR/big.json"
    expect_status 413
    expect_error SIZE_INVALID
  done
}

@test "push: invalid names, tags and digests are refused without touching the disk [mos-registry]" {
  use mos
  req POST "http://$REG/v2/../escape/blobs/uploads/"
  expect_status 400
  expect_error NAME_INVALID
  req PUT "http://$REG/v2/UPPER/manifests/v1" --data-binary '{}'
  expect_status 400
  expect_error NAME_INVALID
  req PUT "http://$REG/v2/$REPO/manifests/-bad-tag" --data-binary '{}'
  expect_status 400
  req GET "http://$REG/v2/$REPO/blobs/sha256:nothex"
  expect_status 400
  expect_error DIGEST_INVALID
  [ ! -e "$WORK/escape" ]
  [ ! -e "$WORK/mos-root/UPPER" ]
}

# ---------------------------------------------------------------- pull

check_pull() {
  push_image v1
  req GET "http://$REG/v2/$REPO/manifests/v1" -H "Accept: $OCI_ACCEPT"
  expect_status 200
  cmp "$BODY" "$MANIFEST"
  expect_header Content-Type "application/vnd.oci.image.manifest.v1+json"
  expect_header Docker-Content-Digest "$MANIFEST_DIGEST"
  req HEAD "http://$REG/v2/$REPO/manifests/$MANIFEST_DIGEST" -H "Accept: $OCI_ACCEPT"
  expect_status 200
  expect_header Content-Length "$(stat -c %s "$MANIFEST")"
  expect_header Docker-Content-Digest "$MANIFEST_DIGEST"
  req GET "http://$REG/v2/$REPO/manifests/$MANIFEST_DIGEST" -H "Accept: $OCI_ACCEPT"
  expect_status 200
  cmp "$BODY" "$MANIFEST"
  req GET "http://$REG/v2/$REPO/blobs/$(sha256_of "$WORK/layer1")"
  expect_status 200
  cmp "$BODY" "$WORK/layer1"
  expect_header Docker-Content-Digest "$(sha256_of "$WORK/layer1")"
}
@test "pull: manifests by tag and digest (GET, HEAD) and blobs [mos-registry]" { use mos; check_pull; }
@test "pull: manifests by tag and digest (GET, HEAD) and blobs [docker-registry]" { use docker; check_pull; }

check_range() {
  local digest
  digest=$(push_blob "$REPO" "$WORK/layer1")
  req GET "http://$REG/v2/$REPO/blobs/$digest" -H 'Range: bytes=1000-1999'
  expect_status 206
  expect_header Content-Range "bytes 1000-1999/$(stat -c %s "$WORK/layer1")"
  cmp "$BODY" <(tail -c +1001 "$WORK/layer1" | head -c 1000)
}
@test "pull: blob Range requests [mos-registry]" {
  use mos
  check_range
  req GET "http://$REG/v2/$REPO/blobs/$(sha256_of "$WORK/layer1")" -H 'Range: bytes=999999999-'
  expect_status 416
}
@test "pull: blob Range requests [docker-registry]" { use docker; check_range; }

check_pull_unknown() {
  push_image v1
  req GET "http://$REG/v2/$REPO/manifests/nosuchtag" -H "Accept: $OCI_ACCEPT"
  expect_status 404
  expect_error MANIFEST_UNKNOWN
  req HEAD "http://$REG/v2/$REPO/manifests/nosuchtag" -H "Accept: $OCI_ACCEPT"
  expect_status 404
  req GET "http://$REG/v2/$REPO/blobs/$(sha256_of "$WORK/layer2")"
  expect_status 404
  expect_error BLOB_UNKNOWN
  req GET "http://$REG/v2/conformance/never-pushed/tags/list"
  expect_status 404
  expect_error NAME_UNKNOWN
}
@test "pull: unknown manifests, blobs and repositories give 404 with OCI error bodies [mos-registry]" { use mos; check_pull_unknown; }
@test "pull: unknown manifests, blobs and repositories give 404 with OCI error bodies [docker-registry]" { use docker; check_pull_unknown; }

# ---------------------------------------------------------------- content discovery

check_tags_list() {
  push_image c
  for t in a b; do
    req PUT "http://$REG/v2/$REPO/manifests/$t" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
      --data-binary "@$MANIFEST"
    expect_status 201
  done
  req GET "http://$REG/v2/$REPO/tags/list"
  expect_status 200
  # docker-registry lists tags unsorted; mos-registry's order is checked below.
  [ "$(jq -c '.tags | sort' "$BODY")" = '["a","b","c"]' ]
  [ "$(jq -r .name "$BODY")" = "$REPO" ]
}
@test "discovery: tags list, in lexical order [mos-registry]" {
  use mos
  check_tags_list
  [ "$(jq -c .tags "$BODY")" = '["a","b","c"]' ]
}
@test "discovery: tags list [docker-registry]" { use docker; check_tags_list; }

@test "discovery: tags list pagination with n, last and Link [mos-registry]" {
  use mos
  check_tags_list
  req GET "http://$REG/v2/$REPO/tags/list?n=2"
  expect_status 200
  [ "$(jq -c .tags "$BODY")" = '["a","b"]' ]
  [[ "$(hdr Link)" == *"last=b"*'rel="next"'* ]]
  req GET "http://$REG/v2/$REPO/tags/list?n=2&last=b"
  [ "$(jq -c .tags "$BODY")" = '["c"]' ]
  [ -z "$(hdr Link)" ]
  req GET "http://$REG/v2/$REPO/tags/list?n=0"
  [ "$(jq -c .tags "$BODY")" = '[]' ]
}

@test "discovery: referrers API, OCI-Subject, artifactType filter [mos-registry]" {
  use mos
  push_image v1
  local subject=$MANIFEST_DIGEST size
  size=$(stat -c %s "$MANIFEST")
  push_blob "$REPO" "$WORK/layer2" >/dev/null
  make_manifest "$WORK/config.json" "$WORK/layer2" "$subject" "$size" application/vnd.example.sig >"$BATS_TEST_TMPDIR/sig.json"
  make_manifest "$WORK/config.json" "$WORK/layer1" "$subject" "$size" application/vnd.example.sbom >"$BATS_TEST_TMPDIR/sbom.json"
  for f in sig sbom; do
    req PUT "http://$REG/v2/$REPO/manifests/$(sha256_of "$BATS_TEST_TMPDIR/$f.json")" \
      -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary "@$BATS_TEST_TMPDIR/$f.json"
    expect_status 201
    expect_header OCI-Subject "$subject"
  done
  req GET "http://$REG/v2/$REPO/referrers/$subject"
  expect_status 200
  expect_header Content-Type application/vnd.oci.image.index.v1+json
  [ "$(jq '.manifests | length' "$BODY")" = 2 ]
  jq -e '.manifests | map(.artifactType) | sort == ["application/vnd.example.sbom","application/vnd.example.sig"]' "$BODY"
  jq -e '.manifests[] | select(.artifactType == "application/vnd.example.sig") | .annotations["org.example.kind"] == "application/vnd.example.sig"' "$BODY"
  req GET "http://$REG/v2/$REPO/referrers/$subject?artifactType=application/vnd.example.sig"
  expect_status 200
  expect_header OCI-Filters-Applied artifactType
  [ "$(jq -r '.manifests | length' "$BODY")" = 1 ]
  [ "$(jq -r '.manifests[0].digest' "$BODY")" = "$(sha256_of "$BATS_TEST_TMPDIR/sig.json")" ]
  # No referrers (and an unknown repository) is an empty index, never 404.
  req GET "http://$REG/v2/$REPO/referrers/$(sha256_of "$WORK/layer2")"
  expect_status 200
  [ "$(jq '.manifests | length' "$BODY")" = 0 ]
  req GET "http://$REG/v2/conformance/never-pushed/referrers/$subject"
  expect_status 200
  req GET "http://$REG/v2/$REPO/referrers/sha256:bad"
  expect_status 400
}

@test "discovery: a referrer whose subject does not exist yet is accepted [mos-registry]" {
  use mos
  push_blob "$REPO" "$WORK/config.json" >/dev/null
  push_blob "$REPO" "$WORK/layer2" >/dev/null
  local ghost=sha256:$(printf 'a%.0s' {1..64})
  make_manifest "$WORK/config.json" "$WORK/layer2" "$ghost" 123 application/vnd.example.sig >"$BATS_TEST_TMPDIR/sig.json"
  req PUT "http://$REG/v2/$REPO/manifests/$(sha256_of "$BATS_TEST_TMPDIR/sig.json")" \
    -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary "@$BATS_TEST_TMPDIR/sig.json"
  expect_status 201
  expect_header OCI-Subject "$ghost"
  req GET "http://$REG/v2/$REPO/referrers/$ghost"
  [ "$(jq '.manifests | length' "$BODY")" = 1 ]
}

@test "discovery: docker-registry has no referrers API (404), so clients use the tag schema [docker-registry]" {
  use docker
  push_image v1
  req GET "http://$REG/v2/$REPO/referrers/$MANIFEST_DIGEST"
  expect_status 404
}

check_catalog() {
  push_image v1
  req GET "http://$REG/v2/_catalog"
  expect_status 200
  jq -e --arg r "$REPO" '.repositories | index($r) != null' "$BODY"
}
@test "discovery: catalog lists repositories [mos-registry]" { use mos; check_catalog; }
@test "discovery: catalog lists repositories [docker-registry]" { use docker; check_catalog; }

# ---------------------------------------------------------------- content management

check_delete_manifest() {
  push_image v1
  req DELETE "http://$REG/v2/$REPO/manifests/$MANIFEST_DIGEST"
  expect_status 202
  req GET "http://$REG/v2/$REPO/manifests/$MANIFEST_DIGEST" -H "Accept: $OCI_ACCEPT"
  expect_status 404
  req GET "http://$REG/v2/$REPO/manifests/v1" -H "Accept: $OCI_ACCEPT"
  expect_status 404
  req DELETE "http://$REG/v2/$REPO/manifests/$MANIFEST_DIGEST"
  expect_status 404
}
@test "management: delete a manifest by digest [mos-registry]" { use mos; check_delete_manifest; }
@test "management: delete a manifest by digest [docker-registry]" { use docker; check_delete_manifest; }

@test "management: delete a tag keeps the manifest [mos-registry]" {
  use mos
  push_image v1
  req DELETE "http://$REG/v2/$REPO/manifests/v1"
  expect_status 202
  req GET "http://$REG/v2/$REPO/manifests/v1"
  expect_status 404
  req GET "http://$REG/v2/$REPO/manifests/$MANIFEST_DIGEST"
  expect_status 200
}

check_delete_blob() {
  local digest
  digest=$(push_blob "$REPO" "$WORK/layer2")
  req DELETE "http://$REG/v2/$REPO/blobs/$digest"
  expect_status 202
  req HEAD "http://$REG/v2/$REPO/blobs/$digest"
  expect_status 404
}
@test "management: delete a blob [mos-registry]" { use mos; check_delete_blob; }
@test "management: delete a blob [docker-registry]" { use docker; check_delete_blob; }

@test "management: deleting the referrer removes it from the referrers list [mos-registry]" {
  use mos
  push_image v1
  local subject=$MANIFEST_DIGEST
  push_blob "$REPO" "$WORK/layer2" >/dev/null
  make_manifest "$WORK/config.json" "$WORK/layer2" "$subject" 10 application/vnd.example.sig >"$BATS_TEST_TMPDIR/sig.json"
  local sig
  sig=$(sha256_of "$BATS_TEST_TMPDIR/sig.json")
  req PUT "http://$REG/v2/$REPO/manifests/$sig" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
    --data-binary "@$BATS_TEST_TMPDIR/sig.json"
  expect_status 201
  req DELETE "http://$REG/v2/$REPO/manifests/$sig"
  expect_status 202
  req GET "http://$REG/v2/$REPO/referrers/$subject"
  [ "$(jq '.manifests | length' "$BODY")" = 0 ]
}

@test "management: an upload can be cancelled [mos-registry]" {
  use mos
  req POST "http://$REG/v2/$REPO/blobs/uploads/"
  location=$(absolute "$(hdr Location)")
  req DELETE "$location"
  expect_status 204
  req GET "$location"
  expect_status 404
  expect_error BLOB_UPLOAD_UNKNOWN
}

@test "the server logs one line per request" {
  use mos
  req GET "http://$REG/v2/$REPO/tags/list?marker=logline"
  grep -q '"GET /v2/conformance/.*/tags/list?marker=logline" 404' "$MOS_REGISTRY_LOG"
}
