#!/usr/bin/env bats
# machine runs VMs for real: qemu (TCG here; KVM where it boots firmware) with OVMF, swtpm and
# user networking, booting a guest made from Debian packages by tests/vm/make-guest.sh (Debian's
# kernel and a busybox initramfs in a UKI, signed with Debian's OVMF snakeoil key). The guest
# prints MOS-GUEST lines on its serial console (secure boot state, TPM, httpd). Port forwards
# bind 127.0.0.1 only and the guest's network is restricted: no traffic leaves this host's
# loopback. VM boots take 10–20 s under TCG: they run in the release build only (the sanitized
# build runs the rest), and ctest runs this file alone (RUN_SERIAL).

load helpers/registry
load helpers/vm

setup_file() {
  export T="$BATS_FILE_TMPDIR"
  export HOME="$T/home" XDG_CONFIG_HOME="" XDG_STATE_HOME="" XDG_CACHE_HOME="" XDG_RUNTIME_DIR="$T/run"
  export PATH="$MOS_BIN:$PATH"
  mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  # The guest is cached beside the build: its kernel package is downloaded once per build tree.
  export GUEST="$MOS_BIN/../vm-guest"
  if [ "${MOS_SANITIZED:-}" != 1 ] && [ "${MOS_SANITIZED:-}" != true ]; then
    "$MOS_SOURCE_DIR/tests/vm/make-guest.sh" "$GUEST" >"$T/make-guest.log" 2>&1 ||
      { cat "$T/make-guest.log"; return 1; }
  fi
}

teardown() {
  local pid
  for pid in $(cat "$T/host-httpd.pids" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  rm -f "$T/host-httpd.pids"
  stop_all_machines
}

# A definition booting nothing (the firmware alone): enough for lifecycle checks.
firmware_vm() { # NAME PORT
  cat <<YAML
name: $1
description: firmware only
config:
  name: $1
  cpus: 1
  memory: 256
  tpm: true
  tpm-version: "2.0"
  secure-boot: false
  gui: false
  disks: []
  nics:
  - id: nic0
    device: virtio-net
    network: user
    romfile: "off"
    ports:
    - protocol: tcp
      host: {address: "", port: $2}
      guest: {address: "", port: 80}
YAML
}

# True once PID has exited (a zombie counts: its reaper is whoever adopted it, not us).
process_gone() {
  local state
  for _ in $(seq 100); do
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
    [ -z "$state" ] || [ "$state" = Z ] && return 0
    sleep 0.05
  done
  echo "process $1 still runs: $(tr '\0' ' ' < "/proc/$1/cmdline")"
  return 1
}

qemu_pid_of() { cat "$(run_dir "$1")/qemu.pid" 2>/dev/null; }
swtpm_pid_of() { cat "$(run_dir "$1")/tpm/swtpm.pid" 2>/dev/null; }

@test "init, info, list, edit and delete keep the original's files and refuse what is misspelt" {
  firmware_vm vm1 28080 > "$T/vm1.yaml"
  run machine init vm1 -f "$T/vm1.yaml"
  [ "$status" -eq 0 ]
  [ -f "$HOME/.config/machine/machines/vm1/machine.yaml" ]
  run machine list
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "NAME      STATUS   DESCRIPTION" ]
  [ "${lines[1]}" = "----      ------   -----------" ]
  [ "${lines[2]}" = "vm1       stopped  firmware only" ]
  run machine info vm1
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "type: kvm" ]
  [[ "$output" == *$'\n  tpm-version: "2.0"\n'* ]]
  [ "${lines[-1]}" = "status: stopped" ]
  # A typo is an error with its place, not silently dropped as the original's yaml.v2 did.
  sed 's/secure-boot:/secureboot:/' "$T/vm1.yaml" > "$T/typo.yaml"
  run machine init vm2 -f "$T/typo.yaml"
  [ "$status" -eq 1 ]
  [[ "$output" == "machine: error: $T/typo.yaml:"*"secureboot"*"secure-boot"* ]]
  run machine list
  [ "${#lines[@]}" -eq 3 ]
  # edit -f replaces the definition; a rename is refused.
  sed 's/memory: 256/memory: 384/' "$T/vm1.yaml" > "$T/vm1b.yaml"
  run machine edit vm1 -f "$T/vm1b.yaml"
  [ "$status" -eq 0 ]
  run machine info vm1
  [[ "$output" == *$'\n  memory: 384\n'* ]]
  sed 's/vm1/vm9/g' "$T/vm1.yaml" > "$T/vm9.yaml"
  run machine edit vm1 -f "$T/vm9.yaml"
  [ "$status" -eq 1 ]
  [[ "$output" == *"cannot be renamed"* ]]
  run machine init vm1 -f "$T/vm1.yaml"
  [ "$status" -eq 1 ]
  [[ "$output" == *"machine vm1 already exists"* ]]
  run machine delete vm1
  [ "$status" -eq 0 ]
  [ ! -e "$HOME/.config/machine/machines/vm1" ]
  run machine info vm1
  [ "$status" -eq 1 ]
  [ "$output" = "machine: error: no machine named vm1" ]
}

