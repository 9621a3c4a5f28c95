#!/bin/bash
# InfiniBand VFs and whole PCI devices through vm-prolog and vm-epilog, against the real
# InfiniBand management stack on a simulated fabric (issue 13; docs/infiniband.md):
#   - a fake but faithful PCI/SR-IOV/VFIO kernel (tests/tools/fake_pci_kernel.hpp) mounted over
#     /sys and /dev in a mount namespace of the test's own: HCA ibsim0 (PF 0000:3b:00.0, 4 VFs
#     on mlx5_core, IOMMU groups 40-43) and a GPU (slot 0000:af:00: nvidia + snd_hda_intel,
#     IOMMU group 70);
#   - ibsim (the fabric simulator) with the node's HCA and one simulated HCA per VF the job
#     gets, whose port GUIDs are the ones the prolog derives, so that OpenSM's tables can be
#     read back; the prolog reads the node's ports through libibumad under libumad2sim;
#   - a real OpenSM (daemon, pid file) and vm-pkeyd --once, which writes its partitions file
#     and makes it re-read it; smpquery then shows which ports carry the job's pkey.
# Job 4301: a:2 on resource set ibset ([ib]) and b:1 on gpuset ([gpu, hostib]), all on nodeA.
# Job 4302 next to it gets the next pkey and the last VF; job 4303 fails half-way (its VF's
# sriov directory is gone) and leaves nothing. Each epilog gives everything back, twice.
# Usage: ib_devices_test.sh [REPO]   (SLURM_VM_BUILD_DIR: the build, default REPO/build)
# Exit 77 (skipped) without root or without the tools.
set -euo pipefail

REPO=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLURM_VM_BUILD_DIR:-$REPO/build}
PROLOG=$BUILD/src/prolog/vm-prolog
EPILOG=$BUILD/src/epilog/vm-epilog
PKEYD=$BUILD/src/vfio/vm-pkeyd
FAKE=$BUILD/tests/tools/fake-pci-kernel
UMAD2SIM=/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so

[[ $(id -u) == 0 ]] || { echo "SKIP: needs root"; exit 77; }
for tool in ip nft unshare nsenter python3 ibsim ibstat opensm smpquery ibnetdiscover; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing (scripts/install-deps)"; exit 77; }
done
[[ -f $UMAD2SIM ]] || { echo "SKIP: libumad2sim0 is missing"; exit 77; }
for b in "$PROLOG" "$EPILOG" "$PKEYD" "$FAKE"; do
  [[ -x $b ]] || { echo "FAIL: build $b first ($BUILD)"; exit 1; }
done

NS=svmib-$$
TMP=$(mktemp -d /tmp/svmib-XXXXXX)
RUN=$TMP/run
ETC=$TMP/etc
STORE=$TMP/store
SYS=$TMP/sysview  # where the test reads the namespace's /sys: /proc/<fake kernel>/root/sys
# The simulator's sockets are abstract names: this run's own.
export IBSIM_SOCKNAME=svmib$$
# pass, fail, check, check_eq, wait_for, test_summary
# shellcheck source=../lib/check_lib.sh
source "$REPO/tests/lib/check_lib.sh"

IBSIM_PID='' OPENSM_PID='' FAKE_PID='' ETCD_PID=''
cleanup() {
  stop_pid "$ETCD_PID"
  stop_pid "$OPENSM_PID"
  stop_pid "$FAKE_PID"
  stop_pid "$IBSIM_PID"
  ip netns delete "$NS" 2>/dev/null || :
  umount -l "$TMP/mnt.ns" 2>/dev/null || :
  umount -l "$TMP" 2>/dev/null || :
  rm -rf "$TMP"
}
trap cleanup EXIT

