#!/usr/bin/env bash
# tests/system/pinning_test.sh - right-sized, pinned VMs on a 1-node sandbox (2 CPUs):
#   - two VMs of one CPU each, then one VM of two CPUs: each vCPU thread of QEMU is allowed
#     exactly one CPU, one of its task's, a different one per vCPU of a VM;
#   - the VMs' memory adds up to no more than the job's (several VMs per node: no VM believes
#     it owns the node).
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
done
job=$(scontrol show job -o "$SLURM_JOB_ID")
per_cpu=$(echo "$job" | sed -n 's/.*MinMemoryCPU=\([0-9]*\)M.*/\1/p')
per_node=$(echo "$job" | sed -n 's/.*MinMemoryNode=\([0-9]*\)M.*/\1/p')
cpus=$(echo "$job" | sed -n 's/.* NumCPUs=\([0-9]*\) .*/\1/p')
echo "MEM$mems JOB $(( ${per_node:-0} > 0 ? per_node : ${per_cpu:-0} * cpus ))"
PROBE
chmod 755 "$HOME_SRC/pin-probe"
chown vmuser: "$HOME_SRC/pin-probe"

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
check_nodes_clean "after the pinning jobs"