@test "start refuses firmware code and vars that are not a pair, before anything runs" {
  firmware_vm pair 28081 | sed 's|  tpm: true|  uefi-code: /usr/share/OVMF/OVMF_CODE.fd\n  uefi-vars: /usr/share/OVMF/OVMF_VARS_4M.fd\n  tpm: true|' > "$T/pair.yaml"
  machine init pair -f "$T/pair.yaml"
  run machine start pair
  [ "$status" -eq 1 ]
  [[ "$output" == *"OVMF_CODE.fd (1966080 bytes) and uefi-vars /usr/share/OVMF/OVMF_VARS_4M.fd (540672 bytes) are not a matched pair"* ]]
  [ ! -e "$(run_dir pair)/qemu.pid" ]
}

@test "a VM killed with -9 shows as stopped from a fresh process; its swtpm ends with it; two VMs cannot claim one port" {
  vm_tests_only_in_release
  local port qemu tpm
  port=$(free_port)
  firmware_vm fw1 "$port" > "$T/fw1.yaml"
  firmware_vm fw2 "$port" > "$T/fw2.yaml"
  machine init fw1 -f "$T/fw1.yaml"
  machine init fw2 -f "$T/fw2.yaml"
  run machine start fw1
  [ "$status" -eq 0 ]
  [[ "$output" == "started machine fw1 (qemu pid "* ]]
  qemu=$(qemu_pid_of fw1)
  tpm=$(swtpm_pid_of fw1)
  kill -0 "$qemu"
  kill -0 "$tpm"
  run machine list
  [[ "$output" == *$'\nfw1       running  firmware only\n'* ]]
  run machine start fw1
  [ "$status" -eq 1 ]
  [[ "$output" == *"machine fw1 is already running (qemu pid $qemu)"* ]]
  # The port is fw1's: fw2 is refused before its qemu starts, naming fw1.
  run machine start fw2
  [ "$status" -eq 1 ]
  [[ "$output" == *"host port 127.0.0.1:$port/tcp of machine fw2 cannot be used: Address already in use (machine fw1 forwards it)"* ]]
  [ -z "$(qemu_pid_of fw2)" ]
  kill -KILL "$qemu"
  process_gone "$qemu"
  run machine list
  [[ "$output" == *$'\nfw1       stopped  firmware only\n'* ]]
  # swtpm --terminate: it ends when qemu's control channel closes.
  process_gone "$tpm"
  # The port is free again.
  run machine start fw2
  [ "$status" -eq 0 ]
  run machine stop -f fw2
  [ "$status" -eq 0 ]
  [ "$output" = "stopped machine fw2" ]
  run machine stop fw2
  [ "$output" = "machine fw2 is not running" ]
}

@test "qemu's own error is reported by start, and nothing is left running" {
  vm_tests_only_in_release
  firmware_vm broken 28082 | sed 's|  disks: \[\]|  disks:\n  - file: '"$T"'/broken.qcow2\n    format: qcow2|' > "$T/broken.yaml"
  echo "not a qcow2 image" > "$T/broken.qcow2"
  machine init broken -f "$T/broken.yaml"
  run machine start broken
  [ "$status" -eq 1 ]
  [[ "$output" == "machine: error: starting machine broken: qemu exited at once (status 1): qemu-system-x86_64: -drive file=$T/broken.qcow2"*"qcow2"* ]]
  [ -z "$(qemu_pid_of broken)" ]
  run pgrep -f "tpmstate dir=$(run_dir broken)/tpm"
  [ "$status" -ne 0 ]
  run machine list
  [[ "$output" == *$'\nbroken    failed   '* ]]
}

