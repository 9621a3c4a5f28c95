#!/bin/bash
# vm-prolog and vm-epilog killed (SIGKILL: the OOM killer, a node's watchdog) at random moments,
# against the real kernel and a real Open vSwitch in a throw-away node (tests/lib/node_ns_lib.sh).
# Every host change is recorded in the job's ledger before it is made (docs/prolog-epilog.md
# §2), so whatever moment the prolog dies at, the epilog that Slurm runs next must undo all of
# it and exit 0; and an epilog killed half-way must leave a ledger that a second run finishes.
# After each round nothing of the job may remain: TAPs, the DNS veth, OVS ports, flows, NAT
# rules, the ledger, the job's directory and record, and its dnsmasq (found by the log file it
# holds open, so a server whose pid file was never written is found too).
# Usage: helper_kill_test.sh [REPO]   (SLURM_VM_BUILD_DIR: the build, default REPO/build;
# SLURM_VM_KILL_ROUNDS: rounds of each kind, default 20). Exit 77 without root or the tools.
set -euo pipefail

REPO=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLURM_VM_BUILD_DIR:-$REPO/build}
PROLOG=$BUILD/src/prolog/vm-prolog
EPILOG=$BUILD/src/epilog/vm-epilog
ROUNDS=${SLURM_VM_KILL_ROUNDS:-20}

[[ $(id -u) == 0 ]] || { echo "SKIP: needs root"; exit 77; }
for tool in ip nft ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl unshare; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing"; exit 77; }
done
[[ -x $PROLOG && -x $EPILOG ]] || { echo "FAIL: build vm-prolog and vm-epilog first ($BUILD)"; exit 1; }

NS=svmk-$$
TMP=$(mktemp -d /tmp/svmk-XXXXXX)
# shellcheck source=../lib/check_lib.sh
source "$REPO/tests/lib/check_lib.sh"
# shellcheck source=../lib/node_ns_lib.sh
source "$REPO/tests/lib/node_ns_lib.sh"
node_ns_test_exit_trap helper_kill_test
node_ns_start

# What is left of job $1 on the node, one word per object; empty when nothing is.
leftovers() {
  local job=$1 hex
  hex=$(printf '%x' "$job")
  # The epilog returns once OVSDB committed the ports' removal; ovs-vswitchd deletes the gateway's
  # device after (docs/prolog-epilog.md §3). A change of our own is applied after it: wait for that.
  vsctl set Open_vSwitch . external_ids:svmk-settle="$job"
  nsx ip -o link show | grep -o " svm\(gw\|dh\)\?$hex[.0-9a-f]*" | sed 's/^ /link:/' || :
  vsctl list-ports br-int | grep -e "svm$hex\\." -e "svmgw$hex" -e "svmdh$hex" | sed 's/^/port:/' || :
  [[ $(flows_of "$(printf '0x5356%012x' "$job")") == 0 ]] || echo "flows"
  nsx nft list ruleset 2>/dev/null | grep -q "job $job " && echo "nat" || :
  for f in "$RUN/ledger/$job.jsonl" "$RUN/jobs/$job" "$RUN/state/$job.json" "$RUN/state/$job.flows" \
    "$RUN/dnsmasq/$job.pid"; do
    [[ -e $f ]] && echo "file:${f#"$RUN"/}"
  done
  # A dnsmasq holds its log open (its stdout and stderr), deleted or not.
  find /proc/[0-9]*/fd -lname "$RUN/dnsmasq/$job.log*" 2>/dev/null | cut -d/ -f3 | sort -u | sed 's/^/dnsmasq:/' || :
}

# run_killed PROGRAM JOB: starts PROGRAM for JOB as slurmd would and SIGKILLs it 0-45 ms in
# (the helper takes ~30 ms: the moments cover its whole run); prints when it was killed, or
# that it ended first.
# The helper is the last of a chain (this shell's subshell, ip netns exec, unshare, sh, env),
# so the whole chain runs in a process group of its own (job control) and the kill goes to the
# group: killing only the subshell would let the helper run on, unkilled.
run_killed() {
  local prog=$1 job=$2 pid delay
  delay=$(printf '0.%03d' $((RANDOM % 46)))
  set -m
  helper "$prog" "$job" 1 tiny:1 nodeA >>"$TMP/helpers.log" 2>&1 &
  pid=$!
  set +m
  sleep "$delay"
  if kill -KILL -- "-$pid" 2>/dev/null; then echo "killed after $delay s"; else echo "ended before $delay s"; fi
  wait "$pid" 2>/dev/null || :
}

# round WHAT JOB WHEN: after the kill (WHEN), the epilog that runs next must exit 0 and leave
# nothing of JOB.
round() {
  local what=$1 job=$2 when=$3 rc=0 left
  helper "$EPILOG" "$job" 1 tiny:1 nodeA >>"$TMP/helpers.log" 2>&1 || rc=$?
  left=$(leftovers "$job" | tr '\n' ' ')
  if [[ $rc == 0 && -z $left ]]; then
    pass "$what of job $job $when: the next epilog exits 0 and leaves nothing"
  else
    fail "$what of job $job $when: the next epilog exits $rc, left: ${left:-nothing}"
    tail -n 5 "$TMP/helpers.log"
  fi
  [[ $when == killed* ]]
}

killed=0
for ((i = 0; i < ROUNDS; i++)); do
  job=$((4500 + i))
  round prolog "$job" "$(run_killed "$PROLOG" "$job")" && killed=$((killed + 1))
done
# A round where the kill came after the prolog's end tests nothing new: most must hit it.
check "most prologs were killed mid-way ($killed of $ROUNDS)" test "$killed" -ge $((ROUNDS / 2))

killed=0
for ((i = 0; i < ROUNDS; i++)); do
  job=$((4600 + i))
  check "prolog of job $job" helper "$PROLOG" "$job" 1 tiny:1 nodeA
  round epilog "$job" "$(run_killed "$EPILOG" "$job")" && killed=$((killed + 1))
done
check "some epilogs were killed mid-way ($killed of $ROUNDS)" test "$killed" -ge 1
