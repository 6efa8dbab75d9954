# Helpers of the mosctl end-to-end tests: target images, signed install manifests in OCI
# layouts (laid out as `mosb manifest publish` writes a layout root: ROOT/mos holds the target
# images, ROOT/<name> the install manifest and its two referrers), target roots and tree hashes.
# Built with openssl, jq, tar and sha256sum only, the way the original's tests built install
# artifacts by hand (regctl + openssl dgst), so they exercise mosctl independently of mosb.

# mos_blob LAYOUT FILE -> "sha256:<hex> <size>"; stores FILE as a blob of LAYOUT.
mos_blob() {
  local layout=$1 file=$2 hex size
  hex=$(sha256sum "$file" | cut -d' ' -f1)
  size=$(stat -c %s "$file")
  mkdir -p "$layout/blobs/sha256"
  [ -e "$layout/blobs/sha256/$hex" ] || cp "$file" "$layout/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

# mos_layout_init LAYOUT
mos_layout_init() {
  mkdir -p "$1/blobs/sha256"
  [ -f "$1/oci-layout" ] || printf '{"imageLayoutVersion":"1.0.0"}' > "$1/oci-layout"
  [ -f "$1/index.json" ] || printf '{"schemaVersion":2,"manifests":[]}' > "$1/index.json"
}

# mos_index_add LAYOUT MEDIATYPE DIGEST SIZE [TAG] [ARTIFACTTYPE]
mos_index_add() {
  local layout=$1 mt=$2 digest=$3 size=$4 tag=${5:-} at=${6:-}
  jq -c --arg mt "$mt" --arg d "$digest" --argjson s "$size" --arg tag "$tag" --arg at "$at" '
    .manifests |= (map(select((($tag == "" and .digest == $d and (.annotations["org.opencontainers.image.ref.name"] // "") == "")
                               or ($tag != "" and (.annotations["org.opencontainers.image.ref.name"] // "") == $tag)) | not))
                   + [{mediaType: $mt, digest: $d, size: $s}
                      + (if $at != "" then {artifactType: $at} else {} end)
                      + (if $tag != "" then {annotations: {"org.opencontainers.image.ref.name": $tag}} else {} end)])' \
    "$layout/index.json" > "$layout/index.json.new"
  mv "$layout/index.json.new" "$layout/index.json"
}

# mos_make_image LAYOUT NAME CONTENT_FILE -> prints "sha256:<hex> <size>" of the image manifest.
# One layer (a tar holding CONTENT_FILE as /payload), tagged NAME and <hex> in LAYOUT.
mos_make_image() {
  local layout=$1 name=$2 content=$3 work layer config manifest lsum csum msum
  work=$(mktemp -d)
  mos_layout_init "$layout"
  cp "$content" "$work/payload"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf "$work/layer.tar" payload
  read -r layer lsize < <(mos_blob "$layout" "$work/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' "$layer" > "$work/config.json"
  read -r config csize < <(mos_blob "$layout" "$work/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "$config" "$csize" "$layer" "$lsize" > "$work/manifest.json"
  read -r manifest msize < <(mos_blob "$layout" "$work/manifest.json")
  mos_index_add "$layout" application/vnd.oci.image.manifest.v1+json "$manifest" "$msize" "$name"
  mos_index_add "$layout" application/vnd.oci.image.manifest.v1+json "$manifest" "$msize" "${manifest#sha256:}"
  rm -rf "$work"
  echo "$manifest $msize"
}

# mos_target_json NAME VERSION DIGEST SIZE [NSGROUP] [SERVICE_TYPE] -> one install.json target.
mos_target_json() {
  printf '{"service_name":"%s","version":"%s","service_type":"%s","network":{"type":"host","ipv4":"","ipv6":"","ports":null},"nsgroup":"%s","digest":"%s","size":%s}' \
    "$1" "$2" "${6:-fs-only}" "${5:-}" "$3" "$4"
}

# mos_install_json PRODUCT UPDATE_TYPE STORAGE_JSON TARGET_JSON... -> install.json on stdout.
mos_install_json() {
  local product=$1 update_type=$2 storage=$3
  shift 3
  local targets
  targets=$(IFS=,; echo "$*")
  printf '{"version":1,"product":"%s","storage":%s,"targets":[%s],"update_type":"%s"}' \
    "$product" "$storage" "$targets" "$update_type"
}

# mos_publish_layout LAYOUT TAG INSTALL_JSON_FILE CERT KEY [CREATED]
# Writes the install manifest (artifactType application/vnd.machine.install, created annotation)
# and its certificate and signature referrers into LAYOUT, as the original publishes them.
# MOS_SIGN_FILE, when set, is signed instead of INSTALL_JSON_FILE (tampering tests).
mos_publish_layout() {
  local layout=$1 tag=$2 json=$3 cert=$4 key=$5 created=${6:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
  local work empty jd js md ms cd cs sd ss
  work=$(mktemp -d)
  mos_layout_init "$layout"
  printf '{}' > "$work/empty"
  mos_blob "$layout" "$work/empty" >/dev/null
  empty='{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="}'
  read -r jd js < <(mos_blob "$layout" "$json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.machine.install","config":%s,"layers":[{"mediaType":"application/vnd.machine.install","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.title":"index.json"}}],"annotations":{"org.opencontainers.image.created":"%s"}}' \
    "$empty" "$jd" "$js" "$created" > "$work/install-manifest.json"
  read -r md ms < <(mos_blob "$layout" "$work/install-manifest.json")
  mos_index_add "$layout" application/vnd.oci.image.manifest.v1+json "$md" "$ms" "$tag" application/vnd.machine.install
  openssl dgst -sha256 -sign "$key" -out "$work/install.json.signed" "${MOS_SIGN_FILE:-$json}"
  cp "$cert" "$work/cert.pem"
  local kind file at
  for kind in cert sig; do
    if [ $kind = cert ]; then file=$work/cert.pem at=application/vnd.machine.pubkeycrt
    else file=$work/install.json.signed at=application/vnd.machine.signature; fi
    read -r cd cs < <(mos_blob "$layout" "$file")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"%s","config":%s,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.title":"%s"}}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s},"annotations":{"org.opencontainers.image.created":"%s"}}' \
      "$at" "$empty" "$cd" "$cs" "$(basename "$file")" "$md" "$ms" "$created" > "$work/$kind-manifest.json"
    read -r sd ss < <(mos_blob "$layout" "$work/$kind-manifest.json")
    mos_index_add "$layout" application/vnd.oci.image.manifest.v1+json "$sd" "$ss" "" "$at"
  done
  rm -rf "$work"
}

# mos_tree_hash DIR -> one hash of every path, type, mode and content under DIR (the git
# directory's timestamps-free content included; the lock file's presence included).
mos_tree_hash() {
  (cd "$1" && find . -printf '%p %y %m %s\n' | LC_ALL=C sort && \
   find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}

# mos_fixtures DIR: a keyset (XDG_DATA_HOME=DIR/share) with projects default and other, a
# foreign keyset, target images in DIR/pub/mos and signed install manifests in DIR/pub/install:
#   1.0.0    complete  hostfs 1.0.0 (A1), svc 1.0.0 (B1, nsgroup c1), storage data (nsgroup d1)
#   2.0.0    complete  hostfs 2.0.0 (A2), web 1.0.0 (C1, nsgroup w1)
#   partial  partial   svc 1.1.0 (B2, nsgroup c1), extra 1.0.0 (D1, nsgroup e1)
#   lower    complete  hostfs 0.9.0 (A0), created last (a target version downgrade)
#   stale    complete  hostfs 3.0.0 (A3), created before 1.0.0 (an install manifest downgrade)
#   otherproduct  complete, signed by project "other" (same CA, another product)
# Exports MOS_FX (DIR), MOS_KEYS (the keyset), MOS_PRODUCT, MOS_CA and the digests A1 B1 A2 C1.
mos_fixtures() {
  local dir=$1
  export MOS_FX=$dir XDG_DATA_HOME=$dir/share
  "$MOS_BIN/trust" -q keyset add --no-bootkit fx
  "$MOS_BIN/trust" -q project add fx other
  "$MOS_BIN/trust" -q keyset add --no-bootkit foreign
  export MOS_KEYS=$XDG_DATA_HOME/machine/trust/keys/fx
  export MOS_FOREIGN=$XDG_DATA_HOME/machine/trust/keys/foreign
  export MOS_PRODUCT; MOS_PRODUCT=$(cat "$MOS_KEYS/manifest/default/uuid")
  export MOS_CA=$MOS_KEYS/manifest-ca/cert.pem
  local name
  for name in A0 A1 A2 A3 B1 B2 C1 D1; do
    head -c $((4096 + RANDOM)) /dev/urandom > "$dir/$name.bin"
    read -r "${name}_D" "${name}_S" < <(mos_make_image "$dir/pub/mos" "$name" "$dir/$name.bin")
    export "${name}_D" "${name}_S"
  done
  local cert=$MOS_KEYS/manifest/default/cert.pem key=$MOS_KEYS/manifest/default/privkey.pem
  local d1='[{"label":"data","persistent":true,"nsgroup":"d1","size":16}]'
  mos_install_json "$MOS_PRODUCT" complete "$d1" "$(mos_target_json hostfs 1.0.0 "$A1_D" "$A1_S" "" hostfs)" \
    "$(mos_target_json svc 1.0.0 "$B1_D" "$B1_S" c1 container)" > "$dir/install-1.json"
  mos_publish_layout "$dir/pub/install" 1.0.0 "$dir/install-1.json" "$cert" "$key" 2026-01-01T10:00:00Z
  mos_install_json "$MOS_PRODUCT" complete null "$(mos_target_json hostfs 2.0.0 "$A2_D" "$A2_S" "" hostfs)" \
    "$(mos_target_json web 1.0.0 "$C1_D" "$C1_S" w1 container)" > "$dir/install-2.json"
  mos_publish_layout "$dir/pub/install" 2.0.0 "$dir/install-2.json" "$cert" "$key" 2026-02-01T10:00:00+01:00
  mos_install_json "$MOS_PRODUCT" partial null "$(mos_target_json svc 1.1.0 "$B2_D" "$B2_S" c1 container)" \
    "$(mos_target_json extra 1.0.0 "$D1_D" "$D1_S" e1 container)" > "$dir/install-partial.json"
  mos_publish_layout "$dir/pub/install" partial "$dir/install-partial.json" "$cert" "$key" 2026-03-01T10:00:00Z
  mos_install_json "$MOS_PRODUCT" complete null "$(mos_target_json hostfs 0.9.0 "$A0_D" "$A0_S" "" hostfs)" > "$dir/install-lower.json"
  mos_publish_layout "$dir/pub/install" lower "$dir/install-lower.json" "$cert" "$key" 2026-04-01T10:00:00Z
  mos_install_json "$MOS_PRODUCT" complete null "$(mos_target_json hostfs 3.0.0 "$A3_D" "$A3_S" "" hostfs)" > "$dir/install-stale.json"
  mos_publish_layout "$dir/pub/install" stale "$dir/install-stale.json" "$cert" "$key" 2025-12-01T10:00:00Z
  local other; other=$(cat "$MOS_KEYS/manifest/other/uuid")
  mos_install_json "$other" complete null "$(mos_target_json hostfs 5.0.0 "$A2_D" "$A2_S" "" hostfs)" > "$dir/install-other.json"
  mos_publish_layout "$dir/pub/install" otherproduct "$dir/install-other.json" \
    "$MOS_KEYS/manifest/other/cert.pem" "$MOS_KEYS/manifest/other/privkey.pem" 2026-05-01T10:00:00Z
}

# mos_new_root DIR: an empty target root with the fixtures' CA and product.
mos_new_root() {
  mkdir -p "$1/factory/secure"
  cp "$MOS_CA" "$1/factory/secure/manifestCA.pem"
  echo "$MOS_PRODUCT" > "$1/factory/secure/product-uuid"
}

# mos_targets ROOT -> "name=version@digest ..." of the installed system (sorted), via status --json.
mos_targets() {
  "$MOS_BIN/mosctl" status -r "$1" --json | jq -r '[.system.targets[] | "\(.name)=\(.version)@\(.digest)"] | sort | join(" ")'
}

# mos_issue_cert DIR CN EKU [START END]: a certificate for a new RSA key in DIR (cert.pem,
# privkey.pem), issued by the fixtures' manifest CA with openssl ca, with extendedKeyUsage EKU
# ("" for none) and the validity START..END (YYYYMMDDHHMMSSZ; default: now for a year).
mos_issue_cert() {
  local dir=$1 cn=$2 eku=$3 start=${4:-} end=${5:-}
  mkdir -p "$dir/ca"
  : > "$dir/ca/index.txt"
  echo 1000 > "$dir/ca/serial"
  cat > "$dir/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $dir/ca/index.txt
new_certs_dir = $dir/ca
serial = $dir/ca/serial
default_md = sha256
default_days = 365
policy = p
unique_subject = no
[p]
commonName = supplied
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
CNF
  [ -n "$eku" ] && echo "extendedKeyUsage = $eku" >> "$dir/ca.cnf"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/privkey.pem" -subj "/CN=$cn" -out "$dir/req.csr" 2>/dev/null
  openssl ca -batch -config "$dir/ca.cnf" -extensions ext -cert "$MOS_CA" -keyfile "$MOS_KEYS/manifest-ca/privkey.pem" \
    ${start:+-startdate "$start"} ${end:+-enddate "$end"} -in "$dir/req.csr" -out "$dir/cert.pem" 2>/dev/null
}

# use_home DIR: a HOME of the test's own under DIR (so keysets go to
# DIR/home/.local/share/machine/trust/keys, as XDG_DATA_HOME says), and the built programs on PATH.
use_home() {
  export HOME="$1/home" XDG_DATA_HOME="$1/home/.local/share"
  mkdir -p "$HOME"
  export PATH="$MOS_BIN:$PATH"
}
