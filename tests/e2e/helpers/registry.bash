# Helpers for tests that run mos-registry and Debian's docker-registry on 127.0.0.1 and talk to
# them with curl. Every server a test starts is recorded and stopped by stop_registries.

# A TCP port on 127.0.0.1 that nothing listens on right now. Chosen below the kernel's
# ephemeral range, so no client connection of another test holds it when a server binds it.
free_port() {
  local port low=32768
  if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  fi
  [ "$low" -gt 11000 ] || low=32768
  for _ in $(seq 1 200); do
    port=$((10000 + RANDOM % (low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# Waits until URL answers (any HTTP status); fails if the process PID died first.
wait_for_http() {
  local url=$1 pid=$2
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "$url"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# start_mos_registry ROOT [extra serve args]: starts mos-registry on a free port; sets
# MOS_REGISTRY_PID, MOS_REGISTRY_PORT, MOS_REGISTRY (host:port) and MOS_REGISTRY_LOG.
start_mos_registry() {
  local root=$1
  shift
  MOS_REGISTRY_PORT=$(free_port)
  MOS_REGISTRY_LOG=${BATS_FILE_TMPDIR:-$BATS_TMPDIR}/mos-registry-$MOS_REGISTRY_PORT.log
  "$MOS_BIN/mos-registry" serve --root "$root" --address 127.0.0.1 --port "$MOS_REGISTRY_PORT" "$@" \
    >"$MOS_REGISTRY_LOG" 2>&1 &
  MOS_REGISTRY_PID=$!
  echo "$MOS_REGISTRY_PID" >>"${BATS_FILE_TMPDIR:-$BATS_TMPDIR}/registry-pids"
  MOS_REGISTRY=127.0.0.1:$MOS_REGISTRY_PORT
  wait_for_http "http://$MOS_REGISTRY/v2/" "$MOS_REGISTRY_PID" || {
    cat "$MOS_REGISTRY_LOG" >&2
    return 1
  }
  export MOS_REGISTRY MOS_REGISTRY_PID MOS_REGISTRY_PORT MOS_REGISTRY_LOG
}

# start_docker_registry DIR [USER PASS]: Debian's docker-registry (distribution 2.8) with storage
# in DIR and deletes enabled; with USER and PASS, Basic auth from an htpasswd file made by
# `htpasswd -B` (bcrypt, which distribution requires), realm "mos-registry" like ours; with
# DOCKER_REGISTRY_TLS="CERT KEY" in the environment, https with that PEM pair (plain http to it
# gets Go's "400 Client sent an HTTP request to an HTTPS server", which wait_for_http accepts).
# Sets DOCKER_REGISTRY (host:port), DOCKER_REGISTRY_PID and, with auth, DOCKER_REGISTRY_HTPASSWD.
start_docker_registry() {
  local dir=$1 user=${2:-} pass=${3:-} port auth= tls= attempt
  if [ -n "${DOCKER_REGISTRY_TLS:-}" ]; then
    read -r cert key <<<"$DOCKER_REGISTRY_TLS"
    tls="  tls:
    certificate: $cert
    key: $key"
  fi
  mkdir -p "$dir/storage"
  if [ -n "$user" ]; then
    htpasswd -Bbn "$user" "$pass" >"$dir/htpasswd"
    auth="auth:
  htpasswd:
    realm: mos-registry
    path: $dir/htpasswd"
    DOCKER_REGISTRY_HTPASSWD=$dir/htpasswd
    export DOCKER_REGISTRY_HTPASSWD
  fi
  # free_port only knows nothing listens there: a client socket may hold the port, so a bind
  # failure is retried on another one.
  for attempt in 1 2 3; do
    port=$(free_port)
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
$auth
http:
  addr: 127.0.0.1:$port
$tls
EOF
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    DOCKER_REGISTRY_PID=$!
    echo "$DOCKER_REGISTRY_PID" >>"${BATS_FILE_TMPDIR:-$BATS_TMPDIR}/registry-pids"
    DOCKER_REGISTRY=127.0.0.1:$port
    if wait_for_http "http://$DOCKER_REGISTRY/v2/" "$DOCKER_REGISTRY_PID"; then
      export DOCKER_REGISTRY DOCKER_REGISTRY_PID
      return 0
    fi
    grep -q "address already in use" "$dir/log" && [ "$attempt" -lt 3 ] || break
  done
  cat "$dir/log" >&2
  return 1
}

# wait_for_log TEXT: mos-registry's log gets a line containing TEXT within 30 s (it writes the
# line after the answer has gone out).
wait_for_log() {
  for _ in $(seq 1 300); do
    grep -qF -- "$1" "$MOS_REGISTRY_LOG" && return 0
    sleep 0.1
  done
  echo "no log line with '$1':" >&2
  tail -20 "$MOS_REGISTRY_LOG" >&2
  return 1
}

stop_registries() {
  local pids=${BATS_FILE_TMPDIR:-$BATS_TMPDIR}/registry-pids pid
  [ -f "$pids" ] || return 0
  while read -r pid; do
    kill "$pid" 2>/dev/null || true
  done <"$pids"
  while read -r pid; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done <"$pids"
  rm -f "$pids"
}

# ---- curl wrappers: req METHOD URL [curl args...] sets STATUS, and the files $HDRS and $BODY.

OCI_ACCEPT="application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json"

req() {
  local method=$1 url=$2
  shift 2
  HDRS=$BATS_TEST_TMPDIR/headers
  BODY=$BATS_TEST_TMPDIR/body
  if [ "$method" = HEAD ]; then
    STATUS=$(curl -s --path-as-is -I -o /dev/null -D "$HDRS" -w '%{http_code}' "$@" "$url")
    : >"$BODY"
  else
    STATUS=$(curl -s --path-as-is -X "$method" -o "$BODY" -D "$HDRS" -w '%{http_code}' "$@" "$url")
  fi
}

# The value of a response header (case-insensitive name), without the trailing CR.
hdr() {
  grep -i "^$1:" "$HDRS" | tail -1 | cut -d: -f2- | sed -e 's/^ *//' -e 's/\r$//'
}

# expect_status CODE...: the last response had one of these statuses.
expect_status() {
  local code
  for code in "$@"; do [ "$STATUS" = "$code" ] && return 0; done
  echo "expected HTTP status $*, got $STATUS" >&2
  cat "$HDRS" "$BODY" >&2
  return 1
}

# expect_error CODE: the body is an OCI error body naming CODE.
expect_error() {
  jq -e --arg c "$1" '.errors | map(.code) | index($c) != null' "$BODY" >/dev/null || {
    echo "expected an OCI error body with code $1, got:" >&2
    cat "$BODY" >&2
    return 1
  }
}

expect_header() {
  local value
  value=$(hdr "$1")
  if [ -z "$value" ]; then
    echo "missing header $1" >&2
    cat "$HDRS" >&2
    return 1
  fi
  if [ $# -ge 2 ] && [ "$value" != "$2" ]; then
    echo "header $1 is '$value', expected '$2'" >&2
    return 1
  fi
}

sha256_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# An absolute URL for a Location header (which may be relative).
absolute() {
  case $1 in
    http://*) echo "$1" ;;
    *) echo "http://$REG$1" ;;
  esac
}

# Appends a query parameter to a URL that may already have a query.
with_query() {
  case $1 in
    *\?*) echo "$1&$2" ;;
    *) echo "$1?$2" ;;
  esac
}

# push_blob REPO FILE: monolithic POST+PUT to $REG; prints the digest.
push_blob() {
  local repo=$1 file=$2 digest location
  digest=$(sha256_of "$file")
  req POST "http://$REG/v2/$repo/blobs/uploads/"
  expect_status 202 || return 1
  location=$(absolute "$(hdr Location)")
  req PUT "$(with_query "$location" "digest=$digest")" -H 'Content-Type: application/octet-stream' --data-binary "@$file"
  expect_status 201 || return 1
  echo "$digest"
}

# make_manifest CONFIG_FILE LAYER_FILE [SUBJECT_DIGEST SUBJECT_SIZE ARTIFACT_TYPE]: an OCI image
# manifest JSON (compact) naming the files' digests and sizes.
make_manifest() {
  local config=$1 layer=$2
  local m
  m=$(jq -cn --arg cd "$(sha256_of "$config")" --argjson cs "$(stat -c %s "$config")" \
    --arg ld "$(sha256_of "$layer")" --argjson ls "$(stat -c %s "$layer")" \
    '{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
      config:{mediaType:"application/vnd.oci.image.config.v1+json", digest:$cd, size:$cs},
      layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar", digest:$ld, size:$ls}]}')
  if [ $# -ge 5 ]; then
    m=$(echo "$m" | jq -c --arg sd "$3" --argjson ss "$4" --arg at "$5" \
      '. + {artifactType:$at, subject:{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$sd, size:$ss}, annotations:{"org.example.kind":$at}}')
  fi
  echo "$m"
}
