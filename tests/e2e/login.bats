#!/usr/bin/env bats
# mosb login / logout (as skopeo login/logout) against mos-registry with htpasswd, plain and
# TLS: credentials checked before they are written, the containers auth.json that skopeo reads
# too, and credentials from credential helpers (credHelpers, credsStore) named by auth files.

load helpers/registry
load helpers/tls
load helpers/oci_copy

setup_file() {
  export WORK=$BATS_FILE_TMPDIR
  unset REGISTRY_AUTH_FILE
  htpasswd -Bbn alice s3cret >"$WORK/htpasswd"
  make_tls_ca "$WORK/pki" ca
  make_tls_server_cert "$WORK/pki" ca server
  export CA=$WORK/pki/ca.crt
  make_umoci_image "$WORK/img" latest 1 50000
  start_mos_registry "$WORK/tls" --htpasswd "$WORK/htpasswd" \
    --tls-cert "$WORK/pki/server.crt" --tls-key "$WORK/pki/server.key"
  export TLS_REG=$MOS_REGISTRY
  start_mos_registry "$WORK/plain" --htpasswd "$WORK/htpasswd"
  export REG=$MOS_REGISTRY
  "$MOS_BIN/mosb" oci copy -q --creds alice:s3cret "oci:$WORK/img:latest" "docker://$REG/l/img:1"
  "$MOS_BIN/mosb" oci copy -q --cacert "$CA" --creds alice:s3cret "oci:$WORK/img:latest" "docker://$TLS_REG/l/img:1"
}

teardown_file() {
  stop_registries
}

# Every test has its own home: no credentials but those it writes.
setup() {
  export HOME=$BATS_TEST_TMPDIR/home XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR/xdg
  unset REGISTRY_AUTH_FILE
  mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
  AUTH=$XDG_RUNTIME_DIR/containers/auth.json
}

mosb() { "$MOS_BIN/mosb" "$@"; }

# A stand-in for a credential helper. No real one (docker-credential-pass, -secretservice,
# -desktop) is installed here; this speaks the protocol's real shape: the verb as argument, the
# server (or for store a JSON document) on stdin, {"ServerURL","Username","Secret"} on stdout,
# "credentials not found in native keychain" with exit status 1 when it has none. It keeps what
# `store` gives it in a file and logs every call.
make_helper() {
  local name=$1
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  cat >"$BATS_TEST_TMPDIR/bin/docker-credential-$name" <<EOF
#!/bin/sh
store=$BATS_TEST_TMPDIR/helper-store
input=\$(cat)
printf '%s %s\n' "\$1" "\$input" >>"$BATS_TEST_TMPDIR/helper.log"
case \$1 in
get)
  if [ -f "\$store" ] && [ "\$(jq -r .ServerURL "\$store")" = "\$input" ]; then
    cat "\$store"
  else
    echo "credentials not found in native keychain"; exit 1
  fi ;;
store) printf '%s' "\$input" >"\$store" ;;
erase)
  if [ -f "\$store" ]; then rm "\$store"; else echo "credentials not found in native keychain"; exit 1; fi ;;
*) echo "unknown verb \$1" >&2; exit 2 ;;
esac
EOF
  chmod +x "$BATS_TEST_TMPDIR/bin/docker-credential-$name"
  export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

@test "login checks the password, writes auth.json (0600); inspect then needs no --creds; logout removes it" {
  run mosb login -u alice --password-stdin "$REG" <<<"wrong"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "mosb: error: logging in to $REG as \"alice\": "*"refused the credentials of user \"alice\""* ]]
  [ ! -e "$AUTH" ]

  run mosb login -u alice --password-stdin "$REG" <<<"s3cret"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Login Succeeded!"* ]]
  [ "$(stat -c %a "$AUTH")" = 600 ]
  [ "$(jq -r --arg r "$REG" '.auths[$r].auth' "$AUTH")" = "$(printf alice:s3cret | base64)" ]

  run mosb oci inspect "docker://$REG/l/img:1"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Layers:"* ]]
  # skopeo reads the same file at the same place.
  skopeo inspect --raw --tls-verify=false "docker://$REG/l/img:1" >/dev/null

  run mosb logout "$REG"
  [ "$status" -eq 0 ]
  [ "$output" = "Removed login credentials for $REG" ]
  [ "$(jq -c .auths "$AUTH")" = "{}" ]
  run mosb oci inspect "docker://$REG/l/img:1"
  [ "$status" -eq 1 ]
  [[ "$output" == *"no credentials given"*"mosb login"* ]]
  run mosb logout "$REG"
  [ "$status" -eq 1 ]
  [ "$output" = "mosb: error: not logged in to $REG: $AUTH has no credentials for it" ]
}

