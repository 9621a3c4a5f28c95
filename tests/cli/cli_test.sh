#!/usr/bin/env bash
# Golden tests of the `vm` command's output and exit codes on fixture configurations: what a
# user sees for `vm template list/show`, --help, --version and the usual mistakes. No root, no
# Slurm. Regenerate the goldens after an intended change with: UPDATE_GOLDEN=1 cli_test.sh VM
#   usage: cli_test.sh PATH_TO_VM [REPO_ROOT]
set -uo pipefail
vm=$1
root=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
golden=$root/tests/cli/golden
fixtures=$root/tests/data/config
# pass, fail, test_summary
# shellcheck source=../lib/check_lib.sh
source "$root/tests/lib/check_lib.sh"

# check_golden NAME EXPECTED_RC CMD...: runs CMD with the fixture config, compares stdout+stderr (with
# the repository path replaced by @ROOT@) and the exit code with golden/NAME.
check_golden() {
  local name=$1 want_rc=$2
  shift 2
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  out=${out//$root/@ROOT@}
  if [[ ${UPDATE_GOLDEN:-0} == 1 ]]; then
    printf '%s\n' "$out" >"$golden/$name"
  fi
  if [[ $rc != "$want_rc" ]]; then
    fail "$name: exit code $rc, expected $want_rc"; return
  fi
  if ! diff -u "$golden/$name" <(printf '%s\n' "$out"); then
    fail "$name: output differs from $golden/$name"; return
  fi
  pass "$name"
}

pcocc() { SLURM_VM_SYSCONFDIR=$fixtures/pcocc/system SLURM_VM_USERCONFDIR=$fixtures/pcocc/user "$@"; }
mkdir -p "$golden"

check_golden version 0 "$vm" --version
check_golden no-verb 2 "$vm"
check_golden unknown-verb 2 "$vm" frobnicate
check_golden template-list 0 pcocc "$vm" template list
check_golden template-list-json 0 pcocc "$vm" template list --json
check_golden template-show-inherited 0 pcocc "$vm" template show mycentos
check_golden template-show-json 0 pcocc "$vm" template show --json mycentos
check_golden template-show-missing 4 pcocc "$vm" template show nosuch
check_golden template-show-no-arg 2 pcocc "$vm" template show
check_golden template-bad-yaml 3 env SLURM_VM_SYSCONFDIR=$fixtures/bad/template-bad-type \
  SLURM_VM_USERCONFDIR=/nonexistent "$vm" template list
check_golden template-cycle 3 env SLURM_VM_SYSCONFDIR=$fixtures/bad/template-cycle \
  SLURM_VM_USERCONFDIR=/nonexistent "$vm" template list
check_golden shipped-templates 0 env SLURM_VM_SYSCONFDIR=$root/templates SLURM_VM_USERCONFDIR=/nonexistent \
  "$vm" template list
check_golden ssh-outside-job 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" ssh vm0 true
check_golden alloc-bad-definition 3 pcocc "$vm" alloc mycentos:0
check_golden alloc-unknown-template 4 pcocc "$vm" alloc nosuch:2
check_golden alloc-full-node-with-cpus 2 pcocc "$vm" alloc -c 4 wholenode:2
check_golden alloc-full-node-mixed 3 pcocc "$vm" alloc wholenode:2,mycentos:1
check_golden batch-bad-definition 3 pcocc "$vm" batch mycentos:0
check_golden alloc-sizes-with-nodes 2 pcocc "$vm" alloc -N 2 mycentos:1:c=2,mycentos:2
check_golden batch-no-definition 2 pcocc "$vm" batch -w
check_golden batch-missing-script 2 pcocc "$vm" batch -b /nonexistent/test.sh mycentos:1
check_golden reset-outside-job 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" reset vm0
check_golden console-outside-job 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" console --log vm0
check_golden image-bad-name 2 pcocc "$vm" image show 'no/such'
check_golden save-outside-job 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" save vm0
# pcocc's flag habits: its long names work, and where a flag means something else here the
# refusal says what to type instead (docs/migrating-from-pcocc.md).
check_golden pcocc-alloc-script 4 pcocc "$vm" alloc --alloc-script true nosuch:2
check_golden pcocc-batch-script 2 pcocc "$vm" batch --batch-script /nonexistent/test.sh mycentos:1
check_golden pcocc-exec-index 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" exec -i 1 hostname
check_golden pcocc-exec-default-vm 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" exec hostname
check_golden pcocc-exec-user 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" exec -u alice vm0 -- id
check_golden pcocc-exec-script 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" exec -s vm0 -- ./run.sh
check_golden exec-no-command 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" exec vm1
check_golden pcocc-ssh-port 2 pcocc env -u SLURM_JOB_ID "$vm" ssh -p 8080 vm0
check_golden pcocc-ssh-port-22 2 pcocc env -u SLURM_JOB_ID PATH=/nonexistent "$vm" ssh -p 22 vm0 true
check_golden pcocc-scp-port 2 pcocc env -u SLURM_JOB_ID "$vm" scp -P 8080 f vm0:/tmp/
check_golden pcocc-image-import-fmt 2 pcocc "$vm" image import --fmt 'raw;x' /dev/null img
# Checkpoints (docs/checkpoint.md): what is refused before any job is looked at.
check_golden ckpt-exists 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" ckpt "$fixtures"
check_golden ckpt-force-over-other-files 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" ckpt -F "$fixtures/pcocc"
check_golden run-no-command 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" run -w vm0
check_golden run-bad-env 2 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" run -e 'A B=1' -- true
check_golden restart-no-checkpoint 4 pcocc "$vm" alloc -r /nonexistent/ckpt
check_golden restart-not-a-checkpoint 4 pcocc "$vm" batch -r "$fixtures/pcocc" mycentos:2
check_golden pcocc-user 4 env -u SLURM_JOB_ID PATH=/nonexistent "$vm" ssh --user svm-no-such-user vm0
check_golden pcocc-environment 4 pcocc env PCOCC_TMPDIR=/scratch PCOCC_SYSTEM_CONF_DIR=/etc/pcocc \
  PCOCC_NET_IB_PORT_GUID=0x1 "$vm" alloc nosuch:1
check_golden boot-outside-job 2 pcocc env -u SLURM_JOB_ID -u SLURM_JOB_NODELIST "$vm" boot -d mycentos:1

# --help of every verb must work (exit 0) and mention the verb.
for verb in alloc batch boot ssh scp list ps console exec reset monitor-cmd dump nc save ckpt run image template; do
  if "$vm" "$verb" --help 2>&1 | grep -q "$verb"; then pass "$verb --help"; else fail "$verb --help"; fi
done

test_summary cli_test
