#!/usr/bin/env bash
# tests/system/doctor_test.sh - `vm doctor` on a fully set-up sandbox: a node reports ready (exit
# 0), with what this machine really has for KVM and the IOMMU (here: TCG only, no IOMMU); the
# same through Slurm for both nodes with -w, in text and JSON; and a node whose system
# configuration is broken reports NOT READY (exit 8) with the file to fix.
#
# usage: doctor_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=doctor_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"

OUT=$("$SANDBOX" up --nodes 2 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm"

as_root_on node1 vm doctor
expect_rc "vm doctor on node1: ready" 0
expect_out "it says so" "^node1: ready \("
for check in config slurm plugin plugin-abi prolog epilog prolog-flags qemu ovs ovs-datapath nftables ip-forward \
  forward-policy state-dirs hugepages; do
  expect_out "$check is ok" "^  ok +$check "
done
expect_out "the plugin is this build's, required" "ok +plugin +.*spank_vm.so .*required"

# KVM and the IOMMU as this machine has them, told apart independently of vm doctor.
if [[ -d /sys/module/kvm_pvm && ! -d /sys/module/kvm_intel && ! -d /sys/module/kvm_amd ]] || [[ ! -c /dev/kvm ]]; then
  expect_out "kvm: only TCG here (no usable KVM on this machine)" "^  WARN +kvm +only TCG"
else
  expect_out "kvm: reported" "^  (ok +kvm +KVM usable|WARN +kvm +only TCG)"
fi
if [[ -n $(ls -A /sys/class/iommu 2>/dev/null) ]]; then
  expect_out "iommu: this machine has one" "skip +iommu +no VFIO network configured \(an IOMMU here\)"
else
  expect_out "iommu: this machine has none" "skip +iommu +no VFIO network configured \(no IOMMU here\)"
fi

# Through Slurm, from the login node: one srun task per node, reports gathered.
as_root_on login vm doctor -w node1,node2
expect_rc "vm doctor -w node1,node2: both ready" 0
expect_out "node1 reported" "^node1: ready"
expect_out "node2 reported" "^node2: ready"
# stdout only: srun says on stderr when the job waits for the previous one's epilog.
OUT=$(timeout 120 "$SANDBOX" run --user root -- vm doctor -w node1,node2 --json 2>/dev/null)
RC=$?
expect_rc "vm doctor -w --json" 0
if python3 -c 'import json, sys; r = json.load(sys.stdin); assert sorted(x["host"] for x in r) == ["node1", "node2"]; assert all(x["ready"] for x in r)' <<<"$OUT" 2>/dev/null; then
  pass "--json: an array with both nodes' reports, ready"
else
  fail "--json: $OUT"
fi

# A broken system configuration: NOT READY, exit 8, the file named.
mkdir -p "$STATE/broken-conf"
cp "$STATE/etc/slurm-vm/"*.yaml "$STATE/broken-conf/"
printf 'nat-rssh:\n  type: ethernet\n  settings: {mtu: lots}\n' >"$STATE/broken-conf/networks.yaml"
as_root_on node1 env SLURM_VM_SYSCONFDIR="$STATE/broken-conf" vm doctor
expect_rc "a broken networks.yaml: not ready" 8
expect_out "it says so" "^node1: NOT READY"
expect_out "naming the file" "FAIL +config +.*broken-conf/networks.yaml"
