# Helpers for the mosb image end-to-end tests: a service root filesystem made from Debian's
# busybox-static, and checks that a mount left nothing behind.

# image_rootfs DIR: a tiny web-server root: busybox (static) with its applet links and a page.
image_rootfs() {
  local dir=$1
  mkdir -p "$dir/bin" "$dir/www" "$dir/etc"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in sh cat httpd ls; do ln -s busybox "$dir/bin/$applet"; done
  echo '<h1>served from a verified squashfs</h1>' >"$dir/www/index.html"
  echo 'svc' >"$dir/etc/hostname"
}

# image_layer_blob LAYOUT TAG: the path of the (single) layer blob of LAYOUT:TAG.
image_layer_blob() {
  local layout=$1 tag=$2 manifest layer
  manifest=$(jq -r --arg t "$tag" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$layout/index.json")
  layer=$(jq -r '.layers[0].digest' "$layout/blobs/sha256/${manifest#sha256:}")
  echo "$layout/blobs/sha256/${layer#sha256:}"
}

# image_layer_annotation LAYOUT TAG: the root hash annotation of its layer.
image_layer_root_hash() {
  local layout=$1 tag=$2 manifest
  manifest=$(jq -r --arg t "$tag" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$layout/index.json")
  jq -r '.layers[0].annotations["io.stackeroci.stacker.atomfs_verity_root_hash"]' "$layout/blobs/sha256/${manifest#sha256:}"
}

# image_nothing_left DEST RUN_DIR BLOB: no mount at DEST or under RUN_DIR, no loop device on BLOB.
image_nothing_left() {
  local dest=$1 run=$2 blob=$3
  if awk '{print $5}' /proc/self/mountinfo | grep -F -e "$dest" -e "$run"; then
    echo "still mounted" >&2
    return 1
  fi
  if losetup -a | grep -F "$blob"; then
    echo "loop device still attached" >&2
    return 1
  fi
}

# image_squashfs_size BLOB: bytes_used of the squashfs superblock rounded up to 4096.
image_squashfs_size() {
  local used
  used=$(od -An -tu8 -j40 -N8 "$1" | tr -d ' ')
  echo $(((used + 4095) / 4096 * 4096))
}
