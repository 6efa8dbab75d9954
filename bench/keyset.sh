#!/usr/bin/env bash
# Benchmark: `trust keyset add` end to end against a shell script that makes the same keys and
# certificates (11 RSA-2048 keys; CAs, UEFI chain, UKI/TPM leaves, the default project signed by
# the manifest CA) with the openssl CLI. Several rounds each, in the same run, medians.
#   bench/keyset.sh [ROUNDS]      (MOS_BIN=dir with a built trust skips the release build)
# Last line: RESULT keyset ratio=<ours/script> target=0.3
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || { echo "build failed"; echo "RESULT keyset ratio=nan target=0.3"; exit 0; }
  MOS_BIN="$top/build/release/bin"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The peer: what a careful shell script does with openssl for one keyset.
openssl_keyset() {
  local ks=$1 dir=$2
  mkdir -p -m 0700 "$dir"
  cat >"$dir/ext.cnf" <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
subjectKeyIdentifier = hash
[kek]
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[codesign]
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
[codesign_issued]
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
  local ou="/OU=Project Machine Project $ks"
  newkey() { mkdir -m 0700 "$dir/$1"; openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/$1/privkey.pem" 2>/dev/null; chmod 600 "$dir/$1/privkey.pem"; }
  selfsigned() {  # dir CN days section
    newkey "$1"
    openssl req -new -x509 -config "$dir/ext.cnf" -key "$dir/$1/privkey.pem" -subj "$ou/CN=$2" -days "$3" \
      -sha256 -set_serial "0x$(openssl rand -hex 16)" -extensions "$4" -out "$dir/$1/cert.pem"
  }
  issued() {  # dir subject days section issuer-dir
    newkey "$1"
    openssl req -new -config "$dir/ext.cnf" -key "$dir/$1/privkey.pem" -subj "$2" -out "$dir/$1/req.csr"
    openssl x509 -req -in "$dir/$1/req.csr" -CA "$dir/$5/cert.pem" -CAkey "$dir/$5/privkey.pem" -days "$3" \
      -sha256 -set_serial "0x$(openssl rand -hex 16)" -extfile "$dir/ext.cnf" -extensions "$4" \
      -out "$dir/$1/cert.pem" 2>/dev/null
    rm -f "$dir/$1/req.csr"
  }
  selfsigned manifest-ca "Manifest rootCA" 9131 ca
  selfsigned sudi-ca "SUDI rootCA" 26700 ca
  selfsigned uefi-pk "UEFI PK" 18262 ca
  issued uefi-kek "$ou/CN=UEFI KEK" 18262 kek uefi-pk
  issued uefi-db "$ou/CN=UEFI DB" 9131 codesign_issued uefi-pk
  for k in "uki-production:UKI Production" "uki-limited:UKI Limited" "uki-tpm:UKI TPM" \
           "tpmpol-admin:TPM EAPolicy Admin" "tpmpol-luks:TPM EAPolicy LUKS"; do
    selfsigned "${k%%:*}" "${k#*:}" 9131 codesign
  done
  for k in uefi-pk uefi-kek uefi-db uki-production uki-limited uki-tpm; do
    cat /proc/sys/kernel/random/uuid >"$dir/$k/guid"
  done
  mkdir -p -m 0700 "$dir/manifest"
  local uuid; uuid=$(cat /proc/sys/kernel/random/uuid)
  mkdir -m 0700 "$dir/manifest/default"
  printf %s "$uuid" >"$dir/manifest/default/uuid"
  mkdir -m 0700 "$dir/manifest/default/sudi"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/manifest/default/privkey.pem" 2>/dev/null
  openssl req -new -config "$dir/ext.cnf" -key "$dir/manifest/default/privkey.pem" -subj "/CN=manifest PRODUCT:$uuid" \
    -out "$dir/req.csr"
  openssl x509 -req -in "$dir/req.csr" -CA "$dir/manifest-ca/cert.pem" -CAkey "$dir/manifest-ca/privkey.pem" \
    -days 7305 -sha256 -set_serial "0x$(openssl rand -hex 16)" -extfile "$dir/ext.cnf" -extensions codesign_issued \
    -out "$dir/manifest/default/cert.pem" 2>/dev/null
  rm -f "$dir/req.csr" "$dir/ext.cnf"
  sync -f "$dir/manifest-ca/cert.pem"
}

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

ours=() script=()
for ((i = 0; i < rounds; i++)); do
  export XDG_DATA_HOME="$work/data$i"
  t0=$(now)
  "$MOS_BIN/trust" -q keyset add --no-bootkit "bench$i" || { echo "trust keyset add failed"; echo "RESULT keyset ratio=nan target=0.3"; exit 0; }
  t1=$(now)
  openssl_keyset "bench$i" "$work/script$i" 2>/dev/null
  t2=$(now)
  openssl verify -CAfile "$work/script$i/manifest-ca/cert.pem" "$work/script$i/manifest/default/cert.pem" >/dev/null \
    || echo "warning: the script's keyset does not verify"
  ours+=("$(echo "$t1 - $t0" | bc -l)")
  script+=("$(echo "$t2 - $t1" | bc -l)")
  printf 'round %d: trust %.3fs  openssl script %.3fs\n' "$i" "${ours[-1]}" "${script[-1]}"
done
m_ours=$(printf '%s\n' "${ours[@]}" | median)
m_script=$(printf '%s\n' "${script[@]}" | median)
ratio=$(echo "scale=3; $m_ours / $m_script" | bc -l)
printf 'median: trust %.3fs  openssl script %.3fs  (%d rounds, %d cores)\n' "$m_ours" "$m_script" "$rounds" "$(nproc)"
echo "RESULT keyset ratio=$ratio target=0.3"
