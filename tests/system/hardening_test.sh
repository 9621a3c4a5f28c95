#!/usr/bin/env bash
# tests/system/hardening_test.sh - the attacks of issue 11 (network hardening), each run for real
# on a 2-node sandbox against two concurrent jobs, each next to a positive control that shows
# the test could see a success:
#   - job ids that collided under the old `job id % 2047` keys (N and N + 2047, chosen through
#     FirstJobId): the jobs get distinct GRE keys and each reaches only its own VMs; a job whose
#     subnet is still held by a running job (N + 63) fails whole, saying why;
#   - a guest's root connects out from source port 600: the site's listener sees the node's
#     address from a port >= 1024 (allow-outbound lists it), and nothing where the site's
#     configuration does not list the destination (another port, the login host);
#   - an unprivileged local user on the VM's node tries the VM's sshd by its private address:
#     refused; the job's owner still gets through; reverse NAT stays open to everyone;
#   - a guest sends GRE with the other job's key and a frame for the other job's VM towards
#     that VM's node: nothing arrives (the same packet from a peer node of that job does, and
#     from a host that is no peer of the job it does not);
#   - the sandbox's standalone br-int was made fail_mode=secure;
#   - ovs-vswitchd restarted mid-job: the jobs are cut off until vm-node-restore puts their
#     flows back, then each job's VMs reach each other again and still not the other job's;
#   - a job subnet that overlaps a route of its node is refused as a node fault, the message
#     naming both.
# Then nothing of any job remains on any node.
#
# usage: hardening_test.sh [REPO_ROOT]; needs root (exit 77 otherwise) and a release build
# (SLURM_VM_BUILD_DIR).
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
if (($(id -u) != 0)); then echo "SKIP: needs root"; exit 77; fi
TEST_NAME=hardening_test
# shellcheck source=../lib/sandbox_test_lib.sh
source "$ROOT/tests/lib/sandbox_test_lib.sh"
BUILD=${SLURM_VM_BUILD_DIR:-$ROOT/build/release}
PROBE=$BUILD/tests/system/svm_probe
[[ -x $PROBE ]] || { fail "no $PROBE: build the release preset first"; exit 1; }

# An "outside" host on the login node: 198.51.100.1 (TEST-NET-2, inside the sandbox's own
# namespaces only), routed by the nodes through the login host; listeners there record the
# source address and port of every connection.
OUTSIDE=198.51.100.1
FIRST_JOB_ID=100  # (`sandbox up` runs a job of its own first)

