// What vm-prolog does to a node (steps 11-19 of docs/prolog-epilog.md) and what the undo of its
// ledger does (the epilog, the prolog's rollback, the reclaim of a dead job), as calls on one
// interface: the real node (RealNodeEffects: OVSDB, OpenFlow, TAPs, nftables, the dnsmasq jail,
// sysctls, files), or a recording fake that lets tests/unit/prolog_apply_test.cpp pin the exact
// sequence of ledger records and effects of a reference job, both ways, in golden files.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "atomic_file.hpp"
#include "config/config.hpp"
#include "netsetup/dnsmasq.hpp"
#include "netsetup/dnsmasq_jail.hpp"
#include "netsetup/job_state.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/node_job.hpp"
#include "netsetup/ovsdb.hpp"
#include "netsetup/tap.hpp"
#include "vfio/pci_devices.hpp"
#include "vfio/pkey_store.hpp"
#include "vfio/pkey_store_open.hpp"
#include "vfio/vf_guids.hpp"

namespace slurmvm::netsetup {

class NodeEffects {
 public:
  virtual ~NodeEffects() = default;

  // Open vSwitch (`deadline`: the job's OVS deadline, grown with its ports).
  // The integration bridge's datapath: the site's choice, else the existing bridge's, else
  // `system` when the kernel module is loaded, else `netdev`.
  virtual std::string bridge_datapath(const std::string& bridge, config::OvsDatapath wanted) = 0;
  virtual void ensure_bridge(const std::string& bridge, const std::string& datapath,
                             std::chrono::milliseconds deadline) = 0;
  virtual void ensure_tunnel_port(const std::string& bridge, const std::string& port,
                                  std::chrono::milliseconds deadline) = 0;
  // Commits the ports to OVSDB; ovs-vswitchd opens them after it returns. await_ports waits for
  // that and checks each port (an OpenFlow port number, no error).
  virtual void add_ports(const std::string& bridge, const std::vector<PortSpec>& ports, const std::string& comment,
                         std::chrono::milliseconds deadline) = 0;
  virtual void await_ports(std::chrono::milliseconds deadline) = 0;
  virtual void apply_flows(const std::string& flows, std::chrono::milliseconds deadline) = 0;
  virtual void wait_for_interface(const std::string& name, std::chrono::milliseconds deadline) = 0;

  // The kernel.
  virtual bool ip_forward_enabled() = 0;
  // node_job.hpp: save first (under the ledger entry), rebuild the table, then enable.
  virtual void save_ip_forward() = 0;
  virtual void enable_ip_forward() = 0;
  // Rebuilds the nftables tables from the node's job records except `exclude` (0: none), plus
  // `pending` bridged NICs.
  virtual void sync_nat(std::uint32_t exclude, const std::vector<BridgedPort>& pending) = 0;
  virtual void create_tap(const TapSpec& tap) = 0;
  virtual void attach_to_bridge(const std::string& tap, const std::string& bridge,
                                const std::vector<config::Vlan>& vlans) = 0;
  virtual void set_interface_ipv4(const std::string& name, std::uint32_t ip, unsigned prefix) = 0;
  virtual void start_dnsmasq(const DnsmasqConfig& cfg, const DnsmasqJail& jail) = 0;
  // Until the started dnsmasq of `jail` serves (dnsmasq_jail.hpp).
  virtual void await_dnsmasq(const DnsmasqJail& jail) = 0;

  // Passthrough devices (src/vfio; docs/infiniband.md).
  // The GUIDs of HCA `hca`'s InfiniBand ports (libibumad).
  virtual std::vector<std::uint64_t> hca_port_guids(const std::string& hca) = 0;
  // The job's partition key on `network` from the pkey store `store`, this node's members
  // recorded under `node` (pkey_store.hpp).
  virtual std::uint16_t join_pkey(const vfio::PkeyStoreSpec& store, const std::string& network,
                                  vfio::PkeyRange range, std::uint32_t job, const std::string& node,
                                  const std::function<vfio::NodeMembers(std::uint16_t)>& members) = 0;
  // HCA `hca`'s physical function (Error(not_found) when the node has no such HCA), and the VFs
  // of a physical function (its virtfnN), by index.
  virtual std::string hca_function(const std::string& hca) = 0;
  virtual std::vector<vfio::VfState> vfs_of(const std::string& pf) = 0;
  // A PCI function (Error(not_found) when the node has none), and the functions of a slot.
  virtual vfio::PciFunction pci_function(const std::string& bdf) = 0;
  virtual std::vector<std::string> slot_functions(const std::string& slot) = 0;
  // The PCI functions the node's other jobs' ledgers hold (pci.vfio records).
  virtual std::set<std::string> held_pci_functions(std::uint32_t exclude) = 0;
  // VF `vf` of physical function `pf`: its GUIDs, and new ones with policy Follow.
  virtual vfio::VfGuids vf_guids(const std::string& pf, unsigned vf) = 0;
  virtual void assign_vf_guids(const std::string& pf, unsigned vf, vfio::VfGuids guids) = 0;
  // `bdf` on vfio-pci with `together`, the other functions of its device (pci_bind.hpp).
  virtual unsigned bind_vfio(const std::string& bdf, const std::vector<std::string>& together) = 0;
  virtual void set_vfio_owner(unsigned group, uid_t uid, gid_t gid) = 0;

