#!/usr/bin/env bash
# tests/system/sandbox_test.sh - system test of scripts/sandbox, the one-machine Slurm cluster
# that the other system tests and newcomers use: bring-up, jobs as the unprivileged user across
# three namespaced nodes, idempotence, `run` semantics, and a tear-down that leaves nothing.
#
# usage: sandbox_test.sh [REPO_ROOT]     (default: two levels above this file)
# Needs root. Exit status: 0 all checks passed, 1 a check failed, 77 skipped (not root).
# Uses a private state directory, so it can run next to another sandbox.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SANDBOX=$ROOT/scripts/sandbox
NODES=3

# pass, fail, check, check_eq, wait_for, test_summary
# shellcheck source=../lib/check_lib.sh
source "$ROOT/tests/lib/check_lib.sh"

if (($(id -u) != 0)); then
  echo "SKIP: sandbox_test needs root (namespaces, daemons)"
  exit 77
fi
[[ -x $SANDBOX ]] || { echo "FAIL: $SANDBOX is not executable"; exit 1; }

STATE=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-test.XXXXXX")
export SLURM_VM_SANDBOX_DIR=$STATE
down_done=0

# What the sandbox and its daemons say, for a failure's report.
diagnostics() {
  [[ -d $STATE/log ]] || return 0
  "$SANDBOX" status 2>&1 | sed 's/^/  status| /'
  local f
  for f in "$STATE"/log/*; do
    [[ -s $f ]] && { echo "  --- $f"; tail -n 15 "$f" | sed 's/^/  | /'; }
  done
}

# Whatever happens, take the sandbox down; on failure show what the daemons said first.
cleanup() {
  local rc=$?
  if ((down_done == 0)); then
    if ((fails > 0 || rc != 0)); then diagnostics; fi
    "$SANDBOX" down >/dev/null 2>&1 || echo "FAIL: 'sandbox down' in cleanup failed; state left in $STATE"
  fi
  test_summary sandbox_test "$rc"
  exit $?
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Runs the sandbox command; sets OUT (stdout+stderr) and RC.
sb() {
  OUT=$("$SANDBOX" "$@" 2>&1)
  RC=$?
}

# Prints "pid:starttime" for a live (non-zombie) process, nothing otherwise.
proc_word() {
  local line f
  line=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  read -ra f <<<"${line##*) }"
  [[ ${f[0]} == [ZX] ]] || echo "$1:${f[19]}"
}

# --- bring-up --------------------------------------------------------------------------------
sb up --bare --nodes "$NODES"
if ((RC != 0)); then
  fail "sandbox up --nodes $NODES (rc=$RC): $OUT"
  exit 1
fi
pass "sandbox up --nodes $NODES"

sb run -- srun -Q -N"$NODES" hostname   # -Q: no "queued" notes while an epilog runs
check_eq "srun -N$NODES hostname as the sandbox user lists node1..node3 (rc=$RC)" \
  "node1 node2 node3 " "$(sort -u <<<"$OUT" | tr '\n' ' ')"

sb up --bare
check_eq "a second 'up' succeeds" 0 "$RC"
sb up --bare --nodes "$NODES"
check_eq "a second 'up --nodes $NODES' succeeds" 0 "$RC"
sb up --bare --nodes 2
if ((RC == 1)) && [[ $OUT == *down* ]]; then
  pass "'up --nodes 2' on a 3-node sandbox fails and says to run down"
else
  fail "'up --nodes 2' on a 3-node sandbox: rc=$RC, output: $OUT"
fi

# --- run -------------------------------------------------------------------------------------
sb run --node node2 -- hostname
check_eq "run --node node2 -- hostname" node2 "$OUT"
sb run -- id -un
check_eq "run -- id -un (default user)" vmuser "$OUT"
sb run -- sh -c 'exit 7'
check_eq "run propagates the exit status" 7 "$RC"
sb run -- hostname
check_eq "run without --node runs on the login node" login "$OUT"
sb run -- srun -Q -N1 -w node3 sh -c 'hostname >from-job.txt; pwd'
check_eq "a job runs in the user's home" /home/vmuser "$OUT"
sb run -- cat from-job.txt
check_eq "the home is shared between a node and the login node" node3 "$OUT"
sb run --node node1 -- ovs-vsctl br-exists br-int
check_eq "node1 has its own OVS with br-int at the standard path" 0 "$RC"
sb run --node node3 -- getent hosts node1
check_eq "node names resolve inside the nodes" 10.77.0.11 "${OUT%% *}"
if [[ -f $ROOT/templates/templates.yaml ]]; then
  sb run --node node2 -- cmp /etc/slurm-vm/templates.yaml "$ROOT/templates/templates.yaml"
  check_eq "nodes see the repository's site configuration at /etc/slurm-vm" 0 "$RC"
fi
sb status
check_eq "status says up" 0 "$RC"
OUT=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- "$SANDBOX" status 2>&1)
RC=$?
if ((RC == 1)) && [[ $OUT == *root* ]]; then pass "non-root is refused"; else fail "non-root: rc=$RC, output: $OUT"; fi

# --- tear-down -------------------------------------------------------------------------------
# What must disappear: the daemons (pidfiles), every process in the sandbox's namespaces
# (slurmscriptd, slurmstepd, ...) and the namespaces themselves.
sb status
prefix=$(awk '$1 == "namespaces" {print $3}' <<<"$OUT")
[[ $prefix == svm-* ]] || fail "status does not show the namespace prefix: $OUT"
mapfile -t namespaces < <(ip netns list | awk -v p="$prefix" 'index($1, p) == 1 {print $1}')
check_eq "$NODES+1 namespaces with prefix $prefix" $((NODES + 1)) "${#namespaces[@]}"
declare -A seen=()
collect() {
  local w
  w=$(proc_word "$1")
  [[ -n $w ]] && seen[$w]=1
}
while read -r pidfile; do collect "$(cat "$pidfile")"; done < <(find "$STATE" -name '*.pid')
for ns in "${namespaces[@]}"; do
  for pid in $(ip netns pids "$ns"); do collect "$pid"; done
done
words=("${!seen[@]}")
# munged, slurmctld, and per node slurmd, ovsdb-server, ovs-vswitchd
if ((${#words[@]} >= 2 + 3 * NODES)); then
  pass "collected ${#words[@]} sandbox processes"
else
  fail "only ${#words[@]} sandbox processes found before down"
fi

((fails == 0)) || diagnostics
sb down
down_done=1
check_eq "sandbox down (output: $OUT)" 0 "$RC"

left=()
for w in "${words[@]}"; do
  now=$(proc_word "${w%%:*}")
  [[ -n $now && $now == "$w" ]] && left+=("${w%%:*}($(cat "/proc/${w%%:*}/comm" 2>/dev/null))")
done
check_eq "no sandbox process remains" "" "${left[*]}"
check_eq "no namespace with prefix $prefix remains" \
  "" "$(ip netns list | awk -v p="$prefix" 'index($1, p) == 1' | tr '\n' ' ')"
check_eq "no svm- link in the root network namespace" 0 "$(ip -o link show | grep -c 'svm-')"
if [[ -e $STATE ]]; then fail "state directory $STATE still exists"; else pass "state directory removed"; fi
sb down
check_eq "a second 'down' succeeds" 0 "$RC"