# The site: the repository's configuration, with VMs allowed out to two listed destinations.
SITE=$(mktemp -d "${TMPDIR:-/tmp}/$TEST_NAME-site.XXXXXX")
LISTENERS=()
hardening_cleanup() {
  local rc=$? pid
  for pid in "${LISTENERS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  rm -rf "$SITE"
  (exit $rc)
  sandbox_test_cleanup
}
trap hardening_cleanup EXIT
cp "$ROOT"/templates/*.yaml "$SITE"/
python3 - "$SITE/networks.yaml" "$OUTSIDE" <<'EOF' || { fail "cannot write the site's networks.yaml"; exit 1; }
import sys
path, outside = sys.argv[1], sys.argv[2]
text = open(path).read()
old = "    allow-outbound: none\n"
assert old in text, "templates/networks.yaml has no 'allow-outbound: none'"
text = text.replace(old, "    allow-outbound:\n"
                         f"      - {{to: {outside}/32, proto: tcp, ports: 7777}}\n"
                         "      - {to: 10.77.0.1/32, proto: tcp, ports: 7778}\n")
open(path, "w").write(text)
EOF
export SLURM_VM_SANDBOX_SYSCONF_SRC=$SITE
export SLURM_VM_SANDBOX_SLURM_CONF_EXTRA="FirstJobId=$FIRST_JOB_ID"

OUT=$("$SANDBOX" up --nodes 2 2>&1) || { fail "sandbox up: $OUT"; exit 1; }
pass "sandbox up with slurm-vm (first job id $FIRST_JOB_ID, outbound listed to $OUTSIDE:7777 and login:7778)"
# shellcheck disable=SC1091 # the sandbox's record names its namespaces
PREFIX=$(sed -n 's/^PREFIX=//p' "$STATE/sandbox.env")
LOGIN_NS=${PREFIX}login
ip -n "$LOGIN_NS" addr add "$OUTSIDE/24" dev svm-br0
for k in 1 2; do ip -n "${PREFIX}node$k" route add 198.51.100.0/24 via 10.77.0.1; done
for port in 7777 7778 7779; do
  : >"$STATE/listen.$port"
  # (socat reads ':' in an address as the start of its options: no colon in the echo.)
  timeout 600 nsenter --net="/run/netns/$LOGIN_NS" socat -u "TCP-LISTEN:$port,reuseaddr,fork" \
    SYSTEM:'echo PEER $SOCAT_PEERADDR port $SOCAT_PEERPORT' >>"$STATE/listen.$port" 2>&1 &
  LISTENERS+=($!)
done
install -m 0755 -o vmuser "$PROBE" "$HOME_SRC/svm_probe"

# --- The two jobs, one VM on each node each; B's id is A's + 2047 (FirstJobId, reconfigured):
#     under `job id % 2047` they had the same network id and GRE key.
# The -E script: say which job it is, then wait for the test to say stop.
hold='echo "$SLURM_JOB_ID" >"$HOME/$TAG.job"; while [ ! -e "$HOME/$TAG.stop" ]; do sleep 0.5; done'
rm -f "$HOME_SRC"/{A,B}.{job,stop}
as_user_bg "$STATE/A.out" env TAG=A vm alloc -N 2 --timeout 300 -E "$hold" tiny:2
a_pid=$BG_PID
wait_for "job A allocated" 120 test -s "$HOME_SRC/A.job"
JOB_A=$(cat "$HOME_SRC/A.job") JOB_B=$(($(cat "$HOME_SRC/A.job") + 2047))
# A job whose subnet is A's (ids 63 apart: the 63 /22s of the shipped int-network) cannot run
# next to it: every node of it refuses, the whole job fails with the reason, A is untouched.
JOB_C=$((JOB_A + 63))
sed -i "s/^FirstJobId=.*/FirstJobId=$JOB_C/" "$STATE/etc/slurm.conf"
as_root_on login scontrol reconfigure
as_user vm alloc -N 2 --timeout 120 -E 'vm list' tiny:2
[[ $RC != 0 ]] && pass "job $JOB_C (the subnet of job $JOB_A) fails (exit $RC)" || fail "job $JOB_C ran next to $JOB_A: $OUT"
grep -qE "virtual network [0-9]+ is still in use by job $JOB_A on node node[12]" <<<"$OUT" &&
  pass "job $JOB_C says which job holds its network, and where" || { fail "no reason given:"; echo "$OUT" | tail -n 15; }
sed -i "s/^FirstJobId=.*/FirstJobId=$JOB_B/" "$STATE/etc/slurm.conf"
as_root_on login scontrol reconfigure
as_user_bg "$STATE/B.out" env TAG=B vm alloc -N 2 --timeout 300 -E "$hold" tiny:2
b_pid=$BG_PID
wait_for "job B allocated" 120 test -s "$HOME_SRC/B.job"
a=$(cat "$HOME_SRC/A.job" 2>/dev/null) b=$(cat "$HOME_SRC/B.job" 2>/dev/null)
[[ $a == "$JOB_A" && $b == "$JOB_B" ]] && pass "jobs $a and $b run at once (their ids collided under job id % 2047)" ||
  fail "job ids $a and $b, expected $JOB_A and $JOB_B"

