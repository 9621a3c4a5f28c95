// The node-side effects vm-prolog and vm-epilog share: where the helpers keep their state on
// a node, the node-wide lock, the node's record of its jobs, the nftables table rebuilt from
// those records, IPv4 forwarding with its reference rule, the gateway address, and cleaning up
// a job. The changes themselves, their ledger records and their undo are host_changes.hpp; the
// prolog's own steps live in src/prolog. See docs/prolog-epilog.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "atomic_file.hpp"
#include "node_layout.hpp"
#include "netsetup/flows.hpp"
#include "netsetup/ledger.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/node_plan.hpp"
#include "unique_fd.hpp"
#include "vfio/pci_bind.hpp"

namespace slurmvm::netsetup {

inline constexpr const char* kDefaultOvsdbSocket = "/run/openvswitch/db.sock";

// Where things are on this node (the run directory's layout, node_layout.hpp, and the node's
// daemons and programs). Every path is absolute.
struct NodePaths : RunDirLayout {
  std::filesystem::path sysconf_dir = kDefaultSysconfDir;
  std::string ovsdb_socket = kDefaultOvsdbSocket;
  std::string bridge = "br-int";
  std::string tunnel_port = "svm-gre";
  std::string dnsmasq = "/usr/sbin/dnsmasq";
  std::filesystem::path ip_forward_sysctl = "/proc/sys/net/ipv4/ip_forward";
  // Where PCI functions and VFIO groups are (tests mount a fake tree over them in a mount
  // namespace of their own: tests/tools/fake_pci_kernel.hpp).
  vfio::DeviceRoots devices;

  // ovs-vswitchd's OpenFlow socket for the bridge: it sits next to db.sock (OVS_RUNDIR).
  OpenFlowTarget openflow() const;
};

// The defaults, with overrides from SLURM_VM_RUNDIR, SLURM_VM_SYSCONFDIR and
// SLURM_VM_OVSDB_SOCKET. slurmd builds the prolog's environment itself from a fixed list (a job
// can only add SPANK_* variables), so only an admin's wrapper can set these. A relative or
// otherwise odd value is an Error(config), not silently ignored.
NodePaths node_paths_from_env(const EnvLookup& env);

// The node-wide lock (flock on <rundir>/node.lock), held by a prolog or epilog for its whole
// run: port allocation, the nftables rebuild and the forwarding count see one job at a time.
class NodeLock {
 public:
  static NodeLock acquire(const NodePaths& paths, std::chrono::milliseconds timeout);

 private:
  explicit NodeLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// make_private_dir (private_dir.hpp) of `dir` in its parent, which must exist: created with
// `mode` if missing; a symlink or a directory not owned by the effective uid is refused.
void ensure_private_dir(const std::filesystem::path& dir, unsigned mode);

// A small file's whole text (read_file of file_read.hpp: at most 1 MiB, symlinks refused).
std::string read_small_file(const std::filesystem::path& file);

// <rundir>/jobs and each job's directory in it: root's, searchable but not listable, so that
// no user learns which jobs run on the node; the files in a job's directory belong to the
// job's user, readable by that user only (vm-launch opens them by name).
inline constexpr unsigned kJobsDirMode = 0711;
inline constexpr unsigned kJobFileMode = 0400;

// Files are written with write_file_atomic (atomic_file.hpp; synced: the helpers' state).

// The records of the jobs on this node (state/<id>.json), except `exclude` (0: none). A file
// that does not parse is skipped with a warning (and its path added to `unreadable`).
std::vector<JobState> read_job_states(const NodePaths& paths, std::uint32_t exclude = 0,
                                      std::vector<std::string>* unreadable = nullptr);

// What table ip slurm_vm holds: the node's job records (except `exclude`), the node's own
// networks (read from the kernel), whether the node forwarded before slurm-vm, and `pending`
// bridged NICs of a job whose record is not written yet. An unreadable record is an Error: the
// table is never rebuilt without a running job's filters.
NodeTable node_table(const NodePaths& paths, std::uint32_t exclude = 0, const std::vector<BridgedPort>& pending = {});

// Rebuilds table ip slurm_vm from node_table(), atomically.
void sync_nat(const NodePaths& paths, std::uint32_t exclude = 0, const std::vector<BridgedPort>& pending = {});

// IPv4 forwarding (the gateways route DNAT'ed connections). The first job that needs it saves
// the value it found in state/ip_forward.saved (save_ip_forward, under the job's
// node.ip_forward ledger entry), rebuilds the table, which holds the forwarding drop while the
// saved value is 0, and only then sets 1 (enable_ip_forward): the node never routes between its
// own networks, and the first job's prolog rebuilds the table once. The epilog of the last job
// whose ledger enabled it writes the saved value back (release_ip_forward, true when it did; the
// caller then rebuilds the table without the drop). The ledgers are the reference count.
void save_ip_forward(const NodePaths& paths);
void enable_ip_forward(const NodePaths& paths);
bool release_ip_forward(const NodePaths& paths, std::uint32_t job_id);

// SIOCSIFADDR + SIOCSIFNETMASK + IFF_UP on an interface of the calling thread's namespace.
void set_interface_ipv4(const std::string& ifname, std::uint32_t ip, unsigned prefix);
// Removes the interface's IPv4 address (SIOCSIFADDR 0.0.0.0). An absent interface is fine.
void clear_interface_ipv4(const std::string& ifname);
// Waits until the interface exists (ovs-vswitchd creates internal ports asynchronously).
void wait_for_interface(const std::string& ifname, std::chrono::milliseconds timeout);

// Everything a job left on this node, undone: its ledger in reverse (host_changes.hpp), then what
// a prolog may leave without a ledger entry (the error file of a refused job; a record whose
// entry a crashed rollback had undone). The caller holds the node lock. When an undo fails,
// the ledger and the record are kept whole for the next attempt and the report says why.
UndoReport clean_job(const NodePaths& paths, std::uint32_t job_id);

// The jobs that have anything on this node: a ledger, a record (state/) or a directory (jobs/).
std::set<std::uint32_t> jobs_with_leftovers(const NodePaths& paths);

}  // namespace slurmvm::netsetup