  // Files (root's directories; write_file_atomic, synced).
  virtual void make_private_dir(const std::filesystem::path& dir, unsigned mode) = 0;
  virtual void write_file(const std::filesystem::path& file, const std::string& content, unsigned mode,
                          FileOwner owner) = 0;

  // Undo. Each one treats "already gone" as success (ledger.hpp).
  // True when it wrote the saved value back (the job was the last to need forwarding).
  virtual bool release_ip_forward(std::uint32_t job) = 0;
  virtual void delete_tap(const std::string& name) = 0;
  virtual void detach_from_bridge(const std::string& tap) = 0;
  // May finish after it returns (the real node's does): delete_tap waits for it, and reports
  // its failure.
  virtual void delete_link_group(std::uint32_t group) = 0;
  // RTM_DELLINK of one device by name (a veth: its far end goes with it).
  virtual void delete_link(const std::string& name) = 0;
  // The jailed dnsmasq of the pid file, and its files; its veth stays (dnsmasq_jail.hpp).
  virtual void stop_dnsmasq(const std::filesystem::path& pid_file, const std::filesystem::path& log_file) = 0;
  virtual void stop_legacy_dnsmasq(const std::filesystem::path& pid_file) = 0;
  virtual void remove_ports(const std::string& bridge, const std::vector<std::string>& names,
                            const std::string& comment, std::chrono::milliseconds deadline) = 0;
  virtual void clear_interface_ipv4(const std::string& name) = 0;
  virtual void delete_job_flows(const std::string& bridge, std::uint32_t job) = 0;
  virtual void remove_file(const std::filesystem::path& file) = 0;
  virtual void remove_tree(const std::filesystem::path& dir) = 0;
  virtual void leave_pkey(const vfio::PkeyStoreSpec& store, const std::string& network, std::uint32_t job,
                          const std::string& node) = 0;
  virtual void release_vf_guids(const std::string& pf, unsigned vf, vfio::VfGuids previous) = 0;
  virtual void return_to_driver(const std::string& bdf, const std::optional<std::string>& driver) = 0;

  // What the undo reads of the node: whether a file exists, the records of its jobs
  // (state/<id>.json; `exclude`: 0 for none), one job's record if it has one.
  virtual bool exists(const std::filesystem::path& file) = 0;
  virtual std::vector<JobState> job_states(std::uint32_t exclude) = 0;
  virtual std::optional<JobState> job_state(std::uint32_t job) = 0;
};

// The real node, through the functions of netsetup.
class RealNodeEffects final : public NodeEffects {
 public:
  explicit RealNodeEffects(NodePaths paths) : paths_(std::move(paths)) {}
  // Waits for a link group deletion still under way (logged if it failed: see delete_link_group).
  ~RealNodeEffects() override;
  // Waits for what an undo left running (a link group's deletion); throws its Error. For
  // undo_ledger's `settle`: a failure there keeps the ledger.
  void settle();
  RealNodeEffects(const RealNodeEffects&) = delete;
  RealNodeEffects& operator=(const RealNodeEffects&) = delete;