vm_as() { as_user vm "$@"; }  # vm VERB -j JOB ...: sets OUT and RC
addr_of() { vm_as list -j "$1"; awk -v n="$2" '$1 == n { print $4 }' <<<"$OUT"; }
a0=$(addr_of "$a" vm0) a1=$(addr_of "$a" vm1) b0=$(addr_of "$b" vm0) b1=$(addr_of "$b" vm1)
[[ -n $a0 && -n $a1 && -n $b0 && -n $b1 ]] && pass "addresses: A $a0 $a1, B $b0 $b1" || fail "addresses: A '$a0' '$a1', B '$b0' '$b1'"
vm_as list -j "$a"
grep -qE '^vm0 +tiny +node1 ' <<<"$OUT" && grep -qE '^vm1 +tiny +node2 ' <<<"$OUT" && pass "job A: vm0 on node1, vm1 on node2" || fail "job A layout: $OUT"
a0_port=$(awk '$1 == "vm0" { print $5 }' <<<"$OUT")

# --- Root acts on a user's cluster with --user, as that user (pcocc's admin option).
as_root_on login vm list --user vmuser -j "$a"
grep -qE '^vm1 +tiny +node2 ' <<<"$OUT" && pass "root: vm list --user vmuser -j $a" || fail "root's vm list --user: $OUT"
as_root_on login vm list --user vmuser
grep -qE '^vm1 +tiny +node2 ' <<<"$OUT" && fail "root's vm list --user without -j chose among vmuser's two clusters: $OUT" ||
  { grep -qE "several running virtual clusters: .*\b$a\b" <<<"$OUT" && pass "root: without -j, vmuser's clusters are listed" ||
    fail "root's vm list --user without -j: $OUT"; }
as_root_on login vm exec --user vmuser -j "$a" vm1 -- id -u
[[ $RC == 0 && $OUT == 0 ]] && pass "root: vm exec --user vmuser reaches vm1's agent" || fail "root's vm exec --user: $RC $OUT"
as_root_on login vm ssh --user vmuser -j "$a" vm0 cat /proc/sys/kernel/hostname
[[ $RC == 0 && $OUT == vm0 ]] && pass "root: vm ssh --user vmuser (vmuser's key)" || fail "root's vm ssh --user: $RC $OUT"
vm_as list --user root -j "$a"
[[ $RC == 2 ]] && grep -q "only root acts on another user's virtual clusters" <<<"$OUT" &&
  pass "vmuser: --user root is refused (exit 2)" || fail "vmuser's --user root: $RC $OUT"

# Distinct keys: each job's tunnel ingress on node2 (the only table-0 flow that matches tun_id).
key_of() {
  as_root_on node2 ovs-ofctl dump-flows br-int "cookie=$(printf '0x5356%012x' "$1")/-1"
  grep 'table=0' <<<"$OUT" | grep -o 'tun_id=0x[0-9a-f]*' | head -1 | cut -d= -f2
}
key_a=$(key_of "$a") key_b=$(key_of "$b")
[[ -n $key_a && -n $key_b && $key_a != "$key_b" ]] && pass "distinct GRE keys: A $key_a, B $key_b" || fail "GRE keys: A '$key_a', B '$key_b'"
as_root_on node2 ovs-ofctl dump-flows br-int "cookie=$(printf '0x5356%012x' "$b")/-1"
grep 'table=0' <<<"$OUT" | grep 'tun_id=' | grep -q 'tun_src=10.77.0.11' && pass "node2 takes job B's tunnel from node1 only (tun_src)" ||
  fail "no tun_src in job B's tunnel ingress on node2: $(grep 'tun_id=' <<<"$OUT")"

for job in "$a" "$b"; do
  vm_as ssh -j "$job" vm0 ping -c1 -W5 vm1
  [[ $RC == 0 ]] && pass "job $job: vm0 reaches vm1 across the nodes" || fail "job $job: vm0 -> vm1: $OUT"
