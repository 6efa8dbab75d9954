#!/usr/bin/env bats
# Builds from stacker.yaml (`stacker build`, mosb under that name, and `mosb image build -f`):
# layers built on layers, build-only images, imports (hashes, dest, URLs from a server on
# 127.0.0.1), run scripts in the build container, the cache, errors with file:line, tar and
# squashfs output read by real tools (tar, unsquashfs, mosb image mount). The walkthrough's own
# stacker.yaml is built, published and run as a service by the README's walkthrough
# (tests/e2e/readme.bats). Needs root (run scripts run in namespaces of their own).

load helpers/registry
load helpers/image

setup() {
  [ "$(id -u)" = 0 ] || skip "run scripts need root"
  W=$BATS_TEST_TMPDIR
  export SOURCE_DATE_EPOCH=1700000000
  export PATH="$MOS_BIN:$PATH"
  cd "$W"
  mkdir -p base/bin base/etc
  cp /bin/busybox base/bin/busybox
  for a in sh cat ls cp mkdir rm echo chmod touch id stat; do ln -s busybox "base/bin/$a"; done
  mosb -q image build --from base --to "oci:$W/bases:busybox"
  echo '{"x":1}' > config.json
  mkdir -p tree/sub
  echo a > tree/sub/a
}

teardown() {
  [ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null
  if [ -n "${BUILD_USER:-}" ]; then
    userdel "$BUILD_USER" 2>/dev/null
    sed -i "/^$BUILD_USER:/d" /etc/subuid /etc/subgid 2>/dev/null
    rm -rf "$USER_DIR"
  fi
  "$MOS_BIN/mosb" image umount "$W/mnt" --run-dir "$W/run" >/dev/null 2>&1 || true
  true
}

# tag_digest LAYOUT TAG: the manifest digest a tag names in an OCI layout.
tag_digest() {
  jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$1/index.json"
}

# blob LAYOUT DIGEST
blob() { echo "$1/blobs/sha256/${2#sha256:}"; }

chain_yaml() {
  cat > stacker.yaml <<EOF
one:
  from: {type: oci, url: "bases:busybox"}
  imports:
    - path: config.json
      hash: $(sha256sum config.json | cut -d' ' -f1 | tr a-f A-F)
    - tree
  run: |
    mkdir -p /data/sub /etc/app
    cp /stacker/imports/config.json /etc/app/
    cp /stacker/imports/tree/sub/a /data/sub/a
    echo keep > /data/keep
    touch /stacker/imports/written 2>/dev/null && echo imports-writable || echo imports-read-only
    echo "epoch=\$SOURCE_DATE_EPOCH layer=\$STACKER_LAYER_NAME host=\$(cat /proc/sys/kernel/hostname)"
two:
  build_only: true
  from: {type: built, tag: one}
  run: |
    rm -rf /data/sub
    rm /bin/ls
three:
  from: {type: built, tag: two}
  imports:
    - path: config.json
      dest: /opt/app/
      mode: 0600
      uid: 7
  environment: {GREETING: hello}
  cmd: "serve '/etc/a b'"
  labels: {org.example: "\${{LABEL:default-label}}"}
  run: |
    [ -e /bin/ls ] && echo ls-still-there || echo ls-gone
    echo three > /data/three
EOF
}

@test "a chain of built images: layers, whiteouts, imports, config, and the cache" {
  chain_yaml
  run stacker build --layer-type squashfs --layer-type tar
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ "$output" == *imports-read-only* ]]
  [[ "$output" == *"epoch=1700000000 layer=one host=stacker"* ]]
  [[ "$output" == *ls-gone* ]]
  # build_only: no tag; the others: one per layer type.
  [ "$(jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"] // empty] | sort | join(" ")' oci/index.json)" = "one one-squashfs three three-squashfs" ]
  m=$(tag_digest oci three-squashfs)
  # busybox, one, two, the dest import, three: five layers, squashfs with verity root hashes.
  [ "$(jq '.layers | length' "$(blob oci "$m")")" = 5 ]
  [ "$(jq -r '[.layers[].mediaType] | unique | join(" ")' "$(blob oci "$m")")" = "application/vnd.stacker.image.layer.squashfs+zstd" ]
  [ "$(jq '[.layers[].annotations["io.stackeroci.stacker.atomfs_verity_root_hash"] | select(test("^[0-9a-f]{64}$"))] | length' "$(blob oci "$m")")" = 5 ]
  jq -e '.annotations["io.stackeroci.stacker.stacker_yaml"] | contains("default-label")' "$(blob oci "$m")"
  config=$(jq -r .config.digest "$(blob oci "$m")")
  jq -e '.config.Cmd == ["serve", "/etc/a b"] and (.config.Entrypoint == null)' "$(blob oci "$config")"
  jq -e '.config.Env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello"]' "$(blob oci "$config")"
  jq -e '.config.Labels["org.example"] == "default-label" and .created == "2023-11-14T22:13:20Z" and .author == "stacker"' "$(blob oci "$config")"
  # Layer two deletes: whiteouts as overlayfs's 0/0 character devices in squashfs...
  two=$(jq -r '.layers[2].digest' "$(blob oci "$m")")
  unsquashfs -lln "$(blob oci "$two")" | grep -E '^c.* 0,\s*0 .*squashfs-root/bin/ls$'
  # ...and as .wh. files in tar; the dest import owned and moded as asked.
  t=$(tag_digest oci three)
  tar -tzf "$(blob oci "$(jq -r '.layers[2].digest' "$(blob oci "$t")")")" | grep -x 'bin/.wh.ls'
  tar -tvzf "$(blob oci "$(jq -r '.layers[3].digest' "$(blob oci "$t")")")" | grep -E '^-rw------- 7/0 .* opt/app/config.json$'
  # Nothing of the build container reaches a layer.
  for d in $(jq -r '.layers[1:][].digest' "$(blob oci "$m")"); do
    run unsquashfs -lln "$(blob oci "$d")"
    [[ "$output" != *squashfs-root/stacker* ]]
    [[ "$output" != *squashfs-root/proc* ]]
    [[ "$output" != *resolv.conf* ]]
  done
  # The image mounts verified and shows the result of every layer.
  mkdir -p mnt
  mosb image mount --ro --run-dir "$W/run" "oci:$W/oci:three-squashfs" mnt
  [ "$(cat mnt/data/keep)" = keep ]
  [ "$(cat mnt/data/three)" = three ]
  [ ! -e mnt/data/sub ]
  [ ! -e mnt/bin/ls ]
  [ ! -e mnt/stacker ]
  cmp mnt/etc/app/config.json config.json
  cmp mnt/opt/app/config.json config.json
  mosb image umount --run-dir "$W/run" mnt
  # Nothing is left mounted by the builds.
  run grep -c "$W" /proc/mounts
  [ "$output" = 0 ]
  # Unchanged: every image from the cache, the same digests, no run.
  run stacker build --layer-type squashfs --layer-type tar
  [ "$status" -eq 0 ]
  [ "$(grep -c '(cached)' <<<"$output")" = 6 ]
  [[ "$output" != *ls-gone* ]]
  [ "$(tag_digest oci three-squashfs)" = "$m" ]
  # A changed import rebuilds from there on.
  echo changed > tree/sub/a
  run stacker build --layer-type squashfs --layer-type tar
  [ "$status" -eq 0 ]
  [ "$(grep -c '(cached)' <<<"$output")" = 0 ]
  [ "$(tag_digest oci three-squashfs)" != "$m" ]
}

