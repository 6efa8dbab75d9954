#!/usr/bin/env bash
# Benchmark: mos-registry against Debian's docker-registry (distribution 2.8), same data, same
# run, on 127.0.0.1:
#   1. manifest GET by tag, 64 connections (wrk)        -> requests/s, p99 latency
#   2. manifest HEAD by digest, 64 concurrent clients (ab -i; wrk 4.1 cannot parse HEAD answers
#      that carry Content-Length, and ab only without keep-alive, so each HEAD is a new
#      connection for both servers)                      -> requests/s, p99 latency
#   3. blob GET of a 64 MiB blob, 4 connections (wrk)   -> MB/s
#   4. 16 concurrent clients pushing distinct 16 MiB blobs (curl POST+PUT) -> MB/s
#   5. over TLS (a second instance of each server on the same storage, same certificate):
#      manifest GET at 64 connections and the 64 MiB blob GET (wrk, https)
# and each server's peak RSS (of the plain instances). Rounds: $ROUNDS (default 3), medians reported.
# Last line: RESULT registry ratio=R target=0.33, R = docker-registry's manifest GET requests/s
# divided by ours (our cost / peer cost; lower is better). Exits 0 whether or not it is met.
#   bench/registry.sh            (builds build/release; MOS_BIN=DIR uses programs from DIR)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-3}
duration=${DURATION:-5}
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || { echo "build failed"; echo "RESULT registry ratio=inf target=0.33"; exit 0; }
  MOS_BIN=$top/build/release/bin
fi
work=$(mktemp -d /tmp/mos-bench-registry-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# free_port (and wait_for_http) as the end-to-end tests use them.
. "$top/tests/e2e/helpers/registry.bash"
wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "http://$1/v2/" && return 0; sleep 0.1; done; return 1; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

mos_port=$(free_port)
"$MOS_BIN/mos-registry" -q serve --root "$work/mos" --port "$mos_port" >"$work/mos.log" 2>&1 &
mos_pid=$!
pids+=("$mos_pid")
docker_port=$(free_port)
mkdir -p "$work/docker"
cat >"$work/docker.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/docker
http:
  addr: 127.0.0.1:$docker_port
EOF
docker-registry serve "$work/docker.yml" >"$work/docker.log" 2>&1 &
docker_pid=$!
pids+=("$docker_pid")
wait_up "127.0.0.1:$mos_port" && wait_up "127.0.0.1:$docker_port" || { echo "servers did not start"; echo "RESULT registry ratio=inf target=0.33"; exit 0; }

# Same data in both: a small image (config + layer + manifest) and a 64 MiB blob.
echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$work/config.json"
head -c 4096 /dev/urandom >"$work/layer"
head -c $((64 << 20)) /dev/urandom >"$work/big"
for i in $(seq 1 16); do head -c $((16 << 20)) /dev/urandom >"$work/push$i"; done
# Digests are computed once, before any timing: the push figures measure the servers, not
# sha256sum in 16 clients.
digest() {
  [ -f "$1.digest" ] || echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)" >"$1.digest"
  cat "$1.digest"
}
for i in $(seq 1 16); do digest "$work/push$i" >/dev/null; done
push_blob() { # HOST REPO FILE
  local loc
  loc=$(curl -s -D - -o /dev/null -X POST "http://$1/v2/$2/blobs/uploads/" | awk 'tolower($1)=="location:" {print $2}' | tr -d '\r')
  case $loc in http*) ;; *) loc="http://$1$loc" ;; esac
  case $loc in *\?*) loc="$loc&" ;; *) loc="$loc?" ;; esac
  curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary "@$3" "${loc}digest=$(digest "$3")"
}
cat >"$work/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$(digest "$work/config.json")","size":$(stat -c %s "$work/config.json")},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$(digest "$work/layer")","size":4096}]}
EOF
mdigest=$(digest "$work/manifest.json")
for host in "127.0.0.1:$mos_port" "127.0.0.1:$docker_port"; do
  for f in config.json layer big; do push_blob "$host" bench/app "$work/$f" >/dev/null; done
  curl -s -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$work/manifest.json" "http://$host/v2/bench/app/manifests/latest"
done
accept='Accept: application/vnd.oci.image.manifest.v1+json'

# ab_head URL: prints "requests/s p99_ms" for HEAD requests.
ab_head() {
  ab -i -c 64 -n "${HEAD_REQUESTS:-10000}" -H "$accept" "$1" >"$work/ab.out" 2>&1
  echo "$(awk '/Requests per second/ {print $4}' "$work/ab.out") $(awk '$1=="99%" {print $2}' "$work/ab.out")"
}