done
for target in "$b0" "$b1"; do
  vm_as ssh -j "$a" vm0 ping -c1 -W2 "$target"
  [[ $RC != 0 ]] && pass "job A's vm0 cannot reach job B's $target" || fail "job A's vm0 reached job B's $target"
done

# --- Item 2: the node's users reach VMs through reverse NAT only; the owner and root directly.
tcp_as() {  # tcp_as UID HOST PORT: on node1, whether UID connects and reads the SSH banner
  as_root_on node1 setpriv --reuid="$1" --regid="$1" --clear-groups -- \
    timeout 5 bash -c "exec 3<>/dev/tcp/$2/$3 && head -c 7 <&3"
  [[ $RC == 0 && $OUT == SSH-2.0* ]]
}
vmuser_uid=$(id -u vmuser)
tcp_as "$vmuser_uid" "$a0" 22 && pass "control: the job's owner reaches vm0's sshd at $a0 from node1" || fail "owner -> $a0:22: $OUT"
tcp_as 0 "$a0" 22 && pass "control: root reaches vm0's sshd from node1" || fail "root -> $a0:22: $OUT"
tcp_as 65534 "$a0" 22 && fail "another local user (nobody) reached vm0's sshd at $a0: LEAK" ||
  pass "another local user (nobody) on node1 cannot reach vm0 at $a0"
tcp_as 65534 10.77.0.11 "$a0_port" && pass "reverse NAT (node1:$a0_port) still open to every user" ||
  fail "nobody -> node1:$a0_port (reverse NAT): $OUT"

# --- Item 1: out from a reserved port; only where the site says.
vm_as scp -j "$a" svm_probe vm0:/tmp/svm_probe
[[ $RC == 0 ]] && pass "the probe copied into job A's vm0" || fail "vm scp: $OUT"
connect_from() {  # connect_from HOST PORT SRC_PORT: as root in job A's vm0
  vm_as ssh -j "$a" vm0 /tmp/svm_probe connect "$1" "$2" "$3" 5
  [[ $RC == 0 ]]
}
peer_line() { grep -c PEER "$STATE/listen.$1"; }
connect_from "$OUTSIDE" 7777 600 && pass "control: vm0 connects to $OUTSIDE:7777 (listed)" || fail "vm0 -> $OUTSIDE:7777: $OUT"
sleep 0.5
line=$(grep PEER "$STATE/listen.7777" | tail -1)
port=$(awk '{ print $4 }' <<<"$line")
[[ $line == "PEER 10.77.0.11 port "* ]] && pass "the listener sees the node's address ($line)" || fail "listener 7777 saw: '$line'"
[[ $port =~ ^[0-9]+$ ]] && ((port >= 1024)) && pass "source port $port >= 1024 (the guest asked for 600)" ||
  fail "source port '$port' (the guest asked for 600): a reserved port left the node"
connect_from 10.77.0.1 7778 601 && pass "control: vm0 connects to login:7778 (listed although on the node's network)" || fail "vm0 -> 10.77.0.1:7778: $OUT"
sleep 0.5
port=$(grep PEER "$STATE/listen.7778" | tail -1 | awk '{ print $4 }')
[[ $port =~ ^[0-9]+$ ]] && ((port >= 1024)) && pass "login:7778 sees source port $port >= 1024" || fail "listener 7778 saw port '$port'"
connect_from "$OUTSIDE" 7779 602 && fail "vm0 reached $OUTSIDE:7779, which the site did not list: LEAK" ||
  pass "vm0 cannot reach $OUTSIDE:7779 (not listed)"
connect_from 10.77.0.1 7777 603 && fail "vm0 reached login:7777 (the node's network, not listed): LEAK" ||
  pass "vm0 cannot reach login:7777 (the node's network, not listed)"
[[ $(peer_line 7779) == 0 ]] && pass "nothing arrived on $OUTSIDE:7779" || fail "listener 7779: $(cat "$STATE/listen.7779")"