  std::string bridge_datapath(const std::string& bridge, config::OvsDatapath wanted) override;
  void ensure_bridge(const std::string& bridge, const std::string& datapath,
                     std::chrono::milliseconds deadline) override;
  void ensure_tunnel_port(const std::string& bridge, const std::string& port,
                          std::chrono::milliseconds deadline) override;
  void add_ports(const std::string& bridge, const std::vector<PortSpec>& ports, const std::string& comment,
                 std::chrono::milliseconds deadline) override;
  void await_ports(std::chrono::milliseconds deadline) override;
  void apply_flows(const std::string& flows, std::chrono::milliseconds deadline) override;
  void wait_for_interface(const std::string& name, std::chrono::milliseconds deadline) override;
  bool ip_forward_enabled() override;
  void save_ip_forward() override;
  void enable_ip_forward() override;
  void sync_nat(std::uint32_t exclude, const std::vector<BridgedPort>& pending) override;
  void create_tap(const TapSpec& tap) override;
  void attach_to_bridge(const std::string& tap, const std::string& bridge,
                        const std::vector<config::Vlan>& vlans) override;
  void set_interface_ipv4(const std::string& name, std::uint32_t ip, unsigned prefix) override;
  void start_dnsmasq(const DnsmasqConfig& cfg, const DnsmasqJail& jail) override;
  void await_dnsmasq(const DnsmasqJail& jail) override;
  std::vector<std::uint64_t> hca_port_guids(const std::string& hca) override;
  std::uint16_t join_pkey(const vfio::PkeyStoreSpec& store, const std::string& network, vfio::PkeyRange range,
                          std::uint32_t job, const std::string& node,
                          const std::function<vfio::NodeMembers(std::uint16_t)>& members) override;
  std::string hca_function(const std::string& hca) override;
  std::vector<vfio::VfState> vfs_of(const std::string& pf) override;
  vfio::PciFunction pci_function(const std::string& bdf) override;
  std::vector<std::string> slot_functions(const std::string& slot) override;
  std::set<std::string> held_pci_functions(std::uint32_t exclude) override;
  vfio::VfGuids vf_guids(const std::string& pf, unsigned vf) override;
  void assign_vf_guids(const std::string& pf, unsigned vf, vfio::VfGuids guids) override;
  unsigned bind_vfio(const std::string& bdf, const std::vector<std::string>& together) override;
  void set_vfio_owner(unsigned group, uid_t uid, gid_t gid) override;
  void make_private_dir(const std::filesystem::path& dir, unsigned mode) override;
  void write_file(const std::filesystem::path& file, const std::string& content, unsigned mode,
                  FileOwner owner) override;
  bool release_ip_forward(std::uint32_t job) override;
  void delete_tap(const std::string& name) override;
  void detach_from_bridge(const std::string& tap) override;
  void delete_link_group(std::uint32_t group) override;
  void delete_link(const std::string& name) override;
  void stop_dnsmasq(const std::filesystem::path& pid_file, const std::filesystem::path& log_file) override;
  void stop_legacy_dnsmasq(const std::filesystem::path& pid_file) override;
  void remove_ports(const std::string& bridge, const std::vector<std::string>& names, const std::string& comment,
                    std::chrono::milliseconds deadline) override;
  void clear_interface_ipv4(const std::string& name) override;
  void delete_job_flows(const std::string& bridge, std::uint32_t job) override;
  void remove_file(const std::filesystem::path& file) override;
  void remove_tree(const std::filesystem::path& dir) override;
  void leave_pkey(const vfio::PkeyStoreSpec& store, const std::string& network, std::uint32_t job,
                  const std::string& node) override;
  void release_vf_guids(const std::string& pf, unsigned vf, vfio::VfGuids previous) override;
  void return_to_driver(const std::string& bdf, const std::optional<std::string>& driver) override;
  bool exists(const std::filesystem::path& file) override;
  std::vector<JobState> job_states(std::uint32_t exclude) override;
  std::optional<JobState> job_state(std::uint32_t job) override;

 private:
  OvsdbClient& ovsdb();
  void await_link_group_deletion();

  NodePaths paths_;
  std::optional<OvsdbClient> client_;  // connected on first use
  // delete_link_group's RTM_DELLINK, in a thread of its own: the kernel's unregistration ends in
  // an rcu_barrier() (netdev_run_todo), a full RCU grace period (~20 ms on the 2-vCPU test VM)
  // that the undos after it (the table, the flows, the OVS ports) no longer wait for. Awaited by
  // delete_tap (the tap.create entries, undone after the group's: a failed deletion fails the
  // first of them, so the ledger is kept), by a second delete_link_group and at destruction.
  std::future<void> link_group_deletion_;
  // add_ports' configuration number and names, until await_ports.
  struct PendingPorts {
    std::int64_t cfg = 0;
    std::vector<std::string> names;
  };
  std::optional<PendingPorts> pending_ports_;
};

}  // namespace slurmvm::netsetup
