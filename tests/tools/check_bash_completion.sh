#!/bin/bash
# packaging/bash-completion/vm against the vm program of this build: verbs, a verb's options,
# sub-verbs, and template names for `vm alloc` (the system templates of tests/data's sandbox
# configuration). Needs bash-completion's _init_completion (skips without it).
# Usage: check_bash_completion.sh VM_BINARY COMPLETION_FILE TEMPLATES_DIR
set -uo pipefail
vm=$1 completion=$2 sysconf=$3
bc=/usr/share/bash-completion/bash_completion
[[ -r $bc ]] || { echo "SKIP: bash-completion is not installed"; exit 77; }
bin=$(mktemp -d /tmp/svm-completion.XXXXXX)
trap 'rm -rf "$bin"' EXIT
ln -s "$vm" "$bin/vm"
failures=0

# complete WORD... : the COMPREPLY of `vm WORD...` with the cursor at the end of the last word.
complete_words() {
  PATH=$bin:$PATH SLURM_VM_SYSCONFDIR=$sysconf SLURM_VM_USERCONFDIR=$bin/none bash -c '
    source "$1"; source "$2"; shift 2
    COMP_WORDS=(vm "$@"); COMP_CWORD=$#
    COMP_LINE="vm $*"; COMP_POINT=${#COMP_LINE}
    _vm; printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$bc" "$completion" "$@"
}

expect() {
  local want=$1; shift
  local got
  got=$(complete_words "$@" | tr '\n' ' ')
  if [[ " $got " != *" $want "* ]]; then
    echo "FAIL: vm $* <TAB>: expected '$want' among: $got"
    failures=$((failures + 1))
  fi
}
refuse() {
  local unwanted=$1; shift
  local got
  got=$(complete_words "$@" | tr '\n' ' ')
  if [[ " $got " == *" $unwanted "* ]]; then
    echo "FAIL: vm $* <TAB>: did not expect '$unwanted' among: $got"
    failures=$((failures + 1))
  fi
}

expect alloc ''
expect batch b
expect template ''
refuse --nodes ''
expect --cpus-per-vm alloc --
expect --nodes alloc -c 4 --n
expect --wait batch --
expect --jobid ssh --
refuse --wait alloc --
expect list image ''
expect import image im
expect show template ''
expect base alloc ''
expect base,base alloc base,
expect base alloc -c 4 b
((failures)) && exit 1
echo "bash completion: verbs, options, sub-verbs and template names as vm --help and vm template list give them"
