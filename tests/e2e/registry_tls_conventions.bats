#!/usr/bin/env bats
# The TLS conventions users bring from skopeo, oras and crane (docs/oci.md, "Registry access"):
# --tls-verify=false, --plain-http (with its old name --insecure), --cacert; loopback registries
# reached without hints whether they speak TLS or plain http; and one error line naming the fix
# for the usual mistakes. Against mos-registry and Debian's docker-registry, each with and
# without TLS (their answers to the wrong protocol differ: mos-registry says "use https://", Go
# says "Client sent an HTTP request to an HTTPS server").

load helpers/registry
load helpers/tls
load helpers/oci_copy

setup_file() {
  export WORK=$BATS_FILE_TMPDIR
  # No credentials from the user's auth files.
  export HOME=$WORK/home XDG_RUNTIME_DIR=$WORK/xdg
  unset REGISTRY_AUTH_FILE
  mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
  make_tls_ca "$WORK/pki" ca
  make_tls_ca "$WORK/pki" rogue
  make_tls_server_cert "$WORK/pki" ca server
  export CA=$WORK/pki/ca.crt ROGUE=$WORK/pki/rogue.crt
  make_umoci_image "$WORK/img" latest 1 50000
  start_mos_registry "$WORK/mos-tls" --tls-cert "$WORK/pki/server.crt" --tls-key "$WORK/pki/server.key"
  export MOS_TLS=$MOS_REGISTRY
  start_mos_registry "$WORK/mos-plain"
  export MOS_PLAIN=$MOS_REGISTRY
  DOCKER_REGISTRY_TLS="$WORK/pki/server.crt $WORK/pki/server.key" \
    start_docker_registry "$WORK/docker-tls"
  export DOCKER_TLS=$DOCKER_REGISTRY
  start_docker_registry "$WORK/docker-plain"
  export DOCKER_PLAIN=$DOCKER_REGISTRY
  # One image in each, pushed the way each needs.
  "$MOS_BIN/mosb" oci copy -q --cacert "$CA" "oci:$WORK/img:latest" "docker://$MOS_TLS/c/img:1"
  "$MOS_BIN/mosb" oci copy -q --cacert "$CA" "oci:$WORK/img:latest" "docker://$DOCKER_TLS/c/img:1"
  "$MOS_BIN/mosb" oci copy -q --plain-http "oci:$WORK/img:latest" "docker://$MOS_PLAIN/c/img:1"
  "$MOS_BIN/mosb" oci copy -q --plain-http "oci:$WORK/img:latest" "docker://$DOCKER_PLAIN/c/img:1"
  export WANT
  WANT=$("$MOS_BIN/mosb" oci inspect "oci:$WORK/img:latest" | awk '/^Digest:/ {print $2}')
}

teardown_file() {
  stop_registries
}

mosb() { "$MOS_BIN/mosb" "$@"; }
digest_of_ref() { mosb oci inspect "$@" | awk '/^Digest:/ {print $2}'; }

# expect_one_error_line TEXT...: the last `run` failed with one "mosb: error:" line holding each
# TEXT.
expect_one_error_line() {
  [ "$status" -eq 1 ] || { echo "status $status: $output" >&2; return 1; }
  [ "${#lines[@]}" -eq 1 ] || { echo "more than one line: $output" >&2; return 1; }
  [[ "${lines[0]}" == "mosb: error: "* ]] || { echo "$output" >&2; return 1; }
  local text
  for text in "$@"; do
    [[ "$output" == *"$text"* ]] || { echo "no '$text' in: $output" >&2; return 1; }
  done
}

@test "every command that reaches a registry takes --tls-verify, --plain-http, --insecure, --cacert" {
  local cmd
  for cmd in "mosb oci copy" "mosb oci inspect" "mosb oci referrers" "mosb manifest publish" \
    "mosb manifest verify" "mosb manifest inspect" "mosb image build" "mosb login" \
    "mosctl install" "mosctl update"; do
    # shellcheck disable=SC2086
    run "$MOS_BIN/"$cmd --help
    [ "$status" -eq 0 ] || { echo "$cmd --help: $output" >&2; false; }
    for flag in --tls-verify --plain-http --insecure --cacert; do
      [[ "$output" == *"$flag"* ]] || { echo "$cmd has no $flag" >&2; false; }
    done
  done
}

