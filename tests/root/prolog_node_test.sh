#!/bin/bash
# vm-prolog and vm-epilog against the real kernel and a real Open vSwitch, in a throw-away
# network namespace with a private ovsdb-server/ovs-vswitchd (userspace datapath) and a
# private /etc/hosts (unshare --mount). Job 4242 puts 3 VMs on nodeA,nodeB with CPUs "2,1";
# this is nodeA, so it builds vm0 and vm1. Checked: TAPs owned by the job's user, ports on
# br-int, flows under the job cookie, the nft table, vms.json, the ledger; a second job next
# to it; the epilog removes everything and succeeds again; a prolog failing half-way (its
# gateway port cannot be created) and one refused for the job's own fault (no host port free)
# leave nothing behind.
# Usage: prolog_node_test.sh [REPO]   (SLURM_VM_BUILD_DIR: the build, default REPO/build)
# Exit 77 (skipped) without root or without the tools.
set -euo pipefail

REPO=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${SLURM_VM_BUILD_DIR:-$REPO/build}
PROLOG=$BUILD/src/prolog/vm-prolog
EPILOG=$BUILD/src/epilog/vm-epilog

[[ $(id -u) == 0 ]] || { echo "SKIP: needs root"; exit 77; }
for tool in ip nft ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl unshare python3; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing"; exit 77; }
done
[[ -x $PROLOG && -x $EPILOG ]] || { echo "FAIL: build vm-prolog and vm-epilog first ($BUILD)"; exit 1; }

NS=svmp-$$
TMP=$(mktemp -d /tmp/svmp-XXXXXX)
JOB=4242
JOBHEX=1092
COOKIE=0x5356000000001092
# pass, fail, check, check_eq, wait_for, test_summary
# shellcheck source=../lib/check_lib.sh
source "$REPO/tests/lib/check_lib.sh"
# shellcheck source=../lib/node_ns_lib.sh
source "$REPO/tests/lib/node_ns_lib.sh"

