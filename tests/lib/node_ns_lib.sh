# tests/lib/node_ns_lib.sh - a throw-away "compute node" for running vm-prolog and vm-epilog
# against the real kernel and a real Open vSwitch: a network namespace with an underlay address
# (10.99.0.1, "nodeA"), a private ovsdb-server + ovs-vswitchd (userspace datapath, reference
# §1.2) and a private /etc/hosts. Used by tests/root/prolog_node_test.sh and bench/node-setup.
# Sourced; the caller sets NS (namespace name), TMP (a private directory), REPO, PROLOG, EPILOG
# and calls node_ns_stop on exit.

OVS=$TMP/ovs
RUN=$TMP/run
HOSTS=$TMP/hosts

stop_pidfile() {  # stop a daemon by its pidfile and wait until it is gone
  local f=$1 pid i
  [[ -f $f ]] || return 0
  pid=$(<"$f")
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || :
}

nsx() { ip netns exec "$NS" "$@"; }
vsctl() { ovs-vsctl --db="unix:$OVS/db.sock" --timeout=10 "$@"; }
flows_of() { ovs-ofctl dump-flows "unix:$OVS/br-int.mgmt" "cookie=$1/-1" | grep -c cookie= || :; }

node_ns_start() {
  ip netns add "$NS"
  nsx ip link set lo up
  nsx ip link add u0 type veth peer name u1
  nsx ip addr add 10.99.0.1/24 dev u0
  nsx ip link set u0 up
  nsx ip link set u1 up
  printf '127.0.0.1 localhost\n10.99.0.1 nodeA\n10.99.0.2 nodeB\n' >"$HOSTS"
  mkdir -p "$OVS"
  ovsdb-tool create "$OVS/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  nsx env OVS_RUNDIR="$OVS" ovsdb-server "$OVS/conf.db" --remote="punix:$OVS/db.sock" \
    --pidfile="$OVS/ovsdb-server.pid" --unixctl="$OVS/ovsdb-server.ctl" \
    --log-file="$OVS/ovsdb-server.log" -vconsole:off --no-chdir --detach 2>>"$OVS/daemons.err"
  vsctl --no-wait init
  node_ns_start_vswitchd
  echo 0 | nsx tee /proc/sys/net/ipv4/ip_forward >/dev/null
}

# For a test script: on exit, stop the node, remove $TMP and print the verdict of check_lib.sh
# (sourced before) as test NAME.
node_ns_test_exit_trap() {
  NODE_NS_TEST_NAME=$1
  # shellcheck disable=SC2154 # rc is set in the trap itself
  trap 'rc=$?; node_ns_stop; rm -rf "$TMP"; test_summary "$NODE_NS_TEST_NAME" "$rc"; exit $?' EXIT
}

# ovs-vswitchd of the node; also to restart it (its flows are lost, its database kept).
node_ns_start_vswitchd() {
  nsx env OVS_RUNDIR="$OVS" ovs-vswitchd "unix:$OVS/db.sock" --pidfile="$OVS/ovs-vswitchd.pid" \
    --unixctl="$OVS/ovs-vswitchd.ctl" --log-file="$OVS/ovs-vswitchd.log" -vconsole:off \
    --no-chdir --detach 2>>"$OVS/daemons.err"
}

node_ns_stop() {
  local pid i
  stop_pidfile "$OVS/ovs-vswitchd.pid"
  stop_pidfile "$OVS/ovsdb-server.pid"
  # Whatever else still runs in the namespace (a job's dnsmasq whose epilog never ran, when a
  # run is interrupted): stopped by pid before the namespace goes.
  for pid in $(ip netns pids "$NS" 2>/dev/null); do kill "$pid" 2>/dev/null || :; done
  for ((i = 0; i < 50; i++)); do [[ -z $(ip netns pids "$NS" 2>/dev/null) ]] && break; sleep 0.1; done
  for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || :; done
  # A job's dnsmasq runs jailed in namespaces of its own: by its pid file ("<pid> <start time>"),
  # only if it is still that process.
  local f start
  for f in "$RUN"/dnsmasq/*.pid; do
    [[ -f $f ]] && read -r pid start <"$f" || continue
    [[ $(awk '{sub(/^.*\) /, ""); print $20}' "/proc/$pid/stat" 2>/dev/null) == "$start" ]] && kill -9 "$pid" 2>/dev/null
  done
  :
  ip netns delete "$NS" 2>/dev/null || :
}

# Runs vm-prolog/vm-epilog as slurmd would: no PATH, only Slurm's variables (+ test overrides).
helper() {  # helper PROGRAM JOB CPUS DEFINITION [NODELIST]
  local prog=$1 job=$2 cpus=$3 def=$4 nodelist=${5:-nodeA,nodeB}
  nsx unshare --mount --propagation private /bin/sh -c \
    'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$HOSTS" \
    env -i SLURM_JOB_ID="$job" SLURM_JOB_UID=65534 SLURM_JOB_GID=65534 SLURMD_NODENAME=nodeA \
    SLURM_JOB_NODELIST="$nodelist" SLURM_JOB_CPUS_PER_NODE="$cpus" SPANK_VM_TEMPLATE="$def" \
    SLURM_SCRIPT_CONTEXT=prolog_slurmd SLURM_VM_RUNDIR="$RUN" SLURM_VM_OVSDB_SOCKET="$OVS/db.sock" \
    SLURM_VM_SYSCONFDIR="${SYSCONF:-$REPO/templates}" "$prog"
}
