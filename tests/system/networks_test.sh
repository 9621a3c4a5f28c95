#!/usr/bin/env bash
# tests/system/networks_test.sh - VMs with several NICs from their templates' resource sets, on
# a 2-node sandbox. The site configuration is the repository's (nat-rssh: L3; private: L2)
# plus a bridged network `lan` on a Linux bridge each node has (tlanbr, made by this test);
# the user's own templates choose the sets, so the sets travel from the user's configuration
# to the prolog (SPANK_VM_RESOURCES):
#   job A: vm0 tiny-cluster (eth0 nat-rssh, eth1 private), vm1 tiny-lan (the same + eth2 lan);
#   job B: two tiny-cluster VMs; both jobs with one VM on each node, at the same time.
# Checked from inside the guests: on the L2 segment each job's VMs reach each other across
# nodes (ARP broadcast carried through the tunnel), never the other job's (same node or not);
# a VM that changes its L2 MAC loses the segment; the bridged NIC has its MAC and reaches the
# node's bridge; the TAP is a port of that bridge during the job. Then nothing of either job
# remains on any node, and the bridges have no ports left.
#
# usage: networks_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build
# (SLURM_VM_BUILD_DIR).
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=networks_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

# The site: the repository's configuration and a bridged network.
# (Next to the sandbox's directory, which must hold nothing but the sandbox.)
SITE=$(mktemp -d "${TMPDIR:-/tmp}/$TEST_NAME-site.XXXXXX")
trap 'rc=$?; rm -rf "$SITE"; (exit $rc); sandbox_test_cleanup' EXIT
cp "$ROOT"/templates/*.yaml "$SITE"/
cat >>"$SITE/networks.yaml" <<'EOF2'
# networks_test: each sandbox node's Linux bridge tlanbr, as a site's host LAN.
lan:
  type: bridged
  settings:
    host-bridge: tlanbr
    tap-prefix: tlanbr
    mtu: 1500
EOF2
cat >>"$SITE/resources.yaml" <<'EOF2'
cluster-lan:
  networks: [nat-rssh, private, lan]
EOF2
export SLURM_VM_SANDBOX_SYSCONF_SRC=$SITE

OUT=$("$SANDBOX" up --nodes 2 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm and the bridged network"

for k in 1 2; do
  as_root_on "node$k" sh -c "ip link add tlanbr type bridge && ip addr add 192.168.77.25$k/24 dev tlanbr && ip link set tlanbr up"
  expect_rc "node$k: host bridge tlanbr" 0
done

# The user's templates pick the resource sets.
install -d -o vmuser -g vmuser "$HOME_SRC/.config" "$HOME_SRC/.config/slurm-vm"
cat >"$HOME_SRC/.config/slurm-vm/templates.yaml" <<'EOF2'
tiny-cluster:
  inherits: tiny
  resource-set: cluster
tiny-lan:
  inherits: tiny
  resource-set: cluster-lan
EOF2
chown vmuser: "$HOME_SRC/.config/slurm-vm/templates.yaml"

# net-probe ME OTHER BASE OTHER_BASE: the job's VMs take 192.168.50.BASE and BASE+1 on eth1.
cat >"$HOME_SRC/net-probe" <<'PROBE'
#!/bin/sh
me=$1 other=$2 base=$3 obase=$4
wait_file() { i=0; while [ ! -e "$1" ]; do i=$((i + 1)); [ $i -gt 600 ] && { echo "RESULT $me TIMEOUT $1"; return 1; }; sleep 0.5; done; }
result() { echo "RESULT $me $*"; }
vm list
vm ssh vm0 ip addr add 192.168.50.$base/24 dev eth1 || result "vm0 eth1 address FAILED"
vm ssh vm1 ip addr add 192.168.50.$((base + 1))/24 dev eth1 || result "vm1 eth1 address FAILED"
echo "$SLURM_JOB_ID" >"$HOME/$me.job"
touch "$HOME/$me.ready"
wait_file "$HOME/$other.ready" || exit 3
vm ssh vm0 ping -c1 -W5 192.168.50.$((base + 1)) >/dev/null 2>&1 && result "l2 vm0->vm1 ok" || result "l2 vm0->vm1 FAILED"
vm ssh vm1 ping -c1 -W5 192.168.50.$base >/dev/null 2>&1 && result "l2 vm1->vm0 ok" || result "l2 vm1->vm0 FAILED"
for src in vm0 vm1; do
  for ip in 192.168.50.$obase 192.168.50.$((obase + 1)); do
    vm ssh $src ping -c1 -W2 "$ip" </dev/null >/dev/null 2>&1 && result "$src->$other/$ip l2 ping LEAK" || result "$src->$other/$ip l2 ping blocked"
    vm ssh $src arping -c1 -w2 -I eth1 "$ip" </dev/null >/dev/null 2>&1 && result "$src->$other/$ip l2 arp LEAK" || result "$src->$other/$ip l2 arp blocked"
  done
done
if [ "$me" = A ]; then
  vm ssh vm0 test -e /sys/class/net/eth2 && result "vm0 eth2 UNEXPECTED" || result "vm0 has no eth2 ok"
  mac=$(vm ssh vm1 cat /sys/class/net/eth2/address)
  case $mac in 42:*) result "vm1 eth2 bridged MAC $mac ok" ;; *) result "vm1 eth2 MAC '$mac' FAILED" ;; esac
  vm ssh vm1 "ip addr add 192.168.77.1/24 dev eth2 && ping -c1 -W5 192.168.77.252" >/dev/null 2>&1 &&
    result "vm1 eth2 reaches node2's bridge ok" || result "vm1 eth2 reaches node2's bridge FAILED"
  # On the site's LAN a guest keeps its own MAC (table bridge slurm_vm): another one, and the
  # node's bridge is out of reach until the guest takes its own back.
  vm ssh vm1 "ip link set eth2 address 42:ee:ee:ee:ee:01; ip neigh flush dev eth2; ping -c1 -W3 192.168.77.252; r=\$?; ip link set eth2 address $mac; exit \$r" >/dev/null 2>&1 &&
    result "vm1 eth2 bridged MAC spoof LEAK" || result "vm1 eth2 bridged MAC spoof blocked"
  vm ssh vm1 "ip neigh flush dev eth2; ping -c1 -W5 192.168.77.252" >/dev/null 2>&1 &&
    result "vm1 eth2 bridged after the spoofing ok" || result "vm1 eth2 bridged after the spoofing FAILED"
  # Another MAC on the L2 segment (virtio-net changes it live); put back before the command ends.
  mac=$(vm ssh vm0 cat /sys/class/net/eth1/address)
  vm ssh vm0 "ip link set eth1 address 52:54:01:ee:ee:ee; ip neigh flush dev eth1; ping -c1 -W3 192.168.50.$((base + 1)); r=\$?; ip link set eth1 address $mac; exit \$r" >/dev/null 2>&1 &&
    result "vm0 eth1 with another MAC: L2 MAC spoof LEAK" || result "vm0 eth1 with another MAC: L2 MAC spoof blocked"
  vm ssh vm0 "ip neigh flush dev eth1; ping -c1 -W5 192.168.50.$((base + 1))" >/dev/null 2>&1 &&
    result "l2 after the spoofing ok" || result "l2 after the spoofing FAILED"
fi
touch "$HOME/$me.done"
wait_file "$HOME/$other.done" || exit 3
PROBE
chmod 755 "$HOME_SRC/net-probe"
chown vmuser: "$HOME_SRC/net-probe"
rm -f "$HOME_SRC"/{A,B}.{job,ready,done}

as_user_bg "$STATE/A.out" vm alloc -N 2 --timeout 300 -E './net-probe A B 10 20' tiny-cluster:1,tiny-lan:1
a_pid=$BG_PID
as_user_bg "$STATE/B.out" vm alloc -N 2 --timeout 300 -E './net-probe B A 20 10' tiny-cluster:2
b_pid=$BG_PID

# While job A runs: vm1's third NIC is a port of node2's bridge.
a_ready() { [[ -e $HOME_SRC/A.ready ]]; }
if wait_for "job A ready" 400 a_ready; then
  as_root_on node2 ip -o link show master tlanbr
  grep -qE "svm[0-9a-f]+\.2001.*master tlanbr" <<<"$OUT" && pass "node2: vm1's eth2 TAP is a port of tlanbr" ||
    fail "node2: no TAP of job A on tlanbr: $OUT"
fi

bg_done() { ! kill -0 "$1" 2>/dev/null; }
wait_for "job A ended" 500 bg_done "$a_pid"
wait_for "job B ended" 120 bg_done "$b_pid"
wait "$a_pid"; a_rc=$?
wait "$b_pid"; b_rc=$?
OUT=$(cat "$STATE/A.out" "$STATE/B.out")
if [[ $a_rc == 0 && $b_rc == 0 ]]; then
  pass "both jobs ran their probes (exit 0)"
else
  fail "job A exit $a_rc, job B exit $b_rc"
  for j in A B; do echo "--- job $j"; tail -n 30 "$STATE/$j.out"; done
fi
for j in A B; do
  grep -qE "^vm0 +tiny-cluster +node1 " "$STATE/$j.out" && grep -qE "^vm1 +tiny-(cluster|lan) +node2 " "$STATE/$j.out" &&
    pass "job $j: vm0 on node1, vm1 on node2" || fail "job $j: unexpected layout: $(grep -E '^vm[01] ' "$STATE/$j.out" | tr '\n' ' ')"
done
results=$(grep '^RESULT ' <<<"$OUT")
n_inside=$(grep -c ' l2 vm[01]->vm[01] ok$' <<<"$results")
[[ $n_inside == 4 ]] && pass "on the L2 segment, each job's VMs reach each other across nodes" || fail "l2 inside: $(grep ' l2 vm' <<<"$results" | tr '\n' ' ')"
n_blocked=$(grep -cE ' l2 (ping|arp) blocked$' <<<"$results")
[[ $n_blocked == 16 ]] && pass "across jobs on L2: 16 of 16 ping/ARP attempts blocked (same node and across)" ||
  fail "across jobs on L2: $n_blocked of 16 blocked: $(grep -E ' l2 (ping|arp) ' <<<"$results" | grep -v 'blocked$' | tr '\n' ' ')"
for what in "vm0 has no eth2 ok" "bridged MAC .* ok" "reaches node2's bridge ok" "L2 MAC spoof blocked" "l2 after the spoofing ok" \
  "bridged MAC spoof blocked" "bridged after the spoofing ok"; do
  grep -qE "$what\$" <<<"$results" && pass "$what" || fail "$what: $(grep -E "$(cut -d' ' -f1-3 <<<"$what")" <<<"$results")"
done
check_nodes_clean "after both jobs"
for k in 1 2; do
  as_root_on "node$k" ip -o link show master tlanbr
  [[ -z $OUT ]] && pass "node$k: tlanbr has no port left" || fail "node$k: tlanbr keeps $OUT"
done
