#!/usr/bin/env bash
# tests/system/ckpt_test.sh - checkpoint and restart of a whole virtual cluster on a 2-node
# sandbox, as the sandbox user (vm0 on node1, vm1 on node2, the tiny guest under TCG):
#   A. inside `vm alloc`, a file is written on each VM's disk and a process counts in each
#      VM's memory; `vm ckpt DIR` pauses both VMs, writes their disks and memory, and the
#      cluster stops: vm alloc says it was checkpointed and exits 0; DIR holds checkpoint.json
#      and each VM's two files, and nothing partial is left beside it;
#   B. what is refused, before anything is queued: DIR again without -F, a partial checkpoint,
#      a truncated one, DEF of another cluster; a file damaged in place is found on the node
#      (sha256) and the VM is not resumed from it;
#   C. `vm alloc -r DIR` (no DEF, no -c): the same names and addresses, the files are there,
#      each counting process still runs with its pid and counts on from where it was, the boot
#      id is the one before (the guests never rebooted), and vm0 reaches vm1 over the network;
#      then `vm ckpt -F DIR` checkpoints the restored cluster over the first checkpoint, and
#   D. that second checkpoint restores too (it needs nothing of the first), through vm batch -r;
#   after each job, nothing remains on the nodes.
#
# usage: ckpt_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=ckpt_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

