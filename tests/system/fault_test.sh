#!/usr/bin/env bash
# tests/system/fault_test.sh - faults on a 2-node sandbox, each followed by the check that
# nothing of any job is left on any node (tests/lib/sandbox_test_lib.sh check_nodes_clean):
#   A. a VM's QEMU killed with SIGKILL mid-job: vm alloc names the VM and stops the user's
#      script (exit status 7); the epilog cleans up;
#   B. the job cancelled while its prolog runs (the prolog held on the node lock);
#   C. a node "crash": slurmd, the job's slurmstepd and QEMU killed, the node set DOWN so the
#      job ends without an epilog there; slurmd restarted; the next job's prolog on that node
#      reclaims the dead job's leftovers (docs/prolog-epilog.md §2 step 7).
# A prolog failing half-way and an epilog run twice are tests/root/prolog_node_test.sh.
#
# usage: fault_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build
# (SLURM_VM_BUILD_DIR).
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=fault_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

OUT=$("$SANDBOX" up --nodes 2 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm"

file_exists() { [[ -e $1 ]]; }
bg_done() { ! kill -0 "$1" 2>/dev/null; }
job_of_user() { "$SANDBOX" run -- squeue -h -o %A 2>/dev/null | head -n 1; }
job_state() { "$SANDBOX" run -- squeue -h -t all -j "$1" -o %T 2>/dev/null; }
node_state() { "$SANDBOX" run -- sinfo -h -n "$1" -o %t 2>/dev/null; }

# --- A. QEMU killed with SIGKILL under a script that would run for 10 more minutes: vm alloc
# says which VM ended and how, with its console, stops the script and exits with 7
# (docs/exit-codes.md); the other VM of the cluster is stopped with it.
cat >"$HOME_SRC/watch-vm0" <<'SCRIPT'
#!/bin/sh
trap 'echo "script got SIGTERM"; exit 143' TERM
touch "$HOME/$1-ready"
sleep 600 &
wait $!
echo "script ran to its end"
SCRIPT
chmod 755 "$HOME_SRC/watch-vm0"
as_user_bg "$STATE/a.out" vm alloc -N 2 --timeout 300 -E './watch-vm0 a' tiny:2
a_pid=$BG_PID
if wait_for "A: the VMs booted" 300 file_exists "$HOME_SRC/a-ready"; then
  killed_at=$SECONDS
  # The nodes share the PID namespace: only vm1's QEMU (on node2) is killed.
  pkill -KILL -u vmuser -f 'qemu-system-x86_64 -name vm1,'
  if wait_for "A: vm alloc returned" 60 bg_done "$a_pid"; then
    wait "$a_pid"; RC=$? OUT=$(cat "$STATE/a.out")
    expect_rc "A: the cluster ended under the script: exit status 7" 7
    expect_out "A: the message names the VM, its node and how it ended" \
      "job [0-9]+: the virtual cluster ended: vm1 on node2 \(Killed\) ended; the other VMs were stopped with it"
    expect_out "A: then the VM's last console lines" "^vm1: last console lines"
    expect_out "A: the script is stopped" "stopping the script \(SIGTERM, SIGKILL after 10 s\)"
    expect_out "A: the script got SIGTERM" "^script got SIGTERM$"
    grep -q "script ran to its end" <<<"$OUT" && fail "A: the script ran on" || pass "A: the script did not run on"
    (( SECONDS - killed_at < 40 )) && pass "A: within $((SECONDS - killed_at)) s of the kill" ||
      fail "A: vm alloc took $((SECONDS - killed_at)) s to end"
  fi
fi
check_nodes_clean "A: after QEMU was killed"

# --- B. The job cancelled while its prolog waits for the node lock.
"$SANDBOX" run --node node1 -- flock -w 5 /run/slurm-vm/node.lock sleep 12 >/dev/null 2>&1 &
holder=$!
BG_PIDS+=("$holder")
sleep 1
as_user_bg "$STATE/b.out" vm alloc -N 1 -w node1 --timeout 60 -E true tiny:1
b_pid=$BG_PID
job_exists() { [[ $(job_of_user) =~ ^[0-9]+$ ]]; }
if wait_for "B: the job started" 10 job_exists; then
  job=$(job_of_user)
  sleep 1
  # The holder keeps the lock for 12 s: the job's prolog is still waiting for it.
  if kill -0 "$holder" 2>/dev/null; then pass "B: job $job's prolog waits for the node lock"; else fail "B: the lock holder ended too early"; fi
  as_user scancel "$job"
  expect_rc "B: scancel during the prolog" 0
fi
wait_for "B: vm alloc returned" 60 bg_done "$b_pid"
wait_for "B: the lock holder ended" 30 bg_done "$holder"
check_nodes_clean "B: after a job cancelled during its prolog"

# --- C. A node crash: the job ends without its epilog on node2; the next prolog there reclaims.
as_user_bg "$STATE/c.out" vm alloc -N 1 -w node2 --timeout 300 -E './watch-vm0 c' tiny:1
c_pid=$BG_PID
if wait_for "C: the VM booted" 300 file_exists "$HOME_SRC/c-ready"; then
  job=$(job_of_user)
  kill -KILL "$(cat "$STATE/nodes/node2/slurmd.pid")"
  pkill -KILL -f "^slurmstepd: \[$job\." || true
  pkill -KILL -u vmuser -x qemu-system-x86 || true
  as_root_on login scontrol update nodename=node2 state=down reason=fault_test
  expect_rc "C: node2 set DOWN" 0
  job_over() { [[ $(job_state "$job") =~ ^(NODE_FAIL|CANCELLED|FAILED|COMPLETED)$ ]]; }
  wait_for "C: job $job ended" 60 job_over && pass "C: job $job ended ($(job_state "$job"))"
  if wait_for "C: vm alloc returned" 120 bg_done "$c_pid"; then
    wait "$c_pid"; RC=$? OUT=$(cat "$STATE/c.out")
    expect_rc "C: the script saw the VM die" 7
    expect_out "C: vm reports the node failure" "Node failure on node2"
  fi
  # node2's /run/slurm-vm, seen from the host (its slurmd, which holds the node's mount
  # namespace, is dead).
  ledger=$STATE/nodes/node2/run-slurm-vm/ledger/$job.jsonl
  if [[ -f $ledger ]]; then
    pass "C: job $job's ledger is still on node2 (no epilog ran)"
  else
    fail "C: the scenario left no ledger on node2: the reclaim is not exercised"
  fi
  OUT=$("$SANDBOX" up --nodes 2 2>&1)
  RC=$?
  expect_rc "C: slurmd restarted on node2 (sandbox up)" 0
  node_idle() { [[ $(node_state node2) == idle ]]; }
  wait_for "C: node2 back in service" 60 node_idle
  as_user vm alloc -N 1 -w node2 --timeout 300 -E 'vm ssh vm0 hostname' tiny:1
  expect_rc "C: a new job on node2" 0
  # Only the new job's prolog can have removed it: its epilog undoes its own ledger only.
  if [[ ! -e $ledger ]]; then pass "C: the new job's prolog reclaimed job $job"; else fail "C: job $job's ledger is still on node2"; fi
fi
check_nodes_clean "C: after the next job on the crashed node"
