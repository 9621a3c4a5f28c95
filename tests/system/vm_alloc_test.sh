#!/usr/bin/env bash
# tests/system/vm_alloc_test.sh - the walking skeleton end to end, as the unprivileged user on a
# 2-node sandbox with slurm-vm installed (plugin, prolog/epilog, tiny guest): `vm alloc` boots
# VMs, `vm ssh` reaches them through reverse NAT with their host keys checked, names resolve,
# the script's exit code comes back, a batch job with #SBATCH --vm-template works, bad
# definitions are refused at submission, and nothing of any job remains on any node.
#
# usage: vm_alloc_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build
# (SLURM_VM_BUILD_DIR).
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=vm_alloc_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

OUT=$("$SANDBOX" up --nodes 2 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm"

cat >"$HOME_SRC/probe" <<'PROBE'
#!/bin/sh
set -e
vm list
vm ssh vm0 ping -c1 -W10 vm1
echo "vm0 says $(vm ssh vm0 hostname)"
echo "vm1 says $(vm ssh vm1 hostname)"
PROBE
chmod 755 "$HOME_SRC/probe"

# 1. Two VMs on one node: boot, names, ping by name, SSH to each.
as_user vm alloc -N 1 --timeout 300 -E ./probe tiny:2
expect_rc "vm alloc -N1 -E probe tiny:2" 0
expect_out "vm1 answers ping from vm0 by name" "1 packets received"
expect_out "vm ssh vm0 hostname" "^vm0 says vm0$"
expect_out "vm ssh vm1 hostname" "^vm1 says vm1$"
expect_out "vm list shows both VMs on node1" "vm1 +tiny +node1 "
check_nodes_clean "after the one-node job"

# 2. One VM per node: VM-to-VM across the GRE tunnel, both ways, from the first packet (ping
# -c1: no retry hides a lost first packet); each VM reached through its own node's reverse NAT.
cat >"$HOME_SRC/probe2" <<'PROBE'
#!/bin/sh
set -e
vm list
vm ssh vm0 ping -c1 -W10 vm1
vm ssh vm1 ping -c1 -W10 vm0
echo "vm0 says $(vm ssh vm0 hostname)"
echo "vm1 says $(vm ssh vm1 hostname)"
PROBE
chmod 755 "$HOME_SRC/probe2"
as_user vm alloc -N 2 --timeout 300 -E ./probe2 tiny:2
expect_rc "vm alloc -N2 -E probe2 tiny:2" 0
expect_out "vm0 runs on node1" "vm0 +tiny +node1"
expect_out "vm1 runs on node2" "vm1 +tiny +node2"
if [[ $(grep -c "1 packets received" <<<"$OUT") == 2 ]]; then
  pass "vm0 and vm1 ping each other by name across nodes"
else
  fail "cross-node ping: $(grep -E "packets|PING" <<<"$OUT" | tr '\n' ' ')"
fi
expect_out "vm ssh vm0 answers on node1" "^vm0 says vm0$"
expect_out "vm ssh vm1 answers on node2" "^vm1 says vm1$"
# The VMs end on SIGTERM (QEMU closes its disks), and the expected teardown messages go to the
# job's step.log, not to the user's terminal.
if grep -qE "Killed|terminating on signal|forcing job termination|CANCELLED" <<<"$OUT"; then
  fail "teardown is quiet: $(grep -E "Killed|terminating|forcing|CANCELLED" <<<"$OUT" | tr '\n' ' ')"
else
  pass "teardown is quiet"
fi
job=$(sed -n 's/^salloc: Granted job allocation \([0-9]*\)$/\1/p' <<<"$OUT")
step_log=$HOME_SRC/.local/state/slurm-vm/job-$job/step.log
if [[ $(grep -c "terminating on signal 15" "$step_log" 2>/dev/null) == 2 ]]; then
  pass "both QEMUs ended on SIGTERM (job $job's step.log)"
else
  fail "QEMUs did not both end on SIGTERM: $(tail -n 5 "$step_log" 2>&1 | tr '\n' ' ')"
fi
check_nodes_clean "after the two-node job"

# 2b. An uneven allocation: 3 one-CPU VMs on two 2-CPU nodes, two on node1 and one on node2;
# the lone VM reaches both of the others.
as_user vm alloc -N 2 --timeout 300 \
  -E 'vm list && vm ssh vm2 ping -c1 -W10 vm0 && vm ssh vm2 ping -c1 -W10 vm1' tiny:3
expect_rc "vm alloc -N2 tiny:3" 0
expect_out "vm0 runs on node1" "vm0 +tiny +node1"
expect_out "vm1 runs on node1" "vm1 +tiny +node1"
expect_out "vm2 runs on node2" "vm2 +tiny +node2"
if [[ $(grep -c "1 packets received" <<<"$OUT") == 2 ]]; then
  pass "vm2 pings vm0 and vm1 on the other node"
else
  fail "uneven layout ping: $(grep -E "packets|PING" <<<"$OUT" | tr '\n' ' ')"
fi
check_nodes_clean "after the uneven job"

# 2c. An image without cloud-init networking (tiny-dhcp ignores the seed's network-config):
# each VM gets its planned address by DHCP from its node's dnsmasq and resolves the others as
# vmN and vmN.vm.internal (templates/networks.yaml domain-name) by DNS.
cat >"$HOME_SRC/probe3" <<'PROBE'
#!/bin/sh
vm list
vm ssh vm0 nslookup vm1.vm.internal
vm ssh vm1 nslookup vm0
vm ssh vm0 ping -c1 -W10 vm1.vm.internal
PROBE
chmod 755 "$HOME_SRC/probe3"
as_user vm alloc -N 2 --timeout 300 -E ./probe3 tiny-dhcp:2
expect_rc "vm alloc -N2 -E probe3 tiny-dhcp:2" 0
job=$(sed -n 's/^salloc: Granted job allocation \([0-9]*\)$/\1/p' <<<"$OUT")
vm0_ip=$(awk '$1 == "vm0" { print $4 }' <<<"$OUT") vm1_ip=$(awk '$1 == "vm1" { print $4 }' <<<"$OUT")
jobdir=$HOME_SRC/.local/state/slurm-vm/job-$job
if grep -q "dhcp bound $vm0_ip/" "$jobdir/vm0/console.log" 2>/dev/null && grep -q "dhcp bound $vm1_ip/" "$jobdir/vm1/console.log" 2>/dev/null; then
  pass "both VMs got their planned address by DHCP ($vm0_ip, $vm1_ip)"
else
  fail "no DHCP lease of the planned address in the console logs: $(grep -h 'slurm-vm-tiny: dhcp' "$jobdir"/vm*/console.log 2>&1 | tr '\n' ' ')"
fi
if [[ $(grep -cE "^Address: ($vm0_ip|$vm1_ip)$" <<<"$OUT") == 2 ]] && grep -q "^Name:.*vm1.vm.internal" <<<"$OUT"; then
  pass "DNS: vm0 resolves vm1.vm.internal, vm1 resolves vm0"
else
  fail "DNS answers: $(grep -E '^(Name|Address):' <<<"$OUT" | tr '\n' ' ')"
fi
expect_out "vm0 pings vm1.vm.internal across nodes" "^1 packets transmitted, 1 packets received"
check_nodes_clean "after the DHCP job"

# 3. The script's exit code is vm alloc's.
as_user vm alloc -N 1 --timeout 300 -E 'vm ssh vm0 true; exit 3' tiny:1
expect_rc "a failing script's exit code comes back" 3

# 4. A batch script with #SBATCH --vm-template.
cat >"$HOME_SRC/batch.sh" <<'BATCH'
#!/bin/sh
#SBATCH --vm-template=tiny:1
#SBATCH --output=batch.out
vm boot --timeout 300 -- vm ssh vm0 echo hello from '$(hostname)'
BATCH
as_user sbatch --parsable batch.sh
job=$OUT
if [[ $RC == 0 && $job =~ ^[0-9]+$ ]]; then
  pass "sbatch accepted the script (job $job)"
  for ((i = 0; i < 600; i++)); do
    [[ -z $("$SANDBOX" run -- squeue -h -j "$job" 2>/dev/null) ]] && break
    sleep 0.5
  done
  OUT=$(cat "$HOME_SRC/batch.out" 2>&1)
  expect_out "the batch job's output holds the VM's answer" "^hello from vm0$"
else
  fail "sbatch: $OUT"
fi
check_nodes_clean "after the batch job"

# 5. Bad definitions are refused at submission; nothing reaches a node.
for def in nosuch:2 tiny:0 tiny:x; do
  as_user sbatch --vm-template="$def" --wrap true
  if [[ $RC != 0 ]] && grep -q "spank_vm" <<<"$OUT"; then pass "sbatch --vm-template=$def refused"; else fail "sbatch --vm-template=$def: rc=$RC $OUT"; fi
  as_user vm alloc "$def"
  if [[ $RC == 3 || $RC == 4 ]]; then pass "vm alloc $def refused (exit $RC)"; else fail "vm alloc $def: rc=$RC $OUT"; fi
done
check_nodes_clean "after the refused submissions"
