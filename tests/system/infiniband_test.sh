#!/usr/bin/env bash
# tests/system/infiniband_test.sh - InfiniBand VFs and a GPU-style PCI device passed to VMs of
# `vm alloc` jobs on a 2-node sandbox, against the real InfiniBand management stack on a
# simulated fabric (issue 13; docs/infiniband.md):
#   - each node's /sys and /dev carry a fake but faithful PCI/SR-IOV/VFIO kernel
#     (tests/tools/fake_pci_kernel.hpp, laid over them in the node's mount namespace by
#     SLURM_VM_SANDBOX_NODE_OVERLAY): HCA ibsim0 (PF 0000:3b:00.0, 2 VFs on mlx5_core, IOMMU
#     groups 40-41) and a GPU slot 0000:af:00 (nvidia + snd_hda_intel, IOMMU group 70);
#   - ibsim in remote mode on the login node: the nodes' HCAs, the subnet manager's, one HCA
#     per VF GUID the jobs can get (pkeys 0x2001/0x2002, ranks 0/1) and an outsider; the
#     prolog reads its node's ports through libibumad under libumad2sim (a Prolog wrapper);
#   - a real OpenSM and vm-pkeyd (daemon) on the login node, as on a subnet manager's host;
#   - QEMU is a wrapper that records its argv and drops the vfio-pci devices (a fake VFIO
#     device cannot be opened), so the tiny guests still boot.
# Jobs A (nat-rssh + ib) and B (nat-rssh + ib + gpu), one VM per node each, at the same time,
# file store: different pkeys, disjoint VFs, VFs and GPUs on vfio-pci with their groups the
# user's, GUIDs set, OpenSM puts each pkey on exactly its job's ports; QEMU got the devices.
# After them nothing remains (drivers, GUIDs, groups, store, partitions, OpenSM's tables).
# Job C does it again with the store in a real etcd v3.
#
# usage: infiniband_test.sh [REPO_ROOT]; needs root (exit 77 otherwise), the IB tools
# (scripts/install-deps) and a release build (SLURM_VM_BUILD_DIR).
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
BUILD=${SLURM_VM_BUILD_DIR:-$ROOT/build/release}
FAKE=$BUILD/tests/tools/fake-pci-kernel
PKEYD=$BUILD/src/vfio/vm-pkeyd
PROLOG=$BUILD/src/prolog/vm-prolog
EPILOG=$BUILD/src/epilog/vm-epilog
UMAD2SIM=/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so
for tool in ibsim opensm smpquery ibnetdiscover etcd etcdctl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing (scripts/install-deps)"; exit 77; }
done
[[ -f $UMAD2SIM ]] || { echo "SKIP: libumad2sim0 is missing (scripts/install-deps)"; exit 77; }
for b in "$FAKE" "$PKEYD" "$PROLOG" "$EPILOG"; do
  [[ -x $b ]] || { echo "FAIL: build $b first ($BUILD)"; exit 1; }
done
TEST_NAME=infiniband_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

# Next to the sandbox's directory (which must hold nothing but the sandbox): the site
# configuration, the fake kernels' trees, the fabric, the wrappers, the store.
SITE=$(mktemp -d "${TMPDIR:-/tmp}/$TEST_NAME-site.XXXXXX")
chmod 0755 "$SITE"
LOGIN_IP=10.77.0.1  # scripts/sandbox's login node, where the subnet manager runs
SIM_PORT=7177 ETCD_PORT=2479
declare -A FAKE_PIDS=()
IBSIM_PID='' OPENSM_PID='' PKEYD_PID='' ETCD_PID=''
ib_cleanup() {
  local pid
  stop_pid "$PKEYD_PID"; stop_pid "$OPENSM_PID"; stop_pid "$ETCD_PID"; stop_pid "$IBSIM_PID"
  for pid in "${FAKE_PIDS[@]}"; do stop_pid "$pid"; done
  if ((fails > 0)); then
    for f in "$SITE"/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -n 15 "$f"; }; done
  fi
}
trap 'rc=$?; ib_cleanup; "$SANDBOX" down >/dev/null 2>&1; rm -rf "$SITE"; (exit $rc); sandbox_test_cleanup' EXIT