OUT=$("$SANDBOX" up --nodes 2 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm"
HOME_VM=/home/vmuser  # the user's home as the user sees it

# What each VM holds: its file on disk, and a process whose only state is in memory.
cat >"$HOME_SRC/ckpt-setup" <<'SCRIPT'
#!/bin/sh
set -u
out=$HOME/probe-$1
mkdir -p "$out"
for vm in vm0 vm1; do
  vm ssh $vm "echo disk-of-$vm >/data/ckpt-file && sync" || exit 10
  vm ssh $vm 'setsid sh -c "echo \$\$ >/tmp/counter.pid; i=0; while :; do i=\$((i+1)); echo \$i >/tmp/count; sleep 1; done" \
              </dev/null >/dev/null 2>&1 & sleep 1' || exit 11
done
sleep 3
SCRIPT
# What each VM holds now: the file, the counter's pid and count, the boot id, the addresses.
cat >"$HOME_SRC/ckpt-probe" <<'SCRIPT'
#!/bin/sh
set -u
out=$HOME/probe-$1
mkdir -p "$out"
for vm in vm0 vm1; do
  vm ssh $vm 'cat /data/ckpt-file; pid=$(cat /tmp/counter.pid); echo $pid; kill -0 $pid && echo alive;
              cat /tmp/count; cat /proc/sys/kernel/random/boot_id' >"$out/$vm" 2>&1
done
vm list | awk 'NR > 1 { print $1, $4 }' >"$out/list"  # NAME, ADDRESS
vm ssh vm0 'ping -c 1 -W 5 vm1 >/dev/null && echo vm1-reachable' >"$out/ping" 2>&1
SCRIPT
cat >"$HOME_SRC/ckpt-then-wait" <<'SCRIPT'
#!/bin/sh
vm ckpt $2 "$HOME/$1"
echo "vm ckpt exit $?"
sleep 600
echo "script ran to its end"
SCRIPT
# vm batch's host script takes no arguments.
printf '#!/bin/sh\nexec "$HOME/ckpt-probe" d\n' >"$HOME_SRC/ckpt-probe-d"
chmod 755 "$HOME_SRC/ckpt-setup" "$HOME_SRC/ckpt-probe" "$HOME_SRC/ckpt-then-wait" "$HOME_SRC/ckpt-probe-d"

# --- A. checkpoint
as_user vm alloc -N 2 --timeout 300 -E './ckpt-setup a && ./ckpt-probe a && ./ckpt-then-wait ckpt' tiny:2
expect_rc "A: vm alloc ends with status 0 once the cluster is checkpointed" 0
expect_out "A: vm ckpt reports the checkpoint" "^2 VMs checkpointed to $HOME_VM/ckpt \([0-9]+ MiB, paused [0-9.]+ s\); the cluster stops now"
echo "figures: $(grep -oE '^2 VMs checkpointed to [^;]*' <<<"$OUT")"

expect_out "A: vm alloc says the cluster was checkpointed" "the cluster was checkpointed to $HOME_VM/ckpt"
grep -q "script ran to its end" <<<"$OUT" && fail "A: the script ran on" || pass "A: the script was stopped with the cluster"
files=$(cd "$HOME_SRC/ckpt" 2>/dev/null && ls | tr '\n' ' ')
[[ $files == "checkpoint.json disk-vm0.qcow2 disk-vm1.qcow2 memory-vm0 memory-vm1 " ]] &&
  pass "A: the checkpoint holds the manifest and each VM's disk and memory" || fail "A: checkpoint files: $files"
leftovers=$(ls -A "$HOME_SRC" | grep -E '^\.ckpt\.' || true)
[[ -z $leftovers ]] && pass "A: no partial directory beside it" || fail "A: left beside it: $leftovers"
python3 - "$HOME_SRC/ckpt/checkpoint.json" <<'PY' && pass "A: checkpoint.json describes the cluster" || fail "A: checkpoint.json"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["format"] == 1 and c["resolved"]["definition"] == "tiny:2", c
assert [v["rank"] for v in c["vms"]] == [0, 1] and all(v["accel"] == "tcg" and v["memory"]["size"] > 0 for v in c["vms"]), c
assert c["network_id"] > 0
PY
for vm in vm0 vm1; do
  [[ $(head -n 1 "$HOME_SRC/probe-a/$vm" 2>/dev/null) == "disk-of-$vm" ]] && grep -q '^alive$' "$HOME_SRC/probe-a/$vm" &&
    pass "A: $vm had its file and its counting process" || fail "A: $vm before: $(tr '\n' '|' <"$HOME_SRC/probe-a/$vm" 2>&1)"
done
check_nodes_clean "A: after the checkpoint"

# --- B. refusals
as_user vm ckpt "$HOME_VM/ckpt"
expect_rc "B: vm ckpt into an existing checkpoint without -F is refused" 2
expect_out "B: saying to give -F" "exists: give -F"
as_user sh -c 'mkdir -p ckpt-partial && cp ckpt/memory-vm0 ckpt-partial/ && vm alloc -r ckpt-partial -E true'
expect_rc "B: a partial checkpoint is refused" 4
expect_out "B: as only part of one" "only part of one"
as_user sh -c 'cp -r ckpt ckpt-short && truncate -s -4096 ckpt-short/memory-vm1 && vm alloc -r ckpt-short -E true'
expect_rc "B: a truncated checkpoint is refused before anything is queued" 3
expect_out "B: naming the damaged file" "checkpoint $HOME_VM/ckpt-short is damaged: memory-vm1 has [0-9]+ bytes"
as_user vm alloc -r ckpt -E true tiny:3
expect_rc "B: DEF of another cluster is refused" 2
expect_out "B: saying which cluster the checkpoint is" "is a checkpoint of cluster tiny:2, not tiny:3"
as_user vm alloc -r ckpt --image user:x -E true
expect_rc "B: overrides are refused on a restore" 2
# Same size, one byte changed: only the node's sha256 sees it; vm1 is not resumed.
as_user sh -c 'cp -r ckpt ckpt-flipped && printf "\377" | dd of=ckpt-flipped/memory-vm1 bs=1 seek=100000 conv=notrunc status=none &&
  vm alloc -N 2 --timeout 120 -r ckpt-flipped -E "echo restored-from-damage"'
[[ $RC != 0 ]] && pass "B: a checkpoint damaged in place fails the restore (exit $RC)" || fail "B: the damaged checkpoint was restored"
# vm boot's own line, from vm1's launch-error: srun can drop vm-launch's when it kills the step.
expect_out "B: the node finds the damaged file" \
  "^vm1: never started: vm-launch failed on node[0-9]+: .*memory-vm1 has sha256 [0-9a-f]+ where [0-9a-f]+ was written"
grep -q "^restored-from-damage" <<<"$OUT" && fail "B: the script ran on a damaged cluster" || pass "B: the script did not run"
as_user rm -rf ckpt-partial ckpt-short ckpt-flipped
check_nodes_clean "B: after the refused restores"

# --- C. restore, check, checkpoint again over the first (-F)
as_user vm alloc -N 2 --timeout 300 -r "$HOME_VM/ckpt" -E './ckpt-probe c && ./ckpt-then-wait ckpt -F'
expect_rc "C: the restored cluster ran and was checkpointed again" 0
expect_out "C: vm ckpt -F replaced the first checkpoint" "^2 VMs checkpointed to $HOME_VM/ckpt "
for vm in vm0 vm1; do
  mapfile -t a <"$HOME_SRC/probe-a/$vm"; mapfile -t c <"$HOME_SRC/probe-c/$vm"
  [[ ${c[0]:-} == "disk-of-$vm" ]] && pass "C: $vm's file written before the checkpoint is there" || fail "C: $vm: ${c[*]:-nothing}"
  [[ ${c[1]:-} == "${a[1]}" && ${c[2]:-} == alive ]] && pass "C: $vm's counting process runs on with its pid ${a[1]}" ||
    fail "C: $vm's process: before ${a[*]}, after ${c[*]:-nothing}"
  [[ ${c[3]:-0} -ge ${a[3]} ]] && pass "C: $vm counts on from ${a[3]} (now ${c[3]:-?}), not from 1" || fail "C: $vm's count: ${a[3]} -> ${c[3]:-?}"
  [[ ${c[4]:-} == "${a[4]}" ]] && pass "C: $vm did not boot again (same boot id)" || fail "C: $vm's boot id: ${a[4]} -> ${c[4]:-?}"
done
diff "$HOME_SRC/probe-a/list" "$HOME_SRC/probe-c/list" >/dev/null &&
  pass "C: same names and addresses: $(tr '\n' ' ' <"$HOME_SRC/probe-c/list")" ||
  fail "C: addresses differ: $(tr '\n' ' ' <"$HOME_SRC/probe-a/list") -> $(tr '\n' ' ' <"$HOME_SRC/probe-c/list")"
grep -q vm1-reachable "$HOME_SRC/probe-c/ping" && pass "C: vm0 reaches vm1 over the restored network" ||
  fail "C: vm0 -> vm1: $(cat "$HOME_SRC/probe-c/ping")"
check_nodes_clean "C: after the restore"

# --- D. the second checkpoint, through vm batch -r: it needs nothing of the first.
as_user vm batch -N 2 --timeout 300 -r "$HOME_VM/ckpt" -E ckpt-probe-d --wait --output=d.out
expect_rc "D: vm batch -r of the re-checkpointed cluster" 0
for vm in vm0 vm1; do
  mapfile -t a <"$HOME_SRC/probe-a/$vm"; mapfile -t d <"$HOME_SRC/probe-d/$vm" 2>/dev/null
  [[ ${d[0]:-} == "disk-of-$vm" && ${d[1]:-} == "${a[1]}" && ${d[2]:-} == alive && ${d[4]:-} == "${a[4]}" ]] &&
    pass "D: $vm resumed again with its file, its process and its boot id" || fail "D: $vm: ${d[*]:-nothing}; $(tail -n 5 "$HOME_SRC/d.out" 2>&1)"
done
check_nodes_clean "D: after the batch restore"
