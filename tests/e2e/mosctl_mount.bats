#!/usr/bin/env bats
# mosctl mount / create-boot-fs / umount on an installed target root: squashfs+verity images
# built by mosb, published signed into an oci: layout root, installed by mosctl, then mounted
# from the machine's store (every layer verified first). Runs as root (loop devices, overlayfs).

load helpers/tamper

setup_file() {
  export T="$BATS_FILE_TMPDIR"
  export HOME="$T/home" XDG_DATA_HOME="$T/home/.local/share"
  export PATH="$MOS_BIN:$PATH" SOURCE_DATE_EPOCH=1703083683
  mkdir -p "$HOME" "$T/svc/www" "$T/host/etc"
  echo "served page" > "$T/svc/www/index.html"
  echo "hostfs" > "$T/host/etc/hostname"
  mosb -q image build --from "$T/svc" --to "oci:$T/src:svc"
  mosb -q image build --from "$T/host" --to "oci:$T/src:host"
  trust keyset add --no-bootkit snakeoil >/dev/null
  cat > "$T/manifest.yaml" <<YAML
version: 1
product: default
update_type: complete
targets:
  - service_name: web
    source: oci:$T/src:svc
    version: 1.0.0
    service_type: container
  - service_name: hostfs
    source: oci:$T/src:host
    version: 1.0.0
    service_type: hostfs
YAML
  mosb -q manifest publish --skip-bootkit --project snakeoil:default --repo "oci:$T/pub" \
    --name machine/install:1.0.0 "$T/manifest.yaml" >/dev/null
  export ROOT="$T/root"
  mkdir -p "$ROOT/factory/secure"
  cp "$XDG_DATA_HOME/machine/trust/keys/snakeoil/manifest-ca/cert.pem" "$ROOT/factory/secure/manifestCA.pem"
  mosctl -q install --root "$ROOT" "oci:$T/pub/machine/install:1.0.0" >/dev/null
}

teardown() {
  for d in "$T/mnt" "$ROOT/mnt/mos/web" "$T/sysroot"; do
    mountpoint -q "$d" 2>/dev/null && mosctl umount --root "$ROOT" --dest "$d" || true
  done
}

# Fails, naming what is left, while anything is mounted under $T or a loop device still holds a
# blob of the store. (Not `! grep -q ...`: bats does not fail a test on a negated command.)
nothing_mounted() {
  run grep " $T/" /proc/self/mountinfo
  [ "$status" -eq 1 ] || { echo "still mounted: $output"; return 1; }
  run losetup -a
  [ "$status" -eq 0 ]
  run grep -F "$ROOT/atomfs-store" <<<"$output"
  [ "$status" -eq 1 ] || { echo "still attached: $output"; return 1; }
}

@test "a target mounts writable at its default place, and unmounts leaving nothing" {
  run mosctl mount --root "$ROOT" --target web
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(cat "$ROOT/mnt/mos/web/www/index.html")" = "served page" ]
  echo written > "$ROOT/mnt/mos/web/www/new"
  run mosctl umount --root "$ROOT" --target web
  [ "$status" -eq 0 ]
  nothing_mounted
  # The writable layer lives in scratch-writes and comes back with the next mount.
  mosctl mount --root "$ROOT" --target web --dest "$T/mnt"
  [ "$(cat "$T/mnt/www/new")" = written ]
  mosctl umount --root "$ROOT" --dest "$T/mnt"
  nothing_mounted
}

@test "--ro mounts refuse writes" {
  mkdir -p "$T/mnt"
  mosctl mount --root "$ROOT" --target web --ro --dest "$T/mnt"
  run sh -c "echo x > '$T/mnt/www/other'"
  [ "$status" -ne 0 ]
  mosctl umount --root "$ROOT" --dest "$T/mnt"
  nothing_mounted
}

@test "create-boot-fs mounts the hostfs target" {
  mkdir -p "$T/sysroot"
  run mosctl create-boot-fs --root "$ROOT" --dest "$T/sysroot"
  [ "$status" -eq 0 ]
  [ "$(cat "$T/sysroot/etc/hostname")" = hostfs ]
  mosctl umount --root "$ROOT" --dest "$T/sysroot"
  nothing_mounted
}

