#!/usr/bin/env bash
# Runs one fuzz target for SECONDS from its seed corpus, which it only reads: the inputs it
# finds go to a scratch directory, removed afterwards. Prints libFuzzer's last status line (its
# exec count) and exits non-zero on any finding (a crash input is kept in ARTIFACTS, default
# the current directory, as crash-<sha1>).
#   run_fuzz_target.sh TARGET CORPUS SECONDS [ARTIFACTS]
set -euo pipefail
target=$1 corpus=$2 seconds=$3 artifacts=${4:-$PWD}
scratch=$(mktemp -d /tmp/svm-fuzz-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/corpus"
mkdir -p "$artifacts"
# -rss_limit_mb and -timeout: a parser that allocates without bound or loops on a small input
# is a finding (an attacker's input, a job option). -max_len: the files are small.
set +e
SVM_FUZZ_SCRATCH=$scratch "$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=16384 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 "$scratch/corpus" "$corpus" >"$scratch/log" 2>&1
rc=$?
set -e
grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$scratch/log" | tail -2 || true
if ((rc != 0)); then
  tail -60 "$scratch/log"
  echo "fuzz: $(basename "$target") found a problem (exit $rc); the input is in $artifacts" >&2
  exit "$rc"
fi