# --- The nodes' devices: one fake kernel per node, over its own tree.
for k in 1 2; do
  mkdir -p "$SITE/fake/node$k/sys" "$SITE/fake/node$k/dev"
  "$FAKE" --sysfs "$SITE/fake/node$k/sys" --dev "$SITE/fake/node$k/dev" --hca ibsim0,0000:3b:00.0,2,40 \
    --driver nvidia --function 0000:af:00.0,10de,20b0,nvidia,70 --function 0000:af:00.1,10de,10f0,snd_hda_intel,70 \
    >"$SITE/fake-node$k.log" 2>&1 &
  FAKE_PIDS[$k]=$!
  wait_for "node$k: the fake PCI kernel is ready" 10 grep -qs ready "$SITE/fake-node$k.log" ||
    abort "no fake PCI kernel: $(cat "$SITE/fake-node$k.log")"
done
export SLURM_VM_SANDBOX_NODE_OVERLAY=$SITE/fake
sysfs() { echo "$SITE/fake/node$1/sys"; }  # sysfs K: node K's fake /sys, as the host sees it
driver() { local t; t=$(readlink "$(sysfs "$1")/bus/pci/devices/$2/driver") && echo "${t##*/}" || echo none; }
sriov() { tr -d '\n' <"$(sysfs "$1")/bus/pci/devices/0000:3b:00.0/sriov/$2/$3"; }
group_owner() { stat -c %U "$SITE/fake/node$1/dev/vfio/$2" 2>/dev/null || echo gone; }

