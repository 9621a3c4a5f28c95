#!/usr/bin/env bash
# tests/system/spank_test.sh - system test of the SPANK plugin spank_vm.so in the sandbox
# cluster (docs/spank.md): --vm-template on srun, sbatch (#SBATCH) and salloc; the
# SLURM_VM_TEMPLATE fallback; wrong definitions refused at submission with nothing reaching
# slurmctld or a node; the hand-off to Prolog=/Epilog= (SPANK_VM_TEMPLATE) and to the tasks
# (SLURM_VM_TEMPLATE); a value smuggled past the submission check drains no node; strict
# plugstack.conf arguments.
#
# usage: spank_test.sh [REPO_ROOT]     (default: two levels above this file)
# Environment: SLURM_VM_BUILD_DIR, the build tree holding src/spank/spank_vm.so (default
# <repo>/build/release, as for scripts/sandbox). Needs root. Exit status: 0 all checks passed,
# 1 a check failed, 77 skipped (not root). Uses a private sandbox, next to any other one.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SANDBOX=$ROOT/scripts/sandbox
BUILD=${SLURM_VM_BUILD_DIR:-$ROOT/build/release}
NODES=2
T_JOB=30 # seconds a job or its epilog may take before the test gives up on it

# pass, fail, check, check_eq, wait_for, test_summary
# shellcheck source=../lib/check_lib.sh
source "$ROOT/tests/lib/check_lib.sh"

if (($(id -u) != 0)); then
  echo "SKIP: spank_test needs root (the sandbox cluster)"
  exit 77
fi
[[ -x $SANDBOX ]] || { echo "FAIL: $SANDBOX is not executable"; exit 1; }
[[ -f $BUILD/src/spank/spank_vm.so ]] ||
  { echo "FAIL: $BUILD/src/spank/spank_vm.so is missing: build the spank_vm target (SLURM_VM_BUILD_DIR)"; exit 1; }

# Everything lives in WORK: the plugin (copied, so that the unprivileged user can load it
# whatever the build tree's permissions), the prolog/epilog hook and what it records, and the
# sandbox's state directory. Every directory above the state must be world-searchable.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/spank-test.XXXXXX")
chmod 0755 "$WORK"
export SLURM_VM_SANDBOX_DIR=$WORK/sandbox
PLUGIN=$WORK/spank_vm.so
HOOK=$WORK/hook
HOOK_LOG=$WORK/hooks.log
install -m 0755 "$BUILD/src/spank/spank_vm.so" "$PLUGIN"
: >"$HOOK_LOG"

# Prolog= and Epilog= (root, on each node): record what the plugin handed over. Always exit 0:
# a failing prolog drains the node.
cat >"$HOOK" <<EOF
#!/bin/sh
echo "\${SLURM_SCRIPT_CONTEXT%_slurmd} \$SLURM_JOB_ID \$SLURMD_NODENAME \${SPANK_VM_TEMPLATE:--}" >>$HOOK_LOG
exit 0
EOF
chmod 0755 "$HOOK"

diagnostics() {
  [[ -d $SLURM_VM_SANDBOX_DIR/log ]] || return 0
  echo "  --- $HOOK_LOG"
  sed 's/^/  | /' "$HOOK_LOG"
  local f
  for f in "$SLURM_VM_SANDBOX_DIR"/log/slurm*.log; do
    [[ -s $f ]] && { echo "  --- $f"; tail -n 15 "$f" | sed 's/^/  | /'; }
  done
}