@test "the same file and inputs give the same image digests" {
  chain_yaml
  stacker --oci-dir a --stacker-dir .a --roots-dir ra build --layer-type squashfs --layer-type tar
  stacker --oci-dir b --stacker-dir .b --roots-dir rb build --layer-type squashfs --layer-type tar
  for t in one one-squashfs three three-squashfs; do
    [ -n "$(tag_digest a $t)" ]
    [ "$(tag_digest a $t)" = "$(tag_digest b $t)" ]
  done
  # mosb image build -f is the same build.
  mosb image build -f stacker.yaml --oci-dir c --stacker-dir .c --roots-dir rc --layer-type squashfs
  [ "$(tag_digest c three-squashfs)" = "$(tag_digest a three-squashfs)" ]
}

@test "errors: run failures, hashes, substitutions and directives name what and where" {
  cat > stacker.yaml <<'EOF'
bad:
  from: {type: oci, url: "bases:busybox"}
  run: |
    echo about to fail
    false
EOF
  run stacker build
  [ "$status" -eq 1 ]
  [[ "$output" == *"stacker.yaml:1: image bad: run commands failed with exit status 1"* ]]
  [[ "$output" == *"about to fail"* ]]
  printf 'a:\n  from: {type: oci, url: "bases:busybox"}\n  imports:\n    - path: config.json\n      hash: %064d\n' 0 > stacker.yaml
  run stacker build
  [ "$status" -eq 1 ]
  [[ "$output" == *"stacker.yaml:4: image a: import"*"config.json: hash does not match"* ]]
  printf 'a:\n  from: {type: oci, url: "bases:${{V}}"}\n' > stacker.yaml
  run stacker build
  [ "$status" -eq 1 ]
  [[ "$output" == *"stacker.yaml:2: no value for substitution V"* ]]
  printf 'a:\n  from: {type: oci, url: "bases:${{V}}"}\n  run: echo $V\n' > stacker.yaml
  run stacker build --substitute V=busybox
  [ "$status" -eq 1 ]
  [[ "$output" == *'stacker.yaml:3: "$V" is shell syntax'* ]]
  printf 'a:\n  from: {type: oci, url: "bases:busybox"}\n  runs: echo\n' > stacker.yaml
  run stacker build
  [ "$status" -eq 1 ]
  [[ "$output" == *'stacker.yaml:3:3: unknown directive "runs" in image a'* ]]
  printf 'a:\n  from: {type: built, tag: b}\nb:\n  from: {type: built, tag: a}\n' > stacker.yaml
  run stacker build
  [ "$status" -eq 1 ]
  [[ "$output" == *"couldn't resolve some dependencies"* ]]
  printf 'a:\n  from: {type: oci, url: "nowhere:busybox"}\n' > stacker.yaml
  run stacker build
  [ "$status" -eq 1 ]
  [[ "$output" == *"image a: base oci:nowhere:busybox"* ]]
  # Nothing was built by any of these.
  [ "$(jq '.manifests | length' oci/index.json 2>/dev/null || echo 0)" = 0 ]
}