@test "login keeps the file's other entries and keys; REGISTRY_AUTH_FILE and --authfile choose the file" {
  mkdir -p "$(dirname "$AUTH")"
  echo '{"auths":{"other.example":{"auth":"b3RoZXI6eA=="},"https://'"$REG"'":{"auth":"b2xkOm9sZA=="}},"credHelpers":{"gcr.example":"gcloud"},"HttpHeaders":{"User-Agent":"x"}}' >"$AUTH"
  printf 's3cret' | mosb login -q -u alice --password-stdin "docker://$REG"
  jq -e --arg r "$REG" --arg a "$(printf alice:s3cret | base64)" '
    .auths["other.example"].auth == "b3RoZXI6eA==" and .auths[$r].auth == $a
    and (.auths | has("https://" + $r) | not) and .credHelpers["gcr.example"] == "gcloud"
    and .HttpHeaders["User-Agent"] == "x"' "$AUTH"
  [ "$(stat -c %a "$AUTH")" = 600 ]

  export REGISTRY_AUTH_FILE=$BATS_TEST_TMPDIR/env-auth.json
  printf 's3cret' | mosb login -q -u alice --password-stdin "$REG"
  jq -e --arg r "$REG" '.auths[$r].auth' "$REGISTRY_AUTH_FILE"
  printf 's3cret' | mosb login -q -u alice --password-stdin --authfile "$BATS_TEST_TMPDIR/given.json" "$REG"
  jq -e --arg r "$REG" '.auths[$r].auth' "$BATS_TEST_TMPDIR/given.json"
  mosb oci inspect --authfile "$BATS_TEST_TMPDIR/given.json" "$REG/l/img:1" >/dev/null
  mosb logout --authfile "$BATS_TEST_TMPDIR/given.json" --all
  [ "$(jq -c .auths "$BATS_TEST_TMPDIR/given.json")" = "{}" ]
  # logout names the file further down the lookup order that still holds credentials for it.
  unset REGISTRY_AUTH_FILE
  mosb logout "$REG"
  printf 's3cret' | mosb login -q -u alice --password-stdin --authfile "$HOME/.config/containers/auth.json" "$REG"
  run mosb logout "$REG"
  [ "$status" -eq 1 ]
  [ "$output" = "mosb: error: not logged in to $REG in $AUTH; the credentials used for it come from $HOME/.config/containers/auth.json (mosb logout --authfile $HOME/.config/containers/auth.json $REG)" ]
}

@test "what skopeo login writes, mosb reads; what mosb login writes, skopeo logout removes" {
  skopeo login --tls-verify=false -u alice --password-stdin "$REG" <<<"s3cret"
  mosb oci inspect "$REG/l/img:1" >/dev/null
  mosb logout "$REG"
  printf 's3cret' | mosb login -q -u alice --password-stdin "$REG"
  skopeo logout "$REG"
  run mosb oci inspect "$REG/l/img:1"
  [ "$status" -eq 1 ]
}

@test "login to a TLS registry: --cacert or --tls-verify=false, else an error naming them" {
  run mosb login -u alice --password-stdin "$TLS_REG" <<<"s3cret"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"is not trusted"*"use --cacert FILE"*"--tls-verify=false"* ]]
  [ ! -e "$AUTH" ]
  run mosb login -u alice --password-stdin --plain-http "$TLS_REG" <<<"s3cret"
  [ "$status" -eq 1 ]
  [[ "$output" == *"speaks TLS, not plain http: drop --plain-http"* ]]
  mosb login -u alice --password-stdin --cacert "$CA" "$TLS_REG" <<<"s3cret"
  mosb oci inspect --cacert "$CA" "$TLS_REG/l/img:1" >/dev/null
  mosb logout "$TLS_REG"
  mosb login -u alice --password-stdin --tls-verify=false "$TLS_REG" <<<"s3cret"
  mosb oci inspect --tls-verify=false "$TLS_REG/l/img:1" >/dev/null
}

@test "passwords: --password warns, none at all is an error, never both ways at once" {
  run mosb login -u alice -p s3cret "$REG" </dev/null
  [ "$status" -eq 0 ]
  [[ "$output" == *"warning: a password on the command line is visible to other users"*"--password-stdin"* ]]
  [[ "$output" == *"Login Succeeded!"* ]]
  run mosb login -u alice "$REG" </dev/null
  [ "$status" -eq 1 ]
  [ "$output" = "mosb: error: no password: pipe it in with --password-stdin (stdin is not a terminal to ask on)" ]
  run mosb login -u alice -p s3cret --password-stdin "$REG" <<<"s3cret"
  [ "$status" -eq 1 ]
  [[ "$output" == *"--password-stdin or with --password, not both"* ]]
  run mosb login --password-stdin "$REG" <<<"s3cret"
  [ "$status" -eq 1 ]
  [[ "$output" == *"no user name: give it with -u USER"* ]]
  run mosb login -u alice --password-stdin "$REG" </dev/null
  [ "$status" -eq 1 ]
  [[ "$output" == *"stdin held no password"* ]]
  run mosb login -u alice --password-stdin "not a host" <<<"s3cret"
  [ "$status" -eq 1 ]
  [[ "$output" == *"\"not a host\" is not a registry: expected HOST[:PORT]"* ]]
  run mosb logout
  [ "$status" -eq 1 ]
  [[ "$output" == *"give the REGISTRY to log out of"* ]]
}

