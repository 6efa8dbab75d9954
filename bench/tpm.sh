#!/usr/bin/env bash
# Benchmark: the TPM part of `mosctl provision`, then `mosctl initrd-setup`'s policy reads (SUDI
# certificate, SUDI key, OS passphrase) and its final extend, against the same steps run as the
# original ran them with tpm2-tools commands (original-trust.md §5: clear, dictionarylockout,
# changeauth ×3, loadexternal + trial policyauthorize per key, nvdefine + nvwrite per index;
# ReadSecret per TPM2_PT_NV_BUFFER_MAX chunk: createprimary -C n, a policy session salted with
# it, policypcr, nvread + policynv of 0x01500020, loadexternal, verifysignature, policyauthorize,
# nvread; then pcrextend). Each round uses a fresh swtpm per side (untimed), and PCR7 is brought
# to the keyset's production value between provision and the reads (untimed) with the events
# `trust computePCR7 --events` predicts. Medians over rounds.
# Session protection: the reads of both sides use a policy session salted with a null-hierarchy
# primary (the original's createprimary -C n; ours an ECC key, theirs tpm2-tools' default RSA
# one). Our provisioning also encrypts its parameters in a salted HMAC session, which the
# original's plain passwords did not: that extra work is on our side of the ratio.
#   bench/tpm.sh [ROUNDS]   (MOS_BIN=dir with built programs skips the release build)
# Last line: RESULT tpm ratio=<ours/tpm2-tools, provision + reads> target=0.3
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
result() { echo "RESULT tpm ratio=$1 target=0.3"; exit 0; }
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || { echo "build failed"; result nan; }
  MOS_BIN="$top/build/release/bin"
fi
for tool in swtpm tpm2_nvread python3; do
  command -v $tool >/dev/null || { echo "$tool is missing"; result nan; }