@test "URL imports: downloaded from a server on 127.0.0.1 (busybox httpd), checked, kept; an unreachable one is an error" {
  port=$(free_port)
  mkdir -p www
  echo "served" > www/file.txt
  busybox httpd -f -p "127.0.0.1:$port" -h www >/dev/null 2>&1 3>&- &
  HTTP_PID=$!
  wait_for_http "http://127.0.0.1:$port/" "$HTTP_PID"
  cat > stacker.yaml <<EOF
a:
  from: {type: oci, url: "bases:busybox"}
  imports:
    - path: http://127.0.0.1:$port/file.txt
      hash: $(sha256sum www/file.txt | cut -d' ' -f1)
  run: cp /stacker/imports/file.txt /file.txt
EOF
  stacker build --layer-type tar --require-hash
  l=$(jq -r '.layers[-1].digest' "$(blob oci "$(tag_digest oci a)")")
  [ "$(tar -xzOf "$(blob oci "$l")" file.txt)" = served ]
  # Kept: the server gone, a rebuild of the image (no cache) still has it.
  kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null || true; HTTP_PID=
  stacker build --layer-type tar --no-cache
  # Without the hash, --require-hash refuses; a server that is not there is a clear error.
  sed -i '/hash:/d; s/file.txt$/other.txt/' stacker.yaml
  run stacker build --layer-type tar --require-hash
  [ "$status" -eq 1 ]
  [[ "$output" == *"--require-hash"* ]]
  run stacker build --layer-type tar
  [ "$status" -eq 1 ]
  [[ "$output" == *"downloading http://127.0.0.1:$port/other.txt"* ]]
}

@test "tar bases from a URL (busybox httpd on 127.0.0.1) and from stacker://IMAGE/PATH" {
  port=$(free_port)
  mkdir -p www
  tar -C base -czf www/rootfs.tar.gz .
  busybox httpd -f -p "127.0.0.1:$port" -h www >/dev/null 2>&1 3>&- &
  HTTP_PID=$!
  wait_for_http "http://127.0.0.1:$port/" "$HTTP_PID"
  cat > stacker.yaml <<EOF
fromurl:
  from: {type: tar, url: "http://127.0.0.1:$port/rootfs.tar.gz"}
  run: echo from-url > /marker
fromhost:
  build_only: true
  from: {type: oci, url: "bases:busybox"}
  imports: [www/rootfs.tar.gz]
  run: cp /stacker/imports/rootfs.tar.gz /rootfs.tar.gz
frombuilt:
  from: {type: tar, url: "stacker://fromhost/rootfs.tar.gz"}
  run: echo from-built > /marker
EOF
  run stacker build --layer-type tar
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  for image in fromurl frombuilt; do
    m=$(blob oci "$(tag_digest oci $image)")
    # one layer: the tarball and the run's changes together, as stacker makes it
    [ "$(jq '.layers | length' "$m")" = 1 ]
    l=$(blob oci "$(jq -r '.layers[0].digest' "$m")")
    tar -xzOf "$l" bin/busybox | cmp - /bin/busybox
  done
  [ "$(tar -xzOf "$(blob oci "$(jq -r '.layers[0].digest' "$(blob oci "$(tag_digest oci fromurl)")")")" marker)" = from-url ]
  [ "$(tar -xzOf "$(blob oci "$(jq -r '.layers[0].digest' "$(blob oci "$(tag_digest oci frombuilt)")")")" marker)" = from-built ]
  # Another scheme is one clear error naming the image and the URL.
  sed -i "s|http://127.0.0.1:$port/rootfs.tar.gz|ftp://127.0.0.1/rootfs.tar.gz|" stacker.yaml
  run stacker build --layer-type tar
  [ "$status" -eq 1 ]
  [[ "$output" == *"image fromurl: tar base ftp://127.0.0.1/rootfs.tar.gz: expected a path, an http(s) URL or stacker://IMAGE/PATH"* ]]
}

