#!/usr/bin/env bash
# tests/system/isolation_test.sh - two concurrent jobs, A and B, of two VMs each on a 2-node
# sandbox, each job with one VM on each node, so that every pair of VMs of different jobs
# exists both on one node and across nodes. Checked from inside the guests:
#   - inside a job every VM reaches the other by name;
#   - across jobs: no ping, no ARP answer, no TCP, same node or not (both directions);
#   - a VM cannot reach its node's own services (slurmd's port) through its gateway, nor the
#     node's underlay address, nor anything outside (the shipped allow-outbound: none; what a
#     site allows is hardening_test.sh's), such as the login host's slurmctld port;
#   - a VM that sends from another IP address, or changes its MAC, loses connectivity.
# Then nothing of either job remains on any node.
#
# usage: isolation_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build
# (SLURM_VM_BUILD_DIR).
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=isolation_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

OUT=$("$SANDBOX" up --nodes 2 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm"

# The probe each job runs (as `vm alloc -E './iso-probe ME OTHER'`): prints RESULT lines.
cat >"$HOME_SRC/iso-probe" <<'PROBE'
#!/bin/sh
me=$1 other=$2
wait_file() { i=0; while [ ! -e "$1" ]; do i=$((i + 1)); [ $i -gt 600 ] && { echo "RESULT $me TIMEOUT $1"; return 1; }; sleep 0.5; done; }
result() { echo "RESULT $me $*"; }
echo "$SLURM_JOB_ID" >"$HOME/$me.job"
touch "$HOME/$me.ready"
wait_file "$HOME/$other.ready" || exit 3
vm list
vm list -j "$(cat "$HOME/$other.job")" | awk 'NR > 1 { print $1, $4 }' >"$HOME/$me.others"
vm ssh vm0 ping -c1 -W5 vm1 >/dev/null 2>&1 && result "inside vm0->vm1 ok" || result "inside vm0->vm1 FAILED"
vm ssh vm1 ping -c1 -W5 vm0 >/dev/null 2>&1 && result "inside vm1->vm0 ok" || result "inside vm1->vm0 FAILED"
# (ssh would read the loop's input: every vm ssh gets /dev/null.)
while read -r name addr; do
  for src in vm0 vm1; do
    vm ssh $src ping -c1 -W2 "$addr" </dev/null >/dev/null 2>&1 && result "$src->$other/$name ping LEAK" || result "$src->$other/$name ping blocked"
    vm ssh $src arping -c1 -w2 -I eth0 "$addr" </dev/null >/dev/null 2>&1 && result "$src->$other/$name arp LEAK" || result "$src->$other/$name arp blocked"
    vm ssh $src nc -w2 "$addr" 22 </dev/null >/dev/null 2>&1 && result "$src->$other/$name tcp LEAK" || result "$src->$other/$name tcp blocked"
  done
done <"$HOME/$me.others"
if [ "$me" = A ]; then
  gw=$(vm ssh vm0 ip route | awk '/^default/ { print $3 }')
  # A job's DHCP/DNS server is the last host address of its subnet (ADDRESS/PREFIX -> it).
  dns_of() {
    awk -v a="$1" 'BEGIN { split(a, p, "/"); split(p[1], o, "."); n = ((o[1] * 256 + o[2]) * 256 + o[3]) * 256 + o[4];
      size = 2 ^ (32 - p[2]); n = n - n % size + size - 2;
      printf "%d.%d.%d.%d\n", int(n / 16777216), int(n / 65536) % 256, int(n / 256) % 256, n % 256 }'
  }
  own=$(vm ssh vm0 ip -4 -o addr show dev eth0 | awk '{ print $4 }')
  dns=$(dns_of "$own")
  # The other job's dnsmasq (on the same node as our vm0) must not answer us.
  odns=$(dns_of "$(awk '$1 == "vm0" { print $2 }' "$HOME/$me.others")/${own#*/}")
  # (busybox nslookup's exit status says nothing useful: look for an answer line.)
  answers() { grep -qE '^Address: [0-9.]+$'; }
  vm ssh vm0 nslookup vm1 "$dns" 2>/dev/null | answers && result "control: own DNS ok" || result "control: own DNS FAILED"
  vm ssh vm0 timeout 5 nslookup vm0 "$odns" 2>/dev/null | answers && result "vm0->$other DNS LEAK" || result "vm0->$other DNS blocked"
  # The node's own stack serves a VM nothing, DNS included (dnsmasq is jailed).
  vm ssh vm0 timeout 5 nslookup vm1 "$gw" 2>/dev/null | answers && result "vm0->gateway DNS LEAK" || result "vm0->gateway DNS blocked"
  vm ssh vm0 nc -w2 "$gw" "$SLURMD_PORT" </dev/null >/dev/null 2>&1 && result "vm0->gateway:slurmd LEAK" || result "vm0->gateway:slurmd blocked"
  vm ssh vm0 nc -w2 "$NODE1_IP" "$SLURMD_PORT" </dev/null >/dev/null 2>&1 && result "vm0->node1:slurmd LEAK" || result "vm0->node1:slurmd blocked"
  # allow-outbound: none (the shipped configuration): not even the login host.
  vm ssh vm0 nc -w2 "$LOGIN_IP" "$SLURMCTLD_PORT" </dev/null >/dev/null 2>&1 && result "vm0->login:slurmctld outbound LEAK" || result "vm0->login:slurmctld outbound blocked"
  # Another source address: the kernel sends from it once it is assigned.
  ip=$(vm ssh vm0 ip -4 -o addr show dev eth0 | awk '{ split($4, a, "/"); print a[1] }')
  fake=${ip%.*}.200
  # Each spoof check comes with its control: the same commands with the VM's own address.
  vm ssh vm0 "ping -c1 -W3 -I $ip vm1" >/dev/null 2>&1 && result "control: own IP ok" || result "control: own IP FAILED"
  vm ssh vm0 "ip addr add $fake/32 dev eth0; ping -c1 -W3 -I $fake vm1; r=\$?; ip addr del $fake/32 dev eth0; exit \$r" >/dev/null 2>&1 &&
    result "vm0 from $fake: IP spoof LEAK" || result "vm0 from $fake: IP spoof blocked"
  # Another MAC (virtio-net changes it live); put back before the command ends.
  mac=$(vm ssh vm0 cat /sys/class/net/eth0/address)
  vm ssh vm0 "ip link set eth0 address $mac; ip neigh flush dev eth0; ping -c1 -W3 vm1" >/dev/null 2>&1 &&
    result "control: own MAC ok" || result "control: own MAC FAILED"
  vm ssh vm0 "ip link set eth0 address 52:54:00:ee:ee:ee; ip neigh flush dev eth0; ping -c1 -W3 vm1; r=\$?; ip link set eth0 address $mac; exit \$r" >/dev/null 2>&1 &&
    result "vm0 with another MAC: MAC spoof LEAK" || result "vm0 with another MAC: MAC spoof blocked"
  vm ssh vm0 ping -c1 -W5 vm1 >/dev/null 2>&1 && result "vm0->vm1 after the spoofing ok" || result "vm0->vm1 after the spoofing FAILED"
