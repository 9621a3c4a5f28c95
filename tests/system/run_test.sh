#!/usr/bin/env bash
# tests/system/run_test.sh - `vm run` on a 2-node sandbox (vm0 and vm1 on node1, vm2 on node2),
# as the sandbox user, inside `vm alloc -E probe tiny:3`: one command in the 3 VMs at once
# through their guest agents (the tiny guest's SSH is not used), each line prefixed with its VM,
# stdout and stderr kept apart, the exit status the worst (one VM fails); output streamed as it
# is written (a line arrives while the command still runs); a VM set; standard input broadcast;
# --cwd, --env and --user in the guest; --gather; --pty on one VM; no file of the output left
# in a guest; and the usage errors.
#
# usage: run_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=run_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

OUT=$("$SANDBOX" up --nodes 2 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm"

# `vm run --pty` on a real terminal.
cat >"$HOME_SRC/run-pty" <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp("vm", ["vm", "run", "--pty", "-w", "vm2", "--", "sh", "-c", "tty; echo PTY-OK"])
out = b""
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
sys.exit(os.waitstatus_to_exitcode(status))
PY
cat >"$HOME_SRC/run-probe" <<'SCRIPT'
#!/bin/sh
result() { echo "RESULT $*"; }
cd "$HOME"
vm run -- sh -c 'echo "out $(hostname)"; echo "err $(hostname)" >&2; [ "$(hostname)" != vm1 ] || exit 3' >run.out 2>run.err
rc=$?
[ $rc = 3 ] && result "the worst status wins ok" || result "the worst status wins FAILED: exit $rc"
[ "$(sort run.out | tr '\n' '|')" = "vm0: out vm0|vm1: out vm1|vm2: out vm2|" ] && result "stdout lines prefixed ok" ||
  result "stdout lines prefixed FAILED: $(tr '\n' '|' <run.out)"
grep -qx "vm1: err vm1" run.err && grep -qx "vm2: err vm2" run.err && ! grep -q "^vm.: out" run.err &&
  result "stderr kept apart ok" || result "stderr kept apart FAILED: $(tr '\n' '|' <run.err)"
grep -qx "vm: vm1 failed" run.err && result "the failed VM is named ok" || result "the failed VM is named FAILED: $(tr '\n' '|' <run.err)"

# Streamed: the first line is here while the command still runs.
vm run -w vm2 -- sh -c 'echo first; sleep 6; echo second' >stream.out 2>&1 &
bg=$!
i=0
while ! grep -q "^vm2: first" stream.out 2>/dev/null && [ $i -lt 40 ]; do sleep 0.25; i=$((i + 1)); done
if grep -q "^vm2: first" stream.out && ! grep -q second stream.out && kill -0 $bg 2>/dev/null; then
  result "output streamed ok (first line after ~$((i / 4)) s)"
else
  result "output streamed FAILED: $(tr '\n' '|' <stream.out)"
fi
wait $bg
grep -qx "vm2: second" stream.out && result "then the rest ok" || result "then the rest FAILED: $(tr '\n' '|' <stream.out)"

out=$(echo broadcast | vm run -i -w 'vm[1-2]' -- cat | sort | tr '\n' '|')
[ "$out" = "vm1: broadcast|vm2: broadcast|" ] && result "stdin broadcast to a set ok" || result "stdin broadcast to a set FAILED: $out"
out=$(vm run -w vm0 --cwd /data -e FOO=bar -e HOME -- sh -c 'echo "$(pwd) $FOO $HOME"')
[ "$out" = "vm0: /data bar $HOME" ] && result "cwd and env ok" || result "cwd and env FAILED: $out"
out=$(vm run -w vm0,vm2 --user nobody -- id -u 2>&1 | sort | tr '\n' '|')
[ "$out" = "vm0: 65534|vm2: 65534|" ] && result "user ok" || result "user FAILED: $out"
out=$(vm run --gather -w 'vm[0-1]' -- hostname)
[ "$(echo "$out" | tr '\n' '|')" = "==> vm0 <== (exit status 0)|vm0|==> vm1 <== (exit status 0)|vm1|" ] &&
  result "gather ok" || result "gather FAILED: $(echo "$out" | tr '\n' '|')"
out=$(/usr/bin/python3 "$HOME/run-pty" 2>&1); rc=$?
echo "$out" | grep -q "^/dev/pts/" && echo "$out" | grep -q "^PTY-OK" && [ $rc = 0 ] && result "pty ok" ||
  result "pty FAILED: exit $rc $(echo "$out" | tr '\n' '|')"
left=$(for v in vm0 vm1 vm2; do vm exec $v -- sh -c 'ls /tmp | grep -c slurm-vm-run'; done | tr '\n' '|')
[ "$left" = "0|0|0|" ] &&
  result "no output file left in the guests ok" || result "no output file left in the guests FAILED: $left"
vm run -w vm7 -- true >/dev/null 2>&1; rc=$?
[ $rc = 4 ] && result "an unknown VM is not found ok" || result "an unknown VM is not found FAILED: exit $rc"
vm run --pty -- true >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && result "pty on several VMs is refused ok" || result "pty on several VMs is refused FAILED: exit $rc"
vm run -w vm0 --timeout 2 -- sleep 30 >/dev/null 2>&1; rc=$?
[ $rc = 6 ] && result "timeout ok" || result "timeout FAILED: exit $rc"

# Interrupted, vm run stops the commands in the guests (what they started too: sh's sleep).
vm run -- sh -c 'echo started; sleep 297; echo not-stopped' >intr.out 2>intr.err &
bg=$!
i=0
while [ "$(grep -c ': started$' intr.out 2>/dev/null)" != 3 ] && [ $i -lt 80 ]; do sleep 0.25; i=$((i + 1)); done
kill -TERM $bg
t0=$(date +%s)
wait $bg; rc=$?
t=$(($(date +%s) - t0))
[ $rc = 143 ] && [ $t -lt 20 ] && ! grep -q not-stopped intr.out &&
  result "an interrupted vm run ends ok (exit $rc after $t s)" ||
  result "an interrupted vm run ends FAILED: exit $rc after $t s: $(tr '\n' '|' <intr.out) $(tr '\n' '|' <intr.err)"
left=$(vm run -- sh -c 'for f in /proc/[0-9]*/cmdline; do tr "\0" " " <"$f"; echo; done | grep -c "^sleep 297"' |
  sort | tr '\n' '|')
[ "$left" = "vm0: 0|vm1: 0|vm2: 0|" ] && result "and stops the commands in the guests ok" ||
  result "and stops the commands in the guests FAILED: $left"
SCRIPT
chmod 755 "$HOME_SRC/run-probe"

as_user vm alloc -N 2 --timeout 300 -E ./run-probe tiny:3
expect_rc "vm alloc with the probe" 0
results=$(grep '^RESULT ' <<<"$OUT")
for what in "the worst status wins" "stdout lines prefixed" "stderr kept apart" "the failed VM is named" \
  "output streamed" "then the rest" "stdin broadcast to a set" "cwd and env" "user" "gather" "pty" \
  "no output file left in the guests" "an unknown VM is not found" "pty on several VMs is refused" "timeout" \
  "an interrupted vm run ends" "and stops the commands in the guests"; do
  line=$(grep -E "^RESULT $what( ok| \(|.* ok)" <<<"$results" | head -n 1)
  [[ -n $line && $line != *FAILED* ]] && pass "${line#RESULT }" || fail "$what: $(grep "^RESULT $what" <<<"$results")"
done
check_nodes_clean "after vm run"
