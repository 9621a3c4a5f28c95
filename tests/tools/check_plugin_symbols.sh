#!/bin/bash
# spank_vm.so is loaded into srun, sbatch, salloc, slurmd and slurmstepd, and cannot be linked
# with --no-undefined (the spank_* and slurm_* functions come from the host process). So this
# checks what the linker could not: every undefined symbol is the host's (spank_*, slurm_*), a
# versioned one of a library it needs (libc, libstdc++, libgcc), or yaml-cpp's; and its
# shared libraries are those only: no libfmt.so (fmt is header-only in the plugin), no libslurm.
# Usage: check_plugin_symbols.sh spank_vm.so
set -uo pipefail
so=$1
command -v readelf >/dev/null && command -v c++filt >/dev/null || { echo "SKIP: readelf or c++filt missing"; exit 77; }
[[ -f $so ]] || { echo "FAIL: no such file $so"; exit 1; }
failures=0
needed=$(readelf -dW "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "needs: $(tr '\n' ' ' <<<"$needed")"
while read -r lib; do
  case $lib in
    libstdc++.so.* | libm.so.* | libgcc_s.so.* | libc.so.* | libyaml-cpp.so.*) ;;
    *) echo "FAIL: spank_vm.so needs $lib"; failures=$((failures + 1)) ;;
  esac
done <<<"$needed"
# Undefined, non-weak, unversioned symbols: the host's and yaml-cpp's only.
stray=$(readelf --dyn-syms -W "$so" | awk '$7 == "UND" && $5 != "WEAK" && $8 != "" && $8 !~ /@/ { print $8 }' |
  c++filt | grep -vE '^(spank_|slurm_)|YAML::' || true)
if [[ -n $stray ]]; then
  echo "FAIL: undefined symbols nothing will provide when Slurm loads the plugin:"
  sed 's/^/  /' <<<"$stray"
  failures=$((failures + 1))
fi
((failures)) && exit 1
echo "spank_vm.so: dependencies and undefined symbols as expected"