fi
touch "$HOME/$me.done"
wait_file "$HOME/$other.done" || exit 3
PROBE
chmod 755 "$HOME_SRC/iso-probe"
rm -f "$HOME_SRC"/{A,B}.{job,ready,done,others}

probe_env=(env SLURMD_PORT=16818 NODE1_IP=10.77.0.11 SLURMCTLD_PORT=16817 LOGIN_IP=10.77.0.1)
as_user_bg "$STATE/A.out" "${probe_env[@]}" vm alloc -N 2 --timeout 300 -E './iso-probe A B' tiny:2
a_pid=$BG_PID
as_user_bg "$STATE/B.out" "${probe_env[@]}" vm alloc -N 2 --timeout 300 -E './iso-probe B A' tiny:2
b_pid=$BG_PID
bg_done() { ! kill -0 "$1" 2>/dev/null; }
wait_for "job A ended" 500 bg_done "$a_pid"
wait_for "job B ended" 120 bg_done "$b_pid"
wait "$a_pid"; a_rc=$?
wait "$b_pid"; b_rc=$?
OUT=$(cat "$STATE/A.out" "$STATE/B.out")
[[ $a_rc == 0 && $b_rc == 0 ]] && pass "both jobs ran their probes (exit 0)" || fail "job A exit $a_rc, job B exit $b_rc"

# Both jobs ran at once, each with one VM on each node.
for j in A B; do
  grep -qE "^vm0 +tiny +node1 " "$STATE/$j.out" && grep -qE "^vm1 +tiny +node2 " "$STATE/$j.out" &&
    pass "job $j: vm0 on node1, vm1 on node2" || fail "job $j: unexpected layout: $(grep -E '^vm[01] ' "$STATE/$j.out" | tr '\n' ' ')"
done
results=$(grep '^RESULT ' <<<"$OUT")
n_inside=$(grep -c ' inside vm[01]->vm[01] ok$' <<<"$results")
[[ $n_inside == 4 ]] && pass "inside each job, both VMs reach each other by name" || fail "inside: $(grep inside <<<"$results" | tr '\n' ' ')"
n_blocked=$(grep -cE ' (ping|arp|tcp) blocked$' <<<"$results")
[[ $n_blocked == 24 ]] && pass "across jobs: 24 of 24 ping/ARP/TCP attempts blocked (same node and across)" ||
  fail "across jobs: $n_blocked of 24 blocked: $(grep -vE 'blocked$' <<<"$results" | tr '\n' ' ')"
for what in "own IP" "own MAC" "own DNS"; do
  grep -q "control: $what ok$" <<<"$results" && pass "control: $what" || fail "control: $(grep "$what" <<<"$results")"
done
for what in "gateway:slurmd" "node1:slurmd" "login:slurmctld outbound" "IP spoof" "MAC spoof" "B DNS" "gateway DNS"; do
  grep -q "$what blocked$" <<<"$results" && pass "$what blocked" || fail "$what: $(grep "$what" <<<"$results")"
done
grep -q "after the spoofing ok$" <<<"$results" && pass "vm0 reaches vm1 again with its own addresses" || fail "after the spoofing: $(grep 'after the spoofing' <<<"$results")"
check_nodes_clean "after both jobs"