# --- The node: a network namespace (the prolog's nftables stay in it) and a mount namespace
#     whose /sys and /dev are the fake kernel's (tmpfs, with the host's null, zero, random,
#     urandom and net/tun bound back in).
ip netns add "$NS"
mount --bind "$TMP" "$TMP"
mount --make-private "$TMP"
touch "$TMP/mnt.ns"
unshare --mount="$TMP/mnt.ns" --propagation private true
inns() { nsenter --mount="$TMP/mnt.ns" --net="/run/netns/$NS" "$@"; }
inns /bin/sh -ec '
  mkdir -p "$1/hostdev"
  mount --rbind /dev "$1/hostdev"
  mount -t tmpfs -o mode=0755 svm-sys /sys
  mount -t tmpfs -o mode=0755 svm-dev /dev
  for n in null zero random urandom full; do touch "/dev/$n"; mount --bind "$1/hostdev/$n" "/dev/$n"; done
  mkdir -p /dev/net && touch /dev/net/tun && mount --bind "$1/hostdev/net/tun" /dev/net/tun
  umount -l "$1/hostdev"' sh "$TMP"
# nsenter execs the program: $! is its pid (a shell function would put a subshell in between).
nsenter --mount="$TMP/mnt.ns" --net="/run/netns/$NS" "$FAKE" --sysfs /sys --dev /dev --hca ibsim0,0000:3b:00.0,4,40 --driver nvidia \
  --function 0000:af:00.0,10de,20b0,nvidia,70 --function 0000:af:00.1,10de,10f0,snd_hda_intel,70 \
  >"$TMP/fake.out" 2>&1 &
FAKE_PID=$!
wait_for "the fake PCI kernel is ready" 10 grep -qs ready "$TMP/fake.out" || abort "no fake PCI kernel: $(cat "$TMP/fake.out")"
ln -s "/proc/$FAKE_PID/root/sys" "$SYS"
DEV=/proc/$FAKE_PID/root/dev

# --- The fabric: a switch, the subnet manager's HCA, the node's HCA (node1) and one HCA per VF
#     of the jobs' infiniband network, each with the port GUID the prolog derives for it
#     (ib_guid.hpp: c2cc<pkey>00<rank>00; ibsim gives a CA's port the node GUID + 1), and an
#     HCA in no job (the negative control).
cat >"$TMP/fabric.net" <<'EOF'
Switch	8 "switch0"
[1]	"sm"[1]
[2]	"node1"[1]
[3]	"job4301-vm0"[1]
[4]	"job4301-vm1"[1]
[5]	"job4302-vm0"[1]
[6]	"outsider"[1]

Hca	1 "sm"
[1]	"switch0"[1]

Hca	1 "node1"
[1]	"switch0"[2]

Hca	1 "job4301-vm0"
[1]	"switch0"[3]

Hca	1 "job4301-vm1"
[1]	"switch0"[4]

Hca	1 "job4302-vm0"
[1]	"switch0"[5]

Hca	1 "outsider"
[1]	"switch0"[6]

do Guid "job4301-vm0" 0xc2cc2000ffffffff
do Guid "job4301-vm1" 0xc2cc2001000000ff
do Guid "job4302-vm0" 0xc2cc2001ffffffff
EOF
# In the node's network namespace: the simulator's sockets are abstract names, which belong to
# a network namespace, and the prolog runs in that one.
innet() { nsenter --net="/run/netns/$NS" "$@"; }
nsenter --net="/run/netns/$NS" ibsim -s -n "$TMP/fabric.net" >"$TMP/ibsim.log" 2>&1 &
IBSIM_PID=$!
# A command on HCA $1 of the fabric; queries get 5 s (a simulator that hangs must not hang the test).
sim() { SIM_HOST=$1 LD_PRELOAD=$UMAD2SIM innet "${@:2}"; }
simq() { SIM_HOST=$1 LD_PRELOAD=$UMAD2SIM timeout 5 nsenter --net="/run/netns/$NS" "${@:2}"; }
node_port_guid() { simq node1 ibstat 2>/dev/null | awk '/Port GUID/ {print $3; exit}'; }
wait_for "ibsim serves the fabric" 10 node_port_guid >/dev/null || abort "no fabric: $(cat "$TMP/ibsim.log")"
NODE_GUID=$(node_port_guid)
check "the node's port has a GUID ($NODE_GUID)" test -n "$NODE_GUID"

