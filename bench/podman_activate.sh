# shellcheck shell=bash
# The podman half of bench/activate.sh, a library of bash functions (source it; it runs nothing
# by itself). The benchmark: start N container services until each answers HTTP on its
# forwarded port, ours (`mosctl boot` of an installed root) against `podman run -d -p` of the
# same N root filesystems, imported as tar-layer images into podman's storage (podman cannot
# run squashfs layers), in the same run; and the summed RSS of what stays beside the services
# (for podman: one conmon per container).
#
#   make_httpd_rootfs DIR [NAME]          a busybox httpd service's root filesystem
#   wait_http_ports PORT...               until http://127.0.0.1:PORT$WAIT_HTTP_PATH answers for
#                                         each (for both sides; the path defaults to /; all
#                                         pending ports at once, 0.2 s an attempt)
#   podman_setup WORK                     private podman state under WORK (nothing else touched)
#   podman_import_rootfs DIR IMAGE [ENTRYPOINT_JSON]
#   podman_start_and_wait N IMAGE_PREFIX [PARALLEL]
#                                         podman run -d -p 127.0.0.1:PORT:80 IMAGE_PREFIX1..N,
#                                         until every port answers; prints the wall seconds
#   podman_conmon_rss_kib                 "COUNT RSS_KIB PSS_KIB" of our containers' conmons
#   podman_remove_containers              removes them (between rounds)
#   podman_cleanup                        containers, images, network, state: all gone
#
# What podman 4.3.1 (Debian 12) needs on these machines, as found on a Firecracker VM (root,
# PID 1 is not systemd, cgroups v1 hybrid: v1 controllers under /sys/fs/cgroup plus an empty
# cgroup2 at /sys/fs/cgroup/unified; iptables-nft; no netavark, no slirp4netns, no pasta):
# - --cgroup-manager=cgroupfs and --events-backend=file. Without systemd podman picks both
#   itself, but says so explicitly here so a machine with systemd runs the same configuration.
#   With cgroupfs on v1 the containers and their conmon processes go under
#   /sys/fs/cgroup/<controller>/libpod_parent/ (podman_cleanup removes the libpod_parent
#   directories it created).
# - The OCI runtime is runc (package runc), not Debian's default crun: crun 1.8 refuses hybrid
#   mode whenever the cgroup2 hierarchy has a controller ("cgroups in hybrid mode not supported,
#   drop all controllers from cgroupv2"; here /sys/fs/cgroup/unified offers hugetlb), even with
#   --cgroups=disabled. podman_setup picks runc in that case, crun otherwise; PODMAN_RUNTIME
#   overrides. runc (Go) starts a container somewhat slower than crun (C): a handicap of the
#   peer on these machines that the figures should mention.
# - The network backend is CNI (containernetworking-plugins in /usr/lib/cni): podman 4.3 takes
#   netavark only when it is installed. The choice is pinned by writing "cni" to
#   ROOT/defaultNetworkBackend (where podman records its choice) before podman first runs.
# - The network is our own CNI conflist in a private --network-config-dir, the same plugins as
#   Debian's /etc/cni/net.d/87-podman-bridge.conflist (bridge with isGateway, ipMasq and
#   hairpinMode, portmap, firewall, tuning) but its own bridge (mosbenchPID), subnet
#   (10.213.0.0/24, PODMAN_SUBNET=A.B.C picks another) and host-local IPAM dataDir under WORK,
#   so nothing is written to /etc/cni and the address leases stay under WORK.
# - -p 127.0.0.1:HOSTPORT:80 binds only loopback: rootful podman holds the host port open in
#   conmon (127.0.0.1:HOSTPORT, checked with ss) and portmap DNATs 127.0.0.1:HOSTPORT in the nat
#   OUTPUT chain, setting route_localnet=1 on the bridge so that loopback traffic may be routed
#   to it.
# - The CNI plugins change host state podman does not undo: the bridge plugin sets
#   net.ipv4.ip_forward=1 (isGateway), the bridge interface stays after the last container, and
#   portmap/firewall/ipMasq leave their CNI-* iptables chains (and iptables-nft creates the
#   filter and nat tables on first use); libcni keeps its cache in /var/lib/cni/results, which
#   podman gives no way to move. podman_setup records ip_forward, the existing tables and chains
#   and whether /var/lib/cni exists; podman_cleanup restores ip_forward, deletes the bridge, the
#   CNI chains and empty tables that were not there before, and an empty /var/lib/cni it made.
# - The sandbox these machines run in withholds CAP_SYS_RESOURCE even from root (CapEff
#   0x1fffeffffff), and the hard RLIMIT_NOFILE is 20000: rootful podman asks the runtime for
#   nofile=1048576 and every run fails with "crun: setrlimit `RLIMIT_NOFILE`: Operation not
#   permitted". Where the capability is missing, --ulimit nofile=H:H (the caller's hard limit)
#   --ulimit nproc=32768:32768 are added: podman 4.3 has no working `--ulimit host`, asks for
#   nproc=1048576 once nofile is given, and lowers its own hard RLIMIT_NPROC to 32768 when it
#   starts (strace), so the runtime (its grandchild) cannot set more than that.
# - Storage: --storage-driver=overlay (native overlayfs works on ext4 here), --root, --runroot,
#   --tmpdir and --volumepath under WORK, TMPDIR=WORK/vartmp for import's scratch files. Nothing
#   under /var/lib/containers, /run/containers or /run/libpod is created. (Running plain
#   `podman info` once creates all three.)
# - The images: `tar -C DIR -c . | podman import --change 'ENTRYPOINT [...]' - NAME`, one
#   uncompressed tar layer each; the N root filesystems differ (their index.html names them), so
#   podman stores N layers, as our side has N squashfs images.

