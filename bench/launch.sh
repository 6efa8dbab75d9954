#!/usr/bin/env bash
# Benchmark: the walkthrough's machine (docs/machine.md, "trust launch").
# (a) `machine start` of a launched VM until its zot stand-in (our registry as a service in a
#     container) answers /v2/ on the host's 127.0.0.1:28080 — firmware, shim, UKI, initramfs,
#     dm-verity hostfs, mosctl boot, the container, two port forwards — against the floor that the
#     firmware sets: the same OVMF code and vars booting, straight from an ESP, a UKI of the same
#     stub and kernel whose busybox initramfs loads virtio_net and starts the same service binary
#     directly (no shim, verification or runtime), behind the same kind of qemu NIC and forward.
# (b) `trust launch --start` until the service answers (three boots), with each phase's share.
# Also reported, apart: the same floor with the machine's TPM, and through the keyset's shim with
# it, as our chain must boot (what those cost before any of our code runs).
# TCG unless MOS_BENCH_ACCEL=kvm; rounds alternate; medians of wall seconds. MOS_BENCH_TRACE=1
# prints the first round's console lines with their times.
#   bench/launch.sh [ROUNDS]   (MOS_BIN=dir with built programs skips the release build)
# Last line: RESULT launch ratio=<(a)/floor> target=1.5
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/floor_uki.sh
. "$top/bench/lib/floor_uki.sh"
rounds=${1:-3}
result() { echo "RESULT launch ratio=$1 target=1.5"; exit 0; }
# ratio A B: A/B rounded to two decimals (bc's scale truncates: 1.409 would print as 1.40).
ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || { echo "build failed"; result nan; }
  MOS_BIN="$top/build/release/bin"
