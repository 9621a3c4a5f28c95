#!/usr/bin/env bash
# tests/root/launch_boot_test.sh [REPO_DIR] - vm-launch end to end, without Slurm: the test sets
# the environment a Slurm task would have and runs vm-launch as an unprivileged user (nobody),
# the way `srun` runs it as the job's user. Needs root (to switch user, make a network namespace
# and a TAP) and QEMU; exits 77 (skip) without them.
#
#  1. `vm-launch --no-network boot:1` boots the tiny guest (scripts/guest/build-tiny) with an
#     overlay of its image (unlinked, held by QEMU only), a seed and a direct kernel boot.
#     Checked: vm.json, the job directory, QEMU is the task (same PID), the guest's console in
#     console.log shows the seed was read, QMP says `running` (the pinning helper sent `cont`),
#     the vCPU thread is pinned to the CPU the plan gives and the other threads are not, the
#     helper is gone; then QMP `quit`.
#  2. Without the node's network map, vm-launch refuses with "no network prepared" (exit 4).
#  3. With a map (SLURM_VM_RUNDIR) and the TAP it names, made in a throw-away namespace and owned
#     by the user as vm-prolog will: QEMU starts with that TAP and the map's MAC (QMP
#     query-rx-filter), vm.json carries the map's addresses. The guest need not boot for that.
#
# Build directory: $SLURM_VM_BUILD_DIR (set by CTest), else build/ in the repository.
set -euo pipefail

REPO_DIR=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
readonly REPO_DIR
readonly BUILD_DIR=${SLURM_VM_BUILD_DIR:-$REPO_DIR/build}
readonly VM_LAUNCH=$BUILD_DIR/src/launch/vm-launch
readonly NS=svml-$$
readonly RUN_AS=nobody
# Kernel arguments that shorten a TCG boot (scripts/guest/README.md); no `quiet`: the test
# wants the kernel's own lines in console.log. slurmvm.ip=off: no DHCP wait without a network.
readonly KERNEL_ARGS="console=ttyS0 panic=-1 acpi=noirq cryptomgr.notests no_timer_check slurmvm.ip=off"

# Deadlines in seconds; generous, TCG on 2 shared cores is slow when the machine is busy.
readonly T_BUILD=600 T_START=60 T_RUNNING=60 T_READY=300 T_QUIT=30 T_CMD=20

TMP=
QEMU_PID=

say() { printf 'launch_boot_test: %s\n' "$*"; }

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
  KERNEL=$GUEST_DIR/vmlinux
  [[ -f $KERNEL ]] || KERNEL=$GUEST_DIR/vmlinuz
  IMAGE=$GUEST_DIR/tiny.qcow2
  if [[ ! -f $IMAGE ]]; then
    IMAGE=$TMP/empty.qcow2
    qemu-img create -q -f qcow2 "$IMAGE" 64M
  fi
  pass "guest $GUEST_DIR ($(since "$t0"))"
}

# A home with an SSH key, and slurm-vm's configuration with one template, all the user's.
make_user_files() {
  HOME_DIR=$TMP/home
  mkdir -p "$HOME_DIR/.ssh" "$TMP/etc" "$TMP/userconf" "$TMP/run"
  ssh-keygen -q -t ed25519 -N '' -C launch-test -f "$HOME_DIR/.ssh/id_ed25519"
  cat >"$TMP/etc/resources.yaml" <<EOF
default:
  networks: []
  default: true
EOF
  : >"$TMP/etc/networks.yaml"
  cat >"$TMP/etc/templates.yaml" <<EOF
boot:
  description: the tiny test guest, booted by launch_boot_test
  image: $IMAGE
  kernel: $KERNEL
  custom-args: [-initrd, $GUEST_DIR/initrd.cpio.gz, -append, "$KERNEL_ARGS", -no-reboot]
EOF
  chown -R "$RUN_AS:" "$HOME_DIR" "$TMP/userconf"
  chmod 0755 "$TMP"
}

# The environment of task 1 on its node (SLURM_LOCALID=1), as srun gives it.
task_env() {
  echo PATH=/usr/bin:/bin HOME="$HOME_DIR" USER="$RUN_AS" \
    SLURM_JOB_ID="$JOB_ID" SLURM_PROCID=0 SLURM_LOCALID=1 SLURM_CPUS_PER_TASK=1 SLURM_MEM_PER_CPU=512 \
    SLURMD_NODENAME="$(hostname)" SLURM_VM_SYSCONFDIR="$TMP/etc" SLURM_VM_USERCONFDIR="$TMP/userconf" \
    SLURM_VM_RUNDIR="$TMP/run"
}

