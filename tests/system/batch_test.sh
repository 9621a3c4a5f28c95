#!/usr/bin/env bash
# tests/system/batch_test.sh - `vm batch` as a CI job uses it, on a 1-node sandbox, as the
# unprivileged sandbox user:
#   - a pcocc user's ~/.pcocc templates work; a site's pcocc batch.yaml alone is refused;
#   - `vm batch --wait -b SCRIPT tiny:1` exits with the VM script's status, 0 and non-zero, and
#     the job's output file holds what the script printed inside vm0;
#   - a host script (-E) runs on the job's node next to the VM script, and its status counts
#     when the VM script succeeded; --junit writes a report of both, valid against the schema;
#   - a Jenkins-style shell script (`set -e`, vm batch --wait) fails when its VM script fails
#     and passes when it passes;
#   - the cluster is resolved once, at submission: a template edited (to a missing image) while
#     the job waits in the queue changes none of its VMs;
#   - with no script, the job runs until its VM powers off, then ends with 0;
#   - the scripts never sit in a predictable path: nothing named slurm-vm-batch.* is left in
#     the node's /tmp, and no job, TAP or QEMU remains.
#
# usage: batch_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=batch_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

SANDBOX_NODES=1
OUT=$("$SANDBOX" up --nodes "$SANDBOX_NODES" 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm"

put() { # NAME CONTENT: an executable file of the sandbox user's
  printf '%s' "$2" >"$HOME_SRC/$1"
  chmod 755 "$HOME_SRC/$1"
  chown vmuser: "$HOME_SRC/$1"
}
put ok.sh $'#!/bin/sh\necho "vm-script says hello from $(hostname) as $(id -u)"\nexit 0\n'
put fail.sh $'#!/bin/sh\necho "vm-script about to fail on $(hostname)"\nexit 7\n'
put host.sh $'#!/bin/sh\necho "host-script on $(hostname) in job $SLURM_JOB_ID"\nexit 5\n'
put jenkins.sh $'#!/bin/sh\nset -e\nvm batch --wait -o "$HOME/jenkins-%j.out" -b "$1" tiny:1\necho "jenkins: the test passed"\n'

# job_output PATTERN: the content of the newest output file matching PATTERN in the user's home.
job_output() { cat "$(ls -t "$HOME_SRC"/$1 2>/dev/null | head -n 1)" 2>/dev/null; }
bg_done() { ! kill -0 "$1" 2>/dev/null; }

# A pcocc user on the first day: no ~/.config/slurm-vm, their templates in ~/.pcocc (read in
# its place, by the CLI and by the plugin at submission).
install -d -o vmuser -g vmuser "$HOME_SRC/.pcocc"
printf 'pcoccish:\n  inherits: tiny\n  description: from ~/.pcocc\n' >"$HOME_SRC/.pcocc/templates.yaml"
chown vmuser: "$HOME_SRC/.pcocc/templates.yaml"
as_user vm batch --wait -o '%x-%j.out' -J pcoccjob -b ok.sh pcoccish:1
expect_rc "a template of ~/.pcocc/templates.yaml boots (no slurm-vm directory)" 0
OUT=$(job_output 'pcoccjob-*.out')
expect_out "and ran the script in vm0" "vm-script says hello from vm0"
rm -rf "$HOME_SRC/.pcocc"
# A site that copied pcocc's batch.yaml and wrote no slurm-vm.yaml: refused before anything
# is queued, naming both files (its batch-args would otherwise be dropped without a word).
printf 'type: slurm\nsettings:\n  batch-args: ["--partition=vm"]\n' >"$STATE/etc/slurm-vm/batch.yaml"
as_user vm batch --wait -b ok.sh tiny:1
rm -f "$STATE/etc/slurm-vm/batch.yaml"
expect_rc "a site's pcocc batch.yaml without slurm-vm.yaml: configuration error" 3
expect_out "naming both files" "batch.yaml.*slurm-vm.yaml"

as_user vm batch --wait -o '%x-%j.out' -J okjob -b ok.sh tiny:1
expect_rc "vm batch --wait -b ok.sh: exit 0" 0
expect_out "sbatch said which job it submitted" "Submitted batch job [0-9]+"
OUT=$(job_output 'okjob-*.out')
expect_out "the job's output holds the VM script's output (as root in vm0)" "vm-script says hello from vm0 as 0"

as_user vm batch --wait -o '%x-%j.out' -J failjob -b fail.sh tiny:1
expect_rc "vm batch --wait -b fail.sh: the VM script's exit status 7" 7
OUT=$(job_output 'failjob-*.out')
expect_out "the failing job's output holds its output" "vm-script about to fail on vm0"

# Both scripts, with a JUnit report (docs/ci.md): one test case per script, checked against
# the schema of what vm batch writes.
install -d -o vmuser -g vmuser "$HOME_SRC/reports"
as_user vm batch --wait --junit reports/host.xml -o '%x-%j.out' -J hostjob -E host.sh -b ok.sh tiny:1
expect_rc "host script and VM script: the host script's status 5 (the VM script succeeded)" 5
OUT=$(job_output 'hostjob-*.out')
expect_out "the host script ran on the job's node" "host-script on node1 in job [0-9]+"
expect_out "and the VM script in vm0" "vm-script says hello from vm0"
REPORT=$HOME_SRC/reports/host.xml
if [[ -f $REPORT ]]; then
  OUT=$(xmllint --noout --schema "$ROOT/tests/data/junit/junit.xsd" "$REPORT" 2>&1)
  RC=$?
  expect_rc "the JUnit report is valid against tests/data/junit/junit.xsd" 0
  OUT=$(cat "$REPORT")
  expect_out "the report has two test cases, one failed" '<testsuites name="vm batch tiny:1" tests="2" failures="1" errors="0"'
  expect_out "host-script failed with its status" '<failure message="host-script exited with status 5"'
  expect_out "with its output" "host-script on node1 in job [0-9]+"
  expect_out "vm-script passed with its output" "vm-script says hello from vm0 as 0"
  [[ $(stat -c %U "$REPORT") == vmuser ]] && pass "the report is the user's" || fail "the report belongs to $(stat -c %U "$REPORT")"
else
  fail "no JUnit report at $REPORT"
fi
left=$(ls -A "$HOME_SRC/reports" | grep -v '^host.xml$')
[[ -z $left ]] && pass "no results directory left next to the report" || fail "left next to the report: $left"
as_user vm batch --junit reports/nowait.xml -b ok.sh tiny:1
expect_rc "--junit without --wait is a usage error" 2

as_user ./jenkins.sh fail.sh
[[ $RC != 0 ]] && pass "a Jenkins-style script fails when its VM script fails (exit $RC)" || fail "the Jenkins-style script passed with a failing VM script"
grep -q "jenkins: the test passed" <<<"$OUT" && fail "set -e went on after the failed job" || pass "it stopped at the failed job"
as_user ./jenkins.sh ok.sh
expect_rc "a Jenkins-style script passes when its VM script passes" 0
expect_out "and went on after the job" "jenkins: the test passed"

# Resolved once, at submission (resolved_cluster.hpp): the job starts 6 s later, after its
# template was broken; its VM still boots with the template as it was when submitted.
USER_TEMPLATES=$HOME_SRC/.config/slurm-vm/templates.yaml
install -d -o vmuser -g vmuser "$HOME_SRC/.config" "$HOME_SRC/.config/slurm-vm"
printf 'pinned:\n  inherits: tiny\n' >"$USER_TEMPLATES" && chown vmuser: "$USER_TEMPLATES"
PINNED_LOG=$(mktemp)
as_user_bg "$PINNED_LOG" vm batch --wait --begin=now+6 -o '%x-%j.out' -J pinnedjob -b ok.sh pinned:1
queued() { "$SANDBOX" run -- squeue -h -n pinnedjob 2>/dev/null | grep -q .; }
wait_for "the delayed job is queued" 30 queued
printf 'pinned:\n  inherits: tiny\n  image: /nonexistent/edited-after-submission.qcow2\n' >"$USER_TEMPLATES"
wait "$BG_PID"; RC=$?; OUT=$(cat "$PINNED_LOG"); rm -f "$PINNED_LOG" "$USER_TEMPLATES"
expect_rc "a template edited while its job waited in the queue changed none of its VMs" 0
OUT=$(job_output 'pinnedjob-*.out')
expect_out "the VM booted with the template as submitted and ran the script" "vm-script says hello from vm0"

# No script: the cluster is the job until its VMs power off (pcocc's batch -w), then the job
# ends with 0. The VM is found by its job name (-J) from the login node.
UP_LOG=$(mktemp)
as_user_bg "$UP_LOG" vm batch --wait -o '%x-%j.out' -J upjob tiny:1
up_ready() { "$SANDBOX" run -- vm list -J upjob 2>/dev/null | grep -qE '^vm0 .* ready'; }
if wait_for "the script-less job's VM is ready" 300 up_ready; then
  as_user vm monitor-cmd -J upjob vm0 system_powerdown
  expect_rc "vm monitor-cmd -J upjob vm0 system_powerdown" 0
  if wait_for "the script-less job ended" 120 bg_done "$BG_PID"; then
    wait "$BG_PID"; RC=$? OUT=$(cat "$UP_LOG")
    expect_rc "a batch job with no script ends with 0 once its VM powered off" 0
    OUT=$(job_output 'upjob-*.out')
    expect_out "its output says so" "job [0-9]+: every VM powered off"
  fi
fi
rm -f "$UP_LOG"

as_user vm batch -b ok.sh
expect_rc "vm batch without DEF is a usage error" 2
as_user vm batch --wait -b missing.sh tiny:1
expect_rc "a missing VM script is refused before anything is submitted" 2

as_root_on node1 sh -c 'ls -d /tmp/slurm-vm-batch.* 2>/dev/null; true'
[[ -z $OUT ]] && pass "no staged script left in node1's /tmp" || fail "node1 keeps $OUT"
check_nodes_clean "after the batch jobs"