@test "publish names images as stacker does and skips build-only ones" {
  chain_yaml
  stacker build --layer-type squashfs
  run stacker publish --layer-type squashfs --url "oci:$W/pub" --tag 1.0
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ "$output" == *"two is build only: will not publish"* ]]
  [ "$(tag_digest pub one_1.0-squashfs)" = "$(tag_digest oci one-squashfs)" ]
  [ "$(tag_digest pub three_1.0-squashfs)" = "$(tag_digest oci three-squashfs)" ]
  run stacker publish --layer-type tar --url "oci:$W/pub" --tag 1.0
  [ "$status" -eq 1 ]
  [[ "$output" == *"has no one: build it first"* ]]
}

@test "scratch, tar bases, overlay_dirs, binds and generate_labels" {
  mkdir -p overlay/etc bound
  echo from-overlay > overlay/etc/motd
  tar -C base -cf base.tar .
  cat > stacker.yaml <<EOF
fromtar:
  from: {type: tar, url: base.tar}
  overlay_dirs: [{source: overlay, dest: /}]
  binds: ["$W/bound -> /bound"]
  run: |
    cat /etc/motd > /motd-seen
    echo written-through-bind > /bound/out
  generate_labels: |
    printf rocks > /stacker/oci-labels/meshuggah
fromscratch:
  from: {type: scratch}
  imports: [{path: config.json, dest: /config.json}]
EOF
  run stacker build --layer-type squashfs
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(cat bound/out)" = written-through-bind ]
  m=$(tag_digest oci fromtar-squashfs)
  # the overlay dir, then the tarball with the run's changes.
  [ "$(jq '.layers | length' "$(blob oci "$m")")" = 2 ]
  config=$(jq -r .config.digest "$(blob oci "$m")")
  jq -e '.config.Labels.meshuggah == "rocks"' "$(blob oci "$config")"
  top=$(jq -r '.layers[1].digest' "$(blob oci "$m")")
  unsquashfs -cat "$(blob oci "$top")" motd-seen | grep -x from-overlay
  unsquashfs -cat "$(blob oci "$top")" bin/busybox | cmp - /bin/busybox
  run unsquashfs -lln "$(blob oci "$top")"
  [[ "$output" != *bound* ]]
  s=$(tag_digest oci fromscratch-squashfs)
  [ "$(jq '.layers | length' "$(blob oci "$s")")" = 1 ]
  unsquashfs -cat "$(blob oci "$(jq -r '.layers[0].digest' "$(blob oci "$s")")")" config.json | cmp - config.json
  # binds make an image build every time.
  run stacker build --layer-type squashfs
  grep '^fromscratch-squashfs sha256:.*(cached)$' <<<"$output"
  grep '^fromtar-squashfs sha256:' <<<"$output"
  run grep -c '^fromtar-squashfs sha256:.*(cached)$' <<<"$output"
  [ "$output" = 0 ]
}

