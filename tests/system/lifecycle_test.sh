#!/usr/bin/env bash
# tests/system/lifecycle_test.sh - the day-to-day verbs on a 2-node sandbox, as the sandbox
# user, inside `vm alloc -N 2 -E probe tiny:2` (vm0 on node1, vm1 on node2; the login node is
# neither, so every QEMU socket is reached through `srun --overlap` on the VM's node):
#   console --log (boot log), console (a command typed on the serial console answers),
#   exec through the guest agent (output, error output, status, stdin, on either node),
#   monitor-cmd on one VM and on a set, reset (the guest boots again: new boot id, uptime below
#   the time since the reset), dump (an ELF core), nc as ssh's ProxyCommand, ps, and the errors
#   for VMs that do not exist. After the job: the disk overlays are gone, the console logs stay
#   and `vm ps --ended` still lists the cluster; nothing remains on the nodes.
#
# usage: lifecycle_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=lifecycle_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

OUT=$("$SANDBOX" up --nodes 2 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm"

# `vm console` on a real terminal: a pty, raw mode, the banner, a command typed as keys, then
# Ctrl-] detaches and vm exits 0 while the VM keeps running.
cat >"$HOME_SRC/console-tty" <<'PY'
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp("vm", ["vm", "console", sys.argv[1]])
buf = b""
def read_until(pattern, seconds):
    global buf
    end = time.time() + seconds
    while time.time() < end:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return False
            if not data:
                return False
            buf += data
            if pattern in buf:
                return True
    return False
banner = read_until(b"Ctrl-] detaches", 30)
for attempt in range(3):
    os.write(fd, b"echo TTY$((6 * 7))\r")
    if read_until(b"TTY42", 10):
        break
answered = b"TTY42" in buf
os.write(fd, b"\x1d")
detached = read_until(b"detached", 10)
status = None
end = time.time() + 10
while time.time() < end and status is None:
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
    else:
        time.sleep(0.2)
ok = banner and answered and detached and status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
print("RESULT console tty %s" % ("ok" if ok else "FAILED: banner=%s answered=%s detached=%s status=%r last=%r" %
                                 (banner, answered, detached, status, buf[-160:])))
PY
chown vmuser: "$HOME_SRC/console-tty"

cat >"$HOME_SRC/life-probe" <<'PROBE'
#!/bin/sh
result() { echo "RESULT $*"; }
vm list
# SSH answers before the guest has printed `ready` (it starts its agent in between): the log
# must show it within a minute, and the agent is up from then on.
i=0
until vm console --log vm0 | grep -q 'slurm-vm-tiny: ready' && vm console --log vm1 | grep -q 'slurm-vm-tiny: ready'; do
  i=$((i + 1)); [ $i -gt 60 ] && break; sleep 1
done
vm console --log vm0 | grep -q 'slurm-vm-tiny: init' && [ $i -le 60 ] && result "console --log ok" || result "console --log FAILED"
out=$(vm monitor-cmd vm0 info status)
[ "$out" = "VM status: running" ] && result "monitor-cmd one ok" || result "monitor-cmd one FAILED: $out"
out=$(vm monitor-cmd 'vm[0-1]' info status | sort | tr '\n' '|')
[ "$out" = "vm0: VM status: running|vm1: VM status: running|" ] && result "monitor-cmd set ok" || result "monitor-cmd set FAILED: $out"
for vm in vm0 vm1; do
  # busybox init starts the console's shell just after `ready`: a line typed before is lost.
  for try in 1 2 3; do
    out=$(printf 'echo CONSOLE$((6 * 7))\n' | vm console $vm)
    echo "$out" | grep -q CONSOLE42 && break
    sleep 2
  done
  echo "$out" | grep -q CONSOLE42 && result "console $vm ok" || result "console $vm FAILED: $(echo "$out" | tail -n 3 | tr '\n' '|')"
done
/usr/bin/python3 "$HOME/console-tty" vm1
vm monitor-cmd vm1 info status | grep -q running && result "vm1 runs after the console detached ok" || result "vm1 runs after the console detached FAILED"
out=$(ssh -F "$SLURM_VM_JOB_DIR/ssh_config" -o ProxyCommand='vm nc %n' vm0 hostname 2>&1)
[ "$out" = vm0 ] && result "nc as ProxyCommand ok" || result "nc as ProxyCommand FAILED: $out"
vm ps | grep -qE "^$SLURM_JOB_ID +.* tiny:2 +2 " && result "ps ok" || result "ps FAILED: $(vm ps | tr '\n' '|')"
vm ps --json | grep -q "\"definition\": \"tiny:2\"" && result "ps --json ok" || result "ps --json FAILED"
# The disk overlays: on the node-local path pcocc's PCOCC_TMPDIR names, held by QEMU only
# (unlinked before it started), so nothing of them is ever left on a disk.
qpid=$(pgrep -u "$(id -u)" -f 'qemu-system-x86_64 -name vm0,' | head -n 1)
fds=$(ls -l "/proc/$qpid/fd" 2>&1)
echo "$fds" | grep -q "$PCOCC_TMPDIR/svm-vm0-[0-9]*.qcow2 (deleted)" && result "overlay on the node-local path, unlinked ok" || result "overlay on the node-local path, unlinked FAILED: $(echo "$fds" | tr '\n' '|')"
[ -z "$(ls -A "$PCOCC_TMPDIR" 2>/dev/null)" ] && [ ! -e "$SLURM_VM_JOB_DIR/vm0/disk.qcow2" ] && result "no overlay file on any disk ok" || result "no overlay file on any disk FAILED: $(ls -A "$PCOCC_TMPDIR" "$SLURM_VM_JOB_DIR/vm0" 2>&1 | tr '\n' ' ')"
# Job selection outside the allocation's environment: by name (pcocc's -J), and the user's only
# running cluster when nothing names one.
out=$(env -u SLURM_JOB_ID vm list -J lifejob 2>&1)
echo "$out" | grep -q "^vm1 " && result "list -J NAME ok" || result "list -J NAME FAILED: $(echo "$out" | tr '\n' '|')"
out=$(env -u SLURM_JOB_ID vm list 2>&1)
echo "$out" | grep -q "^vm1 " && result "the only running cluster is the default ok" || result "the only running cluster is the default FAILED: $(echo "$out" | tr '\n' '|')"
out=$(env -u SLURM_JOB_ID vm list -J nosuch 2>&1); rc=$?
[ $rc = 4 ] && echo "$out" | grep -q "no running virtual cluster named nosuch" && result "an unknown -J NAME is not found ok" || result "an unknown -J NAME is not found FAILED: $rc $out"

out=$(vm exec vm0 -- sh -c 'echo "exec out $(hostname)"; echo "exec err" >&2; exit 3' 2>"$HOME/exec.err"); rc=$?
[ "$out" = "exec out vm0" ] && [ "$(cat "$HOME/exec.err")" = "exec err" ] && [ $rc = 3 ] &&
  result "exec output and status ok" || result "exec output and status FAILED: '$out' '$(cat "$HOME/exec.err")' exit $rc"
out=$(vm exec vm1 -- hostname) && [ "$out" = vm1 ] && result "exec on the other node ok" || result "exec on the other node FAILED: $out"
out=$(echo piped | vm exec -i vm1 -- cat) && [ "$out" = piped ] && result "exec with stdin ok" || result "exec with stdin FAILED: $out"
before=$(vm ssh vm1 cat /proc/sys/kernel/random/boot_id)
t0=$(date +%s)
vm reset vm1 | grep -qx 'vm1: reset' && result "reset says so ok" || result "reset says so FAILED"
i=0
while ! vm ssh -o ConnectTimeout=3 vm1 true </dev/null >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -gt 60 ] && break; sleep 2
done
after=$(vm ssh vm1 cat /proc/sys/kernel/random/boot_id)
up=$(vm ssh vm1 cut -d. -f1 /proc/uptime)
since=$(($(date +%s) - t0))
[ -n "$after" ] && [ "$after" != "$before" ] && [ "$up" -le "$since" ] &&
  result "reset rebooted vm1 ok (uptime $up s, reset $since s ago)" || result "reset FAILED: boot id $before -> $after, uptime $up, since $since"
