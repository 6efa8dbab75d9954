#!/usr/bin/env bats
# mos-registry with htpasswd Basic authentication (zot's http.auth.htpasswd.path, or
# --htpasswd): curl, skopeo and our own mosb against it. The curl and skopeo checks run against
# Debian's docker-registry with an htpasswd file too, to show the checks expect what a
# reference registry does.

load helpers/registry
load helpers/oci_copy
load helpers/mosctl

setup_file() {
  export WORK=$BATS_FILE_TMPDIR
  # No credentials from the user's auth files: only what a test passes counts.
  export HOME=$WORK/home XDG_RUNTIME_DIR=$WORK/xdg XDG_DATA_HOME=$WORK/home/.local/share
  # (docker-registry would read REGISTRY_AUTH_FILE as its config key auth.file.)
  unset REGISTRY_AUTH_FILE
  export PATH="$MOS_BIN:$PATH"
  mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
  htpasswd -Bbn alice s3cret >"$WORK/htpasswd"
  make_umoci_image "$WORK/img" latest 2 100000
  start_mos_registry "$WORK/root" --htpasswd "$WORK/htpasswd"
  start_docker_registry "$WORK/docker" alice s3cret
}

teardown_file() {
  stop_registries
}

mosb() { "$MOS_BIN/mosb" "$@"; }
raw_digest() { skopeo inspect --raw --tls-verify=false "$@" | sha256sum | cut -d' ' -f1; }

# expect_challenge: the last response was 401 with docker-registry's Basic challenge and an OCI
# error body UNAUTHORIZED.
expect_challenge() {
  expect_status 401 || return 1
  expect_header WWW-Authenticate 'Basic realm="mos-registry"' || return 1
  expect_error UNAUTHORIZED
}

# The same HTTP checks for any registry at $1.
http_auth_checks() {
  local reg=$1 blob=$BATS_TEST_TMPDIR/blob digest
  req GET "http://$reg/v2/"
  expect_challenge
  req HEAD "http://$reg/v2/"
  expect_status 401
  expect_header WWW-Authenticate 'Basic realm="mos-registry"'
  req GET "http://$reg/v2/_catalog"
  expect_challenge
  req GET "http://$reg/v2/any/tags/list"
  expect_challenge
  req GET "http://$reg/v2/" -u alice:wrong
  expect_challenge
  req GET "http://$reg/v2/" -u bob:s3cret
  expect_challenge
  req GET "http://$reg/v2/" -H 'Authorization: Basic !!!not-base64'
  expect_challenge
  req GET "http://$reg/v2/" -H "Authorization: Basic $(printf 'no-colon' | base64)"
  expect_challenge
  req GET "http://$reg/v2/" -u alice:s3cret
  expect_status 200
  req GET "http://$reg/v2/_catalog" -u alice:s3cret
  expect_status 200
  jq -e '.repositories | type == "array"' "$BODY"
  # An upload with its body, without credentials: refused, nothing stored.
  head -c 100000 /dev/urandom >"$blob"
  digest=$(sha256_of "$blob")
  req POST "http://$reg/v2/nobody/blobs/uploads/?digest=$digest" -H 'Content-Type: application/octet-stream' --data-binary "@$blob"
  expect_challenge
  req HEAD "http://$reg/v2/nobody/blobs/$digest" -u alice:s3cret
  expect_status 404
  # With credentials the same upload lands.
  req POST "http://$reg/v2/somebody/blobs/uploads/?digest=$digest" -u alice:s3cret -H 'Content-Type: application/octet-stream' --data-binary "@$blob"
  expect_status 201 202
  if [ "$STATUS" = 202 ]; then  # docker-registry takes no single-POST upload: finish with a PUT
    req PUT "$(with_query "$(REG=$reg absolute "$(hdr Location)")" "digest=$digest")" -u alice:s3cret \
      -H 'Content-Type: application/octet-stream' --data-binary "@$blob"
    expect_status 201
  fi
  req HEAD "http://$reg/v2/somebody/blobs/$digest" -u alice:s3cret
  expect_status 200
}