# wrk_run URL CONNECTIONS [args]: prints "requests/s MB/s p99_ms"
wrk_run() {
  local url=$1 c=$2
  shift 2
  wrk -t2 -c"$c" -d"${duration}s" --latency "$@" "$url" >"$work/wrk.out" 2>&1
  local rps mbs p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  mbs=$(awk '/Transfer\/sec/ {v=$2; if (v ~ /GB/) {sub(/GB/,"",v); v*=1024} else if (v ~ /MB/) sub(/MB/,"",v); else if (v ~ /KB/) {sub(/KB/,"",v); v/=1024} print v}' "$work/wrk.out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /ms/) sub(/ms/,"",v); else if (v ~ /us/) {sub(/us/,"",v); v/=1000} else if (v ~ /s/) {sub(/s/,"",v); v*=1000} print v}' "$work/wrk.out")
  echo "${rps:-0} ${mbs:-0} ${p99:-0}"
}

# push16 HOST ROUND: 16 clients push distinct 16 MiB blobs at once; prints MB/s.
push16() {
  local host=$1 round=$2 start end i
  start=$(date +%s.%N)
  for i in $(seq 1 16); do push_blob "$host" "bench/push$round-$i" "$work/push$i" >/dev/null & done
  wait
  end=$(date +%s.%N)
  echo "$start $end" | awk '{printf "%.1f", 256 / ($2 - $1)}'
}

declare -A res
for name in mos docker; do
  port=$([ $name = mos ] && echo "$mos_port" || echo "$docker_port")
  host=127.0.0.1:$port
  for r in $(seq 1 "$rounds"); do
    read -r rps _ p99 < <(wrk_run "http://$host/v2/bench/app/manifests/latest" 64 -H "$accept")
    res[$name,get_rps]+="$rps "; res[$name,get_p99]+="$p99 "
    read -r rps p99 < <(ab_head "http://$host/v2/bench/app/manifests/$mdigest")
    res[$name,head_rps]+="$rps "; res[$name,head_p99]+="$p99 "
    read -r _ mbs _ < <(wrk_run "http://$host/v2/bench/app/blobs/$(digest "$work/big")" 4)
    res[$name,blob_mbs]+="$mbs "
    res[$name,push_mbs]+="$(push16 "$host" "$r") "
  done
done
med() { echo "${res[$1]}" | tr ' ' '\n' | grep -v '^$' | median; }
printf '%-16s %14s %14s\n' "" mos-registry docker-registry
printf '%-16s %14s %14s\n' "GET rps" "$(med mos,get_rps)" "$(med docker,get_rps)"
printf '%-16s %14s %14s\n' "GET p99 ms" "$(med mos,get_p99)" "$(med docker,get_p99)"
printf '%-16s %14s %14s\n' "HEAD rps" "$(med mos,head_rps)" "$(med docker,head_rps)"
printf '%-16s %14s %14s\n' "HEAD p99 ms" "$(med mos,head_p99)" "$(med docker,head_p99)"
printf '%-16s %14s %14s\n' "blob GET MB/s" "$(med mos,blob_mbs)" "$(med docker,blob_mbs)"
printf '%-16s %14s %14s\n' "push16 MB/s" "$(med mos,push_mbs)" "$(med docker,push_mbs)"
printf '%-16s %14s %14s\n' "peak RSS MiB" "$(peak_rss_mib "$mos_pid")" "$(peak_rss_mib "$docker_pid")"

# TLS: one more instance of each on the same storage, with a throw-away certificate.
. "$top/tests/e2e/helpers/tls.bash"
make_tls_ca "$work/pki" ca && make_tls_server_cert "$work/pki" ca server
mos_tls_port=$(free_port)
"$MOS_BIN/mos-registry" -q serve --root "$work/mos" --port "$mos_tls_port" \
  --tls-cert "$work/pki/server.crt" --tls-key "$work/pki/server.key" >"$work/mos-tls.log" 2>&1 &
pids+=("$!")
docker_tls_port=$(free_port)
sed -e "s/127.0.0.1:$docker_port/127.0.0.1:$docker_tls_port/" "$work/docker.yml" >"$work/docker-tls.yml"
printf '  tls:\n    certificate: %s\n    key: %s\n' "$work/pki/server.crt" "$work/pki/server.key" >>"$work/docker-tls.yml"
docker-registry serve "$work/docker-tls.yml" >"$work/docker-tls.log" 2>&1 &
pids+=("$!")
wait_tls() { for _ in $(seq 1 100); do curl -s -o /dev/null --cacert "$work/pki/ca.crt" "https://$1/v2/" && return 0; sleep 0.1; done; return 1; }
if wait_tls "127.0.0.1:$mos_tls_port" && wait_tls "127.0.0.1:$docker_tls_port"; then
  for name in mos docker; do
    port=$([ $name = mos ] && echo "$mos_tls_port" || echo "$docker_tls_port")
    for r in $(seq 1 "$rounds"); do
      read -r rps _ _ < <(wrk_run "https://127.0.0.1:$port/v2/bench/app/manifests/latest" 64 -H "$accept")
      res[$name,tls_get_rps]+="$rps "
      read -r _ mbs _ < <(wrk_run "https://127.0.0.1:$port/v2/bench/app/blobs/$(digest "$work/big")" 4)
      res[$name,tls_blob_mbs]+="$mbs "
    done
  done
  printf '%-16s %14s %14s\n' "TLS GET rps" "$(med mos,tls_get_rps)" "$(med docker,tls_get_rps)"
  printf '%-16s %14s %14s\n' "TLS blob MB/s" "$(med mos,tls_blob_mbs)" "$(med docker,tls_blob_mbs)"
  # Throughput: ours over the peer's (higher is better; the issue's target is 1.2).
  printf '%-16s %14s %14s\n' "TLS blob ours/peer" \
    "$(awk -v m="$(med mos,tls_blob_mbs)" -v d="$(med docker,tls_blob_mbs)" 'BEGIN { if (d > 0) printf "%.2f", m / d; else print "nan" }')" "(target 1.2)"
else
  echo "TLS instances did not start"
fi
ratio=$(awk -v d="$(med docker,get_rps)" -v m="$(med mos,get_rps)" 'BEGIN { if (m > 0) printf "%.3f", d / m; else print "inf" }')
echo "RESULT registry ratio=$ratio target=0.33"