# --- The site: the repository's configuration, an infiniband network, a GPU network.
cp "$ROOT"/templates/*.yaml "$SITE"/
mkdir -p "$SITE/store"  # a site makes it (shared by the nodes and the subnet manager host)
printf 'store: {type: file, path: %s}\n' "$SITE/store" >"$SITE/slurm-vm.yaml"
printf 'Default=0x7fff, ipoib : ALL=full ;\n' >"$SITE/partitions.tpl"
cp "$SITE/partitions.tpl" "$SITE/partitions.conf"
cat >>"$SITE/networks.yaml" <<EOF
# infiniband_test: the nodes' (fake) HCA on the simulated fabric, and a (fake) GPU.
ib:
  type: infiniband
  settings:
    host-device: ibsim0
    min-pkey: '0x2001'
    max-pkey: '0x2002'
    opensm-daemon: $SITE/opensm.pid
    opensm-partition-cfg: $SITE/partitions.conf
    opensm-partition-tpl: $SITE/partitions.tpl
gpu:
  type: genericpci
  settings:
    host-device-addrs: ['0000:af:00']
    host-driver: nvidia
EOF
cat >>"$SITE/resources.yaml" <<'EOF'
cluster-ib:
  networks: [nat-rssh, ib]
cluster-ib-gpu:
  networks: [nat-rssh, ib, gpu]
EOF
export SLURM_VM_SANDBOX_SYSCONF_SRC=$SITE

# vm-prolog and vm-epilog with libibumad's simulator preloaded, attached as this node's HCA.
for h in prolog epilog; do
  bin=$PROLOG; [[ $h == epilog ]] && bin=$EPILOG
  cat >"$SITE/$h-on-fabric" <<EOF
#!/bin/sh
# infiniband_test: vm-$h on the simulated fabric (ibsim on the login node), as \$SLURMD_NODENAME.
exec /usr/bin/env LD_PRELOAD=$UMAD2SIM SIM_HOST="\$SLURMD_NODENAME" IBSIM_SERVER_NAME=$LOGIN_IP IBSIM_SERVER_PORT=$SIM_PORT $bin
EOF
  chmod 0755 "$SITE/$h-on-fabric"
done
# QEMU: records its arguments, then runs without the vfio-pci devices.
mkdir -m 1777 "$SITE/argv"
cat >"$SITE/qemu" <<EOF
#!/bin/bash
# infiniband_test: QEMU without its vfio-pci devices (fake ones cannot be opened); argv recorded.
printf '%s\n' "\$@" >"$SITE/argv/\$(hostname).\$\$"
args=()
while ((\$#)); do
  if [[ \$1 == -device && \${2:-} == vfio-pci,* ]]; then shift 2; continue; fi
  args+=("\$1"); shift
done
exec /usr/bin/qemu-system-x86_64 "\${args[@]}"
EOF
chmod 0755 "$SITE/qemu"

# VFIO pins all guest memory: the limits a site gives slurmd and the steps (docs/infiniband.md).
if prlimit --pid $$ --memlock=unlimited:unlimited 2>/dev/null; then CAN_LOCK=1; else CAN_LOCK=0; fi
UP=(up --nodes 2 --prolog "$SITE/prolog-on-fabric" --epilog "$SITE/epilog-on-fabric")
OUT=$("$SANDBOX" "${UP[@]}" 2>&1) ||
  abort "sandbox up: $OUT"
pass "sandbox up, each node with its fake HCA and GPU"
as_root_on node1 readlink /sys/bus/pci/devices/0000:3b:00.1/driver
check "node1 sees its fake VF in /sys" grep -q mlx5_core <<<"$OUT"
as_root_on node1 cat /sys/devices/system/cpu/online
check "and the real /sys/devices/system beside it" grep -qE '^[0-9]' <<<"$OUT"

# --- The fabric, on the login node. ibsim gives a CA's port its node GUID + 1: the VF HCAs'
#     port GUIDs are those the prolog derives (ib_guid.hpp: c2cc<pkey>00<rank>00).
cat >"$SITE/fabric.net" <<'EOF'
Switch	12 "switch0"
[1]	"sm"[1]
[2]	"node1"[1]
[3]	"node2"[1]
[4]	"p2001-r0"[1]
[5]	"p2001-r1"[1]
[6]	"p2002-r0"[1]
[7]	"p2002-r1"[1]
[8]	"outsider"[1]

Hca	1 "sm"
[1]	"switch0"[1]

Hca	1 "node1"
[1]	"switch0"[2]

Hca	1 "node2"
[1]	"switch0"[3]

Hca	1 "p2001-r0"
[1]	"switch0"[4]

Hca	1 "p2001-r1"
[1]	"switch0"[5]

Hca	1 "p2002-r0"
[1]	"switch0"[6]

Hca	1 "p2002-r1"
[1]	"switch0"[7]

Hca	1 "outsider"
[1]	"switch0"[8]

do Guid "p2001-r0" 0xc2cc2000ffffffff
do Guid "p2001-r1" 0xc2cc2001000000ff
do Guid "p2002-r0" 0xc2cc2001ffffffff
do Guid "p2002-r1" 0xc2cc2002000000ff
EOF
# Daemons on the login node: `sandbox run` execs all the way down, so $! is the daemon's pid.
LOGIN=("$SANDBOX" run --user root -- /usr/bin/env)
"${LOGIN[@]}" ibsim -s -n -r -l "$SIM_PORT" "$SITE/fabric.net" >"$SITE/ibsim.log" 2>&1 &
IBSIM_PID=$!
simq() { timeout 10 "$SANDBOX" run --user root -- /usr/bin/env SIM_HOST="$1" IBSIM_SERVER_NAME=$LOGIN_IP \
  IBSIM_SERVER_PORT=$SIM_PORT LD_PRELOAD=$UMAD2SIM "${@:2}" 2>/dev/null; }
port_guid() { simq "$1" ibstat | awk '/Port GUID/ {print $3; exit}'; }
wait_for "ibsim serves the fabric" 20 port_guid node1 >/dev/null || abort "no fabric: $(cat "$SITE/ibsim.log")"
"${LOGIN[@]}" SIM_HOST=sm IBSIM_SERVER_NAME=$LOGIN_IP IBSIM_SERVER_PORT=$SIM_PORT LD_PRELOAD=$UMAD2SIM opensm -P "$SITE/partitions.conf" -f "$SITE/opensm.log" >"$SITE/opensm.out" 2>&1 &
OPENSM_PID=$!
echo "$OPENSM_PID" >"$SITE/opensm.pid"
lid_of() { simq sm ibnetdiscover | awk -v n="\"$1\"" '$0 ~ n && /lid/ {for (i = 1; i < NF; i++) if ($i == "lid") {print $(i + 1); exit}}'; }
outsider_has_lid() { [[ $(lid_of outsider) =~ ^[1-9] ]]; }
wait_for "OpenSM brought the subnet up" 60 outsider_has_lid || abort "OpenSM did not configure the subnet: $(tail -5 "$SITE/opensm.log")"
declare -A LID=()
for h in node1 node2 p2001-r0 p2001-r1 p2002-r0 p2002-r1 outsider; do LID[$h]=$(lid_of "$h"); done
pkeys_of() { simq sm smpquery pkeys "${LID[$1]}" 1 | grep -v capacity | tr -s ' ' '\n' | grep '^0x' | grep -v '^0x0000$' | sort | tr '\n' ' '; }
# The ports carrying full-member pkey $1, among the fabric's, in fabric order.
ports_with() { local h out=''; for h in node1 node2 p2001-r0 p2001-r1 p2002-r0 p2002-r1 outsider; do
  [[ $(pkeys_of "$h") == *"$1"* ]] && out+="$h "; done; echo "${out% }"; }
"${LOGIN[@]}" SLURM_VM_SYSCONFDIR=/etc/slurm-vm "$PKEYD" --interval 1 --prune-interval 5 >"$SITE/pkeyd.log" 2>&1 &
PKEYD_PID=$!
sleep 1
kill -0 "$PKEYD_PID" 2>/dev/null && pass "vm-pkeyd runs on the subnet manager's host" || abort "vm-pkeyd: $(cat "$SITE/pkeyd.log")"

# --- The user's templates, and the job script: ready, wait for the test, end.
install -d -o vmuser -g vmuser "$HOME_SRC/.config" "$HOME_SRC/.config/slurm-vm"
cat >"$HOME_SRC/.config/slurm-vm/templates.yaml" <<EOF
tiny-ib:
  inherits: tiny
  resource-set: cluster-ib
  qemu-bin: $SITE/qemu
tiny-ib-gpu:
  inherits: tiny
  resource-set: cluster-ib-gpu
  qemu-bin: $SITE/qemu
EOF
cat >"$HOME_SRC/hold" <<'EOF'
#!/bin/sh
# hold NAME [vms]: (with the VMs: list them, SSH to each) then ready; ends when the test says go.
me=$1
if [ "${2:-}" = vms ]; then
  vm list
  for v in vm0 vm1; do vm ssh "$v" true && echo "RESULT $me $v answers" || echo "RESULT $me $v FAILED"; done
fi
echo "$SLURM_JOB_ID" >"$HOME/$me.job"
touch "$HOME/$me.ready"
i=0; while [ ! -e "$HOME/$me.go" ]; do i=$((i + 1)); [ $i -gt 1200 ] && exit 3; sleep 0.5; done
EOF
chmod 755 "$HOME_SRC/hold"
chown -R vmuser: "$HOME_SRC/hold" "$HOME_SRC/.config"
job_ready() { [[ -e $HOME_SRC/$1.ready ]]; }
bg_done() { ! kill -0 "$1" 2>/dev/null; }
pkey_of_job() {  # the pkey the store gives job $1 (file store), e.g. 0x2001
  local f
  for f in "$SITE"/store/pkeys/ib/0x*.json; do
    [[ -f $f ]] && grep -qE "\"job\": *$1[,}]" "$f" && { f=${f##*/}; echo "${f%.json}"; return; }
  done
}
full() { printf '0x%04x' $((0x8000 | $1)); }  # a full member's pkey as the port table shows it