# free_port, as the end-to-end tests and the other benchmarks use it.
declare -F free_port >/dev/null ||
  . "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/helpers/registry.bash"

# make_httpd_rootfs DIR [NAME]: Debian's static busybox (package busybox-static) serving DIR/www
# over HTTP on port 80: /bin/busybox (and /bin/sh), /www/index.html saying NAME, /etc/passwd
# and /etc/group with root. The entrypoint is HTTPD_ENTRYPOINT (busybox httpd in the foreground).
HTTPD_ENTRYPOINT='["/bin/busybox","httpd","-f","-p","80","-h","/www"]'
make_httpd_rootfs() {
  local dir=$1 name=${2:-$(basename "$1")}
  mkdir -p "$dir/bin" "$dir/www" "$dir/etc" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev"
  cp "${BUSYBOX:-/bin/busybox}" "$dir/bin/busybox" || return 1
  ln -sf busybox "$dir/bin/sh"
  printf 'root:x:0:0:root:/:/bin/sh\n' >"$dir/etc/passwd"
  printf 'root:x:0:\n' >"$dir/etc/group"
  printf '%s\n' "$name" >"$dir/www/index.html"
}

# wait_http_ports PORT...: polls http://127.0.0.1:PORT$WAIT_HTTP_PATH (default /) for every PORT
# until each has answered once with 2xx; fails after WAIT_HTTP_SECONDS (default 60). One pass is
# one curl trying every pending port at once (--parallel), each attempt given at most
# WAIT_HTTP_MAX_TIME seconds (default 0.2), 20 ms between passes. The short attempt matters: a
# SYN that is dropped (a port forward whose container is not on its bridge yet) is sent again
# only after TCP's 1 s initial retransmission timeout, so a longer attempt would report a port
# up to a second after it answers; and sequential attempts would add their stalls up.
wait_http_ports() {
  local port code url deadline=$(($(date +%s) + ${WAIT_HTTP_SECONDS:-60}))
  local -a pending=("$@") args
  local -A answered=()
  while [ "${#pending[@]}" -gt 0 ]; do
    args=()
    for port in "${pending[@]}"; do args+=(-o /dev/null "http://127.0.0.1:$port${WAIT_HTTP_PATH:-/}"); done
    while read -r code url; do
      case $code in 2??) url=${url#http://127.0.0.1:}; answered[${url%%/*}]=1 ;; esac
    done < <(curl --parallel --parallel-immediate --parallel-max 64 -s --max-time "${WAIT_HTTP_MAX_TIME:-0.2}" \
      -w '%{http_code} %{url_effective}\n' "${args[@]}" 2>/dev/null)
    local -a left=()
    for port in "${pending[@]}"; do [ -n "${answered[$port]:-}" ] || left+=("$port"); done
    pending=("${left[@]}")
    [ "${#pending[@]}" -eq 0 ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "wait_http_ports: no answer on port ${pending[*]}" >&2
      return 1
    fi
    sleep 0.02
  done
}

# podman_setup WORK: podman state under WORK (created if missing); sets PODMAN_WORK and the
# names podman_cmd uses.
podman_setup() {
  PODMAN_WORK=$1
  PODMAN_BRIDGE=mosbench$(($$ % 10000000))
  PODMAN_NETWORK=mosbench
  PODMAN_SUBNET=${PODMAN_SUBNET:-10.213.0}
  PODMAN_CONTAINERS=()
  PODMAN_IMAGES=()
  command -v podman >/dev/null || { echo "podman_setup: podman is not installed" >&2; return 1; }
  if [ ! -x /usr/lib/cni/bridge ] || [ ! -x /usr/lib/cni/portmap ]; then
    echo "podman_setup: CNI plugins missing (containernetworking-plugins)" >&2
    return 1
  fi
  if [ -n "$(ip -4 route show "$PODMAN_SUBNET.0/24")" ]; then
    echo "podman_setup: $PODMAN_SUBNET.0/24 is routed already (set PODMAN_SUBNET=A.B.C)" >&2
    return 1
  fi
  # crun refuses cgroups v1 hybrid mode while the cgroup2 hierarchy has a controller.
  if [ -z "${PODMAN_RUNTIME:-}" ]; then
    PODMAN_RUNTIME=crun
    if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ] && [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]; then
      PODMAN_RUNTIME=runc
    fi
  fi
  command -v "$PODMAN_RUNTIME" >/dev/null ||
    { echo "podman_setup: $PODMAN_RUNTIME is not installed (package $PODMAN_RUNTIME)" >&2; return 1; }
  mkdir -p "$PODMAN_WORK"/{root,runroot,tmp,vartmp,volumes,net,ipam}
  printf cni >"$PODMAN_WORK/root/defaultNetworkBackend"  # no newline: podman compares it whole
  cat >"$PODMAN_WORK/net/$PODMAN_NETWORK.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$PODMAN_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$PODMAN_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$PODMAN_WORK/ipam",
        "routes": [{ "dst": "0.0.0.0/0" }],
        "ranges": [[{ "subnet": "$PODMAN_SUBNET.0/24", "gateway": "$PODMAN_SUBNET.1" }]]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "firewall" },
    { "type": "tuning" }
  ]
}
EOF
  PODMAN_IP_FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)
  PODMAN_TABLES_BEFORE=$(podman_nft_tables)
  PODMAN_CNI_CACHE_BEFORE=$([ -e /var/lib/cni ] && echo yes)
  PODMAN_CHAINS_BEFORE=$(podman_iptables_chains)
  PODMAN_CGROUPS_BEFORE=$(ls -d /sys/fs/cgroup/*/libpod_parent 2>/dev/null || true)
  PODMAN_RUN_ARGS=()
  # Without CAP_SYS_RESOURCE (bit 24) rootful podman's RLIMIT_NOFILE of 1048576 cannot be set.
  local cap
  cap=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
  if (((0x$cap >> 24) & 1)); then :; else
    # podman lowers its own RLIMIT_NPROC to 32768 when it starts, so no more than that.
    PODMAN_RUN_ARGS+=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=32768:32768)
    PODMAN_RUN_ARGS=("${PODMAN_RUN_ARGS[@]//unlimited/-1}")
  fi
}

# The nftables tables that exist, "FAMILY NAME" a line (iptables-nft creates ip filter, ip nat
# and ip6 nat when the plugins first use them).
podman_nft_tables() {
  command -v nft >/dev/null && nft list tables 2>/dev/null | awk '$1 == "table" {print $2, $3}'
}

# Every "TABLE CHAIN" of iptables (filter, nat, mangle), one a line.
podman_iptables_chains() {
  local t
  for t in filter nat mangle; do
    iptables -t "$t" -S 2>/dev/null | awk -v t="$t" '$1 == "-N" {print t, $2}'
  done
}

# podman_cmd ARGS...: podman on the private state.
podman_cmd() {
  TMPDIR=$PODMAN_WORK/vartmp podman \
    --root "$PODMAN_WORK/root" --runroot "$PODMAN_WORK/runroot" --tmpdir "$PODMAN_WORK/tmp" \
    --volumepath "$PODMAN_WORK/volumes" --network-config-dir "$PODMAN_WORK/net" \
    --storage-driver overlay --cgroup-manager cgroupfs --events-backend file \
    --runtime "$PODMAN_RUNTIME" "$@"
}

# podman_import_rootfs DIR IMAGE [ENTRYPOINT_JSON]: DIR as a one-layer (tar) image IMAGE:latest.
podman_import_rootfs() {
  local dir=$1 image=$2 entrypoint=${3:-$HTTPD_ENTRYPOINT}
  tar -C "$dir" --numeric-owner -cf - . |
    podman_cmd import --quiet --change "ENTRYPOINT $entrypoint" - "$image" >/dev/null || return 1
  PODMAN_IMAGES+=("$image")
}

# podman_free_ports N: N distinct free loopback ports (free_port from tests/e2e/helpers).
podman_free_ports() {
  local n=$1 port
  local -A seen=()
  while [ "${#seen[@]}" -lt "$n" ]; do
    port=$(free_port) || return 1
    [ -n "${seen[$port]:-}" ] && continue
    seen[$port]=1
    echo "$port"
  done
}

# podman_start_and_wait N IMAGE_PREFIX [PARALLEL]: runs IMAGE_PREFIX1..N, each with
# `podman run -d -p 127.0.0.1:PORT:80` on a free port, then polls every port
# (wait_http_ports) until each answers (HTTP 2xx). PARALLEL=1 (default) starts the N `podman run`
# at once, as a boot starts its services; 0 one after the other. Prints the wall seconds from
# the first `podman run` to the last answer and sets PODMAN_WALL to them, and PODMAN_PORTS to the
# host ports (call it directly, not in $(...), to keep them). Fails after 60 s.
podman_start_and_wait() {
  local n=$1 prefix=$2 parallel=${3:-1} i pid start end ok
  mapfile -t PODMAN_PORTS < <(podman_free_ports "$n")
  [ "${#PODMAN_PORTS[@]}" -eq "$n" ] || { echo "podman_start_and_wait: no free ports" >&2; return 1; }
  local -a pids=()
  for i in $(seq 1 "$n"); do PODMAN_CONTAINERS+=("mosbench-$i"); done
  start=$(date +%s.%N)
  for i in $(seq 1 "$n"); do
    local run=(podman_cmd run -d --name "mosbench-$i" --network "$PODMAN_NETWORK" "${PODMAN_RUN_ARGS[@]}"
      -p "127.0.0.1:${PODMAN_PORTS[i - 1]}:80" "$prefix$i")
    if [ "$parallel" = 1 ]; then
      "${run[@]}" >/dev/null &
      pids+=($!)
    else
      "${run[@]}" >/dev/null || { echo "podman_start_and_wait: podman run $prefix$i failed" >&2; return 1; }
    fi
  done
  ok=1
  for pid in "${pids[@]}"; do wait "$pid" || ok=0; done
  [ "$ok" = 1 ] || { echo "podman_start_and_wait: a podman run failed" >&2; return 1; }
  wait_http_ports "${PODMAN_PORTS[@]}" || return 1
  end=$(date +%s.%N)
  PODMAN_WALL=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
  echo "$PODMAN_WALL"
}

# podman_remove_containers: stops and removes the containers podman_start_and_wait started
# (between rounds; the images stay).
podman_remove_containers() {
  [ "${#PODMAN_CONTAINERS[@]}" -gt 0 ] || return 0
  podman_cmd rm -f -t 0 "${PODMAN_CONTAINERS[@]}" >/dev/null
  PODMAN_CONTAINERS=()
}

# The PIDs of the conmon processes of our containers (their command line names our state).
podman_conmon_pids() {
  local pid
  for pid in $(pgrep -x conmon); do
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$PODMAN_WORK/" && echo "$pid"
  done
}

# podman_conmon_rss_kib: "COUNT RSS_KIB PSS_KIB": how many conmon processes our containers
# have, their summed VmRSS (/proc/PID/status) and their summed Pss (/proc/PID/smaps_rollup,
# which divides the pages they share among them).
podman_conmon_rss_kib() {
  local pid count=0 rss=0 pss=0 v
  for pid in $(podman_conmon_pids); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
    [ -n "$v" ] || continue
    count=$((count + 1))
    rss=$((rss + v))
    v=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
    pss=$((pss + ${v:-0}))
  done
  echo "$count $rss $pss"
}

# podman_cleanup: removes our containers and images, unmounts and deletes PODMAN_WORK, and
# undoes what the CNI plugins left (bridge, CNI-* chains, ip_forward, libpod_parent cgroups).
# Safe to call twice and after a partial setup.
podman_cleanup() {
  [ -n "${PODMAN_WORK:-}" ] && [ -d "$PODMAN_WORK" ] || return 0
  podman_cmd rm -af -t 0 >/dev/null 2>&1
  podman_cmd rmi -af >/dev/null 2>&1
  local pid
  for pid in $(podman_conmon_pids); do kill "$pid" 2>/dev/null; done
  # Whatever is still mounted under the state (overlay, shm) goes before the files do.
  local m
  awk -v w="$PODMAN_WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  ip link show "$PODMAN_BRIDGE" >/dev/null 2>&1 && ip link delete "$PODMAN_BRIDGE"
  local table chain
  while read -r table chain; do
    [ -n "$chain" ] || continue
    case $chain in CNI-*) ;; *) continue ;; esac
    grep -qx "$table $chain" <<<"$PODMAN_CHAINS_BEFORE" && continue
    # Drop the rules that jump to it, then the chain.
    iptables -t "$table" -S 2>/dev/null | awk -v c="$chain" '$1 == "-A" && $0 ~ (" -j " c "( |$)") {sub(/^-A/, "-D"); print}' |
      while read -r rule; do eval "iptables -t $table $rule" 2>/dev/null; done
    iptables -t "$table" -F "$chain" 2>/dev/null
  done < <(podman_iptables_chains)
  while read -r table chain; do
    case $chain in CNI-*) ;; *) continue ;; esac
    grep -qx "$table $chain" <<<"$PODMAN_CHAINS_BEFORE" || iptables -t "$table" -X "$chain" 2>/dev/null
  done < <(podman_iptables_chains)
  # Tables iptables-nft created for the plugins, once no rule is left in them.
  local family name
  while read -r family name; do
    [ -n "$name" ] || continue
    grep -qx "$family $name" <<<"${PODMAN_TABLES_BEFORE:-}" && continue
    nft list table "$family" "$name" 2>/dev/null |
      grep -qvE '^[[:space:]]*(table .*\{|chain .*\{|type .*;|\}|)[[:space:]]*$' ||
      nft delete table "$family" "$name" 2>/dev/null
  done < <(podman_nft_tables)
  [ -n "${PODMAN_IP_FORWARD:-}" ] && echo "$PODMAN_IP_FORWARD" >/proc/sys/net/ipv4/ip_forward
  # libcni's cache (/var/lib/cni/results, not configurable through podman), if it was not there.
  if [ -z "${PODMAN_CNI_CACHE_BEFORE:-}" ] && [ -d /var/lib/cni ]; then
    find /var/lib/cni -depth -type d -empty -delete 2>/dev/null
  fi
  local d
  for d in /sys/fs/cgroup/*/libpod_parent; do
    [ -d "$d" ] || continue
    grep -qxF "$d" <<<"${PODMAN_CGROUPS_BEFORE:-}" && continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$PODMAN_WORK"
  PODMAN_WORK=
}