@test "secure boot with snakeoil keys, a TPM 2.0, httpd on the forwarded port, console, then an ACPI power-off" {
  vm_tests_only_in_release
  local port service other
  port=$(free_port)
  # Two services on the host's loopback: the guest may reach the first (its guestfwd), never the
  # second.
  service=$(free_port)
  other=$(free_port)
  mkdir -p "$T/www"
  echo "host-service" > "$T/www/index.html"
  # (without bats' descriptors, which would keep bats waiting for them)
  busybox httpd -f -p "127.0.0.1:$service" -h "$T/www" 3>&- & echo $! > "$T/host-httpd.pids"
  busybox httpd -f -p "127.0.0.1:$other" -h "$T/www" 3>&- & echo $! >> "$T/host-httpd.pids"
  cp "$GUEST/esp-signed.img" "$T/esp-signed.img"
  cat > "$T/sb.yaml" <<YAML
name: sb
description: signed UKI, secure boot, TPM
config:
  name: sb
  cpus: 2
  memory: 512
  disks:
  - file: $T/esp-signed.img
    format: raw
    attach: virtio
    bootindex: "0"
  nics:
  - id: nic0
    device: virtio-net
    network: user
    romfile: "off"
    bootindex: "off"
    ports:
    - protocol: tcp
      host: {address: "", port: $port}
      guest: {address: "", port: 80}
    guestfwds:
    - protocol: tcp
      guest: {address: 10.0.2.2, port: 5000}
      host: {address: 127.0.0.1, port: $service}
  uefi-code: /usr/share/OVMF/OVMF_CODE_4M.secboot.fd
  uefi-vars: /usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd
  tpm: true
  tpm-version: "2.0"
  secure-boot: true
  gui: false
YAML
  run machine init sb -f "$T/sb.yaml"
  [ "$status" -eq 0 ]
  run timeout 120 machine start sb --wait
  [ "$status" -eq 0 ]
  wait_console sb "MOS-GUEST: ready" 150
  grep -aq "MOS-GUEST: secureboot=1" "$(run_dir sb)/console.log"
  grep -aq "MOS-GUEST: tpm=tpm2" "$(run_dir sb)/console.log"
  # The TPM, behind machine's relay, lists only its active bank: the firmware measured everything
  # with SHA-256 alone, not with the four hashes libtpms implements.
  tr -d '\r' < "$(run_dir sb)/console.log" | grep -q "MOS-GUEST: tpm-banks=sha256 $"
  grep -aq "MOS-GUEST: event-log-algorithms=1" "$(run_dir sb)/console.log"
  run curl -sS --max-time 10 "http://127.0.0.1:$port/"
  [ "$status" -eq 0 ]
  [ "$output" = "mos-guest-httpd" ]
  # Lines typed on the console run in the guest (its command loop): the guestfwd reaches the
  # host's service; the host's other port is out of the guest's reach (restrict=on: the test sends
  # nothing to any address outside this host's loopback to prove the rest).
  # (busybox-static 1.35's `wget -T` crashes: busybox's timeout bounds each try instead.)
  {
    printf 'timeout 20 wget -q -O - http://10.0.2.2:5000/index.html | sed "s/^/via-guestfwd: /"\n'
    sleep 1
    printf 'timeout 5 wget -q -O - http://10.0.2.2:%s/index.html; echo "direct-$((1 + 1)): $?"\n' "$other"
    sleep 1
  } | timeout 30 machine console sb > /dev/null
  wait_console sb "via-guestfwd: host-service" 30
  wait_console sb "direct-2: [1-9]" 30
  # console shows the recent log first; the end of its input detaches.
  run timeout 20 machine console sb < /dev/null
  [ "$status" -eq 0 ]
  [[ "$output" == *"MOS-GUEST: ready"* ]]
  # edit of a running VM: stored for the next start, the VM keeps running.
  sed 's/memory: 512/memory: 640/' "$T/sb.yaml" > "$T/sb2.yaml"
  run machine edit sb -f "$T/sb2.yaml"
  [ "$status" -eq 0 ]
  [[ "$output" == *"it is running: the change applies at its next start"* ]]
  kill -0 "$(qemu_pid_of sb)"
  local qemu tpm
  qemu=$(qemu_pid_of sb)
  tpm=$(swtpm_pid_of sb)
  run timeout 90 machine stop sb --timeout 60
  [ "$status" -eq 0 ]
  grep -aq "MOS-GUEST: poweroff" "$(run_dir sb)/console.log"
  process_gone "$qemu"
  process_gone "$tpm"
  run machine list
  [[ "$output" == *$'\nsb        stopped  signed UKI, secure boot, TPM'* ]] ||
    { echo "$output"; cat "$(run_dir sb)/qemu.log"; false; }
}

@test "with secure boot, an unsigned UKI is refused by the firmware" {
  vm_tests_only_in_release
  cp "$GUEST/esp.img" "$T/esp.img"
  cat > "$T/unsigned.yaml" <<YAML
name: unsigned
description: unsigned UKI under secure boot
config:
  name: unsigned
  cpus: 1
  memory: 256
  disks:
  - {file: $T/esp.img, format: raw, attach: virtio, bootindex: "0"}
  uefi-code: /usr/share/OVMF/OVMF_CODE_4M.secboot.fd
  uefi-vars: /usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd
  tpm: false
  secure-boot: true
  gui: false
YAML
  machine init unsigned -f "$T/unsigned.yaml"
  run machine start unsigned
  [ "$status" -eq 0 ]
  wait_console unsigned "Access Denied|Security Violation" 90
  run grep -a "MOS-GUEST" "$(run_dir unsigned)/console.log"
  [ "$status" -ne 0 ]
  machine stop -f unsigned
}
