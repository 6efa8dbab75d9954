#!/usr/bin/env bash
# The main job: the walkthrough (../shared/seed/image-manifest-walkthrough.md), end to end, as far
# as it goes without a VM. Run as root on Debian 12. Everything it makes stays under $MOS_DEMO_DIR
# (default /tmp/mos-demo), which is recreated on each run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" release
export PATH="$top/build/release/bin:$PATH"

demo=${MOS_DEMO_DIR:-/tmp/mos-demo}
rm -rf "$demo"
mkdir -p "$demo"
cd "$demo"
# Keysets live in $XDG_DATA_HOME/machine/trust/keys, as in the walkthrough's paths.
export XDG_DATA_HOME="$demo/share"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*" >&2; "$@"; }

# The walkthrough's zot runs on 127.0.0.1:5000; use it if free, else a free port.
port=5000
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  # shellcheck source=../tests/e2e/helpers/registry.bash
  source "$top/tests/e2e/helpers/registry.bash"
  port=$(free_port)
fi
registry="127.0.0.1:$port"

step "Start the registry (mos-registry in zot's place) with the walkthrough's zot-config.json"
cat > zot-config.json <<JSON
{
  "distSpecVersion": "1.1.0-dev",
  "storage": {
    "rootDirectory": "$demo/zot",
    "gc": false
  },
  "http": {
    "address": "127.0.0.1",
    "port": "$port"
  },
  "log": {
    "level": "info"
  }
}
JSON
cat zot-config.json
mos-registry serve zot-config.json >registry.log 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
show curl -fsS "http://$registry/v2/"; echo

step "Build the demo service image (busybox httpd on port 5000, in place of zothub's demo-zot)"
mkdir -p rootfs/bin rootfs/www rootfs/usr/bin rootfs/etc
cp /bin/busybox rootfs/bin/busybox
ln -sf busybox rootfs/bin/sh
echo '<h1>hello from a mos service</h1>' > rootfs/www/index.html
cat > rootfs/usr/bin/start-zot <<'SH'
#!/bin/sh
exec /bin/busybox httpd -f -p 5000 -h /www
SH
chmod 755 rootfs/usr/bin/start-zot
export SOURCE_DATE_EPOCH=1703083683
show mosb image build --from rootfs --to "docker://$registry/machine/bootkit/demo-zot:0.0.4-squashfs" \
  --entrypoint /usr/bin/start-zot

step "Create the snakeoil keyset"
show trust keyset add snakeoil
show trust keyset list

step "Compile and publish the manifest"
cat > manifest.yaml <<YAML
version: 1
product: default
update_type: complete
targets:
  - service_name: zot
    source: "docker://$registry/machine/bootkit/demo-zot:0.0.4-squashfs"
    version: 1.0.0
    service_type: container
    nsgroup: "zot"
    network:
      type: simple
      ipv4: 10.0.3.99/24
      ports:
        - host: 80
          container: 5000
YAML
cat manifest.yaml
show mosb --debug manifest publish \
  --project snakeoil:default \
  --repo "$registry" --name machine/install:1.0.0 \
  manifest.yaml

step "The manifest json, as the registry stores it"
cd "$demo/zot/machine/install"
show jq . index.json
install_digest=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="1.0.0") | .digest' index.json)
for d in $(jq -r '.manifests[].digest' index.json); do
  show jq . "blobs/sha256/${d#sha256:}"
done

step "The referrers API"
show curl -fsS "http://$registry/v2/machine/install/referrers/$install_digest" | jq .

step "Verify the signature by hand with openssl"
manifest_blob="blobs/sha256/${install_digest#sha256:}"
install_json=$(jq -r '.layers[0].digest' "$manifest_blob")
for d in $(jq -r '.manifests[].digest' index.json); do
  type=$(jq -r '.artifactType // ""' "blobs/sha256/${d#sha256:}")
  layer=$(jq -r '.layers[0].digest' "blobs/sha256/${d#sha256:}")
  [ "$type" = application/vnd.machine.pubkeycrt ] && cert="blobs/sha256/${layer#sha256:}"
  [ "$type" = application/vnd.machine.signature ] && sig="blobs/sha256/${layer#sha256:}"
done
show cmp "$cert" "$XDG_DATA_HOME/machine/trust/keys/snakeoil/manifest/default/cert.pem" && echo "cert.pem is the project's certificate"
openssl x509 -in "$cert" -pubkey -noout > "$demo/pub.pem"
show openssl dgst -sha256 -verify "$demo/pub.pem" -signature "$sig" "blobs/sha256/${install_json#sha256:}"
show jq . "blobs/sha256/${install_json#sha256:}"
cd "$demo"

step "mosb verifies it the way a machine will"
show mosb manifest verify --keyset snakeoil "$registry/machine/install:1.0.0"
show mosb manifest inspect "$registry/machine/install:1.0.0"

step "Install it into a target root, as mosctl does on the machine (verified before any download)"
mkdir -p root/factory/secure
cp "$XDG_DATA_HOME/machine/trust/keys/snakeoil/manifest-ca/cert.pem" root/factory/secure/manifestCA.pem
show mosctl install --root "$demo/root" "$registry/machine/install:1.0.0"
show mosctl status --root "$demo/root"
show git -C "$demo/root/config/manifest.git" log --oneline

step "Mount the installed service (its squashfs layer verified against the signed root hash first)"
show mosctl mount --root "$demo/root" --target zot --ro
show cat "$demo/root/mnt/mos/zot/www/index.html"
show mosctl umount --root "$demo/root" --target zot

step "Done: the registry's storage is $demo/zot; the keyset is $XDG_DATA_HOME/machine/trust/keys/snakeoil"
