#!/usr/bin/env bats
# trust refuses bad names, existing entries, unusable keys and interrupted creation with a clear
# message, and leaves the keyset tree exactly as it was.

load helpers/trust

setup_file() {
  export SHARED_HOME="$BATS_FILE_TMPDIR/home"
  mkdir -p "$SHARED_HOME"
  HOME="$SHARED_HOME" "$MOS_BIN/trust" -q keyset add --no-bootkit base
}

setup() {
  trust_setup_home
  # Each test works on its own copy of one keyset (key generation is the slow part).
  mkdir -p "$KEYS"
  cp -a "$SHARED_HOME/.local/share/machine/trust/keys/base" "$KEYS/ks"
  BEFORE=$(tree_snapshot "$KEYS")
}

teardown() {
  if [ -n "${NOBODY_DIR:-}" ]; then rm -rf "$NOBODY_DIR"; fi
}

unchanged() { [ "$(tree_snapshot "$KEYS")" = "$BEFORE" ]; }

@test "bad keyset, project and serial names are refused" {
  for name in "" "../escape" "a/b" ".hidden" $'new\nline' "ks:proj"; do
    run "$TRUST" keyset add --no-bootkit "$name"
    [ "$status" -eq 1 ]
    [[ "$output" == "trust: error: invalid keyset name"* ]]
  done
  for name in "../x" "a/b" ".x" $'tab\there'; do
    run "$TRUST" project add ks "$name"
    [ "$status" -eq 1 ]
    [[ "$output" == "trust: error: invalid project name"* ]]
    run "$TRUST" sudi add ks default "$name"
    [ "$status" -eq 1 ]
    [[ "$output" == "trust: error: invalid SUDI serial"* ]]
  done
  run "$TRUST" sign --project "ks" "$BATS_TEST_TMPDIR/x"
  [ "$status" -eq 1 ]
  [[ "$output" == *"expected KEYSET:PROJECT"* ]]
  unchanged
}

@test "an existing keyset, project or SUDI is never overwritten" {
  run "$TRUST" keyset add --no-bootkit ks
  [ "$status" -eq 1 ]
  [ "$output" = "trust: error: keyset ks already exists ($KEYS/ks)" ]
  run "$TRUST" project add ks default
  [ "$status" -eq 1 ]
  [ "$output" = "trust: error: project default of keyset ks already exists ($KEYS/ks/manifest/default)" ]
  "$TRUST" -q sudi add ks default SN1
  BEFORE=$(tree_snapshot "$KEYS")
  run "$TRUST" sudi add ks default SN1
  [ "$status" -eq 1 ]
  [[ "$output" == "trust: error: SUDI SN1 of project default in keyset ks already exists"* ]]
  # Even an empty directory in the keyset's place is kept.
  mkdir "$KEYS/empty"
  BEFORE=$(tree_snapshot "$KEYS")
  run "$TRUST" keyset add --no-bootkit empty
  [ "$status" -eq 1 ]
  [[ "$output" == *"keyset empty already exists"* ]]
  unchanged
}

