#!/usr/bin/env bats
# mosctl boot runs an installed system's services for real: liblxc containers in their nsgroups'
# uid ranges, the simple network (bridge, addresses, nftables port forwards), storage volumes,
# supervision. Everything happens inside a network namespace this file creates (and a second one
# for a client on another "host", joined by a veth pair): no traffic leaves them.
# Needs root, loop devices, overlayfs with idmapped layers (squashfs idmap: Linux 6.6+).

setup_file() {
  export T="$BATS_FILE_TMPDIR"
  export HOME="$T/home" XDG_DATA_HOME="$T/home/.local/share"
  export PATH="$MOS_BIN:$PATH" SOURCE_DATE_EPOCH=1703083683
  mkdir -p "$HOME"
  # web: busybox httpd; its command records every start in the persistent volume and shows what
  # the non-persistent one held when it started.
  mkdir -p "$T/web/bin" "$T/web/www" "$T/web/etc"
  cp /bin/busybox "$T/web/bin/busybox"
  ln -s busybox "$T/web/bin/sh"
  echo "web 1.0.0" > "$T/web/www/index.html"
  printf 'root:x:0:0:root:/:/bin/sh\nwww:x:33:33:www:/www:/bin/sh\n' > "$T/web/etc/passwd"
  printf 'root:x:0:\nwww:x:33:\n' > "$T/web/etc/group"
  local start='ls -A /scratch | grep -vx lost+found > /www/scratch-at-start; touch /scratch/was-here; echo start >> /data/starts; cp /data/starts /www/starts; id -u > /www/uid; echo "web is up"; exec /bin/busybox httpd -f -p 8000 -h /www'
  mosb -q image build --from "$T/web" --to "oci:$T/src:web1" --cmd "[\"/bin/sh\",\"-c\",$(jq -Rn --arg s "$start" '$s')]"
  echo "web 1.0.1" > "$T/web/www/index.html"
  mosb -q image build --from "$T/web" --to "oci:$T/src:web2" --cmd "[\"/bin/sh\",\"-c\",$(jq -Rn --arg s "$start" '$s')]"
  MOS_REGISTRY="$MOS_BIN/mos-registry" "$MOS_SOURCE_DIR/examples/registry-service/make-rootfs.sh" "$T/reg" >/dev/null
  mosb -q image build --from "$T/reg" --to "oci:$T/src:reg" \
    --entrypoint '["/usr/bin/mos-registry","serve","/etc/mos-registry/config.json"]'
  mkdir -p "$T/files"
  echo "read-only data" > "$T/files/readme"
  mosb -q image build --from "$T/files" --to "oci:$T/src:files"
  trust keyset add --no-bootkit snakeoil >/dev/null
  for v in 1.0.0 1.0.1; do
    local web=web1; [ $v = 1.0.1 ] && web=web2
    cat > "$T/manifest-$v.yaml" <<YAML
version: 1
product: default
update_type: complete
storage:
  - {label: data, persistent: true, nsgroup: web, size: 16}
  - {label: scratch, persistent: false, nsgroup: web, size: 8}
targets:
  - service_name: web
    source: oci:$T/src:$web
    version: $v
    service_type: container
    nsgroup: web
    network: {type: simple, ipv6: "fd6d:6f73:3::80", ports: [{host: 8080, container: 8000}]}
    storage: [{dest: /data, label: data}, {dest: /scratch, label: scratch}]
  - service_name: registry
    source: oci:$T/src:reg
    version: 1.0.0
    service_type: container
    nsgroup: registry
    network: {type: simple, ipv4: 10.0.3.50/24, ports: [{host: 5080, container: 5000}]}
  - service_name: files
    source: oci:$T/src:files
    version: 1.0.0
    service_type: fs-only
YAML
    mosb -q manifest publish --skip-bootkit --project snakeoil:default --repo "oci:$T/pub" \
      --name "machine/install:$v" "$T/manifest-$v.yaml" >/dev/null
  done
  export ROOT="$T/root"
  mkdir -p "$ROOT/factory/secure"
  cp "$XDG_DATA_HOME/machine/trust/keys/snakeoil/manifest-ca/cert.pem" "$ROOT/factory/secure/manifestCA.pem"
  mosctl -q install --root "$ROOT" "oci:$T/pub/machine/install:1.0.0" >/dev/null
  # The machine's namespace and a client "host" beside it.
  export NS="mos-svc-$$" CLIENT="mos-cli-$$"
  ip netns add "$NS"
  ip netns add "$CLIENT"
  ip -n "$NS" link set lo up
  ip -n "$CLIENT" link set lo up
  ip link add "mv$$a" netns "$NS" type veth peer name "mv$$b" netns "$CLIENT"
  ip -n "$NS" addr add 192.168.77.1/30 dev "mv$$a"
  ip -n "$CLIENT" addr add 192.168.77.2/30 dev "mv$$b"
  ip -n "$NS" -6 addr add fd00:77::1/64 dev "mv$$a" nodad
  ip -n "$CLIENT" -6 addr add fd00:77::2/64 dev "mv$$b" nodad
  ip -n "$NS" link set "mv$$a" up
  ip -n "$CLIENT" link set "mv$$b" up
  # boot runs in its own mount namespace (below, for a /sys of its network namespace, which
  # liblxc reads); these two shared binds bring its mounts back here, where the tests look.
  # (Only binds this file made are undone: another boot test may have made /run/mos/boot's.)
  mkdir -p /run/mos/boot
  : > "$T/binds"
  for d in "$T" /run/mos/boot; do
    mountpoint -q "$d" && continue
    mount --bind "$d" "$d" && mount --make-shared "$d" && echo "$d" >> "$T/binds"
  done
}