fi
export PATH="$MOS_BIN:$PATH"
work=$(mktemp -d)
export HOME=$work/home XDG_DATA_HOME= XDG_CONFIG_HOME= XDG_STATE_HOME= XDG_CACHE_HOME=
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
registry_pid= qemu_pid=
cleanup() {
  for vm in $(machine list 2>/dev/null | awk 'NR > 2 {print $1}'); do machine stop -f "$vm" >/dev/null 2>&1; done
  [ -n "$qemu_pid" ] && kill -KILL "$qemu_pid" 2>/dev/null
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null
  [ -s "$work/tpm/pid" ] && kill "$(cat "$work/tpm/pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# until_answer PORT: wall seconds (since $start) until http://127.0.0.1:PORT/v2/ says {}.
until_answer() {
  local port=$1
  for _ in $(seq 3000); do
    # A request the guest does not take yet waits in qemu's forward: give up on it soon and ask
    # again, so that the answer is seen within 0.5 s of being there (both sides alike).
    [ "$(curl -fsS --max-time 0.5 "http://127.0.0.1:$port/v2/" 2>/dev/null)" = "{}" ] &&
      { echo "$(date +%s.%N) - $start" | bc; return 0; }
    sleep 0.1
  done
  return 1
}

trust -q keyset add snakeoil || { echo "trust keyset add failed"; result nan; }
KS=$HOME/.local/share/machine/trust/keys/snakeoil
B=$KS/bootkit
port=$(free_port)
mos-registry serve --root "$work/registry" --address 127.0.0.1 --port "$port" > "$work/registry.log" 2>&1 &
registry_pid=$!
MOS_REGISTRY="$MOS_BIN/mos-registry" "$top/examples/registry-service/make-rootfs.sh" "$work/zot" > /dev/null ||
  result nan
mosb -q image build --from "$work/zot" --to "oci:$work/src:zot" \
  --entrypoint '["/usr/bin/mos-registry","serve","/etc/mos-registry/config.json"]' > /dev/null || result nan
sed "s|docker://127.0.0.1:5000/machine/bootkit/demo-zot:0.0.4-squashfs|oci:$work/src:zot|" \
  "$top/examples/manifest.yaml" > "$work/manifest.yaml"
mosb -q manifest publish --project snakeoil:default --repo "127.0.0.1:$port" \
  --name machine/install:1.0.0 "$work/manifest.yaml" > /dev/null || result nan

# The floor's initramfs: busybox, virtio_net and its dependencies, the service binary with its
# libraries (the zot rootfs holds exactly those) and its config, an init that starts it on :80.
kernel=$(jq -r .sources.kernel "$B/bootkit.json")
release=$(jq -r .kernel_release "$B/bootkit.json")
f=$work/floor
cp -a "$work/zot/." "$f/"  # its /bin and /lib are links into /usr, as the host's
mkdir -p "$f/dev" "$f/proc" "$f/sys" "$f/tmp" "$f/lib/modules"
cp /bin/busybox "$f/bin/busybox"
# In load order (Debian builds virtio's PCI transport and ring as modules too).
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"
for m in $modules; do
  cp "$(find "/lib/modules/$release" -name "$m.ko*" | head -n 1)" "$f/lib/modules/" || result nan
done
cat > "$f/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "floor init: $(/bin/busybox cut -d ' ' -f 1 /proc/uptime) s after the kernel's start" > /dev/console
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  /bin/busybox insmod /lib/modules/$m.ko*
done
# The NIC appears once its driver has probed it.
for _ in $(/bin/busybox seq 50); do [ -e /sys/class/net/eth0 ] && break; /bin/busybox sleep 0.1; done
/bin/busybox ip link set lo up
/bin/busybox ip link set eth0 up
/bin/busybox ip addr add 10.0.2.15/24 dev eth0
/bin/busybox sed 's/"port": *"[0-9]*"/"port": "80"/' /etc/mos-registry/config.json > /tmp/config.json
echo "floor service: $(/bin/busybox cut -d ' ' -f 1 /proc/uptime) s after the kernel's start" > /dev/console
exec /usr/bin/mos-registry serve /tmp/config.json
INIT
chmod 755 "$f/init"
# Compressed as ours is (zstd, level 9): the floor's UKI is then 15 MB, not 29 MB, and the
# firmware, which reads and hashes all of it, boots it ~0.6 s sooner than the uncompressed one.
(cd "$f" && find . | sort | cpio -o -H newc --quiet) | zstd -q -9 > "$work/floor.cpio.zst"
floor_uki "$(jq -r .sources.stub "$B/bootkit.json")" "$kernel" "$(jq -r .cmdline "$B/bootkit.json")" \
  "$work/floor.cpio.zst" "$KS" "$work/floor.efi" || { echo "the floor's UKI could not be made"; result nan; }
esp_image "$work/floor.img" "$work/floor.efi:BOOTX64.EFI" || result nan
# The same floor with a TPM 2.0, apart: swtpm (the SHA-256 bank active) attached straight to qemu,
# as a qemu user attaches it, which the firmware, systemd-stub and the kernel's EFI stub each
# measure the UKI into, hashing with the four banks libtpms lists (machine puts its relay
# between, so that they hash with SHA-256 alone: docs/machine.md); and also through the keyset's
# shim (which trusts the firmware's db too). Not the issue's floor: they say what a TPM attached
# the plain way and shim cost before any of our code runs.
esp_image "$work/floor-shim.img" "$B/shim.efi:BOOTX64.EFI" "$work/floor.efi:grubx64.efi" || result nan
mkdir -p "$work/tpm-template"
swtpm_setup --tpm2 --tpmstate "$work/tpm-template" --pcr-banks sha256 \
  --config /dev/null > /dev/null 2>&1 || { echo "swtpm_setup failed"; result nan; }
accel=${MOS_BENCH_ACCEL:-tcg} cpu=max
[ "$accel" = kvm ] && cpu=host
floor_port=$(free_port)
# floor_seconds [ESP [tpm]]: the floor's boot until its service answers.
floor_seconds() {
  local esp=${1:-$work/floor.img} tpm=()
  cp "$B/ovmf-vars.fd" "$work/vars.fd"
  if [ "${2:-}" = tpm ]; then
    rm -rf "$work/tpm" && cp -a "$work/tpm-template" "$work/tpm" || return 1
    swtpm socket --tpm2 --tpmstate "dir=$work/tpm" --ctrl "type=unixio,path=$work/tpm/sock" \
      --pid "file=$work/tpm/pid" --terminate --daemon || return 1
    tpm=(-chardev "socket,id=chrtpm0,path=$work/tpm/sock" -tpmdev emulator,id=tpm0,chardev=chrtpm0
      -device tpm-tis,tpmdev=tpm0)
  fi
  start=$(date +%s.%N)
  qemu-system-x86_64 -machine q35,smm=on -accel "$accel" -cpu "$cpu" -m 2048 -smp 2 -display none \
    -monitor none -nodefaults -serial "file:$work/floor.log" "${tpm[@]}" \
    -global driver=cfi.pflash01,property=secure,value=on -global ICH9-LPC.disable_s3=1 \
    -drive "if=pflash,format=raw,unit=0,readonly=on,file=$B/ovmf/ovmf-code.fd" \
    -drive "if=pflash,format=raw,unit=1,file=$work/vars.fd" \
    -drive "if=none,id=esp,format=raw,file=$esp" -device virtio-blk-pci,drive=esp,bootindex=0 \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$floor_port-:80" \
    -device virtio-net-pci,netdev=n0,romfile= &
  qemu_pid=$!
  until_answer "$floor_port"
  local rc=$?
  kill -KILL "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null; qemu_pid=
  return $rc
}

# (b) once: trust launch --start until the answer, its phases from its own step lines.
start=$(date +%s.%N)
trust launch --project=snakeoil:default --start vm1 "10.0.2.2:$port/machine/install:1.0.0" 2>&1 |
  while IFS= read -r line; do echo "$(echo "$(date +%s.%N) - $start" | bc) $line"; done > "$work/launch.log"
launched=$(until_answer 28080) || { cat "$work/launch.log"; echo "the launched VM's service never answered"; result nan; }
phase() { awk -v p="$1" '$0 ~ p {print $1; exit}' "$work/launch.log"; }
t_prov=$(phase "provisioning vm1") t_inst=$(phase "installing vm1") t_start=$(phase "starting vm1")
echo "trust launch --start until the service answers: $launched s (before provisioning ${t_prov} s, provisioning $(echo "$t_inst - $t_prov" | bc) s, install $(echo "$t_start - $t_inst" | bc) s, boot to the answer $(echo "$launched - $t_start" | bc) s)"
machine stop -f vm1 > /dev/null

# (a) rounds, alternating with the floor.
: > "$work/ours.t"; : > "$work/floor.t"; : > "$work/floor-tpm.t"; : > "$work/floor-shim-tpm.t"
for i in $(seq "$rounds"); do
  floor_seconds >> "$work/floor.t" || { tail -c 1500 "$work/floor.log"; result nan; }
  floor_seconds "$work/floor.img" tpm >> "$work/floor-tpm.t" ||
    { tail -c 1500 "$work/floor.log"; result nan; }
  floor_seconds "$work/floor-shim.img" tpm >> "$work/floor-shim-tpm.t" ||
    { tail -c 1500 "$work/floor.log"; result nan; }
  # MOS_BENCH_TRACE=1: the first round's console lines, each with its second since the start.
  trace_pid= start=$(date +%s.%N)
  if [ "${MOS_BENCH_TRACE:-0}" = 1 ] && [ "$i" = 1 ]; then
    # (No filter between tail and the loop: a pipe's buffer would keep the last lines.)
    (tail -n 0 -F "$HOME/.local/state/machine/machines/vm1/vm1/console.log" 2>/dev/null |
      while IFS= read -r line; do
        echo "$(echo "$(date +%s.%N) - $start" | bc) ${line%$'\r'}"
      done > "$work/trace") &
    trace_pid=$!
  fi
  machine start vm1 > /dev/null || result nan
  until_answer 28080 >> "$work/ours.t" || result nan
  if [ -n "$trace_pid" ]; then
    pkill -P "$trace_pid"; kill "$trace_pid" 2>/dev/null
    echo "round 1's console (seconds since machine start):"; cat "$work/trace"
    echo "the floor's console:"; grep -a "^floor" "$work/floor.log"
  fi
  machine stop -f vm1 > /dev/null
  echo "round $i: floor $(tail -1 "$work/floor.t") s, with a TPM $(tail -1 "$work/floor-tpm.t") s, through shim with a TPM $(tail -1 "$work/floor-shim-tpm.t") s, machine start to the answer $(tail -1 "$work/ours.t") s"
done
ours=$(median < "$work/ours.t") floor=$(median < "$work/floor.t")
floor_tpm=$(median < "$work/floor-tpm.t") floor_shim_tpm=$(median < "$work/floor-shim-tpm.t")
echo "accelerator: $accel; medians of $rounds: floor $floor s, ours $ours s; trust launch --start $launched s ($(ratio $launched $floor) x the floor)"
echo "the floor with a TPM: $floor_tpm s ($(ratio $floor_tpm $floor) x the floor); ours against it: $(ratio $ours $floor_tpm)"
echo "the floor through shim with a TPM: $floor_shim_tpm s ($(ratio $floor_shim_tpm $floor) x the floor); ours against it: $(ratio $ours $floor_shim_tpm)"
result "$(ratio $ours $floor)"