# skopeo pushes and pulls with --dest-creds/--src-creds; without them or with wrong ones it fails.
skopeo_auth_checks() {
  local reg=$1 want
  want=$(raw_digest "oci:$WORK/img:latest")
  skopeo copy -q --dest-tls-verify=false --dest-creds alice:s3cret "oci:$WORK/img:latest" "docker://$reg/sk/img:1"
  [ "$(raw_digest --creds alice:s3cret "docker://$reg/sk/img:1")" = "$want" ]
  skopeo copy -q --src-tls-verify=false --src-creds alice:s3cret "docker://$reg/sk/img:1" "oci:$BATS_TEST_TMPDIR/back:1"
  [ "$(raw_digest "oci:$BATS_TEST_TMPDIR/back:1")" = "$want" ]
  run skopeo copy -q --dest-tls-verify=false "oci:$WORK/img:latest" "docker://$reg/sk/img:2"
  [ "$status" -ne 0 ]
  [[ "$output" == *"unauthorized"* ]] || { echo "$output" >&2; false; }
  run skopeo copy -q --dest-tls-verify=false --dest-creds alice:nope "oci:$WORK/img:latest" "docker://$reg/sk/img:2"
  [ "$status" -ne 0 ]
  [[ "$output" == *"unauthorized"* ]] || { echo "$output" >&2; false; }
  run skopeo copy -q --src-tls-verify=false "docker://$reg/sk/img:1" "oci:$BATS_TEST_TMPDIR/no:1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"unauthorized"* ]] || { echo "$output" >&2; false; }
  run skopeo inspect --raw --tls-verify=false "docker://$reg/sk/img:2" --creds alice:s3cret
  [ "$status" -ne 0 ]  # the refused pushes left no tag
  [[ "$output" == *"manifest unknown"* ]] || { echo "$output" >&2; false; }
}

@test "curl: no, wrong or malformed credentials get 401 with the Basic challenge; right ones pass (mos-registry)" {
  http_auth_checks "$MOS_REGISTRY"
  [ ! -e "$WORK/root/nobody" ]
}

@test "curl: the same checks against docker-registry with htpasswd" {
  http_auth_checks "$DOCKER_REGISTRY"
}

@test "skopeo --dest-creds/--src-creds to and from mos-registry" {
  skopeo_auth_checks "$MOS_REGISTRY"
}

@test "skopeo: the same checks against docker-registry with htpasswd" {
  skopeo_auth_checks "$DOCKER_REGISTRY"
}

@test "mosb oci copy --creds both ways; missing or wrong credentials give one clear line" {
  want=$(raw_digest "oci:$WORK/img:latest")
  mosb oci copy --quiet --creds alice:s3cret "oci:$WORK/img:latest" "docker://$MOS_REGISTRY/mosb/img:1"
  [ "$(raw_digest --creds alice:s3cret "docker://$MOS_REGISTRY/mosb/img:1")" = "$want" ]
  mosb oci copy --quiet --creds alice:s3cret "docker://$MOS_REGISTRY/mosb/img:1" "oci:$BATS_TEST_TMPDIR/out:1"
  [ "$(raw_digest "oci:$BATS_TEST_TMPDIR/out:1")" = "$want" ]
  # Registry to registry within mos-registry (a cross-repository mount).
  mosb oci copy --quiet --creds alice:s3cret "docker://$MOS_REGISTRY/mosb/img:1" "docker://$MOS_REGISTRY/mosb/copy:1"
  [ "$(raw_digest --creds alice:s3cret "docker://$MOS_REGISTRY/mosb/copy:1")" = "$want" ]
  run mosb oci copy --quiet --creds alice:wrong "oci:$WORK/img:latest" "docker://$MOS_REGISTRY/mosb/img:2"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "mosb: error: "*"refused the credentials of user \"alice\""* ]]
  run mosb oci copy --quiet "docker://$MOS_REGISTRY/mosb/img:1" "oci:$BATS_TEST_TMPDIR/out:2"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "mosb: error: "*"no credentials given"* ]]
  [ ! -e "$WORK/root/mosb/img/blobs" ] || [ "$(jq '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "2")] | length' "$WORK/root/mosb/img/index.json")" = 0 ]
  # An auth file in the containers format works as well.
  printf '{"auths":{"%s":{"auth":"%s"}}}' "$MOS_REGISTRY" "$(printf alice:s3cret | base64)" >"$BATS_TEST_TMPDIR/auth.json"
  run mosb oci inspect --authfile "$BATS_TEST_TMPDIR/auth.json" "docker://$MOS_REGISTRY/mosb/img:1"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Layers:"* ]]
}

