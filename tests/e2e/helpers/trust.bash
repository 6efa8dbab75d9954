# Helpers for the trust end-to-end tests: a private HOME per test, the keyset paths, tree
# snapshots (to prove a refused command changed nothing) and openssl shorthands.

trust_setup_home() {
  export HOME="$BATS_TEST_TMPDIR/home"
  unset XDG_DATA_HOME
  mkdir -p "$HOME"
  TRUST="$MOS_BIN/trust"
  KEYS="$HOME/.local/share/machine/trust/keys"
}

# Every path (hidden ones too), its mode and a checksum of every file, sorted.
tree_snapshot() {
  local dir=$1
  [ -e "$dir" ] || { echo "(absent)"; return; }
  (cd "$dir" && find . -printf '%p %m %y\n' | sort && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# Subject of a certificate as openssl prints it ("O = x, OU = y, CN = z").
subject_of() { openssl x509 -in "$1" -noout -subject -nameopt oneline | sed 's/^subject=//'; }

# Year of a certificate's notBefore / notAfter.
year_of() { openssl x509 -in "$1" -noout -"$2" | awk '{print $4}'; }

# The public key of a certificate, for openssl dgst -verify.
pubkey_of() { openssl x509 -in "$1" -pubkey -noout >"$2"; }

# A keyset in the original's layout, made with openssl alone: 0750 directories, 0640 files, and
# guid/uuid files ending with a newline as some snakeoil files do.
make_original_keyset() {
  local dir=$1 uuid
  mkdir -p "$dir/manifest/default/sudi"
  local k
  for k in manifest-ca sudi-ca; do
    mkdir -p "$dir/$k"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/$k/privkey.pem" -out "$dir/$k/cert.pem" \
      -subj "/OU=PuzzleOS Machine Project snakeoil/CN=$k" -days 3650 \
      -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
  done
  for k in uefi-pk uefi-kek uefi-db; do
    mkdir -p "$dir/$k"
    cat /proc/sys/kernel/random/uuid >"$dir/$k/guid"   # with a newline
  done
  uuid=$(cat /proc/sys/kernel/random/uuid)
  echo "$uuid" >"$dir/manifest/default/uuid"
  openssl req -newkey rsa:2048 -nodes -keyout "$dir/manifest/default/privkey.pem" \
    -subj "/CN=manifest PRODUCT:$uuid" -out "$dir/req.csr" 2>/dev/null
  printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/req.csr" -CA "$dir/manifest-ca/cert.pem" -CAkey "$dir/manifest-ca/privkey.pem" \
    -days 3650 -extfile "$dir/ext.cnf" -out "$dir/manifest/default/cert.pem" 2>/dev/null
  rm -f "$dir/req.csr" "$dir/ext.cnf"
  find "$dir" -type d -exec chmod 0750 {} +
  find "$dir" -type f -exec chmod 0640 {} +
  find "$dir" -name privkey.pem -exec chmod 0600 {} +
  echo "$uuid"
}
