#!/usr/bin/env bash
# tests/system/pinning_test.sh - right-sized, pinned VMs on a 1-node sandbox (2 CPUs):
#   - two VMs of one CPU each, then one VM of two CPUs: each vCPU thread of QEMU is allowed
#     exactly one CPU, one of its task's, a different one per vCPU of a VM;
#   - the VMs' memory adds up to no more than the job's (several VMs per node: no VM believes
#     it owns the node);
#   - the guest's RAM is bound to the NUMA node of its vCPUs' CPUs (QEMU's numa_maps: bind:N);
#   - emulator-cores: 1 with -c 2: one vCPU on one CPU, QEMU's other threads on the other;
#   - full-node: the VM gets every CPU of its node and the node's memory (less QEMU's reserve).
# The sandbox is namespaces on one kernel: the probe reads the QEMU threads' /proc entries
# from the login node, as the user who owns them.
#
# usage: pinning_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=pinning_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

SANDBOX_NODES=1
OUT=$("$SANDBOX" up --nodes "$SANDBOX_NODES" 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm"

write_probe() {
cat >"$HOME_SRC/pin-probe" <<'PROBE'
#!/bin/sh
# For each VM: PIN <vm> <task's CPUs> <each vCPU's CPUs...>, then MEM <vm MiB...> JOB <MiB>.
n=$1 mems=
for r in $(seq 0 $((n - 1))); do
  f=$SLURM_VM_JOB_DIR/vm$r/vm.json
  pid=$(sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' "$f")
  mems="$mems $(sed -n 's/^ *"memory_mib": \([0-9]*\),*$/\1/p' "$f")"
  task=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/$pid/status)
  line="PIN vm$r $task"
  for tid in $(vm monitor-cmd vm$r info cpus | sed -n 's/.*thread_id=\([0-9]*\).*/\1/p'); do
    line="$line $(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/$pid/task/$tid/status)"
  done
  echo "$line"
  # The main thread's CPUs (emulator-cores), the vCPU count, the mappings bound to a NUMA node.
  echo "INFO vm$r main=$task vcpus=$(sed -n 's/^ *"vcpus": \([0-9]*\),*$/\1/p' "$f") bind=$(grep -c ' bind:[0-9]' /proc/$pid/numa_maps)"
done
job=$(scontrol show job -o "$SLURM_JOB_ID")
per_cpu=$(echo "$job" | sed -n 's/.*MinMemoryCPU=\([0-9]*\)M.*/\1/p')
per_node=$(echo "$job" | sed -n 's/.*MinMemoryNode=\([0-9]*\)M.*/\1/p')
cpus=$(echo "$job" | sed -n 's/.* NumCPUs=\([0-9]*\) .*/\1/p')
echo "MEM$mems JOB $(( ${per_node:-0} > 0 ? per_node : ${per_cpu:-0} * cpus ))"
PROBE
chmod 755 "$HOME_SRC/pin-probe"
chown vmuser: "$HOME_SRC/pin-probe"
}
write_probe

# check_pins DESCRIPTION: every PIN line of $OUT: one CPU per vCPU, in the task's set, distinct.
check_pins() {
  local ok=1 line vm task pins p seen
  while read -r _ vm task pins; do
    seen=" "
    for p in $pins; do
      [[ $p =~ ^[0-9]+$ ]] || { ok=0; echo "  $vm: a vCPU may run on '$p', not one CPU"; continue; }
      python3 -c "import sys; t=sys.argv[1]; c=int(sys.argv[2]); s=set(); [s.update(range(int(a.split('-')[0]), int(a.split('-')[-1])+1)) for a in t.split(',')]; sys.exit(c not in s)" "$task" "$p" ||
        { ok=0; echo "  $vm: vCPU on CPU $p, outside its task's $task"; }
      [[ $seen == *" $p "* ]] && { ok=0; echo "  $vm: two vCPUs on CPU $p"; }
      seen="$seen$p "
    done
    [[ -n $pins ]] || { ok=0; echo "  $vm: no vCPU thread found"; }
  done < <(grep '^PIN ' <<<"$OUT")
  grep -q '^PIN ' <<<"$OUT" || { ok=0; echo "  no VM was probed"; }
  ((ok)) && pass "$1" || fail "$1"
}
check_mem() { # DESCRIPTION
  local line sum=0 m job
  line=$(grep '^MEM ' <<<"$OUT")
  job=${line##* JOB }
  for m in ${line#MEM }; do [[ $m == JOB ]] && break; sum=$((sum + m)); done
  ((job > 0 && sum > 0 && sum <= job)) && pass "$1 ($sum MiB of the job's $job MiB)" || fail "$1: $line"
}

as_user vm alloc -N 1 -c 1 --timeout 300 -E './pin-probe 2' tiny:2
expect_rc "two VMs of one CPU on one node" 0
grep '^PIN \|^MEM ' <<<"$OUT"
check_pins "two 1-CPU VMs: each vCPU pinned to one CPU of its task"
check_mem "two 1-CPU VMs: their memory fits in the job's"

as_user vm alloc -N 1 -c 2 --timeout 300 -E './pin-probe 1' tiny:1
expect_rc "one VM of two CPUs" 0
grep '^PIN \|^MEM ' <<<"$OUT"
[[ $(grep -c '^PIN vm0 [^ ]* [0-9]* [0-9]*$' <<<"$OUT") == 1 ]] && pass "the 2-CPU VM has two vCPU threads" || fail "vCPU threads: $(grep '^PIN' <<<"$OUT")"
check_pins "one 2-CPU VM: its two vCPUs on two different CPUs of its task"
check_mem "one 2-CPU VM: its memory fits in the job's"
grep -q '^INFO vm0 .* bind=[1-9]' <<<"$OUT" && pass "the 2-CPU VM's memory is bound to its vCPUs' NUMA node (numa_maps)" ||
  fail "no bind: mapping in QEMU's numa_maps: $(grep '^INFO' <<<"$OUT")"

install -d -o vmuser -g vmuser "$HOME_SRC/.config" "$HOME_SRC/.config/slurm-vm"
cat >"$HOME_SRC/.config/slurm-vm/templates.yaml" <<'EOF2'
tiny-emu:
  inherits: tiny
  emulator-cores: 1
tiny-full:
  inherits: tiny
  full-node: true
EOF2
chown vmuser: "$HOME_SRC/.config/slurm-vm/templates.yaml"
as_user vm alloc -N 1 -c 2 --timeout 300 -E './pin-probe 1' tiny-emu:1
expect_rc "a VM with emulator-cores: 1 and 2 CPUs" 0
grep '^PIN \|^INFO ' <<<"$OUT"
info=$(grep '^INFO vm0 ' <<<"$OUT") pin=$(grep '^PIN vm0 ' <<<"$OUT")
main=$(sed -n 's/.* main=\([^ ]*\) .*/\1/p' <<<"$info") vcpu=${pin##* }
[[ $info == *" vcpus=1 "* && $main =~ ^[0-9]+$ && $vcpu =~ ^[0-9]+$ && $main != "$vcpu" ]] &&
  pass "emulator-cores: one vCPU on CPU $vcpu, QEMU's own threads on CPU $main" || fail "emulator-cores: $info / $pin"
as_user vm alloc -c 4 tiny-full:1
expect_rc "full-node with -c: a usage error" 2
as_user vm alloc --timeout 300 -E './pin-probe 1; scontrol show job -o $SLURM_JOB_ID | grep -o "OverSubscribe=[A-Z]*"' tiny-full:1
expect_rc "a full-node VM" 0
grep '^PIN \|^INFO \|^MEM ' <<<"$OUT"
mem=$(grep '^MEM ' <<<"$OUT")
[[ $(grep -c '^INFO vm0 .* vcpus=2 ' <<<"$OUT") == 1 ]] && pass "full-node: the VM has both of the node's CPUs" || fail "full-node vCPUs: $(grep '^INFO' <<<"$OUT")"
vm_mib=$(awk '{ print $2 }' <<<"$mem")
((vm_mib > 1500)) && pass "full-node: the VM has the node's memory less QEMU's reserve ($vm_mib MiB)" || fail "full-node memory: $mem"
expect_out "full-node: the job has the node to itself" "^OverSubscribe=NO$"
rm -f "$HOME_SRC/.config/slurm-vm/templates.yaml"
check_nodes_clean "after the pinning jobs"

# The case of 2 VMs of 2 CPUs on one node. This machine has 2 cores: the node claims 4
# (SlurmdParameters=config_overrides) and, with task/none, every task may run on both real CPUs;
# each VM's vCPUs still get one CPU each, distinct within the VM, and the memory still adds up.
"$SANDBOX" down >/dev/null 2>&1
OUT=$(SLURM_VM_SANDBOX_NODE_CPUS=4 SLURM_VM_SANDBOX_NODE_MEMORY=4000 "$SANDBOX" up --nodes 1 2>&1) ||
  { fail "sandbox up with a 4-CPU node: $OUT"; exit 1; }
write_probe
as_user vm alloc -N 1 -c 2 --timeout 300 -E './pin-probe 2' tiny:2
expect_rc "two VMs of two CPUs on one node" 0
grep '^PIN \|^MEM ' <<<"$OUT"
check_pins "two 2-CPU VMs: each vCPU pinned to one CPU of its task, distinct within the VM"
check_mem "two 2-CPU VMs: their memory fits in the job's"
check_nodes_clean "after the 2x2 job"
