# A throw-away certificate authority and a server certificate for 127.0.0.1, made with the
# openssl CLI, for tests that run registries with TLS.

# make_tls_ca DIR NAME: DIR/NAME.crt and DIR/NAME.key, a self-signed P-256 CA.
make_tls_ca() {
  local dir=$1 name=$2
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$name" -keyout "$dir/$name.key" -out "$dir/$name.crt" 2>/dev/null
}

# make_tls_server_cert DIR CA NAME: DIR/NAME.crt (issued by DIR/CA) and DIR/NAME.key for
# 127.0.0.1 and localhost.
make_tls_server_cert() {
  local dir=$1 ca=$2 name=$3
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
}