# as_build_user USER [--subordinate]: an ordinary user of this test (removed by teardown) and
# USER_DIR, a directory of its own holding a copy of mosb (the build tree may be out of its reach)
# and the busybox base.
as_build_user() {
  BUILD_USER=$1
  if [ "${2:-}" = --subordinate ]; then
    useradd --no-create-home --shell /bin/sh "$BUILD_USER"
    sed -i "/^$BUILD_USER:/d" /etc/subuid /etc/subgid
    echo "$BUILD_USER:300000:65536" >> /etc/subuid
    echo "$BUILD_USER:300000:65536" >> /etc/subgid
  else
    # a system user: useradd gives it no subordinate ids
    useradd --system --no-create-home --shell /bin/sh "$BUILD_USER"
    sed -i "/^$BUILD_USER:/d" /etc/subuid /etc/subgid
  fi
  USER_DIR=$(mktemp -d /tmp/mos-userns.XXXXXX)
  chmod 755 "$USER_DIR"
  mkdir "$USER_DIR/bin"
  cp "$MOS_BIN/mosb" "$USER_DIR/bin/mosb"
  ln -s mosb "$USER_DIR/bin/stacker"
  cp -a "$W/bases" "$USER_DIR/bases"
  chown -R "$BUILD_USER:" "$USER_DIR"
}

# user_run CMD...: CMD as the build user in USER_DIR.
user_run() {
  runuser -u "$BUILD_USER" -- env -C "$USER_DIR" PATH="$USER_DIR/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    SOURCE_DATE_EPOCH=1700000000 "$@"
}

@test "an ordinary user's build runs as root of a user namespace: owners kept, opaque directories as whiteouts, clean" {
  command -v newuidmap || skip "Debian's uidmap is not installed"
  as_build_user "mosb-ns-$$" --subordinate
  cat > "$USER_DIR/stacker.yaml" <<'EOF'
one:
  from: {type: oci, url: "bases:busybox"}
  run: |
    echo "uid=$(id -u)"
    mkdir -p /data /etc/d
    echo x > /data/f
    chown 1000:1001 /data/f
    echo a > /etc/d/a
    echo b > /etc/d/b
two:
  from: {type: built, tag: one}
  run: |
    rm -rf /etc/d
    mkdir /etc/d
    echo c > /etc/d/c
three:
  from: {type: built, tag: two}
  run: |
    stat -c 'owner=%u:%g' /data/f
    ls /etc/d
EOF
  chown "$BUILD_USER:" "$USER_DIR/stacker.yaml"
  run user_run stacker build --layer-type tar --layer-type squashfs
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ "$output" == *"uid=0"* ]]
  # the layers below are unpacked with their owners, and two's deletions seen by three.
  [[ "$output" == *"owner=1000:1001"* ]]
  grep -x c <<<"$output"
  run grep -x -e a -e b <<<"$output"
  [ "$status" -eq 1 ]
  O=$USER_DIR/oci
  run tar -tvzf "$(blob "$O" "$(jq -r '.layers[-1].digest' "$(blob "$O" "$(tag_digest "$O" one)")")")" --numeric-owner
  [[ "$output" == *"1000/1001"*" data/f"* ]]
  # two removed a directory of the layers below and made it again: whiteouts of what they hold,
  # in both formats, not an attribute that a user namespace's overlay alone understands.
  run tar -tzf "$(blob "$O" "$(jq -r '.layers[-1].digest' "$(blob "$O" "$(tag_digest "$O" two)")")")"
  grep -x 'etc/d/.wh.a' <<<"$output"
  grep -x 'etc/d/.wh.b' <<<"$output"
  grep -x 'etc/d/c' <<<"$output"
  run grep -c 'wh..wh..opq' <<<"$output"
  [ "$output" = 0 ]
  run unsquashfs -lln "$(blob "$O" "$(jq -r '.layers[-1].digest' "$(blob "$O" "$(tag_digest "$O" two-squashfs)")")")"
  grep -E '^c.* 0/0 +0, +0 .* squashfs-root/etc/d/a$' <<<"$output"
  # files of the sub-ids stay in the user's build directories; clean removes them in the namespace.
  find "$USER_DIR/.stacker" -uid 300999 | grep -q .
  run user_run stacker clean
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ ! -e "$USER_DIR/.stacker" ]
  [ ! -e "$USER_DIR/oci" ]
}

@test "a user without subordinate ids builds with its own id alone; a chown to another fails, said" {
  as_build_user "mosb-1id-$$"
  cat > "$USER_DIR/stacker.yaml" <<'EOF'
mine:
  from: {type: oci, url: "bases:busybox"}
  run: |
    echo mine > /mine
    chown 0:0 /mine
theirs:
  from: {type: built, tag: mine}
  run: chown 1000 /mine
EOF
  chown "$BUILD_USER:" "$USER_DIR/stacker.yaml"
  run user_run stacker build
  [ "$status" -ne 0 ]
  [[ "$output" == *"no subordinate ids in /etc/subuid"* ]]
  [[ "$output" == *"image theirs: run commands failed"* ]]
  [[ "$output" != *"image mine: run commands failed"* ]]
}