# run_launch [PREFIX...] :: ARGS...: vm-launch as $RUN_AS with the task environment, in the
# background; QEMU_PID is its PID, which stays QEMU's (every prefix, setpriv, env and vm-launch
# exec).
run_launch() {
  local prefix=()
  while [[ $1 != :: ]]; do prefix+=("$1"); shift; done
  shift
  # shellcheck disable=SC2046 # task_env's words are NAME=value pairs without spaces
  "${prefix[@]}" setpriv --reuid="$RUN_AS" --regid=nogroup --clear-groups \
    env -i $(task_env) "$VM_LAUNCH" "$@" </dev/null >"$TMP/launch.out" 2>&1 &
  QEMU_PID=$!
}

# --- talking to QEMU -----------------------------------------------------------------------

alive() { [[ -n $QEMU_PID && $(awk '{ print $3 }' "/proc/$QEMU_PID/stat" 2>/dev/null) =~ ^[RSDT]$ ]]; }

# qmp SOCKET COMMAND: the reply's "return" as JSON, after the capabilities handshake.
qmp() {
  printf '{"execute":"qmp_capabilities"}\n%s\n' "$2" |
    timeout "$T_CMD" socat -t 2 - "UNIX-CONNECT:$1" 2>/dev/null | jq -c 'select(has("return")) | .return' | tail -n1
}

wait_alive_until() { # DEADLINE COMMAND...: true once COMMAND succeeds, false if QEMU dies or time is up
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < end)) && alive || return 1
    sleep 0.2
  done
}

stop_qemu() {
  [[ -n $QEMU_PID ]] || return 0
  if alive; then
    kill -TERM "$QEMU_PID" 2>/dev/null || true
    local end=$((SECONDS + 10))
    while alive && ((SECONDS < end)); do sleep 0.2; done
    alive && kill -KILL "$QEMU_PID" 2>/dev/null
  fi
  wait "$QEMU_PID" 2>/dev/null || true
  QEMU_PID=
}

cleanup() {
  local rc=$?
  set +e
  stop_qemu
  ip netns del "$NS" 2>/dev/null
  if ((rc != 0 || fails > 0)) && [[ -n $TMP ]]; then
    [[ -s $TMP/launch.out ]] && { say "vm-launch/QEMU output:"; cat "$TMP/launch.out"; }
    local log
    log=$(find "$TMP/home" -name console.log 2>/dev/null | head -n1)
    [[ -n $log ]] && { say "console.log:"; tr -d '\r' <"$log" | tail -n 30; }
  fi
  [[ -n $TMP ]] && rm -rf "$TMP"
  test_summary launch_boot_test "$rc"
  exit $?
}

# No vm-launch process of the user, zombies aside (the helper is an orphan: PID 1 reaps it when
# it gets to it).
no_helper() { ! ps -u "$RUN_AS" -o stat=,comm= | awk '$1 !~ /^Z/ && $2 == "vm-launch" { f = 1 } END { exit !f }'; }

# --- 1. boot -------------------------------------------------------------------------------