@test "unreadable or foreign keys are refused when signing and creating" {
  echo data >"$BATS_TEST_TMPDIR/f"
  echo "garbage" >"$KEYS/ks/manifest/default/privkey.pem"
  BEFORE=$(tree_snapshot "$KEYS")
  run "$TRUST" sign --keyset ks --project default "$BATS_TEST_TMPDIR/f"
  [ "$status" -eq 1 ]
  [[ "$output" == *"privkey.pem is not a PEM private key"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/f.signed" ]
  cp "$KEYS/ks/uki-tpm/privkey.pem" "$KEYS/ks/manifest/default/privkey.pem"
  run "$TRUST" sign --keyset ks --project default "$BATS_TEST_TMPDIR/f"
  [ "$status" -eq 1 ]
  [[ "$output" == *"does not belong to the certificate"* ]]
  rm "$KEYS/ks/manifest/default/privkey.pem"
  mkdir "$KEYS/ks/manifest/default/privkey.pem"
  run "$TRUST" sign --keyset ks --project default "$BATS_TEST_TMPDIR/f"
  [ "$status" -eq 1 ]
  [[ "$output" == *"privkey.pem: it is a directory"* ]]
  # A broken CA key stops project and SUDI creation before anything is written.
  echo "garbage" >"$KEYS/ks/manifest-ca/privkey.pem"
  echo "garbage" >"$KEYS/ks/sudi-ca/privkey.pem"
  BEFORE=$(tree_snapshot "$KEYS")
  run "$TRUST" project add ks other
  [ "$status" -eq 1 ]
  [[ "$output" == *"loading the manifest CA"* ]]
  run "$TRUST" sudi add ks default SN9
  [ "$status" -eq 1 ]
  [[ "$output" == *"loading the SUDI CA"* ]]
  unchanged
}

@test "keyset add killed midway leaves no keyset, and the next one succeeds" {
  # SIGXFSZ kills trust on its first file over 1 KiB (a private key), after key generation,
  # with the keyset half written: a real interruption, no timing involved.
  run bash -c "ulimit -f 1; exec '$TRUST' keyset add --no-bootkit cut"
  [ "$status" -eq $((128 + 25)) ]
  run "$TRUST" keyset list
  [ "$output" = ks ]
  [ ! -e "$KEYS/cut" ]
  run "$TRUST" keyset show cut
  [ "$status" -eq 1 ]
  [[ "$output" == *"keyset cut not found"* ]]
  # Only a hidden staging directory of the dead process remains; the next creation removes it.
  ls -A "$KEYS" | grep -q '^\.cut\.tmp-'
  "$TRUST" -q keyset add --no-bootkit cut
  run openssl verify -CAfile "$KEYS/cut/manifest-ca/cert.pem" "$KEYS/cut/manifest/default/cert.pem"
  [ "$status" -eq 0 ]
  [ "$(ls -A "$KEYS" | sort | tr '\n' ' ')" = "cut ks " ]
}

@test "project and SUDI creation killed midway leave the keyset as it was" {
  run bash -c "ulimit -f 1; exec '$TRUST' project add ks cut"
  [ "$status" -eq $((128 + 25)) ]
  run bash -c "ulimit -f 1; exec '$TRUST' sudi add ks default SNCUT"
  [ "$status" -eq $((128 + 25)) ]
  run "$TRUST" project list ks
  [ "$output" = default ]
  run "$TRUST" sudi list ks default
  [ -z "$output" ]
  "$TRUST" -q project add ks cut
  [ -z "$(ls -A "$KEYS/ks/manifest" | grep '^\.')" ]
}

@test "permissions: unreadable keys and a read-only keys directory are refused (as an unprivileged user)" {
  [ "$(id -u)" -ne 0 ] || command -v setpriv >/dev/null || skip "needs setpriv to drop root"
  NOBODY_DIR=$(mktemp -d /tmp/trust-nobody.XXXXXX)
  chmod 0755 "$NOBODY_DIR"
  as_user() {
    if [ "$(id -u)" -eq 0 ]; then
      setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$NOBODY_DIR/home" "$TRUST" "$@"
    else
      HOME="$NOBODY_DIR/home" "$TRUST" "$@"
    fi
  }
  mkdir -p "$NOBODY_DIR/home/.local/share/machine/trust/keys"
  cp -a "$KEYS/ks" "$NOBODY_DIR/home/.local/share/machine/trust/keys/ks"
  [ "$(id -u)" -ne 0 ] || chown -R 65534:65534 "$NOBODY_DIR/home"
  nkeys="$NOBODY_DIR/home/.local/share/machine/trust/keys"
  echo data >"$NOBODY_DIR/f"
  chmod 0666 "$NOBODY_DIR/f"
  chmod 0777 "$NOBODY_DIR"
  chmod 0000 "$nkeys/ks/manifest/default/privkey.pem"
  run as_user sign --keyset ks --project default "$NOBODY_DIR/f"
  [ "$status" -eq 1 ]
  [[ "$output" == *"privkey.pem: Permission denied"* ]]
  chmod 0555 "$nkeys"
  before=$(tree_snapshot "$nkeys")
  run as_user keyset add --no-bootkit blocked
  [ "$status" -eq 1 ]
  [[ "$output" == *"creating keyset blocked"*"Permission denied"* ]]
  [ "$(tree_snapshot "$nkeys")" = "$before" ]
  chmod 0755 "$nkeys"
}
