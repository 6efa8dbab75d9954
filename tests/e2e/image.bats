#!/usr/bin/env bats
# mosb image build/verify/mount/umount against the real tools: mksquashfs/unsquashfs,
# veritysetup, skopeo, docker-registry, losetup, the kernel's squashfs and overlayfs.
# Mount tests need root (CI runs as root) and are skipped otherwise.

load helpers/registry
load helpers/image
load helpers/tamper

setup() {
  W=$BATS_TEST_TMPDIR
  RUN=$W/run
  image_rootfs "$W/rootfs"
  mkdir -p "$W/mnt"
  export SOURCE_DATE_EPOCH=1700000000
}

teardown() {
  "$MOS_BIN/mosb" image umount "$W/mnt" --run-dir "$RUN" >/dev/null 2>&1 || true
  stop_registries
}

need_root() {
  [ "$(id -u)" = 0 ] && [ -e /dev/loop-control ] || skip "needs root and loop devices"
}

@test "build is reproducible, and real tools accept the layer and config" {
  run "$MOS_BIN/mosb" image build --from "$W/rootfs" --to "oci:$W/a:web" --entrypoint '["/bin/httpd","-f","-h","/www"]' \
    --cmd "-p 8080" --env GREETING=hello --workdir /www --user 0:0 --tag 1.0
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  first=$(echo "$output" | grep "^sha256:")
  touch "$W/rootfs/www/index.html"
  run "$MOS_BIN/mosb" image build --from "$W/rootfs" --to "oci:$W/b:web" --entrypoint '["/bin/httpd","-f","-h","/www"]' \
    --cmd "-p 8080" --env GREETING=hello --workdir /www --user 0:0 --tag 1.0
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | grep "^sha256:")" = "$first" ]
  cmp "$(image_layer_blob "$W/a" web)" "$(image_layer_blob "$W/b" web)"
  # Another SOURCE_DATE_EPOCH, another image.
  SOURCE_DATE_EPOCH=1 run "$MOS_BIN/mosb" image build --from "$W/rootfs" --to "oci:$W/c:web"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | grep "^sha256:")" != "$first" ]

  blob=$(image_layer_blob "$W/a" web)
  unsquashfs -l "$blob" | grep -q 'squashfs-root/www/index.html'
  veritysetup verify "$blob" "$blob" "$(image_layer_root_hash "$W/a" web)" --hash-offset="$(image_squashfs_size "$blob")"
  skopeo inspect --config "oci:$W/a:1.0" >"$W/config.json"
  [ "$(jq -r '.config.Entrypoint | join(" ")' "$W/config.json")" = "/bin/httpd -f -h /www" ]
  [ "$(jq -r '.config.Cmd | join(" ")' "$W/config.json")" = "-p 8080" ]
  jq -e '.config.Env | index("GREETING=hello")' "$W/config.json"
  [ "$(jq -r '.config.WorkingDir' "$W/config.json")" = /www ]
  [ "$(jq -r '.created' "$W/config.json")" = 2023-11-14T22:13:20Z ]
  layer=$(jq -r '.layers[0].digest' "$W/a/blobs/sha256/$(jq -r '.manifests[0].digest' "$W/a/index.json" | cut -d: -f2)")
  [ "$(jq -r '.rootfs.diff_ids[0]' "$W/config.json")" = "$layer" ]
  run "$MOS_BIN/mosb" image verify "oci:$W/a:web"
  [ "$status" -eq 0 ]
  [[ "$output" == *"verity OK"* ]]
}

@test "build from a tar and push to a registry" {
  tar -cf "$W/rootfs.tar" -C "$W/rootfs" .
  start_docker_registry "$W/reg"
  run "$MOS_BIN/mosb" image build --from "$W/rootfs.tar" --to "$DOCKER_REGISTRY/svc/web:1"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  digest=$(echo "$output" | grep "^sha256:")
  run "$MOS_BIN/mosb" image build --from "$W/rootfs.tar" --to "oci:$W/t:1"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | grep "^sha256:")" = "$digest" ]
  skopeo inspect --tls-verify=false "docker://$DOCKER_REGISTRY/svc/web:1" | jq -e --arg d "$digest" '.Digest == $d'
}