@test "on a terminal the password is asked for and not echoed" {
  # script(1) gives mosb a terminal; the password is typed after the prompt is up.
  { sleep 2; printf 's3cret\n'; sleep 1; } |
    script -qec "$MOS_BIN/mosb login -u alice $REG" /dev/null >"$BATS_TEST_TMPDIR/tty" 2>&1
  grep -q "Password:" "$BATS_TEST_TMPDIR/tty"
  grep -q "Login Succeeded!" "$BATS_TEST_TMPDIR/tty"
  run grep -c s3cret "$BATS_TEST_TMPDIR/tty"
  [ "$output" = 0 ]
  jq -e --arg r "$REG" '.auths[$r].auth' "$AUTH"
}

@test "credHelpers and credsStore: the helper is asked (no shell), stores at login, erases at logout" {
  make_helper test
  mkdir -p "$HOME/.docker"
  echo '{"credHelpers":{"'"$REG"'":"test"}}' >"$HOME/.docker/config.json"
  # login through the helper named for the registry in the file it writes
  printf 's3cret' | mosb login -q -u alice --password-stdin --authfile "$HOME/.docker/config.json" "$REG"
  grep -qF "store {\"ServerURL\":\"$REG\",\"Username\":\"alice\",\"Secret\":\"s3cret\"}" "$BATS_TEST_TMPDIR/helper.log"
  [ "$(jq -c .auths "$HOME/.docker/config.json")" = null ]  # nothing in the file itself
  # Lookups find ~/.docker/config.json last, and ask its helper.
  mosb oci inspect "$REG/l/img:1" >/dev/null
  grep -qx "get $REG" "$BATS_TEST_TMPDIR/helper.log"
  mosb logout --authfile "$HOME/.docker/config.json" "$REG"
  grep -qx "erase $REG" "$BATS_TEST_TMPDIR/helper.log"
  run mosb oci inspect "$REG/l/img:1"
  [ "$status" -eq 1 ]
  [[ "$output" == *"no credentials given"* ]]

  # credsStore: the helper for every registry without an entry of its own.
  printf '{"ServerURL":"%s","Username":"alice","Secret":"s3cret"}' "$REG" >"$BATS_TEST_TMPDIR/helper-store"
  echo '{"auths":{"'"$REG"'":{}},"credsStore":"test"}' >"$HOME/.docker/config.json"
  mosb oci inspect "$REG/l/img:1" >/dev/null
}

@test "a helper that is missing, fails or answers garbage is one clear line naming it" {
  mkdir -p "$HOME/.docker" "$BATS_TEST_TMPDIR/bin"
  export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
  echo '{"credHelpers":{"'"$REG"'":"nope"}}' >"$HOME/.docker/config.json"
  run mosb oci inspect "$REG/l/img:1"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"$HOME/.docker/config.json"*"\"credHelpers\" names helper \"nope\""*"docker-credential-nope is not installed"* ]]
  printf '#!/bin/sh\necho "error getting credentials - err: exit status 1, out: keyring locked"\nexit 1\n' \
    >"$BATS_TEST_TMPDIR/bin/docker-credential-nope"
  chmod +x "$BATS_TEST_TMPDIR/bin/docker-credential-nope"
  run mosb oci inspect "$REG/l/img:1"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"docker-credential-nope get for $REG failed (exit status 1): error getting credentials"*"keyring locked"* ]]
  printf '#!/bin/sh\necho "{not json"\n' >"$BATS_TEST_TMPDIR/bin/docker-credential-nope"
  run mosb oci inspect "$REG/l/img:1"
  [ "$status" -eq 1 ]
  [[ "$output" == *"the answer of docker-credential-nope get for $REG"* ]]
  # A name that is not a plain word is never run (no paths, no shell).
  echo '{"credHelpers":{"'"$REG"'":"../../bin/sh -c id"}}' >"$HOME/.docker/config.json"
  run mosb oci inspect "$REG/l/img:1"
  [ "$status" -eq 1 ]
  [[ "$output" == *"is not a plain name"* ]]
}
