#!/usr/bin/env bash
# tests/root/tiny_guest_test.sh [REPO_DIR] - boots two `tiny` guests under TCG and checks the
# seed contract of scripts/guest/README.md end to end. Needs root; exits 77 (skip) otherwise.
#
# Inside one throw-away network namespace svmt-<pid>: a bridge with the host side's address, a
# busybox udhcpd on it, and one TAP per guest. Guest A takes a static address from a
# network-config v2 and its key from user-data, with the seed on a virtio disk; guest B asks
# DHCP (network-config v1) and takes its key from meta-data, with the seed on a virtio-scsi
# CD-ROM (pcocc's layout). Host keys are taken from each console and pinned: ssh runs with
# StrictHostKeyChecking=yes. All traffic stays in the namespace.
#
# The guest build is cached (scripts/guest/build-tiny), so only the first run pays for it.
set -euo pipefail

REPO_DIR=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
readonly REPO_DIR
readonly NS=svmt-$$
readonly NET=192.168.150 # exists only inside $NS
readonly HOST_IP=$NET.1
readonly KERNEL_ARGS="console=ttyS0 panic=-1 quiet acpi=noirq cryptomgr.notests no_timer_check"
readonly PACKAGES=(qemu-system-x86 qemu-utils genisoimage openssh-client socat iproute2 busybox-static)

# Deadlines, in seconds. Generous: TCG on 2 shared cores is slow when the machine is busy.
readonly T_BUILD=600 T_READY=180 T_SSH=60 T_CMD=30 T_POWEROFF=60 T_KILL=10

TMP=
declare -A QEMU_PIDS=() # guest name -> QEMU's PID

say() { printf 'tiny_guest_test: %s\n' "$*"; }

# pass, fail, abort, check, check_eq, test_summary
# shellcheck source=../lib/check_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/check_lib.sh"
# now_ms, since, reap_stale_namespaces, ensure_packages
# shellcheck source=../lib/guest_test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/guest_test_lib.sh"

# --- setup ---------------------------------------------------------------------------------

build_guest() {
  local t0
  t0=$(now_ms)
  GUEST_DIR=$(timeout "$T_BUILD" "$REPO_DIR/scripts/guest/build-tiny" | tail -n1) ||
    abort "scripts/guest/build-tiny failed"
  pass "guest build $GUEST_DIR ($(since "$t0"))"
}

# One bridge holding the host's address, a DHCP server, and a TAP per guest.
make_network() {
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  ip -n "$NS" link add br0 type bridge
  ip -n "$NS" addr add "$HOST_IP/24" dev br0
  ip -n "$NS" link set br0 up
  local tap
  for tap in tapa tapb; do
    ip -n "$NS" tuntap add dev "$tap" mode tap
    ip -n "$NS" link set "$tap" master br0 up
  done
  cat >"$TMP/udhcpd.conf" <<EOF
interface br0
start $NET.100
end $NET.150
lease_file $TMP/udhcpd.leases
pidfile $TMP/udhcpd.pid
option subnet 255.255.255.0
option router $HOST_IP
option mtu 1450
option lease 3600
static_lease 52:54:00:96:00:0b $NET.20
EOF
  : >"$TMP/udhcpd.leases"
  ip netns exec "$NS" busybox udhcpd -f "$TMP/udhcpd.conf" >"$TMP/udhcpd.log" 2>&1 &
  UDHCPD_PID=$!
}