# start_job NAME DEF: `vm alloc` of DEF, one VM per node, running ./hold; where VFIO's locked
# memory cannot be had (this machine: no CAP_SYS_RESOURCE to raise the hard limit above 8 MiB),
# the same allocation through salloc and the SPANK option, whose prolog and epilog are the
# same, but without VMs.
start_job() {
  if ((CAN_LOCK)); then
    as_user_bg "$STATE/$1.out" vm alloc -N 2 --timeout 300 -E "./hold $1 vms" "$2"
  else
    as_user_bg "$STATE/$1.out" salloc -N 2 -n 2 --vm-template="$2" ./hold "$1"
  fi
}

# Where the limit is too low, `vm alloc` refuses to start VMs with passthrough devices, naming
# the node and the site settings, and its allocation leaves nothing behind.
if ((!CAN_LOCK)); then
  as_user vm alloc -N 2 --timeout 60 -E true tiny-ib:2
  [[ $RC != 0 ]] && pass "vm alloc with VFs under an 8 MiB memlock limit fails (exit $RC)" || fail "vm alloc exit 0 under an 8 MiB memlock limit"
  # Both nodes refuse, but srun stops the step when the first task fails, so the other node's
  # vm-launch may be killed before it writes its reason: either VM can be the one that names it.
  expect_out "vm-launch names the node, the limit and the setting to change" \
    "vm([01]): never started: vm-launch failed on node([12]): node node\\2: .* need [0-9]+ MiB of locked memory .* limit is 8 MiB .*LimitMEMLOCK=infinity"
  check_nodes_clean "after the refused launch"
  check_eq "its pkey went back to the store" "" "$(ls "$SITE"/store/pkeys/ib/ 2>/dev/null)"
