#!/usr/bin/env bash
# tests/system/sizes_test.sh - VMs of different sizes in one cluster (issue 14, item 9) on a
# 2-node sandbox of 2 CPUs per node: `vm alloc tiny:1:c=2,tiny:2:c=1` runs as a heterogeneous
# job, vm0 alone on one node with 2 vCPUs, vm1 and vm2 on the other with 1 each, memory
# following the CPUs; the VMs of both components share one network; vm run, vm exec and vm ssh
# reach every VM (steps go to each node's component); without -j the user's only cluster is it;
# vm ckpt refuses such a cluster for now;
# vm batch submits one too; -N is refused; nothing is left on the nodes.
#
# usage: sizes_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=sizes_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

OUT=$("$SANDBOX" up --nodes 2 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm"

cat >"$HOME_SRC/sizes-probe" <<'SCRIPT'
result() { echo "RESULT $*"; }
cd "$HOME"
result "components $SLURM_HET_SIZE"
vm list | awk 'NR > 1 { printf "%s@%s ", $1, $3 } END { print "" }' | sed 's/^/RESULT layout /'
vm run -- sh -c 'echo "$(nproc) $(awk "/^MemTotal/ { print \$2 }" /proc/meminfo)"' | sort | tr '\n' '|' |
  sed 's/^/RESULT sizes /'
echo
vm exec vm2 -- hostname | sed 's/^/RESULT exec /'
vm ssh vm1 ping -c1 -W5 vm0 >/dev/null 2>&1 && result "ping ok" || result "ping FAILED"
# Outside the allocation's variables, the user's only running cluster is this one (squeue
# shows it once per component).
result "default $(env -u SLURM_JOB_ID -u SLURM_JOBID vm list 2>&1 | awk 'NR > 1 { n++ } END { print n }')"
vm ckpt "$HOME/sizes-ckpt" >ckpt.out 2>&1
result "ckpt exit $? $(grep -c 'does not checkpoint' ckpt.out)"
SCRIPT
chmod 755 "$HOME_SRC/sizes-probe"

as_user vm alloc --timeout 300 -E ./sizes-probe tiny:1:c=2,tiny:2:c=1
expect_rc "vm alloc of VMs of two sizes" 0
r() { grep "^RESULT $1" <<<"$OUT" | head -n 1 | cut -d' ' -f3-; }
check_eq "one component per group (a heterogeneous job)" "2" "$(r components)"
layout=$(r layout)
[[ $layout =~ ^vm0@(node[12])\ vm1@(node[12])\ vm2@(node[12])\ $ && ${BASH_REMATCH[1]} != "${BASH_REMATCH[2]}" &&
  ${BASH_REMATCH[2]} == "${BASH_REMATCH[3]}" ]] && pass "vm0 alone on one node, vm1 and vm2 on the other: $layout" ||
  fail "layout: '$layout'"
sizes=$(r sizes)
if [[ $sizes =~ ^vm0:\ 2\ ([0-9]+)\|vm1:\ 1\ ([0-9]+)\|vm2:\ 1\ ([0-9]+)\|$ ]]; then
  pass "vCPUs: vm0 2, vm1 1, vm2 1"
  m0=${BASH_REMATCH[1]} m1=${BASH_REMATCH[2]} m2=${BASH_REMATCH[3]}
  # Memory follows the CPUs (Slurm's memory per CPU, less QEMU's fixed reserve).
  ((m0 > m1 * 3 / 2 && m1 == m2)) && pass "memory: vm0 ${m0} KiB, vm1 and vm2 ${m1} KiB" ||
    fail "memory: vm0 $m0, vm1 $m1, vm2 $m2 KiB"
else
  fail "sizes: '$sizes'"
fi
check_eq "vm exec reaches the second component's VM" "vm2" "$(r exec)"
check_eq "vm1 reaches vm0 across the components" "ok" "$(r ping)"
check_eq "vm ckpt refuses VMs of several sizes (exit 2)" "exit 2 1" "$(r ckpt)"
check_eq "the user's only running cluster is found without -j" "3" "$(r default)"
check_nodes_clean "after vm alloc"

as_user vm alloc -N 2 --timeout 60 -E true tiny:1:c=2,tiny:2:c=1
expect_rc "-N with sizes is refused" 2
expect_out "saying why" "VMs of several sizes run as one job component per group"

printf '#!/bin/sh\nvm run -- nproc | sort | tr "\\n" " "\n' >"$HOME_SRC/sizes-batch"
chmod 755 "$HOME_SRC/sizes-batch"
as_user vm batch --wait -o 'sizes-%j.out' -E sizes-batch tiny:1:c=2,tiny:1:c=1
expect_rc "vm batch of VMs of two sizes" 0
out=$(cat "$HOME_SRC"/sizes-*.out 2>/dev/null)
grep -q "vm0: 2 vm1: 1" <<<"$out" && pass "vm batch: vm0 2 vCPUs, vm1 1" || { fail "vm batch output:"; echo "$out"; }
check_nodes_clean "after vm batch"
