#!/usr/bin/env bash
# Benchmark: start N (default 10) container services from an installed root until each answers
# HTTP on its forwarded port — `mosctl boot --root ROOT` in a network namespace of its own —
# against `podman run -d -p` of the same N root filesystems (tar-layer images in a private podman
# storage) until each answers, in the same run, rounds alternating, medians. Plus the summed RSS
# (VmRSS) and PSS of every process of ours beside the services: boot (mosctl boot, which becomes
# the lean mosctl-boot program) and the per-container monitors it starts (mos-lxc-monitor; the
# processes under boot that are in boot's pid namespace, i.e. not inside a container); podman's
# conmon processes likewise. Each monitor becomes the container's reaper (mos-container-reaper,
# the same process) once its container runs: the memory figures are taken once every port
# answers and every monitor has become its reaper. Inside each container, liblxc's init (pid 1, a fork of the monitor
# running liblxc's lxc_container_init, the same code as init.lxc.static) is reported apart.
#   bench/activate.sh [ROUNDS] [N]   (MOS_BIN=dir with built programs skips the release build)
# Needs root, podman (see bench/podman_activate.sh), liblxc, loop devices, idmapped squashfs.
# Every service is a static busybox httpd on port 80 (bench/podman_activate.sh's
# make_httpd_rootfs); ours are published with host ports 8101.. -> 80, each target in its own
# nsgroup (N disjoint uid ranges: the isolation a service normally gets; podman's rootful
# containers run as host root without a user namespace).
# What a round includes, ours: boot from launch (the installed plan read, the bridge, nftables
# forwards; per service the userspace verity check of its layer, loop device, squashfs mount,
# idmapped layer, overlay with the writable layer under ROOT/scratch-writes, liblxc start) to
# the last port answering; the writable layers are created by the first round and reused by the
# later ones (same image, same range), and no shifted copy is made (the kernel idmaps squashfs).
# Podman: N parallel `podman run -d -p 127.0.0.1:PORT:80` (container created, overlay mounted,
# CNI bridge/portmap, conmon, runc) to the last port answering; the images are imported before
# the first round. Both sides poll with the same function (wait_http_ports: one curl trying
# every pending port at once, 0.2 s an attempt, 20 ms between passes; ours from inside the
# namespace, podman's on the host's loopback); ours starts polling at launch, podman's once the
# N `podman run` have returned. Traffic goes only to 127.0.0.1 and inside the namespace this
# script creates. The memory figures are taken then, before the stop.
# ACTIVATE_SMAPS=1 prints boot's and one monitor's smaps_rollup; ACTIVATE_LOGS=DIR keeps the
# boot logs.
# Last line: RESULT activate ratio=<ours/podman wall> target=0.5
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
n=${2:-10}
result() { echo "RESULT activate ratio=$1 target=0.5"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "needs root"; result nan; }
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || { echo "build failed"; result nan; }
  MOS_BIN="$top/build/release/bin"
fi
export MOS_BIN
# shellcheck source=podman_activate.sh
source "$top/bench/podman_activate.sh"

