#!/usr/bin/env bash
# Benchmark: `machine start NAME --wait` (returns at the guest's first console output) and
# `machine stop -f NAME` (returns when qemu and swtpm are gone), against qemu and swtpm started
# by hand with the same arguments (machine's own qemu.cmdline, swtpm --daemon) and stopped with
# QMP `quit`, same run, rounds alternating, medians.
#   bench/machine.sh [ROUNDS]   (MOS_BIN=dir with built programs skips the release build)
# The VM: 1 CPU, 512 MiB, OVMF 4M without a boot disk (its first console output is the firmware's
# own), a TPM 2.0, one user NIC with a port forward on 127.0.0.1. The first start of the VM (the
# TPM's manufacture, the accelerator probe) is reported apart and not counted. The by-hand side
# polls its console log with the same 20 ms step machine uses, and detects qemu's and swtpm's
# exits with the same pidfd wait, QMP and both waits in one python process (`tail --pid` is not
# used: it polls each second). Its interpreter start (~20 ms) is part of the by-hand stop.
# Also reported: the RSS of anything of ours that keeps running beside a VM (nothing: machine
# exits after start, qemu and swtpm are the only processes).
# Last line: RESULT machine start_ratio=<ours/hand> stop_ratio=<ours/hand> target=1.1/1.2
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
result() { echo "RESULT machine start_ratio=$1 stop_ratio=$2 target=1.1/1.2"; exit 0; }
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || { echo "build failed"; result nan nan; }
  MOS_BIN="$top/build/release/bin"
fi
M="$MOS_BIN/machine"
work=$(mktemp -d)
export HOME=$work/home XDG_CONFIG_HOME= XDG_STATE_HOME= XDG_CACHE_HOME= XDG_RUNTIME_DIR=
mkdir -p "$HOME"
hand_qemu= hand_tpm=
cleanup() {
  "$M" stop -f bench >/dev/null 2>&1
  for p in $hand_qemu $hand_tpm; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/bench.yaml" <<YAML
name: bench
description: machine.sh benchmark VM
config:
  name: bench
  cpus: 1
  memory: 512
  tpm: true
  tpm-version: "2.0"
  secure-boot: false
  gui: false
  disks: []
  nics:
  - id: nic0
    device: virtio-net
    network: user
    ports:
    - protocol: tcp
      host: {address: 127.0.0.1, port: $port}
      guest: {address: "", port: 80}
YAML
"$M" init bench -f "$work/bench.yaml" >/dev/null || result nan nan
run=$HOME/.local/state/machine/machines/bench/bench
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

t0=$(now)
"$M" start bench --wait >/dev/null || { echo "first start failed"; result nan nan; }
first=$(echo "$(now) - $t0" | bc)
"$M" stop -f bench >/dev/null
echo "first start (TPM manufacture + accelerator probe + boot to console): ${first} s"

# The by-hand side: the same swtpm and qemu command lines, the same files.
mapfile -t qemu_argv < "$run/qemu.cmdline"
tpm_dir=$run/tpm
sock_dir=/tmp/machine-$(id -u)/bench
hand_start() {
  rm -f "$run/console.log" "$sock_dir"/*.sock "$run/qemu.pid"
  swtpm socket --tpm2 --tpmstate dir="$tpm_dir" --ctrl type=unixio,path="$sock_dir/tpm.sock" \
    --log file="$tpm_dir/swtpm.log",level=1 --pid file="$tpm_dir/swtpm.pid" --terminate --daemon
  hand_tpm=$(cat "$tpm_dir/swtpm.pid")
  setsid "${qemu_argv[@]}" </dev/null >"$run/qemu.log" 2>&1 &
  hand_qemu=$!
  until [ -s "$run/console.log" ]; do sleep 0.02; done
}
hand_stop() { # one process: QMP quit, then a pidfd wait for qemu and for swtpm
  python3 - "$sock_dir/qmp.sock" "$hand_qemu" "$hand_tpm" <<'PY'
import json, os, select, socket, sys
fds = []
for pid in sys.argv[2:]:
    try:
        fds.append(os.pidfd_open(int(pid)))
    except ProcessLookupError:
        pass
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for c in ("qmp_capabilities", "quit"):
    f.write(json.dumps({"execute": c}) + "\n"); f.flush(); f.readline()
for fd in fds:
    select.select([fd], [], [])
PY
  wait "$hand_qemu" 2>/dev/null
  hand_qemu= hand_tpm=
}

: > "$work/ours_start"; : > "$work/ours_stop"; : > "$work/hand_start"; : > "$work/hand_stop"
for r in $(seq "$rounds"); do
  t0=$(now); "$M" start bench --wait >/dev/null || { echo "start failed"; result nan nan; }
  t1=$(now)
  if [ "$r" = 1 ]; then
    ours_rss=$(ps -o rss= -C machine | awk '{s+=$1} END {print s+0}')
  fi
  "$M" stop -f bench >/dev/null; t2=$(now)
  echo "$t1 - $t0" | bc >> "$work/ours_start"; echo "$t2 - $t1" | bc >> "$work/ours_stop"
  t0=$(now); hand_start; t1=$(now); hand_stop; t2=$(now)
  echo "$t1 - $t0" | bc >> "$work/hand_start"; echo "$t2 - $t1" | bc >> "$work/hand_stop"
done
os=$(median < "$work/ours_start"); hs=$(median < "$work/hand_start")
ot=$(median < "$work/ours_stop"); ht=$(median < "$work/hand_stop")
echo "start to first console output: machine ${os} s, by hand ${hs} s"
echo "stop -f to qemu and swtpm gone: machine ${ot} s, by hand ${ht} s"
echo "RSS of our processes beside the running VM: ${ours_rss} KiB (machine exits after start)"
result "$(echo "scale=3; $os / $hs" | bc)" "$(echo "scale=3; $ot / $ht" | bc)"
