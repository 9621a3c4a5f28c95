// The host changes' records and undo (host_changes.hpp).
#include "netsetup/host_changes.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "error.hpp"
#include "log.hpp"
#include "netsetup/link_group.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/node_effects.hpp"
#include "netsetup/node_job.hpp"
#include "vfio/ib_guid.hpp"
#include "vfio/pkey_store_open.hpp"
#include "vfio/pci_sysfs.hpp"
#include "config/names.hpp"

namespace fs = std::filesystem;

namespace slurmvm::netsetup {
namespace change {

// The records' fields are the members' names: one declaration gives both directions.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NodeBridge, bridge, datapath)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NodeTunnel, bridge, port)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NodeBaseFlows, bridge)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(IpForward, job)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TapCreate, job, name, owner)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TapBridge, job, name, bridge)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TapsGroup, job, group)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DhcpJail, job, pid_file, log_file, port)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DhcpStart, job, pid_file)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OvsPorts, job, bridge, names)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(GatewayAddress, job, name, address)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StateWrite, job)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(JobDirWrite, job)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NatSync, job)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(VfGuids, job, device, pf, vf, node_guid, port_guid, previous_node_guid,
                                   previous_port_guid)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PciVfio, job, bdf, driver)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(VfioOwner, job, group, owner)

// `bridge` may be missing (records from before ovs.bridge): written only when set.
void to_json(nlohmann::json& j, const JobFlows& c) {
  j = {{"job", c.job}};
  if (!c.bridge.empty()) j["bridge"] = c.bridge;
}
void from_json(const nlohmann::json& j, JobFlows& c) {
  j.at("job").get_to(c.job);
  c.bridge = j.value("bridge", std::string{});
}

// The etcd fields only for an etcd store: a file store's record stays as it was.
void to_json(nlohmann::json& j, const PkeyJoin& c) {
  j = {{"job", c.job}, {"network", c.network}, {"node", c.node}, {"store", c.store}};
  if (!c.etcd.empty()) {
    j["etcd"] = c.etcd;
    j["etcd_prefix"] = c.etcd_prefix;
  }
  if (!c.etcd_ca.empty()) j["etcd_ca"] = c.etcd_ca;
  if (!c.etcd_cert.empty()) j["etcd_cert"] = c.etcd_cert;
  if (!c.etcd_key.empty()) j["etcd_key"] = c.etcd_key;
}
void from_json(const nlohmann::json& j, PkeyJoin& c) {
  j.at("job").get_to(c.job);
  j.at("network").get_to(c.network);
  j.at("node").get_to(c.node);
  j.at("store").get_to(c.store);
  c.etcd = j.value("etcd", std::vector<std::string>{});
  c.etcd_prefix = j.value("etcd_prefix", std::string{});
  c.etcd_ca = j.value("etcd_ca", std::string{});
  c.etcd_cert = j.value("etcd_cert", std::string{});
  c.etcd_key = j.value("etcd_key", std::string{});
}

}  // namespace change

namespace {

template <class T>
void try_parse(const nlohmann::json& record, std::string_view op, std::optional<HostChange>& out) {
  if (out || op != T::op) return;
  out = record.get<T>();
}

template <class... Ts>
std::optional<HostChange> parse_any(const nlohmann::json& record, std::string_view op, std::variant<Ts...>*) {
  std::optional<HostChange> out;
  (try_parse<Ts>(record, op, out), ...);
  return out;
}

template <class... Ts>
void add_handlers(UndoHandlers& h, const UndoHandler& handler, std::variant<Ts...>*) {
  (h.emplace(std::string(Ts::op), handler), ...);
}

// The ledger is root's own file; still, only files of ours are ever acted on.
fs::path dnsmasq_file(const NodePaths& paths, std::string_view op, const std::string& file) {
  const fs::path p = file;
  if (p.parent_path() != paths.dnsmasq_dir()) {
    throw Error(fmt::format("{}: {} is outside {}", op, file, paths.dnsmasq_dir().string()), ErrorKind::internal);
  }
  return p;
}

// What goes into a sysfs path or the store comes from root's own ledger; still, it is checked to
// be what the prolog writes there and nothing else.
void check_record(bool ok, std::string_view op, const std::string& what) {
  if (!ok) throw Error(fmt::format("{}: unexpected {}", op, what), ErrorKind::internal);
}

std::uint64_t guid_field(std::string_view op, const std::string& text) {
  const auto guid = vfio::parse_guid(text);
  check_record(guid.has_value(), op, fmt::format("GUID \"{}\"", text));
  return *guid;
}

// Each change's undo, through the node's effects. Idempotent: what is already gone is success.
struct Undo {
  NodeEffects& fx;
  const NodePaths& paths;
  std::uint32_t job_id;