teardown_file() {
  [ -f "$T/boot.pid" ] && kill -TERM "$(cat "$T/boot.pid")" 2>/dev/null && sleep 2
  while read -r d; do umount -l "$d" 2>/dev/null || true; done < "$T/binds"
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$CLIENT" 2>/dev/null || true
}

# in_ns CMD...: runs CMD in the machine's network namespace only (nsenter keeps the mount
# namespace, which `ip netns exec` would replace).
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }

# as_machine CMD...: CMD as the machine runs it: in its network namespace, with a /sys of that
# namespace (as `ip netns exec` mounts), in a mount namespace whose other mounts stay shared.
as_machine() {
  in_ns unshare --mount --propagation unchanged \
    sh -c 'mount --make-rprivate /sys && mount -t sysfs sysfs /sys && exec "$@"' as_machine "$@"
}

# Starts boot in the background (its exit status goes to boot.rc: each test is a shell of its
# own, so a later test cannot `wait` for it) and waits until it says it is up.
start_boot() {
  rm -f "$T/boot.rc"
  (as_machine mosctl boot --root "$ROOT" "$@" > "$T/boot.log" 2>&1; echo $? > "$T/boot.rc") &
  for _ in $(seq 300); do
    if grep -q "mosctl boot: up" "$T/boot.log"; then
      mosctl status --root "$ROOT" --json > "$T/status.json"
      jq -r .boot.pid "$T/status.json" > "$T/boot.pid"
      # This root's run directory: the mounts checked below are its own, not those of another
      # boot on this host (a test killed earlier may have left some).
      dirname "$(jq -r .boot.control "$T/status.json")" > "$T/run.dir"
      [[ "$(cat "$T/run.dir")" == /run/mos/boot/?* ]]
      return 0
    fi
    [ -f "$T/boot.rc" ] && break
    sleep 0.1
  done
  cat "$T/boot.log"
  return 1
}

stop_boot() {
  kill -TERM "$(cat "$T/boot.pid")"
  for _ in $(seq 300); do [ -f "$T/boot.rc" ] && break; sleep 0.1; done
  [ "$(cat "$T/boot.rc")" = 0 ] || { echo "boot exited with $(cat "$T/boot.rc")"; cat "$T/boot.log"; return 1; }
  rm -f "$T/boot.pid"
}

