#!/bin/bash
# One version everywhere a package takes it from: CMakeLists.txt's project(), debian/changelog's
# top entry and the RPM spec's Version; and the Slurm series the RPM spec reads from
# slurm_version.h is packaging/slurm-series' (the Debian rules use that script).
# Usage: check_package_versions.sh REPO_ROOT
set -uo pipefail
root=$1
failures=0
cmake_version=$(sed -n 's/^project(slurm-vm VERSION \([0-9.]*\) .*/\1/p' "$root/CMakeLists.txt")
deb_version=$(sed -n '1s/^slurm-vm (\([^)]*\)).*/\1/p' "$root/debian/changelog")
spec_version=$(sed -n 's/^Version:[[:space:]]*//p' "$root/packaging/rpm/slurm-vm.spec")
[[ -n $cmake_version ]] || { echo "FAIL: no project version in CMakeLists.txt"; exit 1; }
if [[ ${deb_version%%-*} != "$cmake_version" ]]; then
  echo "FAIL: debian/changelog says $deb_version, CMakeLists.txt $cmake_version"
  failures=$((failures + 1))
fi
if [[ $spec_version != "$cmake_version" ]]; then
  echo "FAIL: the RPM spec says $spec_version, CMakeLists.txt $cmake_version"
  failures=$((failures + 1))
fi
if command -v rpmspec >/dev/null; then
  series=$("$root/packaging/slurm-series") next=$("$root/packaging/slurm-series" --next)
  parsed=$(rpmspec -P "$root/packaging/rpm/slurm-vm.spec" 2>&1)
  if ! grep -qx "Requires: *slurm >= $series" <<<"$parsed" || ! grep -qx "Conflicts: *slurm >= $next" <<<"$parsed"; then
    echo "FAIL: the RPM spec's Slurm relations are not $series and $next: $(grep -E '^(Requires|Conflicts): *slurm ' <<<"$parsed" | tr '\n' ' ')"
    failures=$((failures + 1))
  fi
else
  echo "note: no rpmspec (package rpm): the spec's Slurm series is not checked"
fi
((failures)) && exit 1
echo "version $cmake_version in CMakeLists.txt, debian/changelog and the RPM spec"