vm monitor-cmd vm1 info status | grep -q running && result "vm1 runs after the reset ok" || result "vm1 runs after the reset FAILED"

rm -f "$HOME/vm0.core"
vm dump vm0 vm0.core && [ "$(head -c 4 "$HOME/vm0.core" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] &&
  result "dump ok ($(stat -c %s "$HOME/vm0.core") bytes)" || result "dump FAILED"
vm dump vm0 vm0.core >/dev/null 2>&1 && result "dump over a file FAILED" || result "dump refuses to overwrite ok"
rm -f "$HOME/vm0.core"
vm reset vm7 >/dev/null 2>&1; rc=$?
[ $rc = 4 ] && result "reset vm7 not found ok" || result "reset vm7 FAILED: exit $rc"
vm monitor-cmd vm0 >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && result "monitor-cmd without a command ok" || result "monitor-cmd without a command FAILED: exit $rc"
PROBE
chmod 755 "$HOME_SRC/life-probe"
chown vmuser: "$HOME_SRC/life-probe"

as_user env PCOCC_TMPDIR=/tmp/svm-lifecycle-scratch vm alloc -N 2 -J lifejob --timeout 300 -E ./life-probe tiny:2
expect_rc "vm alloc -N 2 -J lifejob -E life-probe tiny:2" 0
job=$(sed -n 's/^salloc: Granted job allocation \([0-9]*\)$/\1/p' <<<"$OUT")
grep -qE "^vm0 +tiny +node1 " <<<"$OUT" && grep -qE "^vm1 +tiny +node2 " <<<"$OUT" &&
  pass "vm0 on node1, vm1 on node2 (the login node is neither)" || fail "unexpected layout: $(grep -E '^vm[01] ' <<<"$OUT" | tr '\n' ' ')"
results=$(grep '^RESULT ' <<<"$OUT")
for what in "exec output and status" "exec on the other node" "exec with stdin" "console --log" "monitor-cmd one" "monitor-cmd set" "console vm0" "console vm1" "console tty" "vm1 runs after the console detached" "nc as ProxyCommand" \
  "ps" "ps --json" "overlay on the node-local path, unlinked" "no overlay file on any disk" "list -J NAME" "the only running cluster is the default" "an unknown -J NAME is not found" "reset says so" "reset rebooted vm1" "vm1 runs after the reset" "dump" \
  "dump refuses to overwrite" "reset vm7 not found" "monitor-cmd without a command"; do
  line=$(grep -E "^RESULT $what( ok| \(|.* ok)" <<<"$results" | head -n 1)
  [[ -n $line && $line != *FAILED* ]] && pass "${line#RESULT }" || fail "$what: $(grep "^RESULT $what" <<<"$results")"
done

# After the job (and its epilog): logs kept, disks gone.
wait_for "the job ended" 60 no_jobs_left
jobdir=$HOME_SRC/.local/state/slurm-vm/job-$job
[[ -s $jobdir/vm0/console.log && -s $jobdir/vm1/vm.json ]] && pass "console logs and vm.json kept after the job" || fail "job dir lost its logs: $(ls -R "$jobdir" | tr '\n' ' ')"
left=$(find "$jobdir" -name 'disk.qcow2' -o -name 'seed.iso' -o -name '*.sock' | tr '\n' ' ')
[[ -z $left ]] && pass "the disk overlays, seeds and sockets are gone" || fail "left in the job dir: $left"
as_user vm ps --ended
expect_out "vm ps --ended lists the ended cluster" "^$job +.*tiny:2 .*ENDED"
as_root_on login vm ps -u vmuser --ended
expect_out "root's vm ps -u vmuser --ended reads vmuser's job directory (pcocc's -u)" "^$job +vmuser +.*tiny:2 .*ENDED"
as_user vm ps -u root
expect_rc "vm ps -u ANOTHER_USER is refused to a user who is not root" 2
expect_out "it says why" "private to them"
as_user vm console -j "$job" --log vm1
expect_out "vm console --log works after the job" "slurm-vm-tiny: ready"
check_nodes_clean "after the job"
rm -rf /tmp/svm-lifecycle-scratch