@test "mosb manifest publish --creds into mos-registry, verified with the same credentials" {
  trust keyset add --no-bootkit authks
  printf 'payload\n' >"$BATS_TEST_TMPDIR/payload"
  mos_make_image "$BATS_TEST_TMPDIR/images" svc "$BATS_TEST_TMPDIR/payload" >/dev/null
  skopeo copy -q --dest-tls-verify=false --dest-creds alice:s3cret "oci:$BATS_TEST_TMPDIR/images:svc" \
    "docker://$MOS_REGISTRY/machine/svc:1"
  cat >"$BATS_TEST_TMPDIR/manifest.yaml" <<YAML
version: 1
product: default
update_type: complete
targets:
  - service_name: svc
    source: "docker://$MOS_REGISTRY/machine/svc:1"
    version: 1.0.0
    service_type: container
    network:
      type: host
YAML
  run mosb manifest publish --skip-bootkit --project authks:default --repo "$MOS_REGISTRY" \
    --name machine/install:1.0.0 "$BATS_TEST_TMPDIR/manifest.yaml"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"no credentials given"* ]]
  run mosb manifest publish --skip-bootkit --project authks:default --repo "$MOS_REGISTRY" --creds alice:s3cret \
    --name machine/install:1.0.0 "$BATS_TEST_TMPDIR/manifest.yaml"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(jq '.manifests | length' "$WORK/root/machine/install/index.json")" = 3 ]
  run mosb manifest verify --keyset authks --creds alice:s3cret "$MOS_REGISTRY/machine/install:1.0.0"
  echo "$output"
  [ "$status" -eq 0 ]
  run mosb manifest verify --keyset authks --creds alice:bad "$MOS_REGISTRY/machine/install:1.0.0"
  [ "$status" -ne 0 ]
  [[ "$output" == *"refused the credentials of user \"alice\""* ]]
}

@test "a missing or malformed htpasswd file stops the start with one line" {
  run "$MOS_BIN/mos-registry" serve --root "$BATS_TEST_TMPDIR/r" --port 0 --htpasswd "$BATS_TEST_TMPDIR/nope"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [ "$output" = "mos-registry: error: htpasswd file $BATS_TEST_TMPDIR/nope: No such file or directory" ]
  { grep -v '^$' "$WORK/htpasswd"; echo "bob"; } >"$BATS_TEST_TMPDIR/bad"
  run "$MOS_BIN/mos-registry" serve --root "$BATS_TEST_TMPDIR/r" --port 0 --htpasswd "$BATS_TEST_TMPDIR/bad"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "mos-registry: error: $BATS_TEST_TMPDIR/bad:2: expected \"user:hash\""* ]]
}

@test "weak hash schemes are refused with a warning naming the user; the others still log in" {
  { cat "$WORK/htpasswd"; htpasswd -bnm eve x; htpasswd -bns frank x; } | grep -v '^$' >"$BATS_TEST_TMPDIR/mixed"
  start_mos_registry "$BATS_TEST_TMPDIR/r" --htpasswd "$BATS_TEST_TMPDIR/mixed"
  grep -q "mixed:2: user \"eve\" has a password hash of apr1 MD5" "$MOS_REGISTRY_LOG"
  grep -q "mixed:3: user \"frank\" has a password hash of unsalted SHA-1" "$MOS_REGISTRY_LOG"
  req GET "http://$MOS_REGISTRY/v2/" -u eve:x
  expect_challenge
  req GET "http://$MOS_REGISTRY/v2/" -u frank:x
  expect_challenge
  req GET "http://$MOS_REGISTRY/v2/" -u alice:s3cret
  expect_status 200
}

