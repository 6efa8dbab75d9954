#!/usr/bin/env bats
# trust keysets, projects, SUDI and signatures, checked with the real openssl CLI.

load helpers/trust

setup_file() {
  export SHARED_HOME="$BATS_FILE_TMPDIR/home"
  mkdir -p "$SHARED_HOME"
  HOME="$SHARED_HOME" "$MOS_BIN/trust" keyset add --no-bootkit --org "Wowza inc" shared
  export KS="$SHARED_HOME/.local/share/machine/trust/keys/shared"
}

setup() {
  trust_setup_home
}

shared() { HOME="$SHARED_HOME" "$TRUST" "$@"; }

@test "keyset add creates the original layout under ~/.local/share with private modes" {
  run "$TRUST" keyset add --no-bootkit snakeoil
  [ "$status" -eq 0 ]
  [[ "$output" == *"Created keyset snakeoil in $KEYS/snakeoil"* ]]
  for d in manifest-ca sudi-ca uefi-pk uefi-kek uefi-db uki-production uki-limited uki-tpm tpmpol-admin tpmpol-luks; do
    [ "$(stat -c %a "$KEYS/snakeoil/$d")" = 700 ]
    [ "$(stat -c %a "$KEYS/snakeoil/$d/privkey.pem")" = 600 ]
    grep -q -- '-----BEGIN PRIVATE KEY-----' "$KEYS/snakeoil/$d/privkey.pem"
    openssl x509 -in "$KEYS/snakeoil/$d/cert.pem" -noout
  done
  for d in uefi-pk uefi-kek uefi-db uki-production uki-limited uki-tpm; do
    grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "$KEYS/snakeoil/$d/guid"
  done
  [ ! -e "$KEYS/snakeoil/manifest-ca/guid" ]
  [ -d "$KEYS/snakeoil/manifest/default/sudi" ]
  [ "$(stat -c %a "$KEYS/snakeoil/manifest/default/privkey.pem")" = 600 ]
  run "$TRUST" keyset list
  [ "$output" = snakeoil ]
  # Nothing else is left in the keys directory (no staging directory).
  [ "$(ls -A "$KEYS")" = snakeoil ]
}

@test "XDG_DATA_HOME chooses the keyset root" {
  export XDG_DATA_HOME="$BATS_TEST_TMPDIR/xdg"
  "$TRUST" -q keyset add --no-bootkit elsewhere
  [ -f "$XDG_DATA_HOME/machine/trust/keys/elsewhere/manifest-ca/cert.pem" ]
  [ ! -e "$KEYS" ]
}

@test "openssl verifies the manifest, UEFI and self-signed chains" {
  cd "$KS"
  run openssl verify -CAfile manifest-ca/cert.pem manifest/default/cert.pem
  [ "$output" = "manifest/default/cert.pem: OK" ]
  run openssl verify -CAfile uefi-pk/cert.pem uefi-kek/cert.pem uefi-db/cert.pem
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "uefi-kek/cert.pem: OK" ]
  [ "${lines[1]}" = "uefi-db/cert.pem: OK" ]
  for d in manifest-ca sudi-ca uefi-pk uki-production uki-limited uki-tpm tpmpol-admin tpmpol-luks; do
    run openssl verify -CAfile "$d/cert.pem" "$d/cert.pem"
    [ "$output" = "$d/cert.pem: OK" ]
  done
  # The project certificate is not accepted under another CA.
  run openssl verify -CAfile sudi-ca/cert.pem manifest/default/cert.pem
  [ "$status" -ne 0 ]
  run openssl verify -CAfile manifest-ca/cert.pem uefi-kek/cert.pem
  [ "$status" -ne 0 ]
}

