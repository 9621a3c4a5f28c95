#!/usr/bin/env bash
# tests/system/soak_test.sh - the short version of bench/soak that CI runs: 10 jobs on a 2-node
# sandbox of its own, 3 at a time, each kind of fault once (QEMU killed, scancel during the
# prolog, the boot and the epilog, slurmstepd killed, slurmd restarted, ovs-vswitchd restarted
# with vm-node-restore, the epilog run twice, a node crash followed by a new job there), then
# one job without a fault. After every wave the nodes must be as they were before the first job
# (no leak), no node may have been drained, and every job must end as its fault says it should
# (docs/reliability.md). The 200-job run is `sudo bench/soak`.
#
# usage: soak_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build
# (SLURM_VM_BUILD_DIR).
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
# shellcheck source=../lib/check_lib.sh
source "$ROOT/tests/lib/check_lib.sh"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/soak_test.XXXXXX")
soak_pid=''
finish() {
  local rc=$?
  stop_pid "$soak_pid"
  if ((fails > 0 || rc != 0)); then
    for f in "$OUT"/job-*.log; do
      [[ -f $f ]] && grep -q "^--- outcome" "$f" && { echo "--- $f"; tail -n 20 "$f"; }
    done
  fi
  rm -rf "$OUT"
  test_summary soak_test "$rc"
  exit $?
}
trap finish EXIT
trap 'exit 1' INT TERM

# A fixed seed: the same sizes and moments on every run (the faults are each kind once anyway).
SLURM_VM_REPO=$ROOT bash "$ROOT/bench/soak" --jobs 10 --parallel 3 --each-fault-once --seed 20261204 \
  --out "$OUT" >"$OUT/stdout" 2>&1 &
soak_pid=$!
wait "$soak_pid"
rc=$?
soak_pid=''
cat "$OUT/stdout"
summary=$OUT/soak.log
check_eq "the soak ran its 10 jobs" "jobs: 10" "$(grep -o '^jobs: [0-9]*' "$summary")"
check_eq "each fault kind was injected once" \
  "faults: none 1 qemu-kill 1 scancel-prolog 1 scancel-boot 1 scancel-epilog 1 stepd-kill 1 slurmd-restart 1 ovs-restart 1 epilog-twice 1 node-crash 1" \
  "$(grep '^faults:' "$summary")"
check_eq "nothing was left on any node after any wave" "leaks: 0" "$(grep '^leaks:' "$summary")"
check_eq "no node was drained" "drained: 0 (0 after user-caused faults only)" "$(grep '^drained:' "$summary")"
check_eq "every job ended as its fault says it should" "unexpected outcomes: 0" "$(grep '^unexpected outcomes:' "$summary")"
check_eq "bench/soak's exit status" 0 "$rc"