done
work=$(mktemp -d)
export HOME=$work/home XDG_DATA_HOME=$work/xdg
mkdir -p "$HOME"
swtpm_pid=
keyname="mos-bench:$$"
cleanup() {
  [ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null && wait "$swtpm_pid" 2>/dev/null
  python3 - "$keyname" <<'EOF' 2>/dev/null
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
for _ in range(100):
    key = libc.syscall(250, 10, ctypes.c_int(-4), b"user", sys.argv[1].encode(), 0)
    if key <= 0: break
    libc.syscall(250, 9, key, ctypes.c_int(-4))
EOF
  rm -rf "$work"
}
trap cleanup EXIT

"$MOS_BIN/trust" keyset add --no-bootkit bench >/dev/null || result nan
"$MOS_BIN/trust" sudi add bench default SN1 >/dev/null || result nan
KS=$XDG_DATA_HOME/machine/trust/keys/bench
P7=$KS/pcr7data/policy-2
SUDI=$KS/manifest/default/sudi/SN1
"$MOS_BIN/trust" computePCR7 bench --events >"$work/events.txt" || result nan
prod=$(sed -n 's/^uki-production: //p' "$work/events.txt")
awk '/^ +[0-9]+ [0-9a-f]+ [0-9a-f]+ / && ($1 < 10 || $NF == "uki-production") { print $3 }' \
  "$work/events.txt" >"$work/events"
prod_index=$(sed -E 's/(..)(..)/\2\1/g; s/^(..)/\1\//' <<<"$prod")
signed=$P7/$prod_index/tpm_luks.policy.signed
[ -f "$signed" ] || { echo "no signed luks policy at $signed"; result nan; }

start_swtpm() {
  local port state=$work/state-$RANDOM
  mkdir -p "$state"
  port=$(python3 -c 'import socket
while True:
    s=socket.socket(); s.bind(("127.0.0.1",0)); p=s.getsockname()[1]; s.close()
    if p < 65000:
        t=socket.socket()
        try: t.bind(("127.0.0.1",p+1)); t.close(); print(p); break
        except OSError: pass')
  swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
    --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --tpmstate "dir=$state" \
    --flags not-need-init,startup-clear &
  swtpm_pid=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.02; done
  TCTI="swtpm:host=127.0.0.1,port=$port"
  export TPM2TOOLS_TCTI=$TCTI
}
stop_swtpm() { kill "$swtpm_pid" 2>/dev/null; wait "$swtpm_pid" 2>/dev/null; swtpm_pid=; }
boot_production() { while read -r d; do tpm2_pcrextend "7:sha256=$d" || return 1; done <"$work/events"; }
now() { date +%s.%N; }

# --- ours
ours_provision() {
  "$MOS_BIN/mosctl" provision --tpm "$TCTI" --pcr7data "$KS/pcr7data" \
    "$SUDI/cert.pem" "$SUDI/privkey.pem" >/dev/null
}
ours_read() {
  rm -rf "$work/secure"
  "$MOS_BIN/mosctl" initrd-setup --tpm "$TCTI" --pcr7data "$KS/pcr7data" --dest "$work/secure" \
    --key-description "$keyname" >/dev/null
}

# --- the original's commands. swtpm's socket has no resource manager, so transient objects
# stay loaded after a tool exits; `tpm2_flushcontext -t` does what the kernel's tpmrm would have
# done at each exit (swtpm holds 3 objects). A password file in the bench dir stands for its
# /run/tpm-passphrase; hex passphrases as the original made them)
T=$work/tools
authorize_policy() {  # PUBKEY OUT: PolicyAuthorize digest of the key, by a trial session
  tpm2_loadexternal -Q -C o -G rsa -u "$1" -c "$T/key.ctx" -n "$T/key.name" &&
    tpm2_startauthsession -Q -S "$T/trial.ctx" &&
    tpm2_policyauthorize -Q -S "$T/trial.ctx" -L "$2" -n "$T/key.name" &&
    tpm2_flushcontext "$T/trial.ctx" && tpm2_flushcontext -t
}
define_write() {  # INDEX FILE ATTRS [POLICY]
  local size
  size=$(stat -c %s "$2")
  tpm2_nvdefine -Q "$1" -C o -s "$size" -a "$3" ${4:+-L "$4"} -P "file:$T/pass" &&
    tpm2_nvwrite -Q "$1" -C o -P "file:$T/pass" -i "$2"
}
tools_provision() {
  rm -rf "$T" && mkdir -p "$T"
  tpm2_clear -Q -c p || tpm2_clear -Q || return 1
  tpm2_dictionarylockout -Q --setup-parameters --lockout-recovery-time=120 \
    --max-tries=4294967295 --clear-lockout || return 1
  printf 'trust-%s' "$(openssl rand -hex 13)" | head -c 32 >"$T/pass"
  for h in owner endorsement lockout; do tpm2_changeauth -Q -c $h "$(cat "$T/pass")" || return 1; done
  authorize_policy "$P7/pubkeys/tpmpass-bench.pem" "$T/tpmpass.pol" || return 1
  authorize_policy "$P7/pubkeys/luks-bench.pem" "$T/luks.pol" || return 1
  printf 00000003 >"$T/layout"; printf 0001 >"$T/version"
  openssl rand -hex 20 >"$T/sbf"; openssl rand -hex 20 >"$T/os"
  define_write 0x1500001 "$T/pass" "ownerwrite|ownerread|policyread" "$T/tpmpass.pol" &&
    define_write 0x1500002 "$T/layout" "ownerwrite|ownerread|authread" &&
    define_write 0x1500020 "$T/version" "ownerwrite|ownerread|authread" &&
    define_write 0x1500021 "$SUDI/cert.pem" "ownerwrite|ownerread|policyread" "$T/luks.pol" &&
    define_write 0x1500022 "$SUDI/privkey.pem" "ownerwrite|ownerread|policyread" "$T/luks.pol" &&
    define_write 0x1500030 "$T/sbf" "ownerwrite|ownerread|policyread" "$T/luks.pol" &&
    define_write 0x1500040 "$T/os" "ownerwrite|ownerread|policyread|policywrite" "$T/luks.pol"
}
tools_read_secret() {  # INDEX SIZE OUT
  local offset=0 chunk
  : >"$3"
  while [ "$offset" -lt "$2" ]; do
    chunk=$(( $2 - offset < 1024 ? $2 - offset : 1024 ))
    tpm2_createprimary -Q -C n -c "$T/prim.ctx" &&
      tpm2_startauthsession -Q --policy-session -S "$T/s.ctx" -c "$T/prim.ctx" &&
      tpm2_flushcontext -t &&
      tpm2_policypcr -Q -S "$T/s.ctx" -l sha256:7 &&
      tpm2_nvread -Q 0x1500020 -C 0x1500020 -o "$T/ver" &&
      tpm2_policynv -Q -S "$T/s.ctx" -i "$T/ver" 0x1500020 eq -L "$T/pol.digest" &&
      tpm2_loadexternal -Q -C o -G rsa -u "$P7/pubkeys/luks-bench.pem" -c "$T/key.ctx" -n "$T/key.name" &&
      tpm2_verifysignature -Q -c "$T/key.ctx" -g sha256 -m "$T/pol.digest" -s "$signed" -f rsassa \
        -t "$T/ticket" &&
      tpm2_policyauthorize -Q -S "$T/s.ctx" -i "$T/pol.digest" -n "$T/key.name" -t "$T/ticket" &&
      tpm2_nvread -Q "$1" -C "$1" -P "session:$T/s.ctx" -s "$chunk" --offset "$offset" -o "$T/part" &&
      tpm2_flushcontext "$T/s.ctx" && tpm2_flushcontext -t || return 1
    cat "$T/part" >>"$3"
    offset=$((offset + chunk))
  done
}
tools_read() {
  tools_read_secret 0x1500021 "$(stat -c %s "$SUDI/cert.pem")" "$T/server.crt" &&
    tools_read_secret 0x1500022 "$(stat -c %s "$SUDI/privkey.pem")" "$T/server.key" &&
    tools_read_secret 0x1500040 40 "$T/os.read" &&
    tpm2_pcrextend 7:sha256=b7135cbb321a66fa848b07288bd008b89bd5b7496c4569c5e1a4efd5f7c8e0a7
}

ours_p=() ours_r=() tools_p=() tools_r=()
for round in $(seq "$rounds"); do
  start_swtpm
  t0=$(now); ours_provision || { echo "mosctl provision failed"; result nan; }; t1=$(now)
  boot_production || result nan
  t2=$(now); ours_read || { echo "mosctl initrd-setup failed"; result nan; }; t3=$(now)
  cmp -s "$work/secure/server.key" "$SUDI/privkey.pem" || { echo "ours read another key"; result nan; }
  stop_swtpm
  ours_p+=("$(echo "$t1 - $t0" | bc)") ours_r+=("$(echo "$t3 - $t2" | bc)")

  start_swtpm
  t0=$(now); tools_provision >/dev/null || { echo "tpm2-tools provision failed"; result nan; }; t1=$(now)
  boot_production || result nan
  t2=$(now); tools_read >/dev/null || { echo "tpm2-tools reads failed"; result nan; }; t3=$(now)
  cmp -s "$T/server.key" "$SUDI/privkey.pem" || { echo "tpm2-tools read another key"; result nan; }
  stop_swtpm
  tools_p+=("$(echo "$t1 - $t0" | bc)") tools_r+=("$(echo "$t3 - $t2" | bc)")
  echo "round $round: ours provision ${ours_p[-1]}s reads ${ours_r[-1]}s; tpm2-tools provision ${tools_p[-1]}s reads ${tools_r[-1]}s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
op=$(median "${ours_p[@]}") orr=$(median "${ours_r[@]}")
tp=$(median "${tools_p[@]}") tr=$(median "${tools_r[@]}")
echo "median: ours provision ${op}s + reads ${orr}s; tpm2-tools provision ${tp}s + reads ${tr}s"
ratio=$(echo "scale=3; ($op + $orr) / ($tp + $tr)" | bc)
result "$ratio"