@test "bad input is refused with a clear message" {
  run "$MOS_BIN/mosb" image build --from "$W/nothing" --to "oci:$W/x:1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"nothing does not exist (expected a directory or a tar archive)"* ]]
  [ ! -e "$W/x" ]
  SOURCE_DATE_EPOCH=yesterday run "$MOS_BIN/mosb" image build --from "$W/rootfs" --to "oci:$W/x:1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"SOURCE_DATE_EPOCH"* ]]
  run "$MOS_BIN/mosb" image build --from "$W/rootfs" --to "oci:$W/x:1" --entrypoint '["/bin/sh",1]'
  [ "$status" -ne 0 ]
}

@test "writable mount: files readable, writes kept in the upper, nothing left after umount" {
  need_root
  "$MOS_BIN/mosb" image build --from "$W/rootfs" --to "oci:$W/l:web"
  blob=$(image_layer_blob "$W/l" web)
  run "$MOS_BIN/mosb" image mount "oci:$W/l:web" "$W/mnt" --run-dir "$RUN" --scratch "$W/scratch"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  grep -q 'verified squashfs' "$W/mnt/www/index.html"
  # The image's own busybox runs from the mount.
  chroot "$W/mnt" /bin/cat /etc/hostname | grep -qx svc
  echo changed >"$W/mnt/etc/hostname"
  losetup -a | grep -F "$blob"
  "$MOS_BIN/mosb" image umount "$W/mnt" --run-dir "$RUN"
  image_nothing_left "$W/mnt" "$RUN" "$blob"
  [ "$(cat "$W/scratch/upper/etc/hostname")" = changed ]
  [ ! -e "$W/mnt/etc" ]
  # The layer is untouched.
  "$MOS_BIN/mosb" image verify "oci:$W/l:web"
}

@test "read-only mount refuses writes" {
  need_root
  "$MOS_BIN/mosb" image build --from "$W/rootfs" --to "oci:$W/l:web"
  "$MOS_BIN/mosb" image mount "oci:$W/l:web" "$W/mnt" --ro --run-dir "$RUN"
  run sh -c "echo x >'$W/mnt/new'"
  [ "$status" -ne 0 ]
  [[ "$output" == *"Read-only file system"* ]]
  "$MOS_BIN/mosb" image umount "$W/mnt" --run-dir "$RUN"
  image_nothing_left "$W/mnt" "$RUN" "$(image_layer_blob "$W/l" web)"
}

@test "one flipped byte in the data or the hash tree refuses the mount" {
  need_root
  "$MOS_BIN/mosb" image build --from "$W/rootfs" --to "oci:$W/l:web"
  blob=$(image_layer_blob "$W/l" web)
  size=$(stat -c %s "$blob")
  d=$(image_squashfs_size "$blob")
  cp "$blob" "$W/pristine"
  for offset in 100 $((d / 2)) $((d + 90)) $((size - 4087)) $((size - 1)); do
    cp "$W/pristine" "$blob"
    flip_byte "$blob" "$offset"
    run "$MOS_BIN/mosb" image mount "oci:$W/l:web" "$W/mnt" --run-dir "$RUN"
    [ "$status" -ne 0 ] || { echo "offset $offset was accepted"; false; }
    [[ "$output" == *verity* ]]
    image_nothing_left "$W/mnt" "$RUN" "$blob"
  done
  # veritysetup agrees about the tree flip.
  run veritysetup verify "$blob" "$blob" "$(image_layer_root_hash "$W/l" web)" --hash-offset="$d"
  [ "$status" -ne 0 ]
  cp "$W/pristine" "$blob"
  "$MOS_BIN/mosb" image mount "oci:$W/l:web" "$W/mnt" --run-dir "$RUN" --ro
  "$MOS_BIN/mosb" image umount "$W/mnt" --run-dir "$RUN"
}