# --- Item 3: GRE with job B's key from job A's guest towards node2, where B's vm1 listens.
vm_as scp -j "$b" svm_probe vm1:/tmp/svm_probe
[[ $RC == 0 ]] || fail "vm scp into job B's vm1: $OUT"
vm_as ssh -j "$b" vm1 cat /sys/class/net/eth0/address
b1_mac=$OUT
inject() {  # inject WHO -- CMD...: B's vm1 listens on UDP 9999 (20 s) while CMD sends again and
            # again (from 4 s on: vm ssh, then bind); prints what it got
  local who=$1 i; shift 2
  timeout 60 "$SANDBOX" run -- vm ssh -j "$b" vm1 /tmp/svm_probe listen-udp 9999 20 >"$STATE/victim.$who" 2>&1 &
  local listener=$!
  sleep 4
  for ((i = 0; i < 14; i++)); do
    kill -0 "$listener" 2>/dev/null || break
    "$@" >/dev/null 2>&1
    sleep 1
  done
  wait "$listener"
  cat "$STATE/victim.$who"
}
gre_args=(gre 10.77.0.12 "$key_b" "$b1_mac" "$b0" "$b1" 9999)
got=$(inject node1 -- "$SANDBOX" run --node node1 -- "$PROBE" "${gre_args[@]}" from-node1)
[[ $got == "GOT from-node1" ]] && pass "control: GRE from node1 (a peer of job B) with B's key reaches B's vm1" ||
  fail "control: GRE from node1 did not arrive: '$got'"
got=$(inject guest -- "$SANDBOX" run -- vm ssh -j "$a" vm0 /tmp/svm_probe "${gre_args[@]}" from-guest)
[[ $got == NOTHING ]] && pass "GRE from job A's guest with job B's key: nothing arrives in job B's vm1" ||
  fail "GRE injection from a guest: '$got': LEAK"
got=$(inject login -- "$SANDBOX" run --user root -- "$PROBE" "${gre_args[@]}" from-login)
[[ $got == NOTHING ]] && pass "GRE from the login host (no peer of job B): nothing arrives" ||
  fail "GRE from a host that is no peer of the job: '$got': LEAK"

# --- The integration bridge the sandbox made standalone is secure now.
for k in 1 2; do
  as_root_on "node$k" ovs-vsctl get bridge br-int fail_mode
  [[ $OUT == secure ]] && pass "node$k: br-int fail_mode=secure" || fail "node$k: br-int fail_mode '$OUT'"
done

# --- ovs-vswitchd restarted mid-job on node1: OpenFlow rules live in its memory only, so the
#     jobs are cut off (fail_mode=secure: nothing passes) until vm-node-restore, which a site
#     runs when ovs-vswitchd starts, puts every job's flows back; isolation holds throughout.
ovs1=$STATE/nodes/node1/ovs
vswitchd_pid=$(cat "$ovs1/ovs-vswitchd.pid")
kill "$vswitchd_pid"
# (A zombie until PID 1 reaps it: gone means not running.)
wait_for "node1's ovs-vswitchd stopped" 20 bash -c "! grep -qs '^State:.*[RSD]' /proc/$vswitchd_pid/status"
# Started again as the sandbox starts it (its namespace, run directory and logs).
nsenter --net="/run/netns/${PREFIX}node1" -- env OVS_RUNDIR="$ovs1" OVS_DBDIR="$ovs1" OVS_LOGDIR="$STATE/log" \
  OVS_SYSCONFDIR="$ovs1" timeout 20 ovs-vswitchd "unix:$ovs1/db.sock" --pidfile \
  --log-file="$STATE/log/ovs-vswitchd-node1.log" -vconsole:off --no-chdir --detach </dev/null &&
  pass "node1's ovs-vswitchd restarted" || fail "node1's ovs-vswitchd did not start again"