# answers URL EXPECTED [NS]: retries for a while (a service takes a moment to listen).
answers() {
  local url=$1 expected=$2 ns=${3:-$NS} out=""
  for _ in $(seq 100); do
    out=$(nsenter --net="/run/netns/$ns" curl -fsS --max-time 2 "$url" 2>/dev/null) && [ "$out" = "$expected" ] && return 0
    sleep 0.2
  done
  echo "$url answered '$out', expected '$expected'"
  return 1
}

service_field() { mosctl status --root "$ROOT" --json | jq -r ".services[] | select(.name == \"$1\") | .$2"; }

@test "boot starts every service; each answers on its forwarded port, here and from another host" {
  start_boot
  answers http://127.0.0.1:8080/ "web 1.0.0"
  answers http://127.0.0.1:5080/v2/ "{}"
  answers http://192.168.77.1:8080/ "web 1.0.0" "$CLIENT"
  answers http://192.168.77.1:5080/v2/ "{}" "$CLIENT"
  # web's manifest names an IPv6 address too: there directly, and its forward from the other
  # host and from the machine's own address.
  [ "$(service_field web address6)" = fd6d:6f73:3::80 ]
  answers "http://[fd6d:6f73:3::80]:8000/" "web 1.0.0"
  answers "http://[fd00:77::1]:8080/" "web 1.0.0" "$CLIENT"
  answers "http://[fd00:77::1]:8080/" "web 1.0.0"
  [ "$(in_ns cat /proc/sys/net/ipv6/conf/all/forwarding)" = 1 ]
  [ "$(cat "$ROOT/mnt/atom/files/readme")" = "read-only data" ]
  run sh -c "echo x > '$ROOT/mnt/atom/files/new'"
  [ "$status" -ne 0 ]
  # Disjoint uid ranges, the container's root mapped to each range's base.
  web_pid=$(service_field web pid) reg_pid=$(service_field registry pid)
  [ "$web_pid" -gt 0 ] && [ "$reg_pid" -gt 0 ]
  read -r _ web_base web_size < "/proc/$web_pid/uid_map"
  read -r _ reg_base reg_size < "/proc/$reg_pid/uid_map"
  [ "$web_base" != 0 ] && [ "$reg_base" != 0 ]
  [ $((web_base + web_size)) -le "$reg_base" ] || [ $((reg_base + reg_size)) -le "$web_base" ]
  # Root in the container owns and writes its tree: the service wrote /www/uid as uid 0.
  answers http://127.0.0.1:8080/uid "0"
  [ "$(service_field registry address)" = 10.0.3.50 ]
  run mosctl status --root "$ROOT"
  [[ "$output" == *"web"*"running"*"8080->8000"* ]]
  run mosctl logs --root "$ROOT" --target web
  [[ "$output" == *"web is up"* ]]
  # mosctl boot became its lean program (the same pid). Each service's monitor is the small
  # monitor program, not a fork of boot, and became the container reaper (the same pid) once its
  # container ran; the container's init is liblxc's, forked from the monitor.
  [ "$(readlink "/proc/$(cat "$T/boot.pid")/exe")" = "$MOS_BIN/mosctl-boot" ]
  monitor=$(service_field web monitor_pid)
  for _ in $(seq 100); do
    [ "$(readlink "/proc/$monitor/exe")" = "$MOS_BIN/mos-container-reaper" ] && break
    sleep 0.1
  done
  [ "$(readlink "/proc/$monitor/exe")" = "$MOS_BIN/mos-container-reaper" ]
  [ "$(readlink "/proc/$web_pid/exe")" = "$MOS_BIN/mos-lxc-monitor" ]
  [ "$(service_field web pid)" = "$web_pid" ]
  # The host's end of a veth is named after the service's address (boot deletes it at its end).
  ip -n "$NS" link show mosv000332 > /dev/null  # the registry's, at 10.0.3.50
}