@test "subjects, validity and extensions are the original's" {
  cd "$KS"
  ou="O = Wowza inc, OU = Project Machine Project shared"
  [ "$(subject_of manifest-ca/cert.pem)" = "$ou, CN = Manifest rootCA" ]
  [ "$(subject_of sudi-ca/cert.pem)" = "$ou, CN = SUDI rootCA" ]
  [ "$(subject_of uefi-pk/cert.pem)" = "$ou, CN = UEFI PK" ]
  [ "$(subject_of uefi-kek/cert.pem)" = "$ou, CN = UEFI KEK" ]
  [ "$(subject_of uefi-db/cert.pem)" = "$ou, CN = UEFI DB" ]
  [ "$(subject_of uki-production/cert.pem)" = "$ou, CN = UKI Production" ]
  [ "$(subject_of uki-limited/cert.pem)" = "$ou, CN = UKI Limited" ]
  [ "$(subject_of uki-tpm/cert.pem)" = "$ou, CN = UKI TPM" ]
  [ "$(subject_of tpmpol-admin/cert.pem)" = "$ou, CN = TPM EAPolicy Admin" ]
  [ "$(subject_of tpmpol-luks/cert.pem)" = "$ou, CN = TPM EAPolicy LUKS" ]
  uuid=$(cat manifest/default/uuid)
  [ "$(subject_of manifest/default/cert.pem)" = "CN = manifest PRODUCT:$uuid" ]
  [ "$(subject_of uefi-kek/cert.pem)" = "$(openssl x509 -in uefi-kek/cert.pem -noout -issuer -nameopt oneline | sed 's/^issuer=//' | sed 's/UEFI PK/UEFI KEK/')" ]

  start=$(year_of manifest-ca/cert.pem startdate)
  [ "$(year_of manifest-ca/cert.pem enddate)" -eq $((start + 25)) ]
  [ "$(year_of uefi-pk/cert.pem enddate)" -eq $((start + 50)) ]
  [ "$(year_of uefi-kek/cert.pem enddate)" -eq $((start + 50)) ]
  [ "$(year_of uefi-db/cert.pem enddate)" -eq $((start + 25)) ]
  [ "$(year_of uki-tpm/cert.pem enddate)" -eq $((start + 25)) ]
  [ "$(year_of manifest/default/cert.pem enddate)" -eq $((start + 20)) ]
  [ "$(openssl x509 -in sudi-ca/cert.pem -noout -enddate)" = "notAfter=Dec 31 23:00:00 2099 GMT" ]

  for ca in manifest-ca sudi-ca uefi-pk; do
    text=$(openssl x509 -in $ca/cert.pem -noout -text)
    [[ "$text" == *"X509v3 Basic Constraints: critical"*"CA:TRUE"* ]]
    [[ "$text" != *"Key Usage"* ]]
    [[ "$text" == *"Public-Key: (2048 bit)"* ]]
    [[ "$text" == *"sha256WithRSAEncryption"* ]]
  done
  text=$(openssl x509 -in uefi-kek/cert.pem -noout -text)
  [[ "$text" == *"X509v3 Key Usage: critical"*"Digital Signature"* ]]
  [[ "$text" != *"Extended Key Usage"* ]]
  [[ "$text" != *"Basic Constraints"* ]]
  [[ "$text" == *"Authority Key Identifier"* ]]
  for leaf in uefi-db uki-production uki-limited uki-tpm tpmpol-admin tpmpol-luks manifest/default; do
    text=$(openssl x509 -in $leaf/cert.pem -noout -text)
    [[ "$text" == *"X509v3 Key Usage: critical"$'\n'"                Digital Signature"$'\n'* ]]
    [[ "$text" == *"X509v3 Extended Key Usage: "$'\n'"                Code Signing"$'\n'* ]]
    [[ "$text" == *"Public-Key: (2048 bit)"* ]]
  done
  # The project certificate's AKI is the manifest CA's SKI.
  ski=$(openssl x509 -in manifest-ca/cert.pem -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
  aki=$(openssl x509 -in manifest/default/cert.pem -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' ')
  [ "$aki" = "$ski" ]
}

@test "projects: add, list, show, algorithms; the certificates verify with openssl" {
  "$TRUST" -q keyset add --no-bootkit ks
  run "$TRUST" project add ks edge --algorithm ecdsa-p256
  [ "$status" -eq 0 ]
  [[ "$output" == "Created project edge in keyset ks (uuid "*")" ]]
  "$TRUST" -q project add ks big --algorithm rsa4096
  "$TRUST" -q project add ks plain
  run "$TRUST" project list ks
  [ "$output" = "$(printf 'big\ndefault\nedge\nplain')" ]
  cd "$KEYS/ks"
  for p in big default edge plain; do
    run openssl verify -CAfile manifest-ca/cert.pem manifest/$p/cert.pem
    [ "$output" = "manifest/$p/cert.pem: OK" ]
    [ "$(subject_of manifest/$p/cert.pem)" = "CN = manifest PRODUCT:$(cat manifest/$p/uuid)" ]
    [ -d manifest/$p/sudi ]
  done
  [[ "$(openssl x509 -in manifest/edge/cert.pem -noout -text)" == *"ASN1 OID: prime256v1"* ]]
  [[ "$(openssl x509 -in manifest/big/cert.pem -noout -text)" == *"Public-Key: (4096 bit)"* ]]
  [[ "$(openssl x509 -in manifest/plain/cert.pem -noout -text)" == *"Public-Key: (2048 bit)"* ]]
  run "$TRUST" project show ks edge
  [ "$status" -eq 0 ]
  [[ "$output" == *"uuid: $(cat manifest/edge/uuid)"* ]]
  [[ "$output" == *"key: ECDSA-prime256v1"* ]]
  [[ "$output" == *"issuer: OU = Project Machine Project ks, CN = Manifest rootCA"* ]]
  run "$TRUST" project add ks bad --algorithm dsa
  [ "$status" -eq 1 ]
  [[ "$output" == *"unknown key algorithm 'dsa'"* ]]
  [ ! -e manifest/bad ]
}

@test "sudi: add with and without serial, list, and the chain to sudi-ca" {
  "$TRUST" -q keyset add --no-bootkit ks
  run "$TRUST" sudi list ks default
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  "$TRUST" -q sudi add ks default
  "$TRUST" -q sudi add ks default 88db65c5-1f43-4b0c-9a77-0f6b8f4d6d8e
  "$TRUST" -q sudi add ks default SN0001
  "$TRUST" -q sudi add ks default SN0002
  run "$TRUST" sudi list ks default
  [ "${#lines[@]}" -eq 4 ]
  [ -f "$KEYS/ks/manifest/default/sudi/88db65c5-1f43-4b0c-9a77-0f6b8f4d6d8e/cert.pem" ]
  cd "$KEYS/ks"
  pid=$(cat manifest/default/uuid)
  for sn in $(HOME=$HOME "$TRUST" sudi list ks default); do
    run openssl verify -CAfile sudi-ca/cert.pem manifest/default/sudi/$sn/cert.pem
    [ "$output" = "manifest/default/sudi/$sn/cert.pem: OK" ]
    [ "$(subject_of manifest/default/sudi/$sn/cert.pem)" = "CN = $sn, serialNumber = PID:$pid SN:$sn" ]
    [ "$(stat -c %a manifest/default/sudi/$sn/privkey.pem)" = 600 ]
  done
  text=$(openssl x509 -in manifest/default/sudi/SN0001/cert.pem -noout -text)
  [[ "$text" == *"X509v3 Key Usage: critical"$'\n'"                Digital Signature, Key Encipherment, Data Encipherment"* ]]
  [[ "$text" == *"TLS Web Server Authentication, TLS Web Client Authentication"* ]]
  [ "$(openssl x509 -in manifest/default/sudi/SN0001/cert.pem -noout -enddate)" = "notAfter=Dec 31 23:00:00 2099 GMT" ]
  # The key belongs to the certificate.
  [ "$(openssl pkey -in manifest/default/sudi/SN0001/privkey.pem -pubout)" = \
    "$(openssl x509 -in manifest/default/sudi/SN0001/cert.pem -pubkey -noout)" ]
  run openssl verify -CAfile manifest-ca/cert.pem manifest/default/sudi/SN0001/cert.pem
  [ "$status" -ne 0 ]
}

@test "trust sign gives the bytes openssl dgst -sha256 -sign gives, and openssl verifies them" {
  cd "$BATS_TEST_TMPDIR"
  head -c 300000 /dev/urandom >payload
  run shared sign --keyset shared --project default payload
  [ "$status" -eq 0 ]
  [ -f payload.signed ]
  [ "$(stat -c %s payload.signed)" -eq 256 ]
  pubkey_of "$KS/manifest/default/cert.pem" pub.pem
  run openssl dgst -sha256 -verify pub.pem -signature payload.signed payload
  [ "$output" = "Verified OK" ]
  # RSA PKCS#1 v1.5 is deterministic: the very same bytes as openssl's.
  openssl dgst -sha256 -sign "$KS/manifest/default/privkey.pem" -out openssl.sig payload
  cmp openssl.sig payload.signed
  # -o and KEYSET:PROJECT
  shared -q sign --project shared:default -o other.sig payload
  cmp other.sig payload.signed
  # One changed byte fails openssl's check.
  printf x >>payload
  run openssl dgst -sha256 -verify pub.pem -signature payload.signed payload
  [ "$status" -ne 0 ]
}

@test "trust verify accepts openssl signatures and refuses tampering" {
  cd "$BATS_TEST_TMPDIR"
  echo "install.json" >f
  openssl dgst -sha256 -sign "$KS/manifest/default/privkey.pem" -out f.sig f
  run shared verify --cert "$KS/manifest/default/cert.pem" --signature f.sig f
  [ "$status" -eq 0 ]
  [ "$output" = "Verified OK" ]
  run shared verify --keyset shared --project default --signature f.sig f
  [ "$output" = "Verified OK" ]
  run shared verify --cert "$KS/manifest/default/cert.pem" --ca "$KS/manifest-ca/cert.pem" --signature f.sig f
  [ "$output" = "Verified OK" ]
  run shared verify --cert "$KS/manifest/default/cert.pem" --ca "$KS/sudi-ca/cert.pem" --signature f.sig f
  [ "$status" -eq 1 ]
  [[ "$output" == "trust: error: certificate is not signed by the trusted CA"* ]]
  echo tampered >>f
  run shared verify --cert "$KS/manifest/default/cert.pem" --signature f.sig f
  [ "$status" -eq 1 ]
  # The reason as OpenSSL states it, without its library names ("RSA lib") or error codes.
  [ "$output" = "trust: error: verifying f with signature f.sig: signature does not match the RSA-2048 key (SHA-256): bad signature" ]
  run shared verify --cert "$KS/uki-tpm/cert.pem" --signature f.sig f
  [ "$status" -eq 1 ]
  [[ "$output" != *" lib"* && "$output" != *"error:0"* ]]
  run shared verify --cert "$KS/manifest/default/cert.pem" --signature missing.sig f
  [ "$status" -eq 1 ]
  [[ "$output" == *"missing.sig"* ]]
}

@test "ECDSA project keys sign and verify both ways with openssl" {
  "$TRUST" -q keyset add --no-bootkit ks --algorithm ecdsa-p256
  p="$KEYS/ks/manifest/default"
  [[ "$(openssl x509 -in $p/cert.pem -noout -text)" == *"id-ecPublicKey"* ]]
  cd "$BATS_TEST_TMPDIR"
  echo data >f
  "$TRUST" -q sign --keyset ks --project default f
  pubkey_of "$p/cert.pem" pub.pem
  run openssl dgst -sha256 -verify pub.pem -signature f.signed f
  [ "$output" = "Verified OK" ]
  openssl dgst -sha256 -sign "$p/privkey.pem" -out f.sig f
  run "$TRUST" verify --keyset ks --project default --signature f.sig f
  [ "$output" = "Verified OK" ]
}

@test "keyset show: tree, keys, items, --path and --value" {
  run shared keyset show shared
  [ "$status" -eq 0 ]
  [[ "$output" == *"manifest-ca/cert.pem"* ]]
  [[ "$output" == *"manifest/default/uuid"* ]]
  run shared keyset show shared manifest:default uuid --value
  [ "$output" = "$(cat "$KS/manifest/default/uuid")" ]
  run shared keyset show shared uefi-pk guid --path
  [ "$output" = "$KS/uefi-pk/guid" ]
  run shared keyset show shared manifest-ca --path
  [ "$output" = "$(printf '%s\n%s' "$KS/manifest-ca/cert.pem" "$KS/manifest-ca/privkey.pem")" ]
  run shared keyset show shared uefi-kek cert.pem
  [[ "${lines[0]}" == "$KS/uefi-kek/cert.pem:" ]]
  [[ "${lines[1]}" == "-----BEGIN CERTIFICATE-----" ]]
}

@test "keyset show never prints a private key unless asked (--private, or the file named)" {
  run shared keyset show shared manifest-ca
  [ "$status" -eq 0 ]
  [[ "$output" == *"-----BEGIN CERTIFICATE-----"* ]]
  [[ "$output" != *"PRIVATE KEY"* ]]
  [[ "$output" == *"privkey.pem: private key, not shown (add --private, or name it: trust keyset show shared manifest-ca privkey.pem)"* ]]
  run shared keyset show shared manifest-ca --value
  [[ "$output" != *"PRIVATE KEY"* ]]
  run shared keyset show shared manifest-ca --private
  [[ "$output" == *"PRIVATE KEY-----"* ]]
  run shared keyset show shared manifest-ca privkey.pem --value
  [ "$output" = "$(cat "$KS/manifest-ca/privkey.pem")" ]
}

@test "keyset show refuses what it cannot show" {
  run shared keyset show shared manifest
  [ "$status" -eq 1 ]
  [[ "$output" == *"needs a project: manifest:PROJECT"* ]]
  run shared keyset show shared nonsense
  [ "$status" -eq 1 ]
  [[ "$output" == *"unknown key 'nonsense'"* ]]
  run shared keyset show shared manifest-ca ../../x
  [ "$status" -eq 1 ]
  [[ "$output" == *"invalid item name"* ]]
  run shared keyset show absent
  [ "$status" -eq 1 ]
  [[ "$output" == *"keyset absent not found"* ]]
}

@test "a keyset in the original's layout is read without change" {
  uuid=$(make_original_keyset "$KEYS/legacy")
  before=$(tree_snapshot "$KEYS/legacy")
  run "$TRUST" project list legacy
  [ "$output" = default ]
  run "$TRUST" project show legacy default
  [ "$status" -eq 0 ]
  [[ "$output" == *"uuid: $uuid"* ]]
  cd "$BATS_TEST_TMPDIR"
  echo x >f
  "$TRUST" -q sign --project legacy:default f
  run "$TRUST" verify --keyset legacy --project default --signature f.signed f
  [ "$output" = "Verified OK" ]
  [ "$(tree_snapshot "$KEYS/legacy")" = "$before" ]
  # New SUDI entries name the product from the uuid file, without its newline.
  "$TRUST" -q sudi add legacy default SN0001
  [ "$(subject_of "$KEYS/legacy/manifest/default/sudi/SN0001/cert.pem")" = "CN = SN0001, serialNumber = PID:$uuid SN:SN0001" ]
}