cleanup() {
  [[ -n ${LISTENER:-} ]] && { kill "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null; } || :
  [[ -n ${NOBODY_PID:-} ]] && { kill "$NOBODY_PID" 2>/dev/null; wait "$NOBODY_PID" 2>/dev/null; } || :
  node_ns_stop
  rm -rf "$TMP"
}
trap cleanup EXIT


# The "node": a namespace with an underlay address, its own OVS, a hosts file.
node_ns_start

nothing_left_of() {  # nothing_left_of JOB JOBHEX COOKIE
  local job=$1 hex=$2 cookie=$3
  check "job $job: no TAP left" bash -c "! ip netns exec $NS ip -o link show | grep -q 'svm$hex\\.'"
  check "job $job: no port left on br-int" bash -c "! ovs-vsctl --db=unix:$OVS/db.sock list-ports br-int 2>/dev/null | grep -q -e 'svm$hex\\.' -e svmgw$hex -e svmdh$hex"
  check "job $job: no DNS veth left" bash -c "! ip netns exec $NS ip -o link show | grep -q 'svmdh$hex'"
  check "job $job: no flow left" test "$(flows_of "$cookie")" = 0
  check "job $job: no NAT rule left" bash -c "! ip netns exec $NS nft list ruleset | grep -q 'job $job '"
  check "job $job: no ledger" test ! -e "$RUN/ledger/$job.jsonl"
  check "job $job: no job directory" test ! -e "$RUN/jobs/$job"
  check "job $job: no state record" test ! -e "$RUN/state/$job.json"
}

# --- 1. Not a VM job: nothing happens, nothing is created.
check "no SPANK_VM_TEMPLATE: exit 0" nsx env -i SLURM_JOB_ID=1 SLURM_VM_RUNDIR="$RUN" "$PROLOG"
check "no SPANK_VM_TEMPLATE: no run directory" test ! -e "$RUN"

# --- 2. Job 4242: 3 VMs on nodeA (2 CPUs) and nodeB (1 CPU). The prolog starts with SIGTERM
#        ignored (dispositions survive exec); the jail resets them and dnsmasq installs its own
#        handler, so the epilog's SIGTERM must still stop it (checked below, and by the epilog's
#        timing: a dnsmasq that ignored it would take the 5 s grace and a SIGKILL).
helper_ignoring_term() { ( trap '' TERM; helper "$@" ); }
check "prolog job $JOB exit 0" helper_ignoring_term "$PROLOG" $JOB 2,1 master:1,compute:2
for tap in svm$JOBHEX.0 svm$JOBHEX.1; do
  check "$tap exists, owned by 65534" test "$(nsx cat /sys/class/net/$tap/owner 2>/dev/null)" = 65534
  check "$tap has no group (only its owner attaches)" test "$(nsx cat /sys/class/net/$tap/group 2>/dev/null)" = -1
  check "$tap mtu 1450" test "$(nsx cat /sys/class/net/$tap/mtu 2>/dev/null)" = 1450
  check "$tap: no IPv6 on it" test "$(nsx cat /proc/sys/net/ipv6/conf/$tap/disable_ipv6 2>/dev/null)" = 1
  check "$tap: no ARP answers on it" test "$(nsx cat /proc/sys/net/ipv4/conf/$tap/arp_ignore 2>/dev/null)" = 8
done
check "no TAP for vm2 (it runs on nodeB)" test ! -e "/proc/$$/root/nonexistent" -a -z "$(nsx ip -o link show svm$JOBHEX.2 2>/dev/null)"
ports=$(vsctl list-ports br-int | tr '\n' ' ')
check "br-int ports: $ports" test "$ports" = "svm-gre svm$JOBHEX.0 svm$JOBHEX.1 svmdh$JOBHEX svmgw$JOBHEX "
check "br-int datapath netdev" test "$(vsctl get bridge br-int datapath_type)" = netdev
check "flows under the job cookie" test "$(flows_of $COOKIE)" -gt 10
check "vm2's traffic tunnelled to nodeB (10.99.0.2)" bash -c \
  "ovs-ofctl dump-flows unix:$OVS/br-int.mgmt cookie=$COOKIE/-1 | grep -q 0xa630002"
gwaddr=$(nsx ip -o -4 addr show svmgw$JOBHEX | awk '{print $4}')
check "gateway address $gwaddr" test -n "$gwaddr"
check "ip_forward on" test "$(nsx cat /proc/sys/net/ipv4/ip_forward)" = 1
nat=$(nsx nft list table ip slurm_vm)
check "nft: 2 DNAT rules in each of prerouting and output" test "$(grep -c 'dnat to .*:22 comment "job 4242 vm' <<<"$nat")" = 4
check "nft: nothing from a VM interface reaches the node" bash -c "grep -q 'iifname \"svm\*\" drop' <<<'$nat'"
check "nft: ssh ports 60222 and 60223" bash -c "grep -q 'dport 60222 ' <<<'$nat' && grep -q 'dport 60223 ' <<<'$nat'"
check "vms.json: the job's user's, 0400" test "$(stat -c %U:%a "$RUN/jobs/$JOB/vms.json")" = nobody:400
dns_pid=$(cut -d' ' -f1 "$RUN/dnsmasq/$JOB.pid" 2>/dev/null)
check "the job's dnsmasq runs (pid ${dns_pid:-none})" test "$(cat /proc/${dns_pid:-0}/comm 2>/dev/null)" = dnsmasq
# It is at the subnet's last host address (10.251.91.254 of 10.251.88.0/22), behind the job's
# flows: the node (root, allowed by the output filter) asks it through the gateway.
check "it answers vm2.vm.internal (a VM on the other node)" bash -c \
  "ip netns exec $NS busybox nslookup vm2.vm.internal 10.251.91.254 2>&1 | grep -q 'Address: 10.251.88.4'"
check "it answers vm0 (short name)" bash -c \
  "ip netns exec $NS busybox nslookup vm0 10.251.91.254 2>&1 | grep -q 'Address: 10.251.88.2'"
check "the node's own stack does not answer DNS on the gateway" bash -c \
  "! ip netns exec $NS busybox nslookup vm0 10.251.88.1 >/dev/null 2>&1"
# The jail: nobody outside, no capability in the node's user namespace, namespaces of its own.
check "dnsmasq neither ignores nor blocks SIGTERM (the epilog's)" bash -c \
  "ign=\$(awk '/^SigIgn/ {print \$2}' /proc/${dns_pid:-0}/status); blk=\$(awk '/^SigBlk/ {print \$2}' /proc/${dns_pid:-0}/status);
   test -n \"\$ign\" && (( (0x\$ign & 0x4000) == 0 && (0x\$blk & 0x4000) == 0 ))"
check "dnsmasq runs as nobody (65534) outside its jail" bash -c \
  "grep -q '^Uid:[[:space:]]*65534[[:space:]]65534' /proc/${dns_pid:-0}/status"
check "its user namespace maps only its root to nobody" bash -c \
  "test \"\$(awk '{print \$1, \$2, \$3}' /proc/${dns_pid:-0}/uid_map)\" = '0 65534 1'"
check "its user and network namespaces are not the node's" bash -c \
  "test \"\$(readlink /proc/${dns_pid:-0}/ns/user)\" != \"\$(readlink /proc/self/ns/user)\" &&
   test \"\$(readlink /proc/${dns_pid:-0}/ns/net)\" != \"\$(ip netns exec $NS readlink /proc/self/ns/net)\""
check "its network namespace holds lo and dhcp0 only" bash -c \
  "test \"\$(nsenter -t ${dns_pid:-0} --net ip -o link show | awk -F': ' '{print \$2}' | cut -d@ -f1 | sort | tr '\n' ' ')\" = 'dhcp0 lo '"
# As the jail's root (what a compromised dnsmasq is): CAP_NET_ADMIN works inside (the positive
# control), but cannot move its interface into the node's namespace (that would need the
# capability in the node's user namespace) nor touch the node's links.
jail() { nsenter -t "${dns_pid:-0}" --user --net -S 0 -G 0 "$@"; }
check "jail root: CAP_NET_ADMIN in its own namespace (adds a veth pair there)" \
  jail ip link add svmjtest type veth peer name svmjtest2
check "jail root: cannot move dhcp0 into the node's namespace" bash -c \
  "! nsenter -t ${dns_pid:-0} --user --net -S 0 -G 0 ip link set dhcp0 netns $(cat "$OVS/ovs-vswitchd.pid") 2>/dev/null"
# The same move by the node's root (its capability is the node's) works: the command could
# succeed, the jail is what stops it. (The test's own link, deleted right after.)
check "control: the node's root moves a link out of the jail" bash -c \
  "nsenter -t ${dns_pid:-0} --net ip link set svmjtest2 netns $(cat "$OVS/ovs-vswitchd.pid") &&
   ip netns exec $NS ip link delete svmjtest2"
# Every jail's root is the node's nobody, and signals go by uid: in a PID namespace of its own
# (dnsmasq is its init) a jail addresses no process outside it. The target: a process of the
# node running as nobody, which nobody outside a jail may signal (the control).
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 120 &
NOBODY_PID=$!
check "dnsmasq is pid 1 of a PID namespace of its own" bash -c \
  "awk '/^NSpid:/ {exit !(NF == 3 && \$3 == 1)}' /proc/${dns_pid:-0}/status"
check "control: a nobody process outside a jail may signal the node's nobody process" \
  setpriv --reuid=65534 --regid=65534 --clear-groups kill -0 "$NOBODY_PID"
check "jail root: cannot signal the node's nobody process" bash -c \
  "! nsenter -t ${dns_pid:-0} --user --net --pid -S 0 -G 0 kill -0 $NOBODY_PID 2>/dev/null"
kill "$NOBODY_PID" 2>/dev/null; wait "$NOBODY_PID" 2>/dev/null || :
check "jail root: dhcp0 still there" bash -c \
  "nsenter -t ${dns_pid:-0} --user --net -S 0 -G 0 ip link show dev dhcp0 >/dev/null"
check "jail root: the node's links unreachable (no svmdh$JOBHEX in its view)" bash -c \
  "! nsenter -t ${dns_pid:-0} --user --net -S 0 -G 0 ip link show svmdh$JOBHEX >/dev/null 2>&1"
check "job dir root's, 0711 (no listing)" test "$(stat -c %U:%a "$RUN/jobs/$JOB")" = root:711
check "jobs dir root's, 0711 (no listing)" test "$(stat -c %U:%a "$RUN/jobs")" = root:711
check "nft: the node's users reach VMs only through reverse NAT" bash -c \
  "grep -q 'oifname \"svmgw$JOBHEX\" meta skuid { 0, 65534 } accept' <<<'$nat' && grep -q 'chain output_filter' <<<'$nat'"
check "nft: no way out (allow-outbound: none)" bash -c "! grep -q masquerade <<<'$nat'"
check "nft: the node's own networks listed (10.99.0.0/24)" bash -c "grep -q '10.99.0.0/24' <<<'$nat'"
check "flows: tunnel from nodeB's address only, keyed by the job id" bash -c \
  "ovs-ofctl dump-flows unix:$OVS/br-int.mgmt cookie=$COOKIE/-1 | grep 'tun_id=0x1092' | grep -q 'tun_src=10.99.0.2'"
check "vms.json content" python3 - "$RUN/jobs/$JOB/vms.json" "$gwaddr" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
gw, prefix = sys.argv[2].split("/")
assert set(d["vms"]) == {"0", "1"}, d
assert d["network_id"] == 22, d  # network_id_for_job(4242): 4242 % 63 + 1, int-network 10.251.0.0/16 in /22s
for rank, port in (("0", 60222), ("1", 60223)):
    v = d["vms"][rank]
    assert v["ssh_port"] == port and v["resource_set"] == "default" and len(v["nics"]) == 1, v
    n = v["nics"][0]
    assert n["tap"] == "svm1092." + rank and n["kind"] == "L3" and n["network"] == "nat-rssh", n
    assert n["gateway"] == gw and n["prefix"] == int(prefix), n
    assert n["mac"].startswith("52:54:00:"), n
assert sorted(d["hosts"]) == ["vm0", "vm1", "vm2"], d
EOF
check "ledger exists" test -s "$RUN/ledger/$JOB.jsonl"
check "ledger dir 0700" test "$(stat -c %a "$RUN/ledger")" = 700
echo "--- ledger"; cat "$RUN/ledger/$JOB.jsonl"; echo "--- vms.json"; cat "$RUN/jobs/$JOB/vms.json"

# --- 3. A second job (one VM here) takes the next free port and keeps the first job's rules.
check "prolog job 4243 exit 0" helper "$PROLOG" 4243 1 solo:1 nodeA
check "job 4243 got port 60224" python3 -c \
  "import json; assert json.load(open('$RUN/jobs/4243/vms.json'))['vms']['0']['ssh_port'] == 60224"
check "nft: 6 rules for both jobs" test "$(nsx nft list table ip slurm_vm | grep -c 'dnat to')" = 6

# --- 4. Epilog of 4242: everything of it gone, 4243 intact; twice is fine.
check "epilog job $JOB exit 0" helper "$EPILOG" $JOB 2,1 master:1,compute:2
nothing_left_of $JOB $JOBHEX $COOKIE
# (A zombie until this machine's PID 1, its parent once the prolog ended, reaps it.)
check "job $JOB's dnsmasq stopped" bash -c \
  "{ test ! -e /proc/${dns_pid:-0} || grep -q '^State:.*Z' /proc/${dns_pid:-0}/status; } && test ! -e $RUN/dnsmasq/$JOB.pid"
check "job $JOB's DNS veth gone" bash -c "! ip netns exec $NS ip link show svmdh$JOBHEX >/dev/null 2>&1"
check "job 4243 kept its NAT rules" test "$(nsx nft list table ip slurm_vm | grep -c 'job 4243 vm0')" = 2
check "job 4243 kept its flows" test "$(flows_of 0x5356000000001093)" -gt 0
check "ip_forward still on (job 4243 needs it)" test "$(nsx cat /proc/sys/net/ipv4/ip_forward)" = 1
check "epilog job $JOB again exit 0" helper "$EPILOG" $JOB 2,1 master:1,compute:2
check "epilog job 4243 exit 0" helper "$EPILOG" 4243 1 solo:1 nodeA
nothing_left_of 4243 1093 0x5356000000001093
check "nft table gone" bash -c "! ip netns exec $NS nft list table ip slurm_vm >/dev/null 2>&1"
check "ip_forward restored to 0" test "$(nsx cat /proc/sys/net/ipv4/ip_forward)" = 0
check "tunnel port kept (node level)" test "$(vsctl list-ports br-int | tr '\n' ' ')" = "svm-gre "

# --- 5. A node fault half-way: a device already holds the gateway port's name, so OVS cannot
#        create it after the TAPs exist. The prolog rolls back, exits 1, writes the error file.
nsx ip link add svmgw$JOBHEX type veth peer name svmgwpeer
rc=0
helper "$PROLOG" $JOB 2,1 master:1,compute:2 || rc=$?
check "failing prolog exit 1 (node fault): $rc" test "$rc" = 1
check "error file for the user" grep -q 'vm-prolog on nodeA: node fault' "$RUN/jobs/$JOB/error"
nsx ip link delete svmgw$JOBHEX
check "rolled back: no TAP" bash -c "! ip netns exec $NS ip -o link show | grep -q 'svm$JOBHEX\\.'"
check "rolled back: no port" test "$(vsctl list-ports br-int | tr '\n' ' ')" = "svm-gre "
check "rolled back: no ledger" test ! -e "$RUN/ledger/$JOB.jsonl"
check "rolled back: ip_forward 0" test "$(nsx cat /proc/sys/net/ipv4/ip_forward)" = 0
check "epilog after a failed prolog exit 0" helper "$EPILOG" $JOB 2,1 master:1,compute:2
nothing_left_of $JOB $JOBHEX $COOKIE

# --- 6. The job's fault: every host port of the range is taken by listening sockets. The
#        prolog refuses the job (exit 0: the node is fine) and tells the user why.
ip netns exec "$NS" python3 -c '
import socket, sys, time
s = []
for p in range(60222, 60323):
    x = socket.socket(); x.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    x.bind(("0.0.0.0", p)); x.listen(); s.append(x)
sys.stdout.write("ready\n"); sys.stdout.flush(); time.sleep(60)' >"$TMP/listener.out" &
LISTENER=$!
for ((i = 0; i < 100; i++)); do grep -q ready "$TMP/listener.out" 2>/dev/null && break; sleep 0.05; done
rc=0
helper "$PROLOG" $JOB 2,1 master:1,compute:2 || rc=$?
check "port range exhausted: exit 0 (the job's fault)" test "$rc" = 0
check "error file names the port range" grep -q 'host ports are needed, but only 0 of \[60222, 60322\]' "$RUN/jobs/$JOB/error"
check "error file: the job's user's, 0400" test "$(stat -c %U:%a "$RUN/jobs/$JOB/error")" = nobody:400
kill "$LISTENER"; wait "$LISTENER" 2>/dev/null || :; LISTENER=
check "epilog after a refused job exit 0" helper "$EPILOG" $JOB 2,1 master:1,compute:2
nothing_left_of $JOB $JOBHEX $COOKIE

# --- 7. A bad definition is the job's fault too.
rc=0
helper "$PROLOG" $JOB 2,1 'master:0' || rc=$?
check "bad definition: exit 0" test "$rc" = 0
check "bad definition: error file" grep -q 'invalid cluster definition' "$RUN/jobs/$JOB/error"
check "epilog exit 0" helper "$EPILOG" $JOB 2,1 'master:0'
nothing_left_of $JOB $JOBHEX $COOKIE

# --- 7b. A job subnet that would shadow a network the node is on is refused (a node fault:
#         every job would fail until an admin picks another int-network), the message naming
#         both; nothing is left.
nsx ip link add site0 type veth peer name site0peer  # (this kernel has no dummy driver)
nsx ip addr add 10.251.88.77/24 dev site0
rc=0
helper "$PROLOG" $JOB 2,1 master:1,compute:2 || rc=$?
check "subnet overlapping a site address: exit 1 (a node fault: the site's int-network is wrong)" test "$rc" = 1
check "the error names the subnet and what it shadows" grep -q \
  "subnet 10.251.88.0/22 (network nat-rssh, int-network 10.251.0.0/16) overlaps address 10.251.88.77/24 on site0 on node nodeA" \
  "$RUN/jobs/$JOB/error"
nsx ip link delete site0
check "epilog exit 0" helper "$EPILOG" $JOB 2,1 master:1,compute:2
nothing_left_of $JOB $JOBHEX $COOKIE

# --- 7c. A job with more ports on the node than the site allows is refused as the job's
#         fault (never a node drain after overrun OVS deadlines).
SYSCONF=$TMP/etc-small
mkdir -p "$SYSCONF"
cp "$REPO"/templates/*.yaml "$SYSCONF"/
printf 'ovs:\n  max-ports-per-node: 2\n' >"$SYSCONF/slurm-vm.yaml"
export SYSCONF
rc=0
helper "$PROLOG" $JOB 2,1 master:1,compute:2 || rc=$?
check "too many ports for the node: exit 0 (the job's fault)" test "$rc" = 0
check "the error says how many and the site's cap" grep -q \
  "the job puts 4 OVS ports (its VMs' NICs, its gateway and DHCP server) on node nodeA (2 VMs there); the site allows 2 per node" "$RUN/jobs/$JOB/error"
unset SYSCONF
check "epilog exit 0" helper "$EPILOG" $JOB 2,1 master:1,compute:2
nothing_left_of $JOB $JOBHEX $COOKIE

# --- 7d. manage-ip-forward: false: forwarding is the site's. With it off, the prolog leaves it
#         off, records no forwarding change, and the job gets no outbound rule.
SYSCONF=$TMP/etc-noforward
mkdir -p "$SYSCONF"
cp "$REPO"/templates/*.yaml "$SYSCONF"/
sed -i 's/^    allow-outbound: none$/    allow-outbound: all\n    manage-ip-forward: false/' "$SYSCONF/networks.yaml"
export SYSCONF
check "prolog with manage-ip-forward: false exit 0" helper "$PROLOG" $JOB 2,1 master:1,compute:2
check "forwarding left off" test "$(nsx cat /proc/sys/net/ipv4/ip_forward)" = 0
check "no forwarding change in the ledger" bash -c "! grep -q node.ip_forward '$RUN/ledger/$JOB.jsonl'"
check "no way out without forwarding (no masquerade)" bash -c "! ip netns exec $NS nft list table ip slurm_vm | grep -q masquerade"
unset SYSCONF
check "epilog exit 0" helper "$EPILOG" $JOB 2,1 master:1,compute:2
nothing_left_of $JOB $JOBHEX $COOKIE

# --- 8. Site settings (slurm-vm.yaml ovs:): another integration bridge, the datapath named.
SYSCONF=$TMP/etc-br-vm
mkdir -p "$SYSCONF"
cp "$REPO"/templates/*.yaml "$SYSCONF"/
printf 'ovs:\n  bridge: br-vm\n  datapath: netdev\n' >"$SYSCONF/slurm-vm.yaml"
export SYSCONF
# An admin's bridge, standalone as `ovs-vsctl add-br` makes it: the prolog makes it secure.
vsctl add-br br-vm -- set bridge br-vm datapath_type=netdev
check "br-vm starts standalone" test -z "$(vsctl get bridge br-vm fail_mode | tr -d '[]')"
# Port names are unique across bridges: the old bridge's tunnel port is in the way, and the
# prolog says so (node fault, rolled back) until an admin removes it.
rc=0
helper "$PROLOG" $JOB 2,1 master:1,compute:2 2>/dev/null || rc=$?
check "tunnel port still on br-int: node fault (exit 1)" test "$rc" = 1
check "the error names the port and the fix" grep -q 'port svm-gre exists on another bridge.*ovs-vsctl del-port svm-gre' "$RUN/jobs/$JOB/error"
helper "$EPILOG" $JOB 2,1 master:1,compute:2
vsctl del-port br-int svm-gre
check "prolog on br-vm exit 0" helper "$PROLOG" $JOB 2,1 master:1,compute:2
check "br-vm netdev" test "$(vsctl get bridge br-vm datapath_type 2>/dev/null)" = netdev
check "br-vm made fail_mode=secure" test "$(vsctl get bridge br-vm fail_mode 2>/dev/null)" = secure
check "br-vm in-band control off" test "$(vsctl get bridge br-vm other_config:disable-in-band 2>/dev/null)" = '"true"'

check "the job's ports on br-vm" test "$(vsctl list-ports br-vm | grep -c "svm$JOBHEX\.")" = 2
check "the job's flows on br-vm" test "$(ovs-ofctl dump-flows "unix:$OVS/br-vm.mgmt" "cookie=$COOKIE/-1" | grep -c cookie=)" -gt 10
unset SYSCONF  # the epilog reads no configuration: the ledger knows the bridge
check "epilog exit 0" helper "$EPILOG" $JOB 2,1 master:1,compute:2
check "no port of the job left on br-vm" bash -c "! ovs-vsctl --db=unix:$OVS/db.sock list-ports br-vm | grep -q svm$JOBHEX"
check "no flow of the job left on br-vm" test "$(ovs-ofctl dump-flows "unix:$OVS/br-vm.mgmt" "cookie=$COOKIE/-1" | grep -c cookie=)" = 0
nothing_left_of $JOB $JOBHEX $COOKIE

if ((fails)); then echo "--- ovs-vswitchd log (tail)"; tail -n 20 "$OVS/ovs-vswitchd.log" || :; fi
test_summary prolog_node_test
