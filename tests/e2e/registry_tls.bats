#!/usr/bin/env bats
# mos-registry over TLS (http.tls.cert/key or --tls-cert/--tls-key): curl, skopeo and our own
# client (--cacert) push and pull through it; clients that do not trust its CA are refused;
# plain http is told to use https; bad certificate or key files stop it at start.

load helpers/registry
load helpers/tls
load helpers/oci_copy

setup_file() {
  export WORK=$BATS_FILE_TMPDIR
  make_tls_ca "$WORK/pki" ca
  make_tls_ca "$WORK/pki" rogue
  make_tls_server_cert "$WORK/pki" ca server
  start_mos_registry "$WORK/root" --tls-cert "$WORK/pki/server.crt" --tls-key "$WORK/pki/server.key"
  export CA=$WORK/pki/ca.crt
  make_umoci_image "$WORK/img" latest 2 300000
}

teardown_file() {
  stop_registries
}

digest_of_ref() {
  "$MOS_BIN/mosb" oci inspect "$@" | awk '/^Digest:/ {print $2}'
}

@test "https with the registry's CA answers /v2/; plain http is told to use https" {
  run curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "https://$MOS_REGISTRY/v2/"
  [ "$status" -eq 0 ]
  [ "$output" = 200 ]
  run curl -sS "http://$MOS_REGISTRY/v2/"
  [[ "$output" == *"speaks TLS: use https://"* ]]
  grep -q "TLS handshake failed" "$MOS_REGISTRY_LOG"
  # said once, at the start: how blobs are encrypted, and whether the kernel could
  [ "$(grep -c "TLS blobs: encrypted in user space, 16 records per socket write; kernel TLS: " "$MOS_REGISTRY_LOG")" = 1 ]
}

@test "clients that do not trust the CA are refused, with a clear line" {
  run curl -sS --cacert "$WORK/pki/rogue.crt" "https://$MOS_REGISTRY/v2/"
  [ "$status" -eq 60 ]  # curl: peer certificate cannot be authenticated
  run "$MOS_BIN/mosb" oci inspect --cacert "$WORK/pki/rogue.crt" "docker://$MOS_REGISTRY/none:1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$MOS_REGISTRY"* ]]
  [[ "$output" == *certificate* ]]
  [ "$(echo "$output" | wc -l)" -eq 1 ]
  # Without --cacert a loopback registry is found to speak TLS, and its certificate is not
  # trusted (tests/e2e/registry_tls_conventions.bats has the rest of these conventions).
  run "$MOS_BIN/mosb" oci inspect "docker://$MOS_REGISTRY/none:1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"is not trusted"*"use --cacert FILE"* ]]
}

@test "mosb oci copy pushes to and pulls from it over TLS, digests unchanged" {
  "$MOS_BIN/mosb" oci copy --cacert "$CA" "oci:$WORK/img:latest" "docker://$MOS_REGISTRY/tls/ours:1"
  "$MOS_BIN/mosb" oci copy --cacert "$CA" "docker://$MOS_REGISTRY/tls/ours:1" "oci:$BATS_TEST_TMPDIR/back:1"
  want=$(digest_of_ref "oci:$WORK/img:latest")
  [ -n "$want" ]
  [ "$(digest_of_ref --cacert "$CA" "docker://$MOS_REGISTRY/tls/ours:1")" = "$want" ]
  [ "$(digest_of_ref "oci:$BATS_TEST_TMPDIR/back:1")" = "$want" ]
  umoci unpack --rootless --image "$BATS_TEST_TMPDIR/back:1" "$BATS_TEST_TMPDIR/bundle" >/dev/null
  cmp "$BATS_TEST_TMPDIR/bundle/rootfs/data1/file" <(umoci unpack --rootless --image "$WORK/img:latest" "$BATS_TEST_TMPDIR/orig" >/dev/null && cat "$BATS_TEST_TMPDIR/orig/rootfs/data1/file")
}

@test "skopeo copies to and from it with the CA in --cert-dir" {
  mkdir -p "$BATS_TEST_TMPDIR/certs"
  cp "$CA" "$BATS_TEST_TMPDIR/certs/ca.crt"
  skopeo copy --dest-cert-dir "$BATS_TEST_TMPDIR/certs" "oci:$WORK/img:latest" "docker://$MOS_REGISTRY/tls/skopeo:1"
  skopeo copy --src-cert-dir "$BATS_TEST_TMPDIR/certs" "docker://$MOS_REGISTRY/tls/skopeo:1" "oci:$BATS_TEST_TMPDIR/back:1"
  [ "$(digest_of_ref "oci:$BATS_TEST_TMPDIR/back:1")" = "$(digest_of_ref "oci:$WORK/img:latest")" ]
  run skopeo inspect --cert-dir "$BATS_TEST_TMPDIR/certs" "docker://$MOS_REGISTRY/tls/skopeo:1"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq '.Layers | length')" -eq 2 ]
}

