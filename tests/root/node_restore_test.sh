#!/bin/bash
# vm-node-restore after a reboot, against the real kernel and a real Open vSwitch in a
# throw-away node (tests/lib/node_ns_lib.sh). Job 4301 ran before the "reboot": its ledger, its
# records and its kernel objects are gone (as /run and the kernel's state go in a reboot), but
# its ports are still rows of OVS's database, which lives on disk. Job 4302 still runs. Then
# ovs-vswitchd starts again (no flows) and vm-node-restore runs, as a site's ExecStartPost=
# does: job 4301's ports are removed, job 4302's are kept and its flows are back; a second run
# changes nothing. (The running-jobs part through Slurm: tests/system/hardening_test.sh.)
# Usage: node_restore_test.sh [REPO]   (SLURM_VM_BUILD_DIR: the build, default REPO/build)
# Exit 77 (skipped) without root or without the tools.
set -euo pipefail

REPO=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLURM_VM_BUILD_DIR:-$REPO/build}
PROLOG=$BUILD/src/prolog/vm-prolog
EPILOG=$BUILD/src/epilog/vm-epilog
RESTORE=$BUILD/src/prolog/vm-node-restore

[[ $(id -u) == 0 ]] || { echo "SKIP: needs root"; exit 77; }
for tool in ip nft ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl unshare; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing"; exit 77; }
done
[[ -x $PROLOG && -x $EPILOG && -x $RESTORE ]] || { echo "FAIL: build the helpers first ($BUILD)"; exit 1; }

NS=svmr-$$
TMP=$(mktemp -d /tmp/svmr-XXXXXX)
# shellcheck source=../lib/check_lib.sh
source "$REPO/tests/lib/check_lib.sh"
# shellcheck source=../lib/node_ns_lib.sh
source "$REPO/tests/lib/node_ns_lib.sh"
node_ns_test_exit_trap node_restore_test

restore() {  # vm-node-restore as root on the node; sets OUT and RC
  RC=0
  OUT=$(nsx env -i SLURM_VM_RUNDIR="$RUN" SLURM_VM_OVSDB_SOCKET="$OVS/db.sock" "$RESTORE" 2>&1) || RC=$?
}
ports_of() { vsctl list-ports br-int | grep -c -e "svm$1\\." -e "svmgw$1" -e "svmdh$1" || :; }

node_ns_start
check "prolog job 4301 (2 VMs here)" helper "$PROLOG" 4301 2 tiny:2 nodeA
check "prolog job 4302 (1 VM here)" helper "$PROLOG" 4302 1 tiny:1 nodeA
check_eq "job 4301 has 4 ports (2 TAPs, gateway, DNS veth)" 4 "$(ports_of 10cd)"
check_eq "job 4302 has 3 ports" 3 "$(ports_of 10ce)"

# The "reboot", for job 4301: its dnsmasq and devices gone with the kernel, its files with /run.
read -r dns_pid _ <"$RUN/dnsmasq/4301.pid"
kill -9 "$dns_pid"
for dev in $(nsx ip -o link show | grep -o 'svm\(gw\|dh\)\?10cd[.0-9a-f]*'); do nsx ip link del "$dev" 2>/dev/null || :; done
rm -rf "$RUN/ledger/4301.jsonl" "$RUN/state/4301".* "$RUN/jobs/4301" "$RUN/dnsmasq/4301".*
# ovs-vswitchd starts again: no flows at all, the database as it was.
stop_pidfile "$OVS/ovs-vswitchd.pid"
node_ns_start_vswitchd
check_eq "after the restart, job 4302 has no flows" 0 "$(flows_of 0x53560000000010ce)"
check_eq "job 4301's ports are still in OVS's database" 4 "$(ports_of 10cd)"

restore
check_eq "vm-node-restore: exit 0" 0 "$RC"
if grep -q "job 4301: removed its 4 port(s) from br-int" <<<"$OUT"; then pass "it names job 4301's ports it removed"; else fail "no word of job 4301's ports: $OUT"; fi
check_eq "job 4301's ports are gone" 0 "$(ports_of 10cd)"
check_eq "job 4302's ports are kept (it has a ledger)" 3 "$(ports_of 10ce)"
check "job 4302's flows are back" test "$(flows_of 0x53560000000010ce)" -gt 0

restore
check_eq "a second run: exit 0" 0 "$RC"
if grep -q "removed" <<<"$OUT"; then fail "a second run removed something: $OUT"; else pass "a second run removes nothing"; fi
check_eq "job 4302's ports are still there" 3 "$(ports_of 10ce)"

check "epilog job 4302" helper "$EPILOG" 4302 1 tiny:1 nodeA
check_eq "nothing of job 4302 is left on br-int" 0 "$(ports_of 10ce)"
check_eq "no ledger is left" "" "$(ls "$RUN/ledger")"
