#!/bin/bash
# spank_vm.so tied to the Slurm release it was built for (src/spank/series_check.cpp): loaded
# into a process whose libslurm is another API (another release series) it says so, naming the
# release it was built for and the fix, before Slurm's own terse refusal; loaded into the same
# API it says nothing.
# Usage: check_plugin_series.sh PROBE spank_vm.so LIBSLURM_API SLURM_SERIES_SCRIPT
set -uo pipefail
probe=$1 so=$2 api=$3 series_script=$4
built=$("$series_script") || { echo "FAIL: $series_script"; exit 1; }
failures=0

run() { "$probe" "$so" "$1" 2>&1; }

# slurm_api_version() of the same release, with lower bytes other than 0.
out=$(run "$(printf '0x%02x0102' "$api")") || { echo "FAIL: the probe could not load the plugin: $out"; exit 1; }
if [[ -n $out ]]; then
  echo "FAIL: loaded into libslurm API $api, the plugin printed: $out"
  failures=$((failures + 1))
fi

other=$((api + 1))
expected="built for Slurm $built (libslurm API $api) but is loaded by a Slurm with libslurm API $other"
out=$(run "$(printf '0x%02x0000' "$other")")
if [[ $out != *"slurm-vm: error: "*"$expected"*"docs/install.md"* ]]; then
  echo "FAIL: loaded into libslurm API $other, expected a message with '$expected', got: ${out:-nothing}"
  failures=$((failures + 1))
fi
((failures)) && exit 1
echo "spank_vm.so (Slurm $built, libslurm API $api): silent in its release, names it and the fix in another"