fi

# --- Jobs A and B at the same time.
start_job A tiny-ib:2
a_pid=$BG_PID
start_job B tiny-ib-gpu:2
b_pid=$BG_PID
wait_for "job A ready" 400 job_ready A || { tail -n 30 "$STATE/A.out"; }
wait_for "job B ready" 400 job_ready B || { tail -n 30 "$STATE/B.out"; }
A=$(cat "$HOME_SRC/A.job" 2>/dev/null) B=$(cat "$HOME_SRC/B.job" 2>/dev/null)
PA=$(pkey_of_job "$A") PB=$(pkey_of_job "$B")
[[ -n $PA && -n $PB && $PA != "$PB" ]] && pass "jobs $A and $B hold different pkeys ($PA, $PB) in the store" ||
  fail "pkeys: job A '$PA', job B '$PB': $(cat "$SITE"/store/pkeys/ib/*.json 2>&1)"
for k in 1 2; do
  check_eq "node$k: VF 0000:3b:00.1 on vfio-pci" vfio-pci "$(driver "$k" 0000:3b:00.1)"
  check_eq "node$k: VF 0000:3b:00.2 on vfio-pci" vfio-pci "$(driver "$k" 0000:3b:00.2)"
  check_eq "node$k: the GPU on vfio-pci" vfio-pci "$(driver "$k" 0000:af:00.0)"
  check_eq "node$k: its audio function with it" vfio-pci "$(driver "$k" 0000:af:00.1)"
  for g in 40 41 70; do check_eq "node$k: /dev/vfio/$g is vmuser's" vmuser "$(group_owner "$k" "$g")"; done
  # The VFs' port GUIDs: rank 0 on node1, rank 1 on node2, of each job's pkey; disjoint VFs.
  guids="$(sriov "$k" 0 port) $(sriov "$k" 1 port)"
  for p in "$PA" "$PB"; do
    want=$(printf 'c2:cc:%s:%s:00:00:%02x:00' "${p:2:2}" "${p:4:2}" $((k - 1)))
    [[ " $guids " == *" $want "* ]] && pass "node$k: a VF has port GUID $want (pkey $p, rank $((k - 1)))" ||
      fail "node$k: no VF with port GUID $want: $guids"
  done
  check_eq "node$k: both VFs follow their port" "Follow Follow" "$(sriov "$k" 0 policy) $(sriov "$k" 1 policy)"
