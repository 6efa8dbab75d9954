#!/usr/bin/env bats
# Boot counting (src/sysroot/boot_trial.hpp) on an installed root, as the initramfs runs it:
# an update puts its system on trial, create-boot-fs counts the first boot of it, and a boot
# that finds the trial counted (the last boot never came up) or whose hostfs does not mount
# returns to the system before the update. (mosctl boot's confirmation: tests/e2e/services.bats;
# a real reboot of a launched machine: tests/e2e/boot_media.bats.) Runs as root (loop devices).

load helpers/tamper

setup_file() {
  export T="$BATS_FILE_TMPDIR"
  export HOME="$T/home" XDG_DATA_HOME="$T/home/.local/share"
  export PATH="$MOS_BIN:$PATH" SOURCE_DATE_EPOCH=1703083683
  mkdir -p "$HOME"
  trust keyset add --no-bootkit snakeoil >/dev/null
  for v in 1.0.0 1.0.1 1.0.2 1.0.3; do
    mkdir -p "$T/host-$v/etc"
    echo "hostfs $v" > "$T/host-$v/etc/hostname"
    mosb -q image build --from "$T/host-$v" --to "oci:$T/src:host-$v"
    cat > "$T/manifest-$v.yaml" <<YAML
version: 1
product: default
update_type: complete
targets:
  - service_name: hostfs
    source: oci:$T/src:host-$v
    version: $v
    service_type: hostfs
YAML
    mosb -q manifest publish --skip-bootkit --project snakeoil:default --repo "oci:$T/pub" \
      --name "machine/install:$v" "$T/manifest-$v.yaml" >/dev/null
  done
  export ROOT="$T/root"
  mkdir -p "$ROOT/factory/secure" "$T/sysroot"
  cp "$XDG_DATA_HOME/machine/trust/keys/snakeoil/manifest-ca/cert.pem" "$ROOT/factory/secure/manifestCA.pem"
  mosctl -q install --root "$ROOT" "oci:$T/pub/machine/install:1.0.0" >/dev/null
}

teardown() {
  mountpoint -q "$T/sysroot" && mosctl umount --root "$ROOT" --dest "$T/sysroot" || true
}

# boot: what the initramfs does with the installed system; the hostfs it mounted is in $hostname.
boot() {
  run mosctl create-boot-fs --root "$ROOT" --dest "$T/sysroot"
  echo "$output"
  [ "$status" -eq 0 ]
  hostname=$(cat "$T/sysroot/etc/hostname")
  mosctl umount --root "$ROOT" --dest "$T/sysroot" >/dev/null
}

trial() { mosctl status --root "$ROOT" --json | jq -c .boot_trial; }
head_commit() { mosctl status --root "$ROOT" --json | jq -r .system.commit; }

@test "an installed system is not on trial, and boots as it is" {
  [ "$(trial)" = null ]
  boot
  [ "$hostname" = "hostfs 1.0.0" ]
  [[ "$output" != *"boot trial"* ]]
}

@test "an update is on trial: its first boot is counted, the next one returns to the system before" {
  before=$(head_commit)
  mosctl -q update --root "$ROOT" "oci:$T/pub/machine/install:1.0.1" >/dev/null
  [ "$(trial)" = "{\"boots\":0,\"previous\":\"$before\"}" ]
  run mosctl status --root "$ROOT"
  [[ "$output" == *"on trial: not booted yet; a boot that does not come up returns to ${before:0:12}"* ]]
  boot
  [ "$hostname" = "hostfs 1.0.1" ]
  [[ "$output" == *"boot trial: first boot of the system"* ]]
  [ "$(trial)" = "{\"boots\":1,\"previous\":\"$before\"}" ]
  # Nothing confirmed it (no mosctl boot came up): this boot goes back.
  boot
  [ "$hostname" = "hostfs 1.0.0" ]
  [[ "$output" == *"did not come up on its last boot: back to ${before:0:12}"* ]]
  [ "$(trial)" = null ]
  run mosctl status --root "$ROOT"
  [[ "$output" == *"Rollback to ${before:0:12}"* ]]
  boot
  [ "$hostname" = "hostfs 1.0.0" ]
}

