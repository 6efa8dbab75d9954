# Debian's docker-registry (distribution 2.8) with TLS, for tests of how clients find and trust a
# TLS registry. Load helpers/registry first (free_port, wait_for_http, stop_registries).

# start_docker_registry_tls DIR CERT KEY: docker-registry on 127.0.0.1 serving https with CERT
# and KEY (PEM), storage in DIR. Sets DOCKER_TLS_REGISTRY (host:port) and DOCKER_TLS_REGISTRY_PID.
start_docker_registry_tls() {
  local dir=$1 cert=$2 key=$3 port attempt
  mkdir -p "$dir/storage"
  for attempt in 1 2 3; do
    port=$(free_port)
    cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $cert
    key: $key
YAML
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    DOCKER_TLS_REGISTRY_PID=$!
    echo "$DOCKER_TLS_REGISTRY_PID" >>"${BATS_FILE_TMPDIR:-$BATS_TMPDIR}/registry-pids"
    DOCKER_TLS_REGISTRY=127.0.0.1:$port
    # Plain http to its TLS port gets Go's "400 Client sent an HTTP request to an HTTPS server".
    if wait_for_http "http://$DOCKER_TLS_REGISTRY/v2/" "$DOCKER_TLS_REGISTRY_PID"; then
      export DOCKER_TLS_REGISTRY DOCKER_TLS_REGISTRY_PID
      return 0
    fi
    grep -q "address already in use" "$dir/log" && [ "$attempt" -lt 3 ] || break
  done
  cat "$dir/log" >&2
  return 1
}