cleanup() {
  local rc=$?
  if ((fails > 0 || rc != 0)); then diagnostics; fi
  "$SANDBOX" down >/dev/null 2>&1 || echo "FAIL: 'sandbox down' in cleanup failed; state left in $SLURM_VM_SANDBOX_DIR"
  rm -rf -- "$WORK"
  test_summary spank_test "$rc"
  exit $?
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Runs CMD as the sandbox user on the login node; sets OUT (stdout), ERR (stderr) and RC.
as_user() {
  OUT=$("$SANDBOX" run -- "$@" 2>"$WORK/stderr")
  RC=$?
  ERR=$(<"$WORK/stderr")
}

# What the hooks of KIND (prolog|epilog) recorded for job JOB: "node template;" per node,
# sorted. hook_tpl: the templates only, for one-node jobs (which land on either node).
hook_seen() { awk -v k="$1" -v j="$2" '$1 == k && $2 == j {print $3, $4}' "$HOOK_LOG" | sort | tr '\n' ';'; }
hook_tpl() { awk -v k="$1" -v j="$2" '$1 == k && $2 == j {print $4}' "$HOOK_LOG" | sort | tr '\n' ';'; }

# Waits until the hooks of KIND recorded N lines for JOB (the epilog runs after srun returns).
wait_hook() {
  local end=$((SECONDS + T_JOB))
  while (($(awk -v k="$1" -v j="$2" '$1 == k && $2 == j' "$HOOK_LOG" | wc -l) < $3)); do
    ((SECONDS < end)) || return 1
    sleep 0.1
  done
}

# Waits until job JOB has left the queue (sbatch --wait polls slowly).
wait_job_gone() {
  local end=$((SECONDS + T_JOB))
  while as_user squeue -h -j "$1" -o %i && [[ -n $OUT ]]; do
    ((SECONDS < end)) || return 1
    sleep 0.1
  done
}

# A job that prints "JOBID SLURM_VM_TEMPLATE" from each task, for the checks below.
# shellcheck disable=SC2016 # expanded by the task's shell
readonly SHOW='echo "$SLURM_JOB_ID ${SLURM_VM_TEMPLATE:--}"'

# --- bring-up ------------------------------------------------------------------------------
# --bare: none of the sandbox's own slurm-vm wiring; this test brings the plugin and hooks.
OUT=$("$SANDBOX" up --bare --nodes "$NODES" --prolog "$HOOK" --epilog "$HOOK" \
  --plugstack "required $PLUGIN sysconfdir=/etc/slurm-vm" 2>&1)
RC=$?
if ((RC != 0)); then
  fail "sandbox up with the plugin (rc=$RC): $OUT"
  exit 1
fi
pass "sandbox up with 'required spank_vm.so sysconfdir=/etc/slurm-vm' in plugstack.conf"

# --- the option ----------------------------------------------------------------------------
for cmd in srun sbatch salloc; do
  as_user "$cmd" --help
  if [[ $OUT == *"--vm-template=DEF"*"[slurm-vm]"* ]]; then pass "$cmd --help lists --vm-template"; else fail "$cmd --help: $OUT"; fi
done

as_user srun -N2 --vm-template=base:2 sh -c "$SHOW"
job=${OUT%% *}
check_eq "srun -N2 --vm-template=base:2: both tasks see SLURM_VM_TEMPLATE=base:2 (rc=$RC, stderr: $ERR)" \
  "$job base:2"$'\n'"$job base:2" "$OUT"
check_eq "the prolog saw SPANK_VM_TEMPLATE=base:2 on both nodes" "node1 base:2;node2 base:2;" "$(hook_seen prolog "$job")"
wait_hook epilog "$job" 2
check_eq "the epilog saw SPANK_VM_TEMPLATE=base:2 on both nodes" "node1 base:2;node2 base:2;" "$(hook_seen epilog "$job")"

as_user srun -N1 --vm-template=base sh -c "$SHOW"
job=${OUT%% *}
check_eq "--vm-template=base reaches the task as the canonical base:1 (stderr: $ERR)" "$job base:1" "$OUT"
check_eq "and the prolog as base:1" "base:1;" "$(hook_tpl prolog "$job")"

as_user srun -N1 sh -c "$SHOW"
job=${OUT%% *}
check_eq "without the option the task has no SLURM_VM_TEMPLATE (stderr: $ERR)" "$job -" "$OUT"
check_eq "and the prolog no SPANK_VM_TEMPLATE" "-;" "$(hook_tpl prolog "$job")"

# --- the environment fallback and the configuration used -----------------------------------
as_user env SLURM_VM_TEMPLATE=base:1 srun -N1 sh -c "$SHOW"
job=${OUT%% *}
check_eq "SLURM_VM_TEMPLATE=base:1 without the option: the task sees base:1 (stderr: $ERR)" "$job base:1" "$OUT"
check_eq "and the prolog base:1" "base:1;" "$(hook_tpl prolog "$job")"

as_user env SLURM_VM_TEMPLATE=nosuch:1 srun -N1 --vm-template=base:2 sh -c "$SHOW"
job=${OUT%% *}
check_eq "the option wins over SLURM_VM_TEMPLATE (stderr: $ERR)" "$job base:2" "$OUT"
check_eq "also for the prolog" "base:2;" "$(hook_tpl prolog "$job")"

as_user env -u SLURM_VM_SYSCONFDIR srun -N1 --vm-template=base:1 true
check_eq "without SLURM_VM_SYSCONFDIR the plugstack's sysconfdir= is used (stderr: $ERR)" 0 "$RC"
as_user env SLURM_VM_SYSCONFDIR=/nonexistent srun -N1 --vm-template=base:1 true
if ((RC != 0)) && [[ $ERR == *'unknown template "base"'* ]]; then
  pass "the user's SLURM_VM_SYSCONFDIR wins over sysconfdir= (as for the vm command)"
else
  fail "SLURM_VM_SYSCONFDIR=/nonexistent: rc=$RC, stderr: $ERR"
fi

# --- sbatch (#SBATCH line) and salloc ------------------------------------------------------
HOME_DIR=$SLURM_VM_SANDBOX_DIR/home/vmuser
write_user_file() { cat >"$HOME_DIR/$1" && chown vmuser:vmuser "$HOME_DIR/$1"; }
write_user_file good.sh <<'EOF'
#!/bin/sh
#SBATCH --vm-template=base:1
#SBATCH -N1
echo "batch ${SLURM_VM_TEMPLATE:--}"
srun sh -c 'echo "step ${SLURM_VM_TEMPLATE:--}"'
EOF
write_user_file bad.sh <<'EOF'
#!/bin/sh
#SBATCH --vm-template=nosuch:1
true
EOF

as_user sbatch --parsable -o good-%j.out good.sh
job=$OUT
if [[ $job =~ ^[0-9]+$ ]] && wait_job_gone "$job"; then
  check_eq "#SBATCH --vm-template=base:1: the batch script and its srun step see base:1" \
    "batch base:1"$'\n'"step base:1" "$(cat "$HOME_DIR/good-$job.out" 2>&1)"
  check_eq "the prolog saw base:1" "base:1;" "$(hook_tpl prolog "$job")"
else
  fail "sbatch good.sh: rc=$RC, output '$OUT', stderr: $ERR (or the job did not end within ${T_JOB} s)"
fi

# As for sbatch's own options, the command line wins over the script's #SBATCH line, and the
# line's value is not checked when the command line replaces it.
as_user sbatch --parsable -o good-%j.out --vm-template=base:2 bad.sh
job=$OUT
if [[ $job =~ ^[0-9]+$ ]] && wait_job_gone "$job"; then
  check_eq "sbatch --vm-template=base:2 wins over the script's '#SBATCH --vm-template=nosuch:1'" \
    "base:2;" "$(hook_tpl prolog "$job")"
else
  fail "sbatch --vm-template=base:2 bad.sh: rc=$RC, output '$OUT', stderr: $ERR"
fi

as_user salloc -N1 --vm-template=base:1 srun sh -c "$SHOW"
job=${OUT%% *}
check_eq "salloc --vm-template=base:1: the step sees base:1 (rc=$RC)" "$job base:1" "$OUT"
check_eq "the prolog saw base:1 at allocation" "base:1;" "$(hook_tpl prolog "$job")"
last_job=$job

# --- wrong definitions: refused before anything reaches slurmctld or a node -----------------
# Epilogs run after srun and salloc return: let every one finish before counting.
end=$((SECONDS + T_JOB))
until (($(grep -c '^prolog ' "$HOOK_LOG") == $(grep -c '^epilog ' "$HOOK_LOG"))) || ((SECONDS > end)); do
  sleep 0.1
done
hooks_before=$(wc -l <"$HOOK_LOG")
# refused DESCRIPTION EXPECTED-STDERR-PART CMD...
refused() {
  local what=$1 expect=$2
  shift 2
  as_user "$@"
  if ((RC != 0)) && [[ $ERR == *"$expect"* ]]; then
    pass "$what is refused at submission: ${ERR%%$'\n'*}"
  else
    fail "$what: rc=$RC, stderr: $ERR"
  fi
}
refused "srun --vm-template=nosuch:2" 'spank_vm: --vm-template: unknown template "nosuch" in cluster definition "nosuch:2"' \
  srun -N2 --vm-template=nosuch:2 true
refused "srun --vm-template=base:0" 'spank_vm: --vm-template: invalid cluster definition "base:0" at column 6: count must be at least 1' \
  srun -N1 --vm-template=base:0 true
refused "srun --vm-template=base:x" 'invalid cluster definition "base:x" at column 6: count "x" is not a positive integer' \
  srun -N1 --vm-template=base:x true
refused "srun --vm-template= (empty)" 'invalid cluster definition "" at column 1: the definition is empty' \
  srun -N1 --vm-template= true
refused "SLURM_VM_TEMPLATE=base:0 srun" 'spank_vm: SLURM_VM_TEMPLATE: invalid cluster definition "base:0"' \
  env SLURM_VM_TEMPLATE=base:0 srun -N1 true
refused "sbatch with #SBATCH --vm-template=nosuch:1" 'unknown template "nosuch"' sbatch -o /dev/null bad.sh
refused "sbatch --vm-template=base:0" 'count must be at least 1' sbatch -o /dev/null --vm-template=base:0 --wrap true
refused "salloc --vm-template=base:0" 'count must be at least 1' salloc -N1 --vm-template=base:0 true
check_eq "no prolog or epilog ran for the refused submissions" "$hooks_before" "$(wc -l <"$HOOK_LOG")"
as_user srun -N1 printenv SLURM_JOB_ID
check_eq "slurmctld received none of them: the next job id follows the last good job's" $((last_job + 1)) "$OUT"

# --- a value smuggled past the submission check ---------------------------------------------
# Slurm forwards _SLURM_SPANK_OPTION_<plugin>_<option> from the submitting environment to
# slurmstepd as the option, bypassing srun's and sbatch's check. slurmstepd must refuse it
# without failing the step: a failed batch step would drain the node.
SMUGGLE=_SLURM_SPANK_OPTION_spank_vm_vm_template=base:0
as_user env "$SMUGGLE" srun -N1 sh -c "$SHOW"
check_eq "a smuggled base:0 reaches no srun task (stderr: $ERR)" "-" "${OUT#* }"
as_user env "$SMUGGLE" sbatch --parsable -N1 -o smuggled-%j.out --wrap "$SHOW"
job=$OUT
if [[ $job =~ ^[0-9]+$ ]] && wait_job_gone "$job"; then
  check_eq "a smuggled base:0 reaches no batch script" "$job -" "$(cat "$HOME_DIR/smuggled-$job.out" 2>&1)"
else
  fail "sbatch with $SMUGGLE: rc=$RC, output '$OUT', stderr: $ERR"
fi
if grep -q "\[$job.batch\] error: spank_vm: --vm-template: invalid cluster definition \"base:0\"" \
  "$SLURM_VM_SANDBOX_DIR"/log/slurmd-node*.log; then
  pass "slurmstepd logged the smuggled value in the node's log"
else
  fail "no slurmstepd error about the smuggled value for job $job"
fi

# --- strict plugstack.conf arguments (client side; the daemons keep their configuration) ---
CLIENT=$WORK/client
install -d -m 0755 "$CLIENT"
sed "s|^PlugStackConfig=.*|PlugStackConfig=$CLIENT/plugstack.conf|" "$SLURM_VM_SANDBOX_DIR/etc/slurm.conf" >"$CLIENT/slurm.conf"
echo "required $PLUGIN sysconfidr=/etc/slurm-vm" >"$CLIENT/plugstack.conf"
chmod 0644 "$CLIENT"/*.conf
as_user env SLURM_CONF="$CLIENT/slurm.conf" srun -N1 true
if ((RC != 0)) && [[ $ERR == *'plugstack.conf argument "sysconfidr=/etc/slurm-vm": unknown key "sysconfidr"'* ]]; then
  pass "a misspelt plugstack.conf argument stops srun: ${ERR%%$'\n'*}"
else
  fail "misspelt plugstack.conf argument: rc=$RC, stderr: $ERR"
fi

# --- nothing was drained ---------------------------------------------------------------------
as_user sinfo -h -N -o '%N %T'
check_eq "no node is drained (sinfo: $(tr '\n' ' ' <<<"$OUT"))" 0 "$(grep -c drain <<<"$OUT")"