# --- The site configuration, and OpenSM with its partitions file.
mkdir -p "$ETC" "$STORE" "$TMP/work"
printf 'Default=0x7fff, ipoib : ALL=full ;\n' >"$TMP/partitions.tpl"
cp "$TMP/partitions.tpl" "$TMP/partitions.conf"
cat >"$ETC/slurm-vm.yaml" <<EOF
store: {type: file, path: $STORE}
EOF
cat >"$ETC/networks.yaml" <<EOF
ib:
  type: infiniband
  settings:
    host-device: ibsim0
    min-pkey: '0x2001'
    max-pkey: '0x2003'
    opensm-daemon: $TMP/opensm.pid
    opensm-partition-cfg: $TMP/partitions.conf
    opensm-partition-tpl: $TMP/partitions.tpl
hostib:
  type: hostib
  settings:
    host-device: ibsim0
gpu:
  type: genericpci
  settings:
    host-device-addrs: ['0000:af:00']
    host-driver: nvidia
EOF
cat >"$ETC/resources.yaml" <<'EOF'
ibset:
  default: true
  networks: [ib]
gpuset:
  networks: [gpu, hostib]
EOF
SIM_HOST=sm LD_PRELOAD=$UMAD2SIM nsenter --net="/run/netns/$NS" opensm -P "$TMP/partitions.conf" -f "$TMP/opensm.log" \
  >"$TMP/opensm.out" 2>&1 &
OPENSM_PID=$!
echo "$OPENSM_PID" >"$TMP/opensm.pid"
lid_of() {  # lid_of NAME: the LID OpenSM gave NAME's port
  simq node1 ibnetdiscover 2>/dev/null | awk -v n="\"$1\"" '$0 ~ n && /lid/ {for (i = 1; i < NF; i++) if ($i == "lid") {print $(i + 1); exit}}'
}
outsider_has_lid() { [[ $(lid_of outsider) =~ ^[1-9] ]]; }
wait_for "OpenSM brought the subnet up" 30 outsider_has_lid || abort "OpenSM did not configure the subnet: $(tail -5 "$TMP/opensm.log")"
pkeys_of() { simq node1 smpquery pkeys "$(lid_of "$1")" 1 2>/dev/null | grep -v capacity | tr -s ' ' '\n' | grep '^0x' | grep -v '^0x0000$' | sort | tr '\n' ' '; }
pkeyd() { inns env -i SLURM_VM_SYSCONFDIR="$ETC" "$PKEYD" --once --no-prune; }

# vm-prolog/vm-epilog as slurmd runs them (no PATH, Slurm's variables), on the fake kernel and
# the simulated fabric (libibumad's simulator preloaded: the prolog's own children get a fixed
# environment without it).
helper() {  # helper PROGRAM JOB DEFINITION RESOURCES
  (cd "$TMP/work" && inns env -i SLURM_JOB_ID="$2" SLURM_JOB_UID=65534 SLURM_JOB_GID=65534 SLURMD_NODENAME=nodeA \
    SLURM_JOB_NODELIST=nodeA SLURM_JOB_CPUS_PER_NODE=4 SPANK_VM_TEMPLATE="$3" SPANK_VM_RESOURCES="$4" \
    SLURM_SCRIPT_CONTEXT=prolog_slurmd SLURM_VM_RUNDIR="$RUN" SLURM_VM_SYSCONFDIR="$ETC" \
    LD_PRELOAD="$UMAD2SIM" SIM_HOST=node1 IBSIM_SOCKNAME="$IBSIM_SOCKNAME" "$1")
}
driver() { local t; t=$(readlink "$SYS/bus/pci/devices/$1/driver") && echo "${t##*/}" || echo none; }
sriov() { tr -d '\n' <"$SYS/bus/pci/devices/0000:3b:00.0/sriov/$1/$2"; }
owner() { stat -c %u "$DEV/vfio/$1" 2>/dev/null || echo gone; }