@test "a killed service is restarted; stop and activate work by hand" {
  old=$(service_field web pid)
  kill -KILL "$old"
  for _ in $(seq 100); do
    new=$(service_field web pid)
    [ -n "$new" ] && [ "$new" != null ] && [ "$new" != "$old" ] && break
    sleep 0.1
  done
  [ "$new" != "$old" ] && [ "$new" != null ]
  [ "$(service_field web restarts)" -ge 1 ]
  answers http://127.0.0.1:8080/ "web 1.0.0"
  mosctl stop --root "$ROOT" --target web
  [ "$(service_field web state)" = stopped ]
  run in_ns curl -fsS --max-time 2 http://127.0.0.1:8080/
  [ "$status" -ne 0 ]
  mosctl activate --root "$ROOT" --target web
  answers http://127.0.0.1:8080/ "web 1.0.0"
}

@test "an update restarts exactly what changed; persistent data stays" {
  reg_before=$(service_field registry pid)
  run mosctl update --root "$ROOT" "oci:$T/pub/machine/install:1.0.1"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"stopped web"$'\n'"started web"* ]]
  [[ "$output" != *"stopped registry"* ]] && [[ "$output" != *"started registry"* ]]
  answers http://127.0.0.1:8080/ "web 1.0.1"
  [ "$(service_field registry pid)" = "$reg_before" ]
  # Every start so far is recorded in the persistent volume; scratch was empty at this start.
  [ "$(in_ns curl -fsS http://127.0.0.1:8080/starts | wc -l)" -ge 3 ]
  # The non-persistent volume lives as long as the boot: a restart within it keeps it.
  [ "$(in_ns curl -fsS http://127.0.0.1:8080/scratch-at-start)" = was-here ]
  run mosctl activate --root "$ROOT" --target web
  [[ "$output" == *"nothing to restart"* ]]
  # A rollback restarts exactly the same one, back in its old version; the update again.
  run mosctl rollback --root "$ROOT"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"stopped web"$'\n'"started web"* ]]
  answers http://127.0.0.1:8080/ "web 1.0.0"
  [ "$(service_field registry pid)" = "$reg_before" ]
  mosctl -q update --root "$ROOT" "oci:$T/pub/machine/install:1.0.1" > /dev/null
  answers http://127.0.0.1:8080/ "web 1.0.1"
  # The update is on trial until a boot of it comes up: this boot, begun before it, is none.
  [ "$(mosctl status --root "$ROOT" --json | jq -c .boot_trial.boots)" = 0 ]
}