  // Node-level objects outlive jobs.
  void operator()(const change::NodeBridge&) const {}
  void operator()(const change::NodeTunnel&) const {}
  void operator()(const change::NodeBaseFlows&) const {}
  // Usually released already by the job's nat.sync undo, which rebuilt the table once for both.
  void operator()(const change::IpForward&) const {
    if (fx.release_ip_forward(job_id)) fx.sync_nat(job_id, {});  // without the forwarding drop
  }
  void operator()(const change::TapCreate& c) const { fx.delete_tap(c.name); }
  // The TAP leaves its bridge when it is deleted; detaching first keeps the bridge clean even
  // if the deletion fails (QEMU still attached).
  void operator()(const change::TapBridge& c) const { fx.detach_from_bridge(c.name); }
  // All of the job's TAPs and its DHCP veth in one kernel operation (link_group.hpp): the kernel
  // unregisters them under one RCU grace period (~20 ms) instead of one each, while the undos
  // after this one run (the real node's deletion finishes in a thread; delete_tap waits for it).
  // The tap.create and dhcp.jail entries undone after it then find nothing left. Skipped, leaving the devices to
  // those entries, should another job of the node hold the same network id (and so group).
  void operator()(const change::TapsGroup& c) const {
    for (const auto& other : fx.job_states(job_id)) {
      if (other.network_id != 0 && tap_link_group(other.network_id) == c.group) {
        log_warning("job {}: link group {:#x} is job {}'s too: deleting the TAPs one by one", job_id, c.group,
                    other.job_id);
        return;
      }
    }
    fx.delete_link_group(c.group);
  }
  void operator()(const change::DhcpJail& c) const {
    if (!c.port.starts_with(kDnsPortPrefix)) {
      throw Error(fmt::format("{}: {} is not a DHCP port", change::DhcpJail::op, c.port), ErrorKind::internal);
    }
    fx.stop_dnsmasq(dnsmasq_file(paths, change::DhcpJail::op, c.pid_file),
                    dnsmasq_file(paths, change::DhcpJail::op, c.log_file));
    // Gone already when the job's link group went first (ledgers since the group is recorded
    // after the jail), or with the jail's network namespace.
    fx.delete_link(c.port);
  }
  void operator()(const change::DhcpStart& c) const {
    fx.stop_legacy_dnsmasq(dnsmasq_file(paths, change::DhcpStart::op, c.pid_file));
  }
  void operator()(const change::OvsPorts& c) const {
    // The userspace datapath removes about 64 ports a second: the deadline grows with them.
    fx.remove_ports(c.bridge, c.names, fmt::format("slurm-vm epilog job {}", c.job),
                    std::chrono::seconds(10) + std::chrono::milliseconds(100) * static_cast<long>(c.names.size()));
  }
  void operator()(const change::GatewayAddress& c) const { fx.clear_interface_ipv4(c.name); }
  void operator()(const change::JobFlows& c) const {
    // The bridge the prolog used (slurm-vm.yaml ovs.bridge), not today's default: the epilog
    // reads no configuration.
    if (!c.bridge.empty()) validate_ifname(c.bridge);
    fx.delete_job_flows(c.bridge.empty() ? paths.bridge : c.bridge, c.job);
  }
  void operator()(const change::StateWrite& c) const {
    fx.remove_file(paths.state_file(c.job));
    fx.remove_file(paths.flows_file(c.job));
  }
  void operator()(const change::JobDirWrite& c) const { fx.remove_tree(paths.job_dir(c.job)); }
  void operator()(const change::PkeyJoin& c) const {
    const vfio::PkeyStoreSpec spec{c.store, c.etcd, c.etcd_prefix, {c.etcd_ca, c.etcd_cert, c.etcd_key}};
    auto check_path = [](const std::string& p, const std::string& what) {
      const fs::path path = p;
      check_record(path.is_absolute() && path.lexically_normal() == path, change::PkeyJoin::op, what + " " + p);
    };
    if (!spec.etcd()) check_path(c.store, "store");
    for (const auto& [file, what] : {std::pair{&c.etcd_ca, "etcd_ca"}, {&c.etcd_cert, "etcd_cert"}, {&c.etcd_key, "etcd_key"}}) {
      if (!file->empty()) check_path(*file, what);
    }
    check_record(config::is_valid_name(c.network), change::PkeyJoin::op, "network " + c.network);
    fx.leave_pkey(spec, c.network, c.job, c.node);
  }
  void operator()(const change::VfGuids& c) const {
    check_record(vfio::is_full_bdf(c.pf), change::VfGuids::op, "PCI address " + c.pf);
    fx.release_vf_guids(c.pf, c.vf,
                        {guid_field(change::VfGuids::op, c.previous_node_guid),
                         guid_field(change::VfGuids::op, c.previous_port_guid)});
  }
  void operator()(const change::PciVfio& c) const {
    check_record(vfio::is_full_bdf(c.bdf), change::PciVfio::op, "PCI address " + c.bdf);
    check_record(c.driver.empty() || vfio::is_driver_name(c.driver), change::PciVfio::op, "driver " + c.driver);
    fx.return_to_driver(c.bdf, c.driver.empty() ? std::nullopt : std::optional<std::string>(c.driver));
  }
  void operator()(const change::VfioOwner& c) const { fx.set_vfio_owner(c.group, 0, 0); }
  void operator()(const change::NatSync& c) const {
    // Its DHCP/DNS server goes before its filters (the table may go with them, when it was the
    // node's last VM job): a jail that a guest took over never talks to the node unfiltered.
    // (Its own dhcp.jail entry, undone later, then finds no process; its veth goes with the
    // job's TAPs, link group.)
    if (const auto pid_file = paths.dnsmasq_dir() / fmt::format("{}.pid", c.job); fx.exists(pid_file)) {
      fx.stop_dnsmasq(pid_file, paths.dnsmasq_dir() / fmt::format("{}.log", c.job));
    }
    // Its bridged TAPs leave their bridges before their filter goes: nobody (the user can
    // open a TAP the VM no longer holds) sends unfiltered on the site's LAN meanwhile.
    if (const auto record = fx.job_state(c.job)) {
      for (const auto& b : record->bridged) fx.detach_from_bridge(b.tap);
    }
    // Forwarding back to what the node had, when this was the last job to need it, before the
    // rebuild: the table then loses the forwarding drop in the same batch (one rebuild, not two,
    // for the node's last job; its node.ip_forward entry, undone later, finds it done).
    fx.release_ip_forward(c.job);
    fx.sync_nat(c.job, {});
  }
};

}  // namespace

