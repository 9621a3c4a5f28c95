# tests/lib/sandbox_test_lib.sh - what the system tests (tests/system/*_test.sh) share: a
# private sandbox cluster in a temp directory, removed on exit; running commands as the sandbox
# user; and the check that nothing of any job is left on any node. The PASS/FAIL bookkeeping is
# check_lib.sh's, as in every shell test.
# Sourced after the caller sets TEST_NAME; needs root (the caller exits 77 otherwise).

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SANDBOX=$ROOT/scripts/sandbox
# shellcheck source=check_lib.sh
source "$ROOT/tests/lib/check_lib.sh"

STATE=$(mktemp -d "${TMPDIR:-/tmp}/$TEST_NAME.XXXXXX")
export SLURM_VM_SANDBOX_DIR=$STATE
HOME_SRC=$STATE/home/vmuser
BG_PIDS=()

sandbox_test_cleanup() {
  local rc=$? pid
  for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  if ((fails > 0 || rc != 0)); then
    for f in "$STATE"/log/slurmd-node*.log; do [[ -f $f ]] && { echo "--- $f"; tail -n 15 "$f"; }; done
  fi
  "$SANDBOX" down >/dev/null 2>&1 || echo "FAIL: sandbox down failed; state left in $STATE"
  test_summary "$TEST_NAME" "$rc"
  exit $?
}
trap sandbox_test_cleanup EXIT
trap 'exit 1' INT TERM

# as_user CMD...: runs CMD as the sandbox user on the login node; sets OUT and RC.
as_user() { OUT=$(timeout 600 "$SANDBOX" run -- "$@" 2>&1); RC=$?; }
# as_root_on NODE CMD...: runs CMD as root on NODE (login, node1, ...); sets OUT and RC.
as_root_on() {
  if [[ $1 == login ]]; then
    shift; OUT=$(timeout 120 "$SANDBOX" run --user root -- "$@" 2>&1); RC=$?
  else
    local node=$1; shift; OUT=$(timeout 120 "$SANDBOX" run --node "$node" -- "$@" 2>&1); RC=$?
  fi
}
# as_user_bg LOGFILE CMD...: the same in the background; the pid is in BG_PID (killed on exit).
as_user_bg() {
  local log=$1; shift
  timeout 600 "$SANDBOX" run -- "$@" >"$log" 2>&1 &
  BG_PID=$!
  BG_PIDS+=("$BG_PID")
}
expect_rc() { # DESCRIPTION WANT
  if [[ $RC == "$2" ]]; then pass "$1"; else fail "$1: exit code $RC, expected $2; output:"; echo "$OUT" | tail -n 25; fi
}
expect_out() { # DESCRIPTION PATTERN (grep -E)
  if grep -qE -- "$2" <<<"$OUT"; then pass "$1"; else fail "$1: no /$2/ in the output:"; echo "$OUT" | tail -n 25 | cat -A | cut -c1-200; fi
}
no_jobs_left() { [[ -z $("$SANDBOX" run -- squeue -h 2>/dev/null) ]]; }

# Nothing of any job may remain on a node (node1..node$SANDBOX_NODES, default 2): TAPs, DHCP
# veths, OVS ports, job flows, NAT, ledgers, dnsmasq (the node's own: started in its mount
# namespace, jailed in a network namespace of its own; other tests may run theirs meanwhile; a
# stopped one may linger as a zombie until PID 1 reaps it), QEMU.
check_nodes_clean() {
  local k out
  # The epilog runs after the allocation ends (job state CG): wait until Slurm has no job left.
  wait_for "$1: every job ended" 60 no_jobs_left
  for ((k = 1; k <= ${SANDBOX_NODES:-2}; k++)); do
    out=$("$SANDBOX" run --node "node$k" -- sh -c '
      ip -o link show 2>/dev/null | grep -o " svm[0-9a-f]*[.][0-9a-f]*\| svmgw[0-9a-f]*\| svmdh[0-9a-f]*" ;
      ovs-vsctl list-ports br-int | grep -v "^svm-gre$" ;
      ovs-ofctl dump-flows br-int | grep -o "cookie=0x5356[0-9a-f]*" | grep -v "cookie=0x5356000000000000$" ;
      nft list table ip slurm_vm 2>/dev/null | grep dnat ;
      ls /run/slurm-vm/ledger 2>/dev/null ;
      ls /run/slurm-vm/jobs 2>/dev/null ;
      ls /run/slurm-vm/state 2>/dev/null | grep -v "^ip_forward.saved$" ;
      ls /run/slurm-vm/dnsmasq 2>/dev/null ;
      self=$(readlink /proc/self/ns/mnt) ;
      for p in $(pgrep -x dnsmasq) ; do
        [ "$(readlink /proc/$p/ns/mnt 2>/dev/null)" = "$self" ] && ! grep -q "^State:.*Z" /proc/$p/status 2>/dev/null &&
          echo "dnsmasq $p" ;
      done ;
      true' 2>&1)
    if [[ -z $out ]]; then pass "$1: node$k is clean"; else fail "$1: node$k keeps: $(echo $out)"; fi
  done
  if pgrep -u vmuser -x qemu-system-x86 >/dev/null; then fail "$1: a QEMU of vmuser still runs"; else pass "$1: no QEMU left"; fi
}