thread_cpus() { # PID NAME: Cpus_allowed_list of the thread named NAME
  local t
  for t in /proc/"$1"/task/*; do
    if [[ $(cat "$t/comm" 2>/dev/null) == "$2" ]]; then
      awk '$1 == "Cpus_allowed_list:" { print $2 }' "$t/status"
      return
    fi
  done
}

# The CPUs this script may run on, expanded ("0-1,3" -> 0 1 3).
affinity_cpus() {
  awk '$1 == "Cpus_allowed_list:" { print $2 }' /proc/self/status | tr ',' '\n' |
    awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) print i; else print $1 }'
}

boot_and_check() {
  local t0 vm job_dir json cpus mask expected
  JOB_ID=$((900000 + RANDOM))
  job_dir=$HOME_DIR/.local/state/slurm-vm/job-$JOB_ID
  vm=$job_dir/vm0
  t0=$(now_ms)
  run_launch :: -v --no-network boot:1
  wait_alive_until "$T_START" test -s "$vm/vm.json" || abort "no vm.json within ${T_START} s"
  json=$(cat "$vm/vm.json")
  check_eq "vm.json pid is the task's: QEMU replaced vm-launch" "$QEMU_PID" "$(jq -r .pid <<<"$json")"
  check_eq "QEMU runs as the user" "$RUN_AS" "$(ps -o user= -p "$QEMU_PID" | tr -d ' ')"
  check_eq "vm.json name, rank, hostname" "vm0 0 vm0" "$(jq -r '"\(.name) \(.rank) \(.hostname)"' <<<"$json")"
  check_eq "vm.json node" "$(hostname)" "$(jq -r .node <<<"$json")"
  check_eq "vm.json sockets and log" "$vm/qmp.sock $vm/console.sock $vm/console.log" \
    "$(jq -r '"\(.qmp) \(.console) \(.console_log)"' <<<"$json")"
  check_eq "vm.json host key is the VM's" "$(cut -d' ' -f1,2 "$vm/ssh_host_ed25519_key.pub")" \
    "$(jq -r .host_key_pub <<<"$json" | cut -d' ' -f1,2)"
  check_eq "vm.json without network" "null null null null" \
    "$(jq -r '"\(.tap) \(.mac) \(.ip) \(.ssh_port)"' <<<"$json")"
  check_eq "vm.json vcpus and memory (512 MiB less QEMU's reserve under TCG)" "1 376" \
    "$(jq -r '"\(.vcpus) \(.memory_mib)"' <<<"$json")"
  check_eq "job directory private and the user's" "700 $RUN_AS" "$(stat -c '%a %U' "$job_dir")"
  check "the host's private key is only in the seed" test ! -e "$vm/ssh_host_ed25519_key"
  # The overlay is unlinked before QEMU starts and reaches it as fd set 1 (docs/vm-launch.md).
  overlay_fd=
  for f in "/proc/$QEMU_PID/fd/"*; do
    if [[ $(readlink "$f") == "$vm/svm-vm0-"*".qcow2 (deleted)" ]]; then overlay_fd=$f; break; fi
  done
  check "the overlay is held by QEMU only, unlinked" test -n "$overlay_fd" -a ! -e "$vm/disk.qcow2"
  check_eq "the overlay is an overlay of the template's image" "$IMAGE" \
    "$(qemu-img info -U --output=json "${overlay_fd:-/nonexistent}" | jq -r '.["backing-filename"]')"

  running() { [[ $(qmp "$vm/qmp.sock" '{"execute":"query-status"}' | jq -r .status 2>/dev/null) == running ]]; }
  if wait_alive_until "$T_RUNNING" running; then
    pass "QMP query-status running: the pinning helper sent cont ($(since "$t0"))"
  else
    fail "the VM is not running after ${T_RUNNING} s"
  fi

  local rc=0
  # shellcheck disable=SC2046
  setpriv --reuid="$RUN_AS" --regid=nogroup --clear-groups env -i $(task_env) "$VM_LAUNCH" \
    --no-network boot:1 </dev/null >"$TMP/second.out" 2>&1 || rc=$?
  if ((rc == 2)) && grep -q "already runs on this node" "$TMP/second.out"; then
    pass "a second launch of the running VM is refused"
  else
    fail "second launch of vm0: status $rc, $(cat "$TMP/second.out")"
  fi
  # What vm boot reports when srun drops the task's last words (vm_record.hpp, LaunchFailure).
  check_eq "and records why in launch-error, for vm boot" "node=$(hostname) already-runs" \
    "$(jq -r '"node=\(.node) \(if (.message | test("already runs on this node")) then "already-runs" else .message end)"' \
      "$vm/launch-error" 2>&1)"
  check_eq "and leaves the running VM alone" running "$(qmp "$vm/qmp.sock" '{"execute":"query-status"}' | jq -r .status)"

  mapfile -t mask < <(affinity_cpus)
  expected=${mask[$((1 % ${#mask[@]}))]}
  cpus=$(thread_cpus "$QEMU_PID" "CPU 0/TCG")
  [[ -n $cpus ]] || cpus=$(thread_cpus "$QEMU_PID" "CPU 0/KVM")
  check_eq "vCPU 0 pinned to CPU #1 of the task's mask (task 1 on the node)" "$expected" "$cpus"
  check_eq "QEMU's main thread keeps the task's whole mask" \
    "$(awk '$1 == "Cpus_allowed_list:" { print $2 }' /proc/self/status)" \
    "$(awk '$1 == "Cpus_allowed_list:" { print $2 }' "/proc/$QEMU_PID/status")"
  if wait_alive_until 10 no_helper; then
    pass "no vm-launch helper left behind"
  else
    fail "a vm-launch process of the user is still running"
  fi

  console_has() { grep -aq -- "$1" "$vm/console.log" 2>/dev/null; }
  if wait_alive_until "$T_READY" console_has "slurm-vm-tiny: ready"; then
    pass "guest ready on console.log ($(since "$t0") after launch)"
  else
    fail "guest not ready within ${T_READY} s"
  fi
  check "console.log holds the kernel's output" console_has "Linux version"
  check "the guest read the seed (instance-id)" console_has "instance-id=$JOB_ID-vm0"
  check "guest host name from the seed" console_has "slurm-vm-tiny: hostname vm0"
  check "guest got the user's SSH key" grep -aqE "slurm-vm-tiny: ssh keys [1-9]" "$vm/console.log"
  check "guest mounted the overlay disk" console_has "slurm-vm-tiny: data /dev/"

  t0=$(now_ms)
  qmp "$vm/qmp.sock" '{"execute":"quit"}' >/dev/null || true
  local end=$((SECONDS + T_QUIT))
  rc=0
  while alive && ((SECONDS < end)); do sleep 0.2; done
  if alive; then
    fail "QEMU still running ${T_QUIT} s after QMP quit"
  else
    wait "$QEMU_PID" || rc=$?
    QEMU_PID=
    check_eq "QEMU gone after QMP quit ($(since "$t0")), task exit status" 0 "$rc"
  fi
}

# --- 2. no network map ---------------------------------------------------------------------

check_missing_network() {
  local rc=0
  JOB_ID=$((900000 + RANDOM))
  run_launch :: boot:1
  wait "$QEMU_PID" || rc=$?
  QEMU_PID=
  check_eq "without the node's network map: exit status 4 (not found)" 4 "$rc"
  check "and it says the network was not prepared" grep -q "no network prepared for vm0" "$TMP/launch.out"
}

# --- 3. network map and TAP ----------------------------------------------------------------

check_network() {
  local tap mac=52:54:00:0f:00:01 vm json filter
  JOB_ID=$((900000 + RANDOM))
  tap=$(printf 'svm%x.%x' "$JOB_ID" 0)
  vm=$HOME_DIR/.local/state/slurm-vm/job-$JOB_ID/vm0
  ip netns add "$NS"
  ip -n "$NS" tuntap add dev "$tap" mode tap user "$(id -u "$RUN_AS")"
  ip -n "$NS" link set "$tap" up
  mkdir -p "$TMP/run/jobs/$JOB_ID"
  cat >"$TMP/run/jobs/$JOB_ID/vms.json" <<EOF
{"network_id": 7, "vms": {"0": {"resource_set": "default", "ssh_port": 40022, "nics": [
 {"network": "nat-rssh", "kind": "L3", "tap": "$tap", "mac": "$mac", "ip": "10.128.7.2", "prefix": 20,
  "gateway": "10.128.7.1"}]}}}
EOF
  chmod -R a+rX "$TMP/run"
  # QEMU opens /dev/net/tun as the user: Debian's udev makes it 0666, this machine (no udev)
  # has it 0600. A 0666 node over it, in a mount namespace of QEMU's own, changes nothing
  # outside the test.
  mknod -m 0666 "$TMP/tun" c 10 200
  # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
  run_launch unshare --mount --propagation private -- \
    sh -c 'mount --bind "$0" /dev/net/tun && exec "$@"' "$TMP/tun" ip netns exec "$NS" :: boot:1
  wait_alive_until "$T_START" test -S "$vm/qmp.sock" || abort "QEMU with a NIC did not start"
  json=$(cat "$vm/vm.json")
  check_eq "vm.json network fields from the map" "$tap $mac 10.128.7.2 40022" \
    "$(jq -r '"\(.tap) \(.mac) \(.ip) \(.ssh_port)"' <<<"$json")"
  filter=$(qmp "$vm/qmp.sock" '{"execute":"query-rx-filter","arguments":{"name":"nic0"}}')
  check_eq "the NIC has the map's MAC" "$mac" "$(jq -r '.[0]["main-mac"]' <<<"$filter")"
  qmp "$vm/qmp.sock" '{"execute":"quit"}' >/dev/null || true
  stop_qemu
  # The pinning helper stops on its own once QEMU is gone (it watches QEMU through a pidfd).
  local end=$((SECONDS + 10))
  until no_helper || ((SECONDS >= end)); do sleep 0.2; done
  if no_helper; then pass "nothing of vm-launch left after QEMU exited"; else fail "a vm-launch helper outlived QEMU"; fi
}

main() {
  if ((EUID != 0)); then
    say "SKIP: needs root (to run vm-launch as another user, TAP devices)"
    exit 77
  fi
  if [[ ! -x /usr/bin/qemu-system-x86_64 ]]; then
    say "SKIP: qemu-system-x86 is not installed"
    exit 77
  fi
  [[ -x $VM_LAUNCH ]] || abort "$VM_LAUNCH not built (set SLURM_VM_BUILD_DIR)"
  [[ -x $REPO_DIR/scripts/guest/build-tiny ]] || { say "SKIP: no scripts/guest/build-tiny"; exit 77; }
  TMP=$(mktemp -d /tmp/launch-boot-test.XXXXXX)
  trap cleanup EXIT
  reap_stale_namespaces svml-
  ensure_packages qemu-utils genisoimage openssh-client socat jq
  build_guest
  make_user_files
  boot_and_check
  check_missing_network
  check_network
}

main "$@"
