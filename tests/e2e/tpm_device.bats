#!/usr/bin/env bats
# mosctl's TPM device side (provision, initrd-setup, extend-pcr7) against a fresh swtpm per
# test, with a keyset made by `trust keyset add` (its pcr7data signs the policies). A
# production boot is played by extending PCR7 with the events `trust computePCR7 --events`
# predicts; tpm2_pcrextend (tpm2-tools) is only this test's way to do that.

ATOMIX=b7135cbb321a66fa848b07288bd008b89bd5b7496c4569c5e1a4efd5f7c8e0a7

setup_file() {
  export HOME="$BATS_FILE_TMPDIR/home" XDG_DATA_HOME="$BATS_FILE_TMPDIR/xdg"
  mkdir -p "$HOME"
  "$MOS_BIN/trust" keyset add --no-bootkit e2e >/dev/null
  "$MOS_BIN/trust" sudi add e2e default SN1 >/dev/null
}

setup() {
  export HOME="$BATS_FILE_TMPDIR/home" XDG_DATA_HOME="$BATS_FILE_TMPDIR/xdg"
  KS="$XDG_DATA_HOME/machine/trust/keys/e2e"
  SUDI="$KS/manifest/default/sudi/SN1"
  MOSCTL="$MOS_BIN/mosctl"
  KEYNAME="mos-e2e:$$:$BATS_TEST_NUMBER"
  start_swtpm
}