done
# QEMU was asked for exactly the job's devices: each of A's VMs one VF, each of B's a VF and
# both GPU functions; on each node the two VMs got different VFs.
if ((CAN_LOCK)); then
  vfio_hosts() { grep -o 'vfio-pci,host=[0-9a-f:.]*' "$1" | sed 's/.*host=//'; }
  runs=$(grep -lx -- -name "$SITE"/argv/* 2>/dev/null)
  check_eq "four QEMUs ran through the wrapper" 4 "$(grep -c . <<<"$runs")"
  sets=$(for f in $runs; do vfio_hosts "$f" | sed 's/^0000:3b:00\.[12]$/VF/' | LC_ALL=C sort | tr '\n' ' '; echo; done |
    LC_ALL=C sort | uniq -c | awk '{$1 = $1; print}' | tr '\n' '|')
  check_eq "QEMU got each VM's devices (A: a VF; B: the GPU's two functions and a VF)" \
    "2 0000:af:00.0 0000:af:00.1 VF|2 VF|" "$sets"
  for k in 1 2; do
    check_eq "node$k: its two VMs got different VFs" "0000:3b:00.1 0000:3b:00.2" \
      "$(for f in $runs; do [[ $f == */node$k.* ]] && vfio_hosts "$f" | grep 3b; done | sort | tr '\n' ' ' | sed 's/ $//')"
  done
  for j in A B; do
    results=$(grep "^RESULT $j " "$STATE/$j.out" 2>/dev/null)
    check_eq "job $j: both guests boot and answer SSH" 2 "$(grep -c ' answers$' <<<"$results")"
  done
else
  echo "NOTE: no VMs (memlock hard limit 8 MiB, not raisable here): QEMU's devices not checked"
fi
# OpenSM, told by vm-pkeyd, puts each job's pkey on exactly its ports: its VFs and its nodes'.
guid_host() { printf 'p%s-r%s' "${1:2}" "$2"; }
for j in A B; do
  p=$PA; [[ $j == B ]] && p=$PB
  [[ -n $p ]] || continue
  want="node1 node2 $(guid_host "$p" 0) $(guid_host "$p" 1)"
  on_ports() { [[ $(ports_with "$(full "$p")") == "$want" ]]; }
  what="OpenSM: job $j's pkey $(full "$p") on exactly its ports ($want)"
  wait_for "$what" 30 on_ports && pass "$what" || echo "  it is on: $(ports_with "$(full "$p")")"
done
grep -q "^slurm_vm_job_${A}=$PA" "$SITE/partitions.conf" && pass "the partitions file has job A's partition" ||
  fail "partitions file: $(cat "$SITE/partitions.conf")"

# --- The end of both jobs gives everything back.
touch "$HOME_SRC/A.go" "$HOME_SRC/B.go"
wait_for "job A ended" 200 bg_done "$a_pid"
wait_for "job B ended" 200 bg_done "$b_pid"
wait "$a_pid"; a_rc=$?
wait "$b_pid"; b_rc=$?
[[ $a_rc == 0 && $b_rc == 0 ]] && pass "both jobs exit 0" ||
  { fail "job A exit $a_rc, job B exit $b_rc"; for j in A B; do echo "--- job $j"; tail -n 30 "$STATE/$j.out"; done; }
check_nodes_clean "after jobs A and B"
for k in 1 2; do
  check_eq "node$k: VFs back on mlx5_core" "mlx5_core mlx5_core" "$(driver "$k" 0000:3b:00.1) $(driver "$k" 0000:3b:00.2)"
  check_eq "node$k: the GPU back on nvidia, its audio on snd_hda_intel" "nvidia snd_hda_intel" \
    "$(driver "$k" 0000:af:00.0) $(driver "$k" 0000:af:00.1)"
  check_eq "node$k: no VFIO group left" "gone gone gone" "$(group_owner "$k" 40) $(group_owner "$k" 41) $(group_owner "$k" 70)"
  check_eq "node$k: VF GUIDs and policy reset" "00:00:00:00:00:00:00:00 Down 00:00:00:00:00:00:00:00 Down" \
    "$(sriov "$k" 0 port) $(sriov "$k" 0 policy) $(sriov "$k" 1 port) $(sriov "$k" 1 policy)"
  check_eq "node$k: no driver_override left" "" "$(tr -d '\n' <"$(sysfs "$k")/bus/pci/devices/0000:3b:00.1/driver_override")"