@test "a system on trial whose hostfs does not mount is rolled back in the same boot" {
  before=$(head_commit)
  mosctl -q update --root "$ROOT" "oci:$T/pub/machine/install:1.0.2" >/dev/null
  m=$(mosctl status --root "$ROOT" --json | jq -r '.system.targets[] | select(.name == "hostfs") | .digest')
  l=$(jq -r '.layers[0].digest' "$ROOT/atomfs-store/mos/blobs/sha256/${m#sha256:}")
  blob="$ROOT/atomfs-store/mos/blobs/sha256/${l#sha256:}"
  cp -a "$blob" "$T/good-layer"
  flip_byte "$blob" 100
  boot
  cp -a "$T/good-layer" "$blob"
  [ "$hostname" = "hostfs 1.0.0" ]
  [[ "$output" == *"boot trial: the hostfs did not mount"* ]]
  [[ "$output" == *"failed to boot: back to ${before:0:12}"* ]]
  [ "$(trial)" = null ]
}

@test "a second update before any boot returns, on a failed boot, to the system it started from" {
  mosctl -q update --root "$ROOT" "oci:$T/pub/machine/install:1.0.2" >/dev/null
  before=$(head_commit)
  mosctl -q update --root "$ROOT" "oci:$T/pub/machine/install:1.0.3" >/dev/null
  [ "$(trial)" = "{\"boots\":0,\"previous\":\"$before\"}" ]
  # gc keeps what the trial returns to; a rollback by hand ends the trial.
  mosctl -q gc --root "$ROOT" >/dev/null
  mosctl -q rollback --root "$ROOT" >/dev/null
  [ "$(trial)" = null ]
  boot
  [ "$hostname" = "hostfs 1.0.2" ]
}

@test "a trial whose way back no longer verifies boots the system on trial again" {
  mosctl -q update --root "$ROOT" "oci:$T/pub/machine/install:1.0.3" >/dev/null
  boot
  [[ "$output" == *"boot trial: first boot of the system"* ]]
  # A way back the history does not have (as if lost): the boot goes on with what it has.
  previous=$(trial | jq -r .previous)
  echo '{"previous":"0000000000000000000000000000000000000000","boots":1}' > "$ROOT/config/boot-trial.json"
  boot
  [ "$hostname" = "hostfs 1.0.3" ]
  [[ "$output" == *"cannot be returned to"*"booting it again"* ]]
  echo "{\"previous\":\"$previous\",\"boots\":0}" > "$ROOT/config/boot-trial.json"
  mosctl -q rollback --root "$ROOT" >/dev/null
}

@test "a marker left by an update killed before its commit is stale: removed, nothing rolled back" {
  before=$(head_commit)
  run env MOS_CRASH_AT=trial-marked mosctl update --root "$ROOT" "oci:$T/pub/machine/install:1.0.3"
  [ "$status" -ne 0 ]
  [ "$(head_commit)" = "$before" ]
  [ -f "$ROOT/config/boot-trial.json" ]
  [ "$(trial)" = null ]
  boot
  [[ "$output" != *"boot trial"* ]]
  [ ! -e "$ROOT/config/boot-trial.json" ]
  [ "$(head_commit)" = "$before" ]
}

@test "an unreadable marker is shown by status, set aside by the next boot, and the system in place boots" {
  before=$(head_commit)
  printf '{"previous": "%s", "boo' "$before" > "$ROOT/config/boot-trial.json"
  run mosctl status --root "$ROOT"
  [ "$status" -eq 0 ]
  [[ "$output" == *"boot trial marker unreadable (the next boot sets it aside)"*"boot-trial.json"* ]]
  boot
  [[ "$output" == *"boot trial: ignoring an unreadable marker"*"set aside as boot-trial.json.malformed"* ]]
  [ ! -e "$ROOT/config/boot-trial.json" ]
  grep -q '"boo$' "$ROOT/config/boot-trial.json.malformed"
  [ "$(head_commit)" = "$before" ]
  [ "$(trial)" = null ]
  boot
  [[ "$output" != *"boot trial"* ]]
}