teardown() {
  [ -n "${SWTPM_PID:-}" ] && kill "$SWTPM_PID" 2>/dev/null && wait "$SWTPM_PID" 2>/dev/null || true
  python3 - "$KEYNAME" <<'EOF' || true
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
key = libc.syscall(250, 10, ctypes.c_int(-4), b"user", sys.argv[1].encode(), 0)  # KEYCTL_SEARCH
if key > 0: libc.syscall(250, 9, key, ctypes.c_int(-4))  # KEYCTL_UNLINK
EOF
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_swtpm() {
  local port
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$(( (RANDOM % 15000 + 10000) * 2 ))  # even, 20000-49998
    port_free "$port" && port_free $((port + 1)) || continue
    mkdir -p "$BATS_TEST_TMPDIR/tpmstate"
    swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
      --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
      --tpmstate "dir=$BATS_TEST_TMPDIR/tpmstate" --flags not-need-init,startup-clear 3>&- &
    SWTPM_PID=$!
    for _ in $(seq 100); do
      if ! port_free "$port"; then
        TCTI="swtpm:host=127.0.0.1,port=$port"
        return 0
      fi
      kill -0 "$SWTPM_PID" 2>/dev/null || break
      sleep 0.05
    done
    kill "$SWTPM_PID" 2>/dev/null || true
    wait "$SWTPM_PID" 2>/dev/null || true
  done
  echo "swtpm did not start" >&2
  return 1
}

provision() {
  "$MOSCTL" provision --tpm "$TCTI" --pcr7data "$KS/pcr7data" "$@" "$SUDI/cert.pem" "$SUDI/privkey.pem"
}

initrd_setup() {
  "$MOSCTL" initrd-setup --tpm "$TCTI" --pcr7data "$KS/pcr7data" --key-description "$KEYNAME" "$@"
}

# Extends PCR7 with the predicted events of a boot with uki-KEY.
boot_with() {
  local digest
  "$MOS_BIN/trust" computePCR7 e2e --events |
    awk -v key="$1" '/^ +[0-9]+ [0-9a-f]+ [0-9a-f]+ / && ($1 < 10 || $NF == key) { print $3 }' >"$BATS_TEST_TMPDIR/events"
  [ "$(wc -l <"$BATS_TEST_TMPDIR/events")" -eq 10 ]
  while read -r digest; do
    TPM2TOOLS_TCTI="$TCTI" tpm2_pcrextend "7:sha256=$digest"
  done <"$BATS_TEST_TMPDIR/events"
}

# SHA256(pcr || digest), in hex.
extend_hex() { printf '%s%s' "$1" "$2" | sed 's/../\\x&/g' | xargs -0 printf '%b' | sha256sum | cut -d' ' -f1; }

@test "provision, then initrd-setup in a production boot reads the secrets once" {
  run provision
  [ "$status" -eq 0 ]
  [[ "$output" == *"for keyset e2e"* ]]
  boot_with uki-production
  run initrd_setup --dest "$BATS_TEST_TMPDIR/secure"
  [ "$status" -eq 0 ]
  cmp "$SUDI/cert.pem" "$BATS_TEST_TMPDIR/secure/server.crt"
  cmp "$SUDI/privkey.pem" "$BATS_TEST_TMPDIR/secure/server.key"
  [ "$(stat -c %a "$BATS_TEST_TMPDIR/secure")" = 700 ]
  [ "$(stat -c %a "$BATS_TEST_TMPDIR/secure/server.key")" = 600 ]
  # The final extend closed the policy: a second run reads nothing and writes nothing.
  run initrd_setup --dest "$BATS_TEST_TMPDIR/again"
  [ "$status" -eq 1 ]
  [[ "$output" == *"has no entry for the current PCR7"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/again" ]
}

@test "initrd-setup outside a production boot is refused, writes nothing, and still extends" {
  run provision
  [ "$status" -eq 0 ]
  boot_with uki-limited
  run initrd_setup --dest "$BATS_TEST_TMPDIR/secure"
  [ "$status" -eq 1 ]
  [[ "$output" == *"key_type limited, expected production"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/secure" ]
  limited=$("$MOS_BIN/trust" computePCR7 e2e | sed -n 's/^uki-limited: //p')
  run "$MOSCTL" extend-pcr7 --tpm "$TCTI"
  [ "$status" -eq 0 ]
  [ "$output" = "PCR7 is now $(extend_hex "$(extend_hex "$limited" $ATOMIX)" $ATOMIX)" ]
}

@test "provision refuses a provisioned TPM unless --wipe" {
  run provision
  [ "$status" -eq 0 ]
  run provision
  [ "$status" -eq 1 ]
  [[ "$output" == *"already provisioned"*"--wipe"* ]]
  run provision --wipe
  [ "$status" -eq 0 ]
}

@test "extend-pcr7 needs no pcr7data, and a missing TPM is named" {
  run "$MOSCTL" extend-pcr7 --tpm "$TCTI"
  [ "$status" -eq 0 ]
  [ "$output" = "PCR7 is now $(extend_hex 0000000000000000000000000000000000000000000000000000000000000000 $ATOMIX)" ]
  run "$MOSCTL" extend-pcr7 --tpm "swtpm:host=127.0.0.1,port=1"
  [ "$status" -eq 1 ]
  [[ "$output" == *"swtpm:host=127.0.0.1,port=1"* ]]
}

@test "extend-pcr7 --save-before keeps the boot's PCR7 (32 bytes) for provision --boot-pcr7" {
  boot_with uki-production
  "$MOSCTL" extend-pcr7 --tpm "$TCTI" --save-before "$BATS_TEST_TMPDIR/pcr7.bin" > /dev/null
  [ "$(stat -c %s "$BATS_TEST_TMPDIR/pcr7.bin")" -eq 32 ]
  production=$("$MOS_BIN/trust" computePCR7 e2e | awk '$1 == "uki-production:" { print $2 }')
  [ -n "$production" ]
  [ "$(od -An -tx1 -v "$BATS_TEST_TMPDIR/pcr7.bin" | tr -d ' \n')" = "$production" ]
  run provision --boot-pcr7 "$BATS_TEST_TMPDIR/pcr7.bin"
  [ "$status" -eq 0 ]
  [[ "$output" == *"for keyset e2e"* ]]
  head -c 31 "$BATS_TEST_TMPDIR/pcr7.bin" > "$BATS_TEST_TMPDIR/short.bin"
  run provision --wipe --boot-pcr7 "$BATS_TEST_TMPDIR/short.bin"
  [ "$status" -ne 0 ]
  [[ "$output" == *"short.bin: 31 bytes, expected a PCR7 value of 32"* ]]
}

@test "provision --disk makes the factory partitions first; without device-mapper it stops at the SBF's LUKS2 header and the TPM stays unprovisioned" {
  img="$BATS_TEST_TMPDIR/disk.img"
  truncate -s 3G "$img"
  run provision --disk "$img"
  echo "$output"
  # Device-mapper is there when its control node opens (cryptsetup creates the node anyway).
  if (exec 3<>/dev/mapper/control) 2>/dev/null; then
    [ "$status" -eq 0 ]
    [[ "$output" == *"factory partitions on $img: PBF (pcr7data), SBF (LUKS2, ext4 inside)"* ]]
  else
    # This host (like CI's) has no device-mapper: the SBF's filesystem is made in a VM
    # (boot_media.bats); here the run stops there, and nothing is written to the TPM.
    [ "$status" -ne 0 ]
    [[ "$output" == *"making the SBF: opening the LUKS volume on /dev/loop"*"needs device-mapper (dm-crypt)"* ]]
    run provision  # the TPM is not provisioned: no --wipe needed
    [ "$status" -eq 0 ]
  fi
  # The original's layout: pbf at 4 MiB (64 MiB), sbf at 68 MiB (256 MiB), its type GUIDs.
  table=$(sfdisk -J "$img" | jq -c '[.partitiontable.partitions[] | [.start, .size, .type, .name]]')
  [ "$table" = '[[8192,131072,"01A3E19F-9FEA-ED47-92C2-E75639FF5601","pbf"],[139264,524288,"01A3E19F-9FEA-ED47-92C2-E75639FF5602","sbf"]]' ]
  # The PBF: an ext4 labelled pbf holding the keyset's pcr7data.
  pbf=$(losetup --find --show --offset $((8192 * 512)) --sizelimit $((131072 * 512)) "$img")
  [ "$(blkid -o value -s LABEL "$pbf")" = pbf ]
  mkdir -p "$BATS_TEST_TMPDIR/pbf"
  mount -o ro "$pbf" "$BATS_TEST_TMPDIR/pbf"
  run diff -r "$KS/pcr7data" "$BATS_TEST_TMPDIR/pbf/pcr7data"
  umount "$BATS_TEST_TMPDIR/pbf"
  losetup -d "$pbf"
  [ "$status" -eq 0 ]
  # The SBF: a LUKS2 volume labelled sbf, one keyslot (PBKDF2: its passphrase is a random secret).
  sbf=$(losetup --find --show --offset $((139264 * 512)) --sizelimit $((524288 * 512)) "$img")
  run cryptsetup luksDump "$sbf"
  losetup -d "$sbf"
  [[ "$output" == *"Version:"*2* ]]
  [[ "$output" == *"Label:"*sbf* ]]
  [[ "$output" == *"PBKDF:"*pbkdf2* ]]
  [ "$(grep -c ': luks2' <<<"$output")" -eq 1 ]
}

@test "provision --disk refuses a provisioned machine before touching its disk" {
  provision
  img="$BATS_TEST_TMPDIR/disk.img"
  truncate -s 3G "$img"
  run provision --disk "$img"
  [ "$status" -ne 0 ]
  [[ "$output" == *"already provisioned"*"--wipe"* ]]
  run sfdisk -J "$img"
  [ "$status" -ne 0 ]  # no partition table
}