@test "create-boot-fs --hand-over writes the system it verified, for root alone" {
  mkdir -p "$T/sysroot"
  run mosctl create-boot-fs --root "$ROOT" --dest "$T/sysroot" --hand-over "$T/run/booted.json"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  mosctl umount --root "$ROOT" --dest "$T/sysroot"
  [ "$(stat -c %a "$T/run/booted.json")" = 600 ]
  # The history's head, with exactly the files of its tree, byte for byte.
  [ "$(jq -r .commit "$T/run/booted.json")" = "$(git -C "$ROOT/config/manifest.git" rev-parse HEAD)" ]
  [ "$(jq -r '.files | keys | join(" ")' "$T/run/booted.json")" = \
    "$(git -C "$ROOT/config/manifest.git" ls-tree --name-only HEAD | sort | tr '\n' ' ' | sed 's/ $//')" ]
  for f in $(jq -r '.files | keys[]' "$T/run/booted.json"); do
    jq -r ".files[\"$f\"]" "$T/run/booted.json" | base64 -d | cmp - <(git -C "$ROOT/config/manifest.git" show "HEAD:$f")
  done
  # Nothing is handed over when the mount fails.
  rm "$T/run/booted.json"
  run mosctl create-boot-fs --root "$T/nowhere" --dest "$T/sysroot" --hand-over "$T/run/booted.json"
  [ "$status" -ne 0 ]
  [ ! -e "$T/run/booted.json" ]
  nothing_mounted
}

@test "create-boot-fs --after reads nothing until its file exists" {
  mkdir -p "$T/sysroot"
  mosctl create-boot-fs --after "$T/go" --root "$ROOT" --dest "$T/sysroot" > "$T/after.log" 2>&1 &
  pid=$!
  sleep 0.5
  kill -0 "$pid"
  [ ! -e "$T/sysroot/etc/hostname" ]
  touch "$T/go"
  wait "$pid"
  grep -q '^mounted sha256:' "$T/after.log"
  [ "$(cat "$T/sysroot/etc/hostname")" = hostfs ]
  mosctl umount --root "$ROOT" --dest "$T/sysroot"
  nothing_mounted
}

@test "create-boot-fs --identity-after mounts first, then checks the product its SUDI names" {
  K="$XDG_DATA_HOME/machine/trust/keys/snakeoil"
  trust -q project add snakeoil other
  trust -q sudi add snakeoil other SN-other
  trust -q sudi add snakeoil default SN-own
  mkdir -p "$T/sysroot"
  # Another product's SUDI, written once the system is mounted: refused, and unmounted again.
  mosctl create-boot-fs --identity-after "$T/id" --root "$ROOT" --dest "$T/sysroot" \
    > "$T/id.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -e "$T/sysroot/etc/hostname" ] && break; sleep 0.1; done
  [ "$(cat "$T/sysroot/etc/hostname")" = hostfs ]
  kill -0 "$pid"
  cp "$K/manifest/other/sudi/SN-other/cert.pem" "$ROOT/factory/secure/server.crt"
  touch "$T/id"
  status=0
  wait "$pid" || status=$?
  cat "$T/id.log"
  [ "$status" -ne 0 ]
  grep -q "the installed system is for product .*, this machine is product" "$T/id.log"
  nothing_mounted
  # Its own product's SUDI: the hostfs stays mounted.
  cp "$K/manifest/default/sudi/SN-own/cert.pem" "$ROOT/factory/secure/server.crt"
  run mosctl create-boot-fs --identity-after "$T/id" --root "$ROOT" --dest "$T/sysroot"
  rm "$ROOT/factory/secure/server.crt"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(cat "$T/sysroot/etc/hostname")" = hostfs ]
  mosctl umount --root "$ROOT" --dest "$T/sysroot"
  nothing_mounted
}

@test "a flipped byte in the store's layer refuses the mount; unknown targets are named" {
  run mosctl mount --root "$ROOT" --target nope
  [ "$status" -ne 0 ]
  [[ "$output" == *'no target "nope"'* ]]
  [[ "$output" == *web* ]]
  cp -a "$ROOT/atomfs-store" "$T/store-backup"
  for m in $(jq -r '.manifests[].digest' "$ROOT/atomfs-store/mos/index.json"); do
    l=$(jq -r '.layers[0].digest // empty' "$ROOT/atomfs-store/mos/blobs/sha256/${m#sha256:}")
    f="$ROOT/atomfs-store/mos/blobs/sha256/${l#sha256:}"
    flip_byte "$f" 100
  done
  run mosctl mount --root "$ROOT" --target web --dest "$T/mnt"
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "$output" == *verity* ]]
  nothing_mounted
  rm -rf "$ROOT/atomfs-store" && mv "$T/store-backup" "$ROOT/atomfs-store"
}
