#!/bin/bash
# The binaries that run as root (vm-prolog, vm-epilog, vm-node-restore), inside slurmd (the
# SPANK plugin) or as the user's tasks (vm-launch, vm) carry the usual distribution hardening
# (CMake option SLURM_VM_HARDEN): full RELRO (GNU_RELRO and BIND_NOW), PIE for executables, the
# stack protector, and, in optimized builds, fortified libc calls in the root helpers.
# Usage: check_hardening.sh [--fortify] ELF...   (--fortify: expect __*_chk calls in vm-prolog)
set -uo pipefail
fortify=0
[[ ${1:-} == --fortify ]] && { fortify=1; shift; }
command -v readelf >/dev/null || { echo "SKIP: readelf is missing"; exit 77; }
failures=0
bad() { echo "FAIL: $1"; failures=$((failures + 1)); }
for elf in "$@"; do
  name=$(basename "$elf")
  [[ -f $elf ]] || { bad "$name: no such file $elf"; continue; }
  dynamic=$(readelf -dW "$elf" 2>&1)
  grep -q 'GNU_RELRO' <<<"$(readelf -lW "$elf")" || bad "$name: no GNU_RELRO segment (-z relro)"
  grep -qE '\(BIND_NOW\)|FLAGS_1.*\bNOW\b' <<<"$dynamic" || bad "$name: not BIND_NOW (-z now)"
  if [[ $name != *.so ]]; then
    grep -qE 'FLAGS_1.*\bPIE\b' <<<"$dynamic" || bad "$name: not a position-independent executable"
  fi
  symbols=$(readelf --dyn-syms -W "$elf")
  grep -q '__stack_chk_fail' <<<"$symbols" || bad "$name: no stack protector (__stack_chk_fail)"
  if ((fortify)) && [[ $name == vm-prolog ]]; then
    grep -qE ' __[a-z0-9_]+_chk(@|$)' <<<"$symbols" || bad "$name: no fortified libc call (_FORTIFY_SOURCE)"
  fi
  echo "checked: $name"
done
if ((failures)); then echo "$failures hardening check(s) failed"; exit 1; fi
echo "hardening: all $# binaries pass"
