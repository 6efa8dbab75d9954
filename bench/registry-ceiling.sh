#!/usr/bin/env bash
# Benchmark: mos-registry against the ceiling of serving the same bytes over HTTP on this
# machine: nginx (Debian's nginx-light) serving the very same manifest and blob bytes as static
# files at the same paths, same wrk commands, same run, on 127.0.0.1, rounds alternating, medians.
#   1. manifest GET by tag, 64 connections          -> requests/s, p99
#   2. manifest GET by digest, 64 connections       -> requests/s, p99
#   3. blob GET of a 64 MiB blob, 4 connections     -> MB/s
#   4. 1 and 3 over TLS (same certificate, a second instance of each)
# Equal terms: nginx with as many workers as our I/O threads (--threads, default 2), sendfile
# on, tcp_nopush on, keepalive_requests high enough that wrk never reconnects, no access log
# (ours with -q).
# Last line: RESULT registry-ceiling ratio=R target=1.25, R = nginx's manifest GET by tag
# requests/s divided by ours.
#   bench/registry-ceiling.sh    (ROUNDS=3 DURATION=5; MOS_BIN=DIR uses programs from DIR)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-3}
duration=${DURATION:-5}
threads=${THREADS:-2}
result() { echo "RESULT registry-ceiling ratio=$1 target=1.25"; exit 0; }
command -v nginx >/dev/null || { echo "nginx is not installed (nginx-light)"; result nan; }
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || { echo "build failed"; result nan; }
  MOS_BIN=$top/build/release/bin
fi
work=$(mktemp -d /tmp/mos-bench-ceiling-XXXXXX)
chmod 755 "$work"  # nginx workers (www-data) read the files
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
. "$top/tests/e2e/helpers/registry.bash"
. "$top/tests/e2e/helpers/tls.bash"
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
make_tls_ca "$work/pki" ca && make_tls_server_cert "$work/pki" ca server || result nan

# The registry first: what it stores is what nginx then serves, byte for byte.
mos_port=$(free_port)
"$MOS_BIN/mos-registry" -q serve --root "$work/mos" --port "$mos_port" --threads "$threads" >"$work/mos.log" 2>&1 &
pids+=($!)
mos_tls_port=$(free_port)
"$MOS_BIN/mos-registry" -q serve --root "$work/mos" --port "$mos_tls_port" --threads "$threads" \
  --tls-cert "$work/pki/server.crt" --tls-key "$work/pki/server.key" >"$work/mos-tls.log" 2>&1 &
pids+=($!)
wait_for_http "http://127.0.0.1:$mos_port/v2/" "${pids[0]}" || { echo "mos-registry did not start"; result nan; }
echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$work/config.json"
head -c 4096 /dev/urandom >"$work/layer"
head -c $((64 << 20)) /dev/urandom >"$work/big"
digest() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
push_blob() { # FILE
  local loc
  loc=$(curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$mos_port/v2/bench/app/blobs/uploads/" | awk 'tolower($1)=="location:" {print $2}' | tr -d '\r')
  case $loc in http*) ;; *) loc="http://127.0.0.1:$mos_port$loc" ;; esac
  case $loc in *\?*) loc="$loc&" ;; *) loc="$loc?" ;; esac
  curl -fs -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "${loc}digest=$(digest "$1")"
}
for f in config.json layer big; do push_blob "$work/$f" || { echo "push failed"; result nan; }; done
cat >"$work/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$(digest "$work/config.json")","size":$(stat -c %s "$work/config.json")},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$(digest "$work/layer")","size":4096}]}
EOF
curl -fs -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$work/manifest.json" "http://127.0.0.1:$mos_port/v2/bench/app/manifests/latest" || result nan
mdigest=$(digest "$work/manifest.json")
bdigest=$(digest "$work/big")