std::string_view op_of(const HostChange& change) {
  return std::visit([](const auto& c) { return std::remove_cvref_t<decltype(c)>::op; }, change);
}

nlohmann::json to_record(const HostChange& change) {
  nlohmann::json j = std::visit([](const auto& c) { return nlohmann::json(c); }, change);
  j["op"] = std::string(op_of(change));
  return j;
}

HostChange parse_change(const nlohmann::json& record) {
  if (!record.is_object() || !record.contains("op") || !record.at("op").is_string()) {
    throw Error("a ledger record without an op", ErrorKind::config);
  }
  const auto op = record.at("op").get<std::string>();
  try {
    if (auto c = parse_any(record, op, static_cast<HostChange*>(nullptr))) return *c;
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("ledger record {}: {}", op, e.what()), ErrorKind::config);
  }
  throw Error(fmt::format("unknown ledger op '{}'", op), ErrorKind::config);
}

void record(Ledger& ledger, const HostChange& change) { ledger.record(to_record(change)); }

void undo_change(const HostChange& change, NodeEffects& effects, const NodePaths& paths, std::uint32_t job_id) {
  std::visit(Undo{effects, paths, job_id}, change);
}

UndoHandlers change_undo_handlers(NodeEffects& effects, const NodePaths& paths, std::uint32_t job_id) {
  UndoHandlers h;
  // VF GUIDs derive from the job's pkey: while a VF may still carry one (its undo failed), the
  // pkey is not given back, or the next job would get it and put that GUID twice in the fabric.
  // The ledger is kept; a later run (the reclaim, an admin's) leaves once the VF is back.
  auto vf_guids_kept = std::make_shared<std::vector<std::string>>();
  const UndoHandler handler = [&effects, paths, job_id, vf_guids_kept](const nlohmann::json& record) {
    const HostChange c = parse_change(record);
    if (std::holds_alternative<change::PkeyJoin>(c) && !vf_guids_kept->empty()) {
      throw Error(fmt::format("not leaving partition key of network {}: VF(s) {} may still carry GUIDs derived from it",
                              std::get<change::PkeyJoin>(c).network, fmt::join(*vf_guids_kept, ", ")),
                  ErrorKind::system);
    }
    try {
      undo_change(c, effects, paths, job_id);
    } catch (const Error&) {
      if (const auto* v = std::get_if<change::VfGuids>(&c)) {
        vf_guids_kept->push_back(fmt::format("{} VF {}", v->pf, v->vf));
      }
      throw;
    }
  };
  add_handlers(h, handler, static_cast<HostChange*>(nullptr));
  return h;
}

}  // namespace slurmvm::netsetup