# --- 1. Job 4301.
check "prolog job 4301 exit 0" helper "$PROLOG" 4301 a:2,b:1 ibset,gpuset
[[ -f $RUN/jobs/4301/error ]] && cat "$RUN/jobs/4301/error"
check_eq "vm0's VF 0000:3b:00.1 on vfio-pci" vfio-pci "$(driver 0000:3b:00.1)"
check_eq "vm1's VF 0000:3b:00.2 on vfio-pci" vfio-pci "$(driver 0000:3b:00.2)"
check_eq "vm2's host-infiniband VF 0000:3b:00.3 on vfio-pci" vfio-pci "$(driver 0000:3b:00.3)"
check_eq "the free VF 0000:3b:00.4 left on mlx5_core" mlx5_core "$(driver 0000:3b:00.4)"
check_eq "vm2's GPU on vfio-pci" vfio-pci "$(driver 0000:af:00.0)"
check_eq "and its audio function with it" vfio-pci "$(driver 0000:af:00.1)"
check_eq "driver_override set" vfio-pci "$(cat "$SYS/bus/pci/devices/0000:3b:00.1/driver_override")"
for g in 40 41 42 70; do check_eq "/dev/vfio/$g is the job's user's" 65534 "$(owner $g)"; done
check_eq "/dev/vfio/43 (the free VF's group) does not exist" gone "$(owner 43)"
check_eq "VF 0: port GUID from pkey 0x2001, rank 0" c2:cc:20:01:00:00:00:00 "$(sriov 0 port)"
check_eq "VF 0: node GUID" d2:cc:20:01:00:00:00:00 "$(sriov 0 node)"
check_eq "VF 1: port GUID from pkey 0x2001, rank 1" c2:cc:20:01:00:00:01:00 "$(sriov 1 port)"
check_eq "VF 0: policy Follow" Follow "$(sriov 0 policy)"
check_eq "VF 2 (host-infiniband): port GUID from job 4301, rank 2" c6:cc:00:00:10:cd:00:02 "$(sriov 2 port)"
check_eq "VF 3 untouched: policy Down" Down "$(sriov 3 policy)"
check "the store holds pkey 0x2001 for job 4301" grep -q '"job": *4301' "$STORE/pkeys/ib/0x2001.json"
check "with the node's port as a member" grep -qi "${NODE_GUID#0x}" "$STORE/pkeys/ib/0x2001.json"
vms=$(cat "$RUN/jobs/4301/vms.json" 2>/dev/null || :)
check "vms.json: vm0 gets 0000:3b:00.1 on ib" python3 -c '
import json, sys; v = json.load(open(sys.argv[1]))["vms"]
assert v["0"]["pci"] == [{"network": "ib", "host": "0000:3b:00.1"}], v["0"]
assert v["1"]["pci"] == [{"network": "ib", "host": "0000:3b:00.2"}], v["1"]
assert [d["host"] for d in v["2"]["pci"]] == ["0000:af:00.0", "0000:af:00.1", "0000:3b:00.3"], v["2"]' "$RUN/jobs/4301/vms.json"

# A retried prolog (slurmd retries, a requeue whose epilog never ran): its first ledger is
# undone first, then the same devices and pkey come back, once.
check "prolog job 4301 again exit 0" helper "$PROLOG" 4301 a:2,b:1 ibset,gpuset
check_eq "vm0's VF on vfio-pci again" vfio-pci "$(driver 0000:3b:00.1)"
check_eq "the GPU on vfio-pci again" vfio-pci "$(driver 0000:af:00.0)"
check_eq "VF 0: the same GUID" c2:cc:20:01:00:00:00:00 "$(sriov 0 port)"
check_eq "/dev/vfio/40 the user's again" 65534 "$(owner 40)"
check_eq "one pkey held, the same" "$STORE/pkeys/ib/0x2001.json" "$(ls "$STORE"/pkeys/ib/0x*.json)"
check_eq "one pci.vfio record per function" 5 "$(grep -c '"op":"pci.vfio"' "$RUN/ledger/4301.jsonl")"

# OpenSM, told by vm-pkeyd, puts the job's pkey (full member: 0xa001) on exactly its ports.
check "vm-pkeyd --once exit 0" pkeyd
check "the partitions file has job 4301" grep -q '^slurm_vm_job_4301=0x2001' "$TMP/partitions.conf"
has_job_pkey() { [[ $(pkeys_of "$1") == *0xa001* ]]; }
lacks_job_pkey() { local p; p=$(pkeys_of "$1"); [[ -n $p && $p != *0xa001* ]]; }
wait_for "OpenSM gave vm0's VF port pkey 0xa001" 20 has_job_pkey job4301-vm0 && pass "OpenSM gave vm0's VF port pkey 0xa001"
check "vm1's VF port too" has_job_pkey job4301-vm1
check "the node's own port too" has_job_pkey node1
check "not the outsider's port" lacks_job_pkey outsider