done
check_eq "the store holds no pkey" "" "$(ls "$SITE"/store/pkeys/ib/ 2>/dev/null)"
no_job_partitions() { ! grep -q '^slurm_vm_job_' "$SITE/partitions.conf"; }
wait_for "vm-pkeyd dropped the jobs' partitions" 20 no_job_partitions && pass "vm-pkeyd dropped the jobs' partitions"
for p in "$PA" "$PB"; do
  [[ -n $p ]] || continue
  gone() { [[ -z $(ports_with "$(full "$p")") ]]; }
  wait_for "OpenSM: pkey $(full "$p") on no port" 30 gone && pass "OpenSM: pkey $(full "$p") on no port" ||
    echo "  it is on: $(ports_with "$(full "$p")")"
done

# --- Job C with the store in etcd v3 (a real etcd on the login node; the site changes its
#     store between jobs, as the helpers read it per job; vm-pkeyd is restarted on it).
"${LOGIN[@]}" etcd --name svm --data-dir "$SITE/etcd" --listen-client-urls "http://$LOGIN_IP:$ETCD_PORT" \
  --advertise-client-urls "http://$LOGIN_IP:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-cluster "svm=http://127.0.0.1:$((ETCD_PORT + 1))" --logger zap --log-outputs "$SITE/etcd.log" >/dev/null 2>&1 &
ETCD_PID=$!
etcdq() { timeout 10 "$SANDBOX" run --user root -- /usr/bin/etcdctl --endpoints="http://$LOGIN_IP:$ETCD_PORT" "$@" 2>/dev/null; }
wait_for "etcd answers on the login node" 30 etcdq endpoint health || abort "etcd did not start: $(tail -3 "$SITE/etcd.log")"
printf 'store: {type: etcd, etcd: {endpoints: [%s], prefix: /svm-infiniband-test}}\n' "'http://$LOGIN_IP:$ETCD_PORT'" \
  >"$SITE/slurm-vm.yaml"
OUT=$("$SANDBOX" "${UP[@]}" 2>&1) || fail "sandbox up (new site configuration): $OUT"
stop_pid "$PKEYD_PID"
"${LOGIN[@]}" SLURM_VM_SYSCONFDIR=/etc/slurm-vm "$PKEYD" --interval 1 --prune-interval 5 >>"$SITE/pkeyd.log" 2>&1 &
PKEYD_PID=$!
start_job C tiny-ib:2
c_pid=$BG_PID
wait_for "job C ready" 400 job_ready C || { tail -n 30 "$STATE/C.out"; }
C=$(cat "$HOME_SRC/C.job" 2>/dev/null)
keys=$(etcdq get --prefix --keys-only /svm-infiniband-test/ | grep . | sort | tr '\n' ' ')
check_eq "job $C's pkey and its two nodes' members are in etcd" \
  "/svm-infiniband-test/pkeys/ib/0x2001 /svm-infiniband-test/pkeys/ib/0x2001/node1 /svm-infiniband-test/pkeys/ib/0x2001/node2 " "$keys"
check_eq "node1: VF 0000:3b:00.1 on vfio-pci" vfio-pci "$(driver 1 0000:3b:00.1)"
want="node1 node2 p2001-r0 p2001-r1"
on_ports_c() { [[ $(ports_with 0xa001) == "$want" ]]; }
wait_for "OpenSM: job C's pkey 0xa001 on exactly its ports ($want)" 30 on_ports_c &&
  pass "OpenSM: job C's pkey 0xa001 on exactly its ports ($want)" || echo "  it is on: $(ports_with 0xa001)"
touch "$HOME_SRC/C.go"
wait_for "job C ended" 200 bg_done "$c_pid"
wait "$c_pid" && pass "job C exit 0" || { fail "job C failed"; tail -n 30 "$STATE/C.out"; }
check_nodes_clean "after job C"
check_eq "nothing left in etcd" "" "$(etcdq get --prefix --keys-only /svm-infiniband-test/ | grep .)"
check_eq "node2: VF 0000:3b:00.1 back on mlx5_core" mlx5_core "$(driver 2 0000:3b:00.1)"
gone_c() { [[ -z $(ports_with 0xa001) ]]; }
wait_for "OpenSM: pkey 0xa001 on no port after job C" 30 gone_c && pass "OpenSM: pkey 0xa001 on no port after job C" ||
  echo "  it is on: $(ports_with 0xa001)"