# make_seed_iso NAME: the NoCloud seed ISO from the files in $TMP/NAME-seed/.
make_seed_iso() {
  genisoimage -quiet -output "$TMP/$1-seed.iso" -volid cidata -joliet -rock "$TMP/$1-seed"/*
}

make_seeds() {
  ssh-keygen -q -t ed25519 -N '' -C tiny-test-a -f "$TMP/key-a"
  ssh-keygen -q -t ed25519 -N '' -C tiny-test-b -f "$TMP/key-b"
  mkdir -p "$TMP/a-seed" "$TMP/b-seed"
  local hosts="$HOST_IP host
$NET.10 tiny-a
$NET.20 tiny-b"

  cat >"$TMP/a-seed/meta-data" <<EOF
instance-id: iid-tiny-a-$$
local-hostname: tiny-a.test
EOF
  cat >"$TMP/a-seed/user-data" <<EOF
#cloud-config
ssh_authorized_keys:
  - $(cat "$TMP/key-a.pub")
EOF
  cat >"$TMP/a-seed/network-config" <<EOF
version: 2
ethernets:
  eth0:
    addresses: [$NET.10/24]
    gateway4: $HOST_IP
    mtu: 1450
EOF
  echo "$hosts" >"$TMP/a-seed/hosts"

  cat >"$TMP/b-seed/meta-data" <<EOF
instance-id: iid-tiny-b-$$
local-hostname: tiny-b
public-keys:
  - "$(cat "$TMP/key-b.pub")"
EOF
  printf '#cloud-config\n' >"$TMP/b-seed/user-data"
  cat >"$TMP/b-seed/network-config" <<EOF
network:
  version: 1
  config:
    - type: physical
      name: eth0
      subnets:
        - type: dhcp
EOF
  echo "$hosts" >"$TMP/b-seed/hosts"

  make_seed_iso a
  make_seed_iso b
}

# boot_vm NAME MAC TAP SEED-DEVICE-ARGS...: QEMU under TCG in the namespace, with a copy-on-write
# overlay of the template's image. QEMU stays a child of this script (no -daemonize), so that
# it is reaped here rather than left a zombie for PID 1 (`ip netns exec` execs, so $! is QEMU).
# csum=off,guest_csum=off: TCP over an OVS netdev bridge needs it (net-and-vm-on-one-machine.md
# §2.5); used here too so that the test boots guests the way the launcher will.
boot_vm() {
  local name=$1 mac=$2 tap=$3
  shift 3
  qemu-img create -q -f qcow2 -b "$GUEST_DIR/tiny.qcow2" -F qcow2 "$TMP/$name.qcow2"
  ip netns exec "$NS" qemu-system-x86_64 -name "$name" -machine pc -accel tcg,tb-size=64 \
    -m 256 -smp 1 -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$GUEST_DIR/vmlinux" -initrd "$GUEST_DIR/initrd.cpio.gz" -append "$KERNEL_ARGS" \
    -drive "file=$TMP/$name.qcow2,if=none,id=disk0,format=qcow2" -device virtio-blk-pci,drive=disk0 \
    "$@" \
    -netdev "tap,id=net0,ifname=$tap,script=no,downscript=no" \
    -device "virtio-net-pci,netdev=net0,mac=$mac,csum=off,guest_csum=off" \
    -device virtio-rng-pci \
    -qmp "unix:$TMP/$name.qmp,server=on,wait=off" -serial "file:$TMP/$name.console" \
    </dev/null >"$TMP/$name.qemu.log" 2>&1 &
  QEMU_PIDS[$name]=$!
}

# --- waiting and talking to guests ---------------------------------------------------------

# True while NAME's QEMU runs (a child that exited stays a zombie until stop_qemu reaps it).
qemu_alive() {
  local pid=${QEMU_PIDS[$1]:-}
  [[ -n $pid ]] && [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) =~ ^[RSDT]$ ]]
}

# wait_for_console NAME TEXT DEADLINE_S: true once TEXT is on NAME's console.
wait_for_console() {
  local end=$((SECONDS + $3))
  until grep -aq -- "$2" "$TMP/$1.console" 2>/dev/null; do
    ((SECONDS < end)) && qemu_alive "$1" || return 1
    sleep 0.2
  done
}

# The guest's host key, from the block it prints in cloud-init's format, pinned for its IP.
pin_host_key() {
  local key
  key=$(sed -n '/BEGIN SSH HOST KEY KEYS/,/END SSH HOST KEY KEYS/p' "$TMP/$1.console" |
    tr -d '\r' | awk '$1 == "ssh-ed25519" { print $1, $2; exit }')
  [[ -n $key ]] || return 1
  echo "$2 $key" >>"$TMP/known_hosts"
}

# guest_ssh KEY IP CMD...: one command in the guest, from inside the namespace.
guest_ssh() {
  local key=$1 ip=$2
  shift 2
  timeout "$T_CMD" ip netns exec "$NS" ssh -F /dev/null -i "$TMP/$key" \
    -o UserKnownHostsFile="$TMP/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes \
    -o ConnectTimeout=5 -o LogLevel=ERROR "root@$ip" "$@"
}

wait_for_ssh() {
  local end=$((SECONDS + T_SSH))
  until guest_ssh "$1" "$2" true 2>/dev/null; do
    ((SECONDS < end)) && qemu_alive "$3" || return 1
    sleep 0.5
  done
}

# qmp NAME COMMAND: one QMP command; replies and events go to NAME.qmp.log.
qmp() {
  printf '{"execute":"qmp_capabilities"}\n{"execute":"%s"}\n' "$2" |
    timeout "$T_CMD" socat -t 2 - "UNIX-CONNECT:$TMP/$1.qmp" >>"$TMP/$1.qmp.log" 2>&1
}

wait_for_exit() {
  local end=$((SECONDS + $2))
  while qemu_alive "$1"; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

# --- cleanup -------------------------------------------------------------------------------

stop_qemu() {
  local pid=${QEMU_PIDS[$1]:-}
  [[ -n $pid ]] || return 0
  if qemu_alive "$1"; then
    kill -TERM "$pid" 2>/dev/null
    wait_for_exit "$1" "$T_KILL" || kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  unset "QEMU_PIDS[$1]"
}

cleanup() {
  local rc=$? name
  set +e # clean up as much as possible
  for name in a b; do stop_qemu "$name"; done
  if [[ -n ${UDHCPD_PID:-} ]]; then
    kill "$UDHCPD_PID" 2>/dev/null || true
    wait "$UDHCPD_PID" 2>/dev/null || true
  fi
  ip netns del "$NS" 2>/dev/null || true
  if ((rc != 0 || fails > 0)) && [[ -n $TMP ]]; then
    for name in a b; do
      [[ -s $TMP/$name.qemu.log ]] && { say "QEMU output of tiny-$name:"; cat "$TMP/$name.qemu.log"; }
      [[ -f $TMP/$name.console ]] && { say "console of tiny-$name:"; tr -d '\r' <"$TMP/$name.console" | tail -n 40; }
    done
  fi
  [[ -n $TMP ]] && rm -rf "$TMP"
  test_summary tiny_guest_test "$rc"
  exit $?
}

# --- checks --------------------------------------------------------------------------------

check_guest_a() {
  check_eq "tiny-a host name from meta-data local-hostname (FQDN cut)" tiny-a \
    "$(guest_ssh key-a "$NET.10" hostname)"
  check_eq "tiny-a static address from network-config v2" "$NET.10/24" \
    "$(guest_ssh key-a "$NET.10" "ip -o -4 addr show dev eth0 | awk '{ print \$4 }'")"
  check_eq "tiny-a MTU from network-config" 1450 "$(guest_ssh key-a "$NET.10" cat /sys/class/net/eth0/mtu)"
  check_eq "tiny-a default route from gateway4" "$HOST_IP" \
    "$(guest_ssh key-a "$NET.10" "ip route | awk '\$1 == \"default\" { print \$3 }'")"
  if guest_ssh key-a "$NET.10" ping -c1 -W5 host >/dev/null; then
    pass "tiny-a pings the host by a name from the seed's hosts file"
  else
    fail "tiny-a cannot ping the host"
  fi
  if guest_ssh key-a "$NET.10" ping -c1 -W5 tiny-b >/dev/null; then
    pass "tiny-a pings tiny-b by name"
  else
    fail "tiny-a cannot ping tiny-b"
  fi
  if guest_ssh key-a "$NET.10" 'grep -q " /data vfat " /proc/mounts && echo ok >/data/marker && sync'; then
    pass "tiny-a mounts the template's image (overlay) on /data and writes to it"
  else
    fail "tiny-a has no writable /data"
  fi
  echo "payload $$" >"$TMP/scp-payload"
  if timeout "$T_CMD" ip netns exec "$NS" scp -q -F /dev/null -i "$TMP/key-a" \
    -o UserKnownHostsFile="$TMP/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes \
    "$TMP/scp-payload" "root@$NET.10:/tmp/payload"; then
    check_eq "scp (sftp) to tiny-a" "payload $$" "$(guest_ssh key-a "$NET.10" cat /tmp/payload)"
  else
    fail "scp to tiny-a"
  fi
  if guest_ssh key-b "$NET.10" true 2>/dev/null; then
    fail "tiny-a accepts a key it was not given"
  else
    pass "tiny-a refuses a key that is not in its seed"
  fi
}

check_guest_b() {
  check_eq "tiny-b host name from meta-data" tiny-b "$(guest_ssh key-b "$NET.20" hostname)"
  check_eq "tiny-b address from DHCP (network-config v1 type dhcp)" "$NET.20/24" \
    "$(guest_ssh key-b "$NET.20" "ip -o -4 addr show dev eth0 | awk '{ print \$4 }'")"
  check_eq "tiny-b MTU from DHCP option 26" 1450 "$(guest_ssh key-b "$NET.20" cat /sys/class/net/eth0/mtu)"
  if guest_ssh key-b "$NET.20" ping -c1 -W5 "$HOST_IP" >/dev/null; then
    pass "tiny-b pings the host"
  else
    fail "tiny-b cannot ping the host"
  fi
}

# --- main ----------------------------------------------------------------------------------

boot_and_connect() {
  local t0 name ip key
  t0=$(now_ms)
  boot_vm a 52:54:00:96:00:0a tapa \
    -drive "file=$TMP/a-seed.iso,if=none,id=seed0,format=raw,readonly=on" -device virtio-blk-pci,drive=seed0
  boot_vm b 52:54:00:96:00:0b tapb -device virtio-scsi-pci,id=scsi0 \
    -drive "file=$TMP/b-seed.iso,if=none,id=seed0,format=raw,readonly=on,media=cdrom" \
    -device scsi-cd,bus=scsi0.0,drive=seed0
  for name in a b; do
    wait_for_console "$name" "slurm-vm-tiny: ready" "$T_READY" ||
      abort "tiny-$name not ready within ${T_READY} s"
    pass "tiny-$name ready on its console ($(since "$t0") after launch)"
  done
  for name in a b; do
    if [[ $name == a ]]; then ip=$NET.10; else ip=$NET.20; fi
    key=key-$name
    pin_host_key "$name" "$ip" || abort "tiny-$name printed no host key"
    wait_for_ssh "$key" "$ip" "$name" || abort "no ssh to tiny-$name within ${T_SSH} s"
    pass "ssh to tiny-$name with the host key from its console ($(since "$t0") after launch)"
  done
}

power_off() {
  local name t0
  t0=$(now_ms)
  for name in a b; do qmp "$name" system_powerdown || fail "QMP system_powerdown to tiny-$name"; done
  for name in a b; do
    if wait_for_exit "$name" "$T_POWEROFF"; then
      pass "tiny-$name powered off through ACPI ($(since "$t0"))"
    else
      fail "tiny-$name still running ${T_POWEROFF} s after system_powerdown"
    fi
    grep -aq "slurm-vm-tiny: shutdown" "$TMP/$name.console" ||
      fail "tiny-$name did not run its shutdown action"
  done
}

main() {
  if ((EUID != 0)); then
    say "SKIP: needs root (network namespaces, TAP devices)"
    exit 77
  fi
  TMP=$(mktemp -d /tmp/tiny-guest-test.XXXXXX)
  trap cleanup EXIT
  reap_stale_namespaces svmt-
  ensure_packages "${PACKAGES[@]}"
  build_guest
  make_network
  make_seeds
  boot_and_connect
  check_guest_a
  check_guest_b
  power_off
}

main "$@"