@test "loopback TLS registries are found without hints: the CA or --tls-verify=false is all they need" {
  for reg in "$MOS_TLS" "$DOCKER_TLS"; do
    [ "$(digest_of_ref --cacert "$CA" "$reg/c/img:1")" = "$WANT" ]
    [ "$(digest_of_ref --tls-verify=false "$reg/c/img:1")" = "$WANT" ]
    # One plain request finds out, then everything goes over https.
    run mosb --debug oci inspect --tls-verify=false "docker://$reg/c/img:1"
    [ "$status" -eq 0 ]
    [ "$(grep -c "GET http://$reg/" <<<"$output")" -eq 1 ]
    [ "$(grep -c "speaks TLS: using https" <<<"$output")" -eq 1 ]
    # Without the CA: the certificate is the problem, and the line says what to do.
    run mosb oci inspect "$reg/c/img:1"
    expect_one_error_line "https://$reg/v2/" "is not trusted" "use --cacert FILE" "--tls-verify=false"
    # With a CA that did not sign it.
    run mosb oci inspect --cacert "$ROGUE" "$reg/c/img:1"
    expect_one_error_line "not signed by the CA in $ROGUE" "--cacert FILE" "--tls-verify=false"
  done
}

@test "copies between TLS and plain loopback registries need no scheme flags" {
  mosb oci copy -q --tls-verify=false "docker://$MOS_TLS/c/img:1" "docker://$DOCKER_TLS/copied/img:1"
  [ "$(digest_of_ref --cacert "$CA" "docker://$DOCKER_TLS/copied/img:1")" = "$WANT" ]
  mosb oci copy -q --tls-verify=false "docker://$DOCKER_TLS/c/img:1" "docker://$MOS_PLAIN/copied/img:1"
  mosb oci copy -q "docker://$MOS_PLAIN/copied/img:1" "docker://$DOCKER_PLAIN/copied/img:1"
  [ "$(digest_of_ref "docker://$DOCKER_PLAIN/copied/img:1")" = "$WANT" ]
}

@test "loopback plain registries are used over http without a TLS attempt" {
  for reg in "$MOS_PLAIN" "$DOCKER_PLAIN"; do
    run mosb --debug oci inspect "$reg/c/img:1"
    [ "$status" -eq 0 ]
    [[ "$output" == *"$WANT"* ]]
    [[ "$output" != *"https://"* ]]
    # --tls-verify=false leaves the choice as it is; --plain-http and --insecure force it.
    [ "$(digest_of_ref --tls-verify=false "$reg/c/img:1")" = "$WANT" ]
    [ "$(digest_of_ref --plain-http "$reg/c/img:1")" = "$WANT" ]
    [ "$(digest_of_ref --insecure "$reg/c/img:1")" = "$WANT" ]
  done
}

@test "plain http forced on a TLS registry: drop --plain-http" {
  for reg in "$MOS_TLS" "$DOCKER_TLS"; do
    for flag in --plain-http --insecure; do
      run mosb oci inspect "$flag" "docker://$reg/c/img:1"
      expect_one_error_line "http://$reg/v2/" "$reg speaks TLS, not plain http" \
        "drop --plain-http" "--cacert FILE or --tls-verify=false"
    done
  done
}

@test "TLS forced on a plain registry: use --plain-http" {
  for reg in "$MOS_PLAIN" "$DOCKER_PLAIN"; do
    run mosb oci inspect --cacert "$CA" "docker://$reg/c/img:1"
    expect_one_error_line "https://$reg/v2/" "$reg does not speak TLS" "use --plain-http instead of --cacert"
  done
  # A copy names the registry it failed at.
  run mosb oci copy --cacert "$CA" "oci:$WORK/img:latest" "docker://$MOS_PLAIN/x/img:1"
  expect_one_error_line "$MOS_PLAIN does not speak TLS" "use --plain-http"
}

@test "conflicting flags are refused with one line naming both, before any connection" {
  run mosb oci inspect --plain-http --cacert "$CA" "$MOS_TLS/c/img:1"
  expect_one_error_line "--plain-http/--insecure (no TLS) and --cacert" "give one of them"
  run mosb oci inspect --insecure --tls-verify=false "$MOS_TLS/c/img:1"
  expect_one_error_line "--plain-http/--insecure (no TLS) and --tls-verify" "give one of them"
  run mosb oci copy --plain-http --tls-verify "oci:$WORK/img:latest" "$MOS_PLAIN/x/img:1"
  expect_one_error_line "--plain-http/--insecure (no TLS) and --tls-verify"
  run mosb oci inspect --tls-verify=false --cacert "$CA" "$MOS_TLS/c/img:1"
  expect_one_error_line "--tls-verify=false (no certificate check) and --cacert" "give one of them"
  run "$MOS_BIN/mosctl" install --plain-http --cacert "$CA" --root "$BATS_TEST_TMPDIR/root" "$MOS_TLS/machine/install:1"
  [ "$status" -eq 1 ]
  [[ "$output" == *"--plain-http/--insecure (no TLS) and --cacert"* ]]
  run mosb image build --from "$BATS_TEST_TMPDIR" --to "$MOS_TLS/x/img:1" --insecure --cacert "$CA"
  [ "$status" -eq 1 ]
  [[ "$output" == *"--plain-http/--insecure (no TLS) and --cacert"* ]]
  # A value --tls-verify does not take is a usage error.
  run mosb oci inspect --tls-verify=maybe "$MOS_TLS/c/img:1"
  [ "$status" -eq 2 ]
  # Nothing reached the registries.
  run grep -c '/v2/x/' "$MOS_REGISTRY_LOG"
  [ "$output" = 0 ]
}

@test "an IPv6 loopback TLS registry ([::1]) is found as well" {
  port=$(free_port)
  "$MOS_BIN/mos-registry" serve --root "$BATS_TEST_TMPDIR/root" --address ::1 --port "$port" \
    --tls-cert "$WORK/pki/server.crt" --tls-key "$WORK/pki/server.key" >"$BATS_TEST_TMPDIR/log" 2>&1 &
  pid=$!
  echo "$pid" >>"$BATS_FILE_TMPDIR/registry-pids"
  for _ in $(seq 1 100); do
    curl -gs -o /dev/null "http://[::1]:$port/v2/" && break
    kill -0 "$pid"
    sleep 0.1
  done
  mosb oci copy -q --tls-verify=false "oci:$WORK/img:latest" "docker://[::1]:$port/v6/img:1"
  [ "$(digest_of_ref --tls-verify=false "[::1]:$port/v6/img:1")" = "$WANT" ]
  # Its certificate names 127.0.0.1 and localhost, not ::1: verification says so.
  run mosb oci inspect --cacert "$CA" "[::1]:$port/v6/img:1"
  expect_one_error_line "[::1]:$port" "not signed by the CA in $CA (or not made for that name)"
}