ofctl_answers() { as_root_on node1 ovs-ofctl show br-int; [[ $RC == 0 ]]; }
wait_for "node1's ovs-vswitchd answers" 20 ofctl_answers
as_root_on node1 ovs-ofctl dump-flows br-int
[[ $(grep -c 'cookie=0x5356' <<<"$OUT") == 0 ]] && pass "control: the restart left br-int on node1 without a single flow" ||
  fail "flows survived the restart: $OUT"
vm_as ssh -j "$a" vm1 ping -c1 -W3 "$a0"
[[ $RC != 0 ]] && pass "control: job A's vm1 (node2) no longer reaches vm0 (node1)" || fail "vm1 -> vm0 worked without flows"
as_root_on node1 "$BUILD/src/prolog/vm-node-restore"
expect_rc "vm-node-restore on node1" 0
expect_out "it restored both jobs" "restored 2 job\(s\), 0 failed"
reaches() { vm_as ssh -j "$1" "$2" ping -c1 -W3 "$3"; [[ $RC == 0 ]]; }
# (node1's neighbour entries that failed meanwhile expire within seconds)
wait_for "job A's vm0 reaches vm1 again" 30 reaches "$a" vm0 "$a1" && pass "after vm-node-restore job A's vm0 reaches vm1 again"
wait_for "job B's vm1 reaches vm0 again" 30 reaches "$b" vm1 "$b0" && pass "after vm-node-restore job B's vm1 reaches vm0 again"
reaches "$a" vm0 "$b0" && fail "after the restart job A's vm0 reaches job B's vm0: LEAK" ||
  pass "after the restart job A's vm0 still cannot reach job B's vm0"
reaches "$a" vm0 "$b1" && fail "after the restart job A's vm0 reaches job B's vm1: LEAK" ||
  pass "after the restart job A's vm0 still cannot reach job B's vm1"
as_root_on node1 "$BUILD/src/prolog/vm-node-restore"
expect_rc "vm-node-restore on a healthy node changes nothing and succeeds" 0

touch "$HOME_SRC/A.stop" "$HOME_SRC/B.stop"
bg_done() { ! kill -0 "$1" 2>/dev/null; }
wait_for "job A ended" 120 bg_done "$a_pid"
wait_for "job B ended" 120 bg_done "$b_pid"
wait "$a_pid"; a_rc=$?
wait "$b_pid"; b_rc=$?
[[ $a_rc == 0 && $b_rc == 0 ]] && pass "both jobs ended well" || { fail "job A exit $a_rc, job B exit $b_rc"; cat "$STATE/A.out" "$STATE/B.out"; }

# --- Item 5: node1 routes the whole int-network somewhere (a site network): every job subnet
#     would shadow it, so the prolog refuses as a node fault (an admin must pick another
#     int-network), naming the subnet and the route, and Slurm drains node1.
ip -n "${PREFIX}node1" route add 10.251.0.0/16 via 10.77.0.1
as_user vm alloc -N 1 -w node1 --timeout 120 -E 'vm list' tiny:1
ip -n "${PREFIX}node1" route del 10.251.0.0/16 via 10.77.0.1
[[ $RC != 0 ]] && pass "a job whose subnet overlaps a node route fails (exit $RC)" || fail "the overlapping job ran: $OUT"
grep -qE "node fault: the job's subnet 10\.251\.[0-9]+\.0/22 \(network nat-rssh, int-network 10\.251\.0\.0/16\) overlaps route 10\.251\.0\.0/16 dev br-phy on node node1" \
  "$STATE/log/slurmd-node1.log" &&
  pass "node1's log names the subnet and the route" || { fail "no message naming both:"; grep vm-prolog "$STATE/log/slurmd-node1.log" | tail -n 5; }
as_user sinfo -h -n node1 -o %T
[[ $OUT == drain* ]] && pass "node1 drained (a site configuration to fix)" || fail "node1 is '$OUT', not drained"
as_root_on login scontrol update nodename=node1 state=resume
check_nodes_clean "after every job"