@test "zot's config file form (http.auth.htpasswd.path), --htpasswd overriding it, rotation without restart" {
  local dir=$BATS_TEST_TMPDIR
  htpasswd -Bbn bob hunter2 >"$dir/bob.htpasswd"
  cp "$WORK/htpasswd" "$dir/users"
  # The walkthrough's zot-config.json (examples/) with zot's htpasswd setting added.
  jq --arg root "$dir/zot" --arg users "$dir/users" \
    '.storage.rootDirectory = $root | .http.auth.htpasswd.path = $users' \
    "$MOS_SOURCE_DIR/examples/zot-config.json" >"$dir/zot-config.json"
  start_mos_registry "$dir/zot" "$dir/zot-config.json"
  grep -q "Basic authentication: 1 users from $dir/users" "$MOS_REGISTRY_LOG"
  req GET "http://$MOS_REGISTRY/v2/"
  expect_challenge
  req GET "http://$MOS_REGISTRY/v2/" -u alice:s3cret
  expect_status 200
  skopeo copy -q --dest-tls-verify=false --dest-creds alice:s3cret "oci:$WORK/img:latest" "docker://$MOS_REGISTRY/z/img:1"

  # Rotation: alice gets a new password and bob joins; within a few seconds the old password
  # stops working and the new ones work, without a restart.
  { htpasswd -Bbn alice n3w; cat "$dir/bob.htpasswd"; } | grep -v '^$' >"$dir/users.new"
  mv "$dir/users.new" "$dir/users"
  for _ in $(seq 1 50); do
    req GET "http://$MOS_REGISTRY/v2/" -u alice:n3w
    [ "$STATUS" = 200 ] && break
    sleep 0.1
  done
  expect_status 200
  req GET "http://$MOS_REGISTRY/v2/" -u alice:s3cret
  expect_challenge
  req GET "http://$MOS_REGISTRY/v2/_catalog" -u bob:hunter2
  expect_status 200
  jq -e '.repositories == ["z/img"]' "$BODY"
  grep -q "htpasswd file $dir/users reloaded: 2 users" "$MOS_REGISTRY_LOG"
  # A broken file is not taken: the users stay as they were, with a warning in the log.
  echo "garbage" >>"$dir/users"
  sleep 1.2
  req GET "http://$MOS_REGISTRY/v2/" -u alice:n3w
  expect_status 200
  for _ in $(seq 1 30); do grep -q "users:3: expected" "$MOS_REGISTRY_LOG" && break; sleep 0.1; done
  grep -q "users:3: expected \"user:hash\".*still using the users loaded before" "$MOS_REGISTRY_LOG"
  kill -0 "$MOS_REGISTRY_PID"

  # --htpasswd overrides the config file's path.
  start_mos_registry "$dir/zot" "$dir/zot-config.json" --htpasswd "$dir/bob.htpasswd"
  req GET "http://$MOS_REGISTRY/v2/" -u bob:hunter2
  expect_status 200
  req GET "http://$MOS_REGISTRY/v2/" -u alice:n3w
  expect_challenge
}

@test "a flood of wrong passwords is checked on its own thread: others are served meanwhile" {
  # Cost 15: each bcrypt check takes over a second, so four wrong ones keep the authentication
  # thread busy for several. Were they checked on the I/O threads, the requests below would wait
  # for the first two checks to end.
  htpasswd -Bbn -C 15 alice s3cret >"$BATS_TEST_TMPDIR/htpasswd"
  start_mos_registry "$BATS_TEST_TMPDIR/root" --htpasswd "$BATS_TEST_TMPDIR/htpasswd"
  REG=$MOS_REGISTRY
  req GET "http://$REG/v2/" -u alice:s3cret  # remembered from now on
  expect_status 200
  pids=()
  for i in 1 2 3 4; do
    curl -s -o /dev/null -u "alice:wrong$i" "http://$REG/v2/" &
    pids+=($!)
  done
  sleep 0.2
  req GET "http://$REG/v2/_catalog" -u alice:s3cret
  expect_status 200
  req GET "http://$REG/v2/"
  expect_challenge
  # Both answers came while every wrong password was still waiting for its answer.
  for pid in "${pids[@]}"; do kill -0 "$pid"; done
  wait "${pids[@]}"
  # The log names the user of each request ("-" for none), as the common log format does.
  wait_for_log ' alice "GET /v2/_catalog" 200 '
  wait_for_log ' - "GET /v2/" 401 '
  wait_for_log ' alice "GET /v2/" 401 '
}

@test "without credentials a client is answered 401 before it sends a body (no 100 Continue)" {
  exec {conn}<>"/dev/tcp/127.0.0.1/$MOS_REGISTRY_PORT"
  printf 'PUT /v2/nobody/manifests/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3000000\r\n\r\n' >&"$conn"
  run timeout 30 cat <&"$conn"
  exec {conn}>&-
  [[ "$output" == "HTTP/1.1 401"* ]]
  [[ "$output" != *"100 Continue"* ]]
  [[ "$output" == *UNAUTHORIZED* ]]
}