# nginx: the same bytes at the same paths, the manifest's media type as ours sends it.
www=$work/www/v2/bench/app
mkdir -p "$www/manifests" "$www/blobs"
cp "$work/manifest.json" "$www/manifests/latest"
cp "$work/manifest.json" "$www/manifests/$mdigest"
cp "$work/big" "$www/blobs/$bdigest"
nginx_port=$(free_port)
nginx_tls_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF
worker_processes $threads;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log error;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  types { }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$nginx_port;
    listen 127.0.0.1:$nginx_tls_port ssl;
    ssl_certificate $work/pki/server.crt;
    ssl_certificate_key $work/pki/server.key;
    root $work/www;
    location /v2/bench/app/manifests/ { default_type application/vnd.oci.image.manifest.v1+json; }
  }
}
EOF
nginx -c "$work/nginx.conf" -p "$work/nginx" >"$work/nginx.out" 2>&1 &
pids+=($!)
wait_for_http "http://127.0.0.1:$nginx_port/v2/bench/app/manifests/latest" "${pids[-1]}" ||
  { echo "nginx did not start"; cat "$work/nginx.out" "$work/nginx/error.log"; result nan; }
for p in "$mos_port" "$nginx_port"; do
  cmp <(curl -fs "http://127.0.0.1:$p/v2/bench/app/manifests/latest") "$work/manifest.json" ||
    { echo "port $p does not serve the manifest's bytes"; result nan; }
done

# wrk_run URL CONNECTIONS [args]: prints "requests/s MB/s p99_ms"
wrk_run() {
  local url=$1 c=$2
  shift 2
  wrk -t2 -c"$c" -d"${duration}s" --latency "$@" "$url" >"$work/wrk.out" 2>&1
  awk '/Requests\/sec/ {r=$2}
       /Transfer\/sec/ {v=$2; if (v ~ /GB/) {sub(/GB/,"",v); v*=1024} else if (v ~ /MB/) sub(/MB/,"",v); else if (v ~ /KB/) {sub(/KB/,"",v); v/=1024} m=v}
       $1=="99%" {v=$2; if (v ~ /ms/) sub(/ms/,"",v); else if (v ~ /us/) {sub(/us/,"",v); v/=1000} else if (v ~ /s/) {sub(/s/,"",v); v*=1000} p=v}
       END {print r, m, p}' "$work/wrk.out"
}
declare -A res
for _ in $(seq 1 "$rounds"); do
  for name in mos nginx; do
    port=$([ $name = mos ] && echo "$mos_port" || echo "$nginx_port")
    tport=$([ $name = mos ] && echo "$mos_tls_port" || echo "$nginx_tls_port")
    read -r rps _ p99 < <(wrk_run "http://127.0.0.1:$port/v2/bench/app/manifests/latest" 64)
    res[$name,tag_rps]+="$rps "; res[$name,tag_p99]+="$p99 "
    read -r rps _ p99 < <(wrk_run "http://127.0.0.1:$port/v2/bench/app/manifests/$mdigest" 64)
    res[$name,digest_rps]+="$rps "; res[$name,digest_p99]+="$p99 "
    read -r _ mbs _ < <(wrk_run "http://127.0.0.1:$port/v2/bench/app/blobs/$bdigest" 4)
    res[$name,blob_mbs]+="$mbs "
    read -r rps _ p99 < <(wrk_run "https://127.0.0.1:$tport/v2/bench/app/manifests/latest" 64)
    res[$name,tls_rps]+="$rps "; res[$name,tls_p99]+="$p99 "
    read -r _ mbs _ < <(wrk_run "https://127.0.0.1:$tport/v2/bench/app/blobs/$bdigest" 4)
    res[$name,tls_blob_mbs]+="$mbs "
  done
done
med() { tr ' ' '\n' <<<"${res[$1]}" | grep -v '^$' | median; }
printf 'rounds %s x %ss, %s threads/workers, load %s\n' "$rounds" "$duration" "$threads" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %12s %12s %8s\n' "" mos-registry nginx ratio
row() { # LABEL KEY (ratio = nginx / ours for rates)
  local a b
  a=$(med "mos,$2")
  b=$(med "nginx,$2")
  printf '%-28s %12s %12s %8s\n' "$1" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "nan" }')"
}
row "manifest GET by tag req/s" tag_rps
row "  p99 ms" tag_p99
row "manifest GET by digest req/s" digest_rps
row "  p99 ms" digest_p99
row "64 MiB blob GET MB/s" blob_mbs
row "TLS manifest GET req/s" tls_rps
row "  p99 ms" tls_p99
row "TLS 64 MiB blob GET MB/s" tls_blob_mbs
result "$(awk -v a="$(med mos,tag_rps)" -v b="$(med nginx,tag_rps)" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "nan" }')"