work=$(mktemp -d)
root=$work/root
NS=mos-act-$$
boot_pid=
run_dir=
made_run_mos=
[ -d /run/mos ] || made_run_mos=1
cleanup() {
  if [ -n "$boot_pid" ] && kill -0 "$boot_pid" 2>/dev/null; then
    kill -TERM "$boot_pid" 2>/dev/null
    for _ in $(seq 300); do kill -0 "$boot_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$boot_pid" 2>/dev/null
    wait "$boot_pid" 2>/dev/null
  fi
  # A boot of our root that is not $boot_pid (a failure between launch and bookkeeping): its
  # run directory's boot.pid names it.
  local f pid
  for f in /run/mos/boot/*/boot.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null)
    [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "--root $root " || continue
    run_dir=$(dirname "$f")
    kill -TERM "$pid"
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  done
  ip netns del "$NS" 2>/dev/null
  podman_cleanup
  # boot's run directory for this root (lxc configs and logs, atomfs state), once nothing is
  # mounted under it (boot's mounts live in its own mount namespace and die with it).
  if [ -n "$run_dir" ] && [ -d "$run_dir" ] && ! grep -qF " $run_dir/" /proc/self/mountinfo; then
    rm -rf "$run_dir"
  fi
  if [ -n "$made_run_mos" ]; then
    rmdir /run/mos/boot /run/mos/atomfs /run/mos 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }

# --- our side: N images, a signed install manifest, an installed root ---------------------------
export HOME=$work/home XDG_DATA_HOME=$work/home/.local/share SOURCE_DATE_EPOCH=1703083683
mkdir -p "$HOME"
{
  echo "version: 1"
  echo "product: default"
  echo "update_type: complete"
  echo "targets:"
} >"$work/manifest.yaml"
ports=()
for i in $(seq 1 "$n"); do
  make_httpd_rootfs "$work/rootfs/svc$i" "svc$i" || result nan
  "$MOS_BIN/mosb" -q image build --from "$work/rootfs/svc$i" --to "oci:$work/src:svc$i" \
    --entrypoint "$HTTPD_ENTRYPOINT" >/dev/null || { echo "mosb image build failed"; result nan; }
  port=$((8100 + i))
  ports+=("$port")
  cat >>"$work/manifest.yaml" <<YAML
  - service_name: svc$i
    source: oci:$work/src:svc$i
    version: 1.0.0
    service_type: container
    nsgroup: svc$i
    network: {type: simple, ports: [{host: $port, container: 80}]}
YAML
done
"$MOS_BIN/trust" -q keyset add --no-bootkit snakeoil || { echo "trust keyset add failed"; result nan; }
"$MOS_BIN/mosb" -q manifest publish --skip-bootkit --project snakeoil:default --repo "oci:$work/pub" \
  --name machine/install:1.0.0 "$work/manifest.yaml" >/dev/null || { echo "publish failed"; result nan; }
mkdir -p "$root/factory/secure"
cp "$XDG_DATA_HOME/machine/trust/keys/snakeoil/manifest-ca/cert.pem" "$root/factory/secure/manifestCA.pem"
"$MOS_BIN/mosctl" -q install --root "$root" "oci:$work/pub/machine/install:1.0.0" >/dev/null ||
  { echo "mosctl install failed"; result nan; }
rm -rf "$work/src" "$work/pub"

# The machine's network namespace (boot makes its bridge, veths and nftables table in it).
ip netns add "$NS" || result nan
ip -n "$NS" link set lo up
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }
# As tests/e2e/services.bats: in the namespace, with a /sys of it (liblxc reads
# /sys/class/net), in a mount namespace of its own (the host's / is private here, so boot's
# mounts stay in it and go when boot exits).
# A command prefix, not a function: started with & it is one process that execs its way to
# mosctl, so $! is boot's pid.
as_machine=(nsenter --net="/run/netns/$NS" unshare --mount --propagation unchanged
  sh -c 'mount --make-rprivate /sys && mount -t sysfs sysfs /sys && exec "$@"' as_machine)
# wait_http_ports inside the namespace: the same polling as podman's side.
ns_wait_ports() {
  in_ns bash -c '. "$1"; shift; wait_http_ports "$@"' ns_wait "$top/bench/podman_activate.sh" "$@"
}

# proc_mem PID: "VMRSS RSSANON RSSFILE PSS" in KiB.
proc_mem() {
  local rss anon file pss
  read -r rss anon file < <(awk '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2}
    END {print r+0, a+0, f+0}' "/proc/$1/status" 2>/dev/null)
  pss=$(awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null)
  echo "${rss:-0} ${anon:-0} ${file:-0} ${pss:-0}"
}

# descendants PID: every process below PID, one a line.
descendants() {
  local p
  for p in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    echo "$p"
    descendants "$p"
  done
}

# --- podman side: private state, the same root filesystems as tar-layer images -------------------
podman_setup "$work/podman" || result nan
for i in $(seq 1 "$n"); do
  podman_import_rootfs "$work/rootfs/svc$i" "mosact-svc$i" || { echo "podman import failed"; result nan; }
done

# check_answers PREFIX PORT...: port k answers "svc<k>" (from the namespace when PREFIX is in_ns).
check_answers() {
  local how=$1 k=0 port out
  shift
  for port in "$@"; do
    k=$((k + 1))
    out=$($how curl -fsS --max-time 2 "http://127.0.0.1:$port/")
    [ "$out" = "svc$k" ] || { echo "port $port answered '$out', expected 'svc$k'"; return 1; }
  done
}
nop() { "$@"; }

ours=() init_rss=() init_pss=() init_count=() ours_rss=() ours_pss=() ours_count=() boot_mem=() mon_mem=() ours_stop=() handover=()
peer=() peer_rss=() peer_pss=() peer_count=()
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$rounds"); do
  # Ours: launch boot, poll every port from inside the namespace.
  rm -f "$work/boot.log"
  start=$(now)
  [ -n "${ACTIVATE_LOGS:-}" ] && mkdir -p "$ACTIVATE_LOGS" && echo "launch $start" >"$ACTIVATE_LOGS/launch-$round"
  "${as_machine[@]}" "$MOS_BIN/mosctl" boot --root "$root" >"$work/boot.log" 2>&1 &
  boot_pid=$!
  ns_wait_ports "${ports[@]}" || { cat "$work/boot.log"; result nan; }
  end=$(now)
  ours+=("$(elapsed "$start" "$end")")
  check_answers in_ns "${ports[@]}" || result nan
  "$MOS_BIN/mosctl" status --root "$root" --json >"$work/status.json" || { echo "mosctl status failed"; result nan; }
  status_pid=$(jq -r .boot.pid "$work/status.json")
  [ "$status_pid" = "$boot_pid" ] || { echo "status says boot is $status_pid, launched $boot_pid"; result nan; }
  [ -n "$run_dir" ] || run_dir=$(dirname "$(jq -r .boot.control "$work/status.json")")
  mapfile -t monitors < <(jq -r '.services[].monitor_pid // empty' "$work/status.json")
  # Memory in the steady state: once each monitor has become its container's reaper (liblxc's
  # monitor hands over once the container runs, a few ms after its service may answer).
  handover_start=$(now)
  for _ in $(seq 500); do
    pending=0
    for p in "${monitors[@]}"; do
      [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$MOS_BIN/mos-container-reaper" ] || pending=$((pending + 1))
    done
    [ "$pending" = 0 ] && break
    sleep 0.02
  done
  [ "$pending" = 0 ] || echo "round $round: $pending monitors did not become reapers within 10 s"
  handover+=("$(elapsed "$handover_start" "$(now)")")
  # Every process under boot that is in boot's pid namespace (the containers have their own).
  own_ns=$(readlink "/proc/$boot_pid/ns/pid")
  procs=("$boot_pid") inits=()
  for p in $(descendants "$boot_pid"); do
    if [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$own_ns" ]; then
      procs+=("$p")
    elif [ "$(awk '/^NSpid:/ {print $NF}' "/proc/$p/status" 2>/dev/null)" = 1 ] &&
      [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$MOS_BIN/mos-lxc-monitor" ]; then
      inits+=("$p")  # a container's pid 1: liblxc's init, forked from the monitor
    fi
  done
  others=()
  for p in "${procs[@]:1}"; do
    printf '%s\n' "${monitors[@]}" | grep -qx "$p" || others+=("$p:$(cat "/proc/$p/comm" 2>/dev/null)")
  done
  [ "${#monitors[@]}" -eq "$n" ] || echo "round $round: status lists ${#monitors[@]} monitors, expected $n"
  [ "${#others[@]}" -eq 0 ] || echo "round $round: other processes of ours beside boot and the monitors: ${others[*]}"
  rss=0 pss=0
  for p in "${procs[@]}"; do
    read -r r _ _ s < <(proc_mem "$p")
    rss=$((rss + r)) pss=$((pss + s))
  done
  ours_rss+=("$rss") ours_pss+=("$pss") ours_count+=("${#procs[@]}")
  rss=0 pss=0
  for p in "${inits[@]}"; do
    read -r r _ _ s < <(proc_mem "$p")
    rss=$((rss + r)) pss=$((pss + s))
  done
  init_rss+=("$rss") init_pss+=("$pss") init_count+=("${#inits[@]}")
  boot_mem+=("$(proc_mem "$boot_pid")")
  mon_mem+=("$(proc_mem "${monitors[0]}")")
  if [ "$round" = 1 ]; then
    cp "/proc/$boot_pid/smaps_rollup" "$work/boot.smaps_rollup"
    cp "/proc/${monitors[0]}/smaps_rollup" "$work/monitor.smaps_rollup"
  fi
  # Stop: SIGTERM, until boot has exited (every container stopped, everything undone).
  start=$(now)
  kill -TERM "$boot_pid"
  wait "$boot_pid"
  rc=$?
  end=$(now)
  ours_stop+=("$(elapsed "$start" "$end")")
  boot_pid=
  [ -n "${ACTIVATE_LOGS:-}" ] && mkdir -p "$ACTIVATE_LOGS" && cp "$work/boot.log" "$ACTIVATE_LOGS/boot-$round.log"
  [ "$rc" = 0 ] || { echo "boot exited with $rc"; cat "$work/boot.log"; result nan; }

  # Podman: N parallel podman run -d -p, poll every port on the host's loopback.
  podman_start_and_wait "$n" mosact-svc 1 >/dev/null || result nan
  peer+=("$PODMAN_WALL")
  check_answers nop "${PODMAN_PORTS[@]}" || result nan
  read -r c r s < <(podman_conmon_rss_kib)
  peer_count+=("$c") peer_rss+=("$r") peer_pss+=("$s")
  podman_remove_containers
  echo "round $round: mosctl boot ${ours[-1]} s (${ours_count[-1]} processes of ours: RSS ${ours_rss[-1]} KiB, PSS ${ours_pss[-1]} KiB; stop ${ours_stop[-1]} s)," \
    "podman ${peer[-1]} s (${peer_count[-1]} conmon: RSS ${peer_rss[-1]} KiB, PSS ${peer_pss[-1]} KiB); load $(cut -d' ' -f1 /proc/loadavg)"
done

ours_m=$(printf '%s\n' "${ours[@]}" | median)
peer_m=$(printf '%s\n' "${peer[@]}" | median)
rss_m=$(printf '%s\n' "${ours_rss[@]}" | median)
pss_m=$(printf '%s\n' "${ours_pss[@]}" | median)
stop_m=$(printf '%s\n' "${ours_stop[@]}" | median)
peer_rss_m=$(printf '%s\n' "${peer_rss[@]}" | median)
peer_pss_m=$(printf '%s\n' "${peer_pss[@]}" | median)
col() { local k=$1; shift; printf '%s\n' "$@" | awk -v k="$k" '{print $k}' | median; }
echo
echo "$n services, $rounds rounds, medians (podman runtime: $PODMAN_RUNTIME); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %12s %12s\n' "" "mosctl boot" "podman"
printf '%-44s %12s %12s\n' "wall, launch to every port answering (s)" "$ours_m" "$peer_m"
printf '%-44s %12s %12s\n' "processes beside the services" "${ours_count[0]}" "${peer_count[0]} conmon"
printf '%-44s %12s %12s\n' "summed VmRSS (KiB)" "$rss_m" "$peer_rss_m"
printf '%-44s %12s %12s\n' "summed Pss (KiB)" "$pss_m" "$peer_pss_m"
printf '%-44s %12s\n' "boot VmRSS / RssAnon / RssFile / Pss (KiB)" \
  "$(col 1 "${boot_mem[@]}") / $(col 2 "${boot_mem[@]}") / $(col 3 "${boot_mem[@]}") / $(col 4 "${boot_mem[@]}")"
printf '%-44s %12s\n' "every monitor a reaper, after the answers (s)" \
  "$(printf '%s\n' "${handover[@]}" | median)"
printf '%-44s %12s\n' "one reaper VmRSS / RssAnon / RssFile / Pss" \
  "$(col 1 "${mon_mem[@]}") / $(col 2 "${mon_mem[@]}") / $(col 3 "${mon_mem[@]}") / $(col 4 "${mon_mem[@]}")"
printf '%-44s %12s %12s\n' "one reaper / one conmon (mean) VmRSS (KiB)" "$(col 1 "${mon_mem[@]}")" \
  "$((peer_rss_m / ${peer_count[0]:-1}))"
printf '%-44s %12s\n' "boot stop, SIGTERM to exit (s)" "$stop_m"
printf '%-44s %12s %12s\n' "inside the containers beside the service" "${init_count[0]} inits" "none"
printf '%-44s %12s\n' "  their summed VmRSS / Pss (KiB)" \
  "$(printf '%s\n' "${init_rss[@]}" | median) / $(printf '%s\n' "${init_pss[@]}" | median)"
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v <= t) ? "met" : "NOT met"}'; }
echo "RSS target, <= 32 MiB for 10 services (scaled: $((32768 * n / 10)) KiB): summed VmRSS $rss_m KiB:" \
  "$(verdict "$rss_m" $((32768 * n / 10))); summed Pss $pss_m KiB: $(verdict "$pss_m" $((32768 * n / 10)))"
echo "(VmRSS counts every page once per process that maps it, libraries shared with others"
echo " included; Pss divides shared pages among their users)"
if [ -n "${ACTIVATE_SMAPS:-}" ]; then
  echo "--- boot smaps_rollup (round 1)"; cat "$work/boot.smaps_rollup"
  echo "--- reaper smaps_rollup (round 1)"; cat "$work/monitor.smaps_rollup"
fi
result "$(awk -v a="$ours_m" -v b="$peer_m" 'BEGIN {printf "%.2f", a / b}')"