@test "SIGTERM to boot leaves no process, mount, interface or rule; data survives a reboot" {
  web_pid=$(service_field web pid)
  web_base_uid=$(service_field web uid_range.hostid)
  monitor=$(service_field web monitor_pid)
  stop_boot
  # (Not `! kill -0`: bats does not fail a test on a negated command.)
  run kill -0 "$web_pid"
  [ "$status" -ne 0 ]
  run kill -0 "$monitor"
  [ "$status" -ne 0 ]
  run grep -e " $ROOT/" -e " $(cat "$T/run.dir")/" /proc/self/mountinfo
  [ "$status" -eq 1 ]
  run ip -n "$NS" -o link show
  [[ "$output" != *mosbr0* ]] && [[ "$output" != *mosv* ]]
  run in_ns nft list table ip mos
  [ "$status" -ne 0 ]
  run in_ns nft list table ip6 mos
  [ "$status" -ne 0 ]
  [ "$(in_ns cat /proc/sys/net/ipv6/conf/all/forwarding)" = 0 ]
  run mosctl status --root "$ROOT"
  [[ "$output" == *"no mosctl boot runs"* ]]
  run mosctl stop --root "$ROOT" --target web
  [ "$status" -ne 0 ]
  [[ "$output" == *"no mosctl boot is running"* ]]
  # A second boot, as on a kernel whose squashfs cannot be idmapped (Debian 12's 6.1): each
  # unprivileged container runs on a copy of its image with shifted owners, its root still 0.
  # The persistent volume kept every start, the scratch one is empty again.
  # This boot is one of the updated system: the initramfs would have counted it (as
  # tests/e2e/boot_trial.bats checks); coming up, it ends the trial.
  jq -c '.boots = 1' "$ROOT/config/boot-trial.json" > "$T/trial" && mv "$T/trial" "$ROOT/config/boot-trial.json"
  # As a machine's init starts it: the services' setup waits for the file that says what they
  # need from the host (modules, AppArmor profiles) is loaded.
  (sleep 1; touch "$T/services-setup") &
  start_boot --id-shift copy --setup-after "$T/services-setup"
  grep -q "up for .*services' setup [0-9.]* s" "$T/boot.log"
  [ ! -e "$ROOT/config/boot-trial.json" ]
  grep -q "boot trial: the system .* came up; it stays" "$T/boot.log"
  answers http://127.0.0.1:8080/ "web 1.0.1"
  answers http://127.0.0.1:8080/uid "0"
  [ "$(stat -c %u "$ROOT/scratch-writes/shifted/web/tree/www/index.html")" = "$web_base_uid" ]
  [ "$(in_ns curl -fsS http://127.0.0.1:8080/starts | wc -l)" -ge 4 ]
  [ -z "$(in_ns curl -fsS http://127.0.0.1:8080/scratch-at-start)" ]
  # Only one boot per root.
  run as_machine mosctl boot --root "$ROOT"
  [ "$status" -ne 0 ]
  [[ "$output" == *"already runs"* ]]
  stop_boot
  run grep " $ROOT/" /proc/self/mountinfo
  [ "$status" -eq 1 ]
}

# hand_over FILE: what create-boot-fs --hand-over writes (tests/e2e/mosctl_mount.bats checks
# it): the history's head and the files of its tree.
hand_over() {
  local git="$ROOT/config/manifest.git" files='{}' f
  for f in $(git -C "$git" ls-tree --name-only HEAD); do
    files=$(jq -c --arg n "$f" --arg b "$(git -C "$git" show "HEAD:$f" | base64 -w0)" \
      '.[$n] = $b' <<< "$files")
  done
  jq -n --arg c "$(git -C "$git" rev-parse HEAD)" --argjson f "$files" \
    '{commit: $c, files: $f}' > "$1"
}

@test "boot starts the system the initramfs handed over, once; an unreadable one is said" {
  hand_over "$T/booted.json"
  start_boot --booted-system "$T/booted.json"
  grep -q "up for .*system handed over [0-9.]* s" "$T/boot.log"
  [ ! -e "$T/booted.json" ]
  answers http://127.0.0.1:8080/ "web 1.0.1"
  stop_boot
  # Not a record: said, and the history read and verified instead; removed all the same.
  echo '{"commit": "nope"' > "$T/booted.json"
  start_boot --booted-system "$T/booted.json"
  grep -q "booted.json.*reading the history instead" "$T/boot.log"
  grep -q "up for .*system verified [0-9.]* s" "$T/boot.log"
  [ ! -e "$T/booted.json" ]
  answers http://127.0.0.1:8080/ "web 1.0.1"
  stop_boot
}

@test "conflicts are refused: one host port twice at publish, an address outside the subnet at boot" {
  sed -e 's/host: 5080/host: 8080/' "$T/manifest-1.0.0.yaml" > "$T/conflict.yaml"
  run mosb manifest publish --skip-bootkit --project snakeoil:default --repo "oci:$T/pub" \
    --name machine/install:conflict "$T/conflict.yaml"
  [ "$status" -ne 0 ]
  [[ "$output" == *"host port 8080"* ]]
  run as_machine mosctl boot --root "$ROOT" --subnet 10.9.0.0/24
  [ "$status" -ne 0 ]
  [[ "$output" == *"10.0.3.50"* ]]
  run grep " $(cat "$T/run.dir")/" /proc/self/mountinfo
  [ "$status" -eq 1 ]
}