# --- 2. Job 4302 next to it: the next pkey, the last VF.
check "prolog job 4302 exit 0" helper "$PROLOG" 4302 c:1 ibset
check_eq "job 4302 gets the last VF" vfio-pci "$(driver 0000:3b:00.4)"
check_eq "with pkey 0x2002's GUID" c2:cc:20:02:00:00:00:00 "$(sriov 3 port)"
check "the store holds pkey 0x2002 for job 4302" grep -q '"job": *4302' "$STORE/pkeys/ib/0x2002.json"
# No VF left: a third job is refused as its own fault, naming the network and the node.
check "prolog job 4303 (no VF left) exits 0: the job's fault, not the node's" helper "$PROLOG" 4303 d:1 ibset
check "its error names the network and the node" grep -q 'network ib: nodeA: ibsim0 has 0 free' "$RUN/jobs/4303/error"
check "and it left no ledger" test ! -e "$RUN/ledger/4303.jsonl"
check "nor a pkey" bash -c "! grep -l '\"job\": *4303' $STORE/pkeys/ib/*.json"

# --- 3. The epilogs: everything back, twice.
check "epilog job 4302 exit 0" helper "$EPILOG" 4302 c:1 ibset
check_eq "job 4302's VF back on mlx5_core" mlx5_core "$(driver 0000:3b:00.4)"
check_eq "its policy Down" Down "$(sriov 3 policy)"
check_eq "its GUID back" 00:00:00:00:00:00:00:00 "$(sriov 3 port)"
check "pkey 0x2002 released" test ! -e "$STORE/pkeys/ib/0x2002.json"
# A QEMU that outlived its step still holds vm0's group: the kernel's unbind would wait for it
# with no limit, so the epilog fails at once naming it, keeps the ledger, and a later run
# (the reclaim, or an admin's) finishes the job once it is gone.
nsenter --mount="$TMP/mnt.ns" sh -c 'exec 3</dev/vfio/40; exec sleep 60' &
HOLDER=$!
wait_for "a process holds /dev/vfio/40" 5 bash -c "ls -l /proc/$HOLDER/fd 2>/dev/null | grep -q /dev/vfio/40" || :
rc=0; helper "$EPILOG" 4301 a:2,b:1 ibset,gpuset 2>"$TMP/epilog.err" || rc=$?
check_eq "epilog job 4301 while a process holds a group: exit 1" 1 "$rc"
check "it names the process" grep -q "/dev/vfio/40 is still open by pid $HOLDER (sleep)" "$TMP/epilog.err"
check "the ledger is kept" test -e "$RUN/ledger/4301.jsonl"
stop_pid "$HOLDER"
check "epilog job 4301 exit 0" helper "$EPILOG" 4301 a:2,b:1 ibset,gpuset
for vf in 0000:3b:00.1 0000:3b:00.2 0000:3b:00.3; do check_eq "$vf back on mlx5_core" mlx5_core "$(driver $vf)"; done
check_eq "the GPU back on its host-driver" nvidia "$(driver 0000:af:00.0)"
check_eq "its audio function back on its own driver" snd_hda_intel "$(driver 0000:af:00.1)"
check_eq "driver_override cleared" "" "$(tr -d '\n' <"$SYS/bus/pci/devices/0000:3b:00.1/driver_override")"
for g in 40 41 42 70; do check_eq "/dev/vfio/$g gone with the unbind" gone "$(owner $g)"; done
for n in 0 1 2; do
  check_eq "VF $n: policy Down" Down "$(sriov $n policy)"
  check_eq "VF $n: GUIDs back" 00:00:00:00:00:00:00:00/00:00:00:00:00:00:00:00 "$(sriov $n node)/$(sriov $n port)"