@test "a 64 MiB blob and a Range of it come back intact over TLS" {
  head -c $((64 << 20)) /dev/urandom >"$BATS_TEST_TMPDIR/big"
  REG=$MOS_REGISTRY
  digest=$(sha256_of "$BATS_TEST_TMPDIR/big")
  location=$(curl -sS --cacert "$CA" -X POST -D - -o /dev/null "https://$REG/v2/tls/big/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  [ -n "$location" ]
  code=$(curl -sS --cacert "$CA" -X PUT -o /dev/null -w '%{http_code}' --data-binary "@$BATS_TEST_TMPDIR/big" \
    -H 'Content-Type: application/octet-stream' "https://$REG$location?digest=$digest")
  [ "$code" = 201 ]
  [ "sha256:$(curl -sS --cacert "$CA" "https://$REG/v2/tls/big/blobs/$digest" | sha256sum | cut -d' ' -f1)" = "$digest" ]
  curl -sS --cacert "$CA" -H 'Range: bytes=1000000-1999999' -o "$BATS_TEST_TMPDIR/part" "https://$REG/v2/tls/big/blobs/$digest"
  cmp "$BATS_TEST_TMPDIR/part" <(tail -c +1000001 "$BATS_TEST_TMPDIR/big" | head -c 1000000)
}

@test "zot's http.tls in the config file is honoured" {
  port=$(free_port)
  # The walkthrough's zot-config.json (examples/) with zot's http.tls setting added.
  jq --arg root "$BATS_TEST_TMPDIR/root" --arg port "$port" --arg pki "$WORK/pki" \
    '.storage.rootDirectory = $root | .http.port = $port
     | .http.tls = {cert: ($pki + "/server.crt"), key: ($pki + "/server.key")}' \
    "$MOS_SOURCE_DIR/examples/zot-config.json" >"$BATS_TEST_TMPDIR/config.json"
  "$MOS_BIN/mos-registry" serve "$BATS_TEST_TMPDIR/config.json" >"$BATS_TEST_TMPDIR/log" 2>&1 &
  pid=$!
  echo "$pid" >>"$BATS_FILE_TMPDIR/registry-pids"
  wait_for_http "http://127.0.0.1:$port/v2/" "$pid"
  run curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/v2/"
  [ "$output" = 200 ]
  grep -q "(TLS)" "$BATS_TEST_TMPDIR/log"
}

@test "a bad certificate, key, or a key of another certificate stops serve with one clear line" {
  echo "not a certificate" >"$BATS_TEST_TMPDIR/junk.pem"
  run "$MOS_BIN/mos-registry" serve --root "$BATS_TEST_TMPDIR/r" --port 0 --tls-cert "$BATS_TEST_TMPDIR/junk.pem" --tls-key "$WORK/pki/server.key"
  [ "$status" -ne 0 ]
  [[ "$output" == *"TLS certificate $BATS_TEST_TMPDIR/junk.pem"*"expected a PEM certificate chain"* ]]
  run "$MOS_BIN/mos-registry" serve --root "$BATS_TEST_TMPDIR/r" --port 0 --tls-cert "$WORK/pki/server.crt" --tls-key "$BATS_TEST_TMPDIR/junk.pem"
  [ "$status" -ne 0 ]
  [[ "$output" == *"TLS key $BATS_TEST_TMPDIR/junk.pem"* ]]
  run "$MOS_BIN/mos-registry" serve --root "$BATS_TEST_TMPDIR/r" --port 0 --tls-cert "$WORK/pki/server.crt" --tls-key "$WORK/pki/ca.key"
  [ "$status" -ne 0 ]
  [[ "$output" == *"does not belong to the certificate"* ]]
  run "$MOS_BIN/mos-registry" serve --root "$BATS_TEST_TMPDIR/r" --port 0 --tls-cert "$WORK/pki/server.crt"
  [ "$status" -ne 0 ]
  [[ "$output" == *"both a certificate and a key"* ]]
}

@test "htpasswd Basic auth over TLS: the password only crosses the wire encrypted" {
  htpasswd -Bbn alice 's3cret' >"$BATS_TEST_TMPDIR/htpasswd"
  start_mos_registry "$BATS_TEST_TMPDIR/root" --tls-cert "$WORK/pki/server.crt" --tls-key "$WORK/pki/server.key" \
    --htpasswd "$BATS_TEST_TMPDIR/htpasswd"
  run curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "https://$MOS_REGISTRY/v2/"
  [ "$output" = 401 ]
  "$MOS_BIN/mosb" oci copy --cacert "$CA" --creds alice:s3cret "oci:$WORK/img:latest" "docker://$MOS_REGISTRY/tls/auth:1"
  run "$MOS_BIN/mosb" oci inspect --cacert "$CA" --creds alice:wrong "docker://$MOS_REGISTRY/tls/auth:1"
  [ "$status" -ne 0 ]
  [[ "$output" == *"refused the credentials"* ]]
  [ "$(digest_of_ref --cacert "$CA" --creds alice:s3cret "docker://$MOS_REGISTRY/tls/auth:1")" = "$(digest_of_ref "oci:$WORK/img:latest")" ]
}

@test "TLS record boundaries: ranges around each 16 KiB record and a slow reader get exact bytes" {
  head -c $((8 << 20)) /dev/urandom >"$BATS_TEST_TMPDIR/blob"
  REG=$MOS_REGISTRY
  digest=$(sha256_of "$BATS_TEST_TMPDIR/blob")
  location=$(curl -sS --cacert "$CA" -X POST -D - -o /dev/null "https://$REG/v2/tls/records/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  code=$(curl -sS --cacert "$CA" -X PUT -o /dev/null -w '%{http_code}' --data-binary "@$BATS_TEST_TMPDIR/blob" \
    -H 'Content-Type: application/octet-stream' "https://$REG$location?digest=$digest")
  [ "$code" = 201 ]
  for start in 16383 16384 32767 65535 1048575 8388607; do
    end=$((start + 2))
    [ "$end" -lt $((8 << 20)) ] || end=$(((8 << 20) - 1))
    curl -sS --cacert "$CA" -H "Range: bytes=$start-$end" -o "$BATS_TEST_TMPDIR/part" "https://$REG/v2/tls/records/blobs/$digest"
    cmp "$BATS_TEST_TMPDIR/part" <(tail -c +$((start + 1)) "$BATS_TEST_TMPDIR/blob" | head -c $((end - start + 1)))
  done
  # A reader slower than the server: the whole blob still arrives intact.
  [ "sha256:$(curl -sS --cacert "$CA" --limit-rate 16M "https://$REG/v2/tls/records/blobs/$digest" | sha256sum | cut -d' ' -f1)" = "$digest" ]
}

@test "client-initiated renegotiation is refused, and the server goes on answering" {
  run bash -c "(printf 'R\n'; sleep 1) | timeout 10 openssl s_client -connect '$MOS_REGISTRY' -tls1_2 -CAfile '$CA' 2>&1"
  [[ "$output" == *RENEGOTIATING* ]]
  [[ "$output" == *"no renegotiation"* ]]
  run curl -sS --cacert "$CA" -o /dev/null -w '%{http_code}' "https://$MOS_REGISTRY/v2/"
  [ "$output" = 200 ]
}