done
check "pkey 0x2001 released" test ! -e "$STORE/pkeys/ib/0x2001.json"
check "no ledger left" bash -c "! ls $RUN/ledger/*.jsonl 2>/dev/null | grep -q ."
check "a second epilog of job 4301 succeeds" helper "$EPILOG" 4301 a:2,b:1 ibset,gpuset
check "vm-pkeyd --once after the jobs exit 0" pkeyd
check "the partitions file has no job left" bash -c "! grep -q slurm_vm_job_ $TMP/partitions.conf"
wait_for "OpenSM took pkey 0x2001 off vm0's VF port" 20 lacks_job_pkey job4301-vm0 && pass "OpenSM took pkey 0x2001 off vm0's VF port"
check "and off the node's port" lacks_job_pkey node1

# --- 4. A prolog failing half-way (VF 0's sriov directory gone after it was chosen: the
#        GUIDs cannot be set) rolls back: pkey left, nothing bound, the node drained (its
#        fault), nothing left behind.
inns rm -rf /sys/devices/pci0000:00/0000:3b:00.0/sriov/0
rc=0; helper "$PROLOG" 4304 e:1 ibset || rc=$?
check_eq "prolog job 4304 with a broken VF: node fault (exit 1)" 1 "$rc"
check "its error says which VF" grep -q 'has no VF 0 to set GUIDs on' "$RUN/jobs/4304/error"
check_eq "the VF stayed on mlx5_core" mlx5_core "$(driver 0000:3b:00.1)"
check "the rollback released its pkey" bash -c "! ls $STORE/pkeys/ib/0x*.json 2>/dev/null | grep -q ."
check "and removed its ledger" test ! -e "$RUN/ledger/4304.jsonl"

# --- 5. The same with the pkey store in etcd v3 (a real etcd in the node's namespace, on its
#        loopback): the pkey under the job's lease, OpenSM's file from it, gone after the epilog.
if [[ -x /usr/bin/etcd ]]; then
  inns ip link set lo up
  nsenter --net="/run/netns/$NS" /usr/bin/etcd --name svm --data-dir "$TMP/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster svm=http://127.0.0.1:2380 --logger zap --log-outputs "$TMP/etcd.log" &
  ETCD_PID=$!
  etcd_keys() { innet etcdctl --endpoints=http://127.0.0.1:2379 get --prefix --keys-only /svm-test/ 2>/dev/null | grep . || :; }
  etcd_up() { innet etcdctl --endpoints=http://127.0.0.1:2379 endpoint health >/dev/null 2>&1; }
  wait_for "etcd answers" 20 etcd_up || abort "etcd did not start: $(tail -3 "$TMP/etcd.log")"
  cat >"$ETC/slurm-vm.yaml" <<EOF2
store: {type: etcd, etcd: {endpoints: ['http://127.0.0.1:2379'], prefix: /svm-test}}
EOF2
  inns mkdir -p /sys/devices/pci0000:00/0000:3b:00.0/sriov/0
  for f in node port; do inns sh -c "echo 00:00:00:00:00:00:00:00 > /sys/devices/pci0000:00/0000:3b:00.0/sriov/0/$f"; done
  inns sh -c 'echo Down > /sys/devices/pci0000:00/0000:3b:00.0/sriov/0/policy'
  check "prolog job 4305 (etcd store) exit 0" helper "$PROLOG" 4305 f:1 ibset
  check_eq "its pkey and member keys in etcd" "/svm-test/pkeys/ib/0x2001 /svm-test/pkeys/ib/0x2001/nodeA" \
    "$(etcd_keys | tr '\n' ' ' | sed 's/ $//')"
  check "the ledger records the etcd store" grep -q '"etcd":\["http://127.0.0.1:2379"\]' "$RUN/ledger/4305.jsonl"
  check "vm-pkeyd --once (etcd store) exit 0" pkeyd
  check "the partitions file has job 4305" grep -q '^slurm_vm_job_4305=0x2001' "$TMP/partitions.conf"
  check "epilog job 4305 exit 0" helper "$EPILOG" 4305 f:1 ibset
  check_eq "nothing left in etcd" "" "$(etcd_keys)"
  check_eq "its VF back on mlx5_core" mlx5_core "$(driver 0000:3b:00.1)"
else
  fail "etcd-server is not installed (scripts/install-deps): the etcd store is not tested"
fi

test_summary ib_devices_test
