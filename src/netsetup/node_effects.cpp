// The real node's effects (node_effects.hpp).
#include "netsetup/node_effects.hpp"

#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "log.hpp"
#include "netsetup/bridge_port.hpp"
#include "netsetup/dnsmasq_jail.hpp"
#include "netsetup/link_group.hpp"
#include "netsetup/netns_link.hpp"
#include "netsetup/tap.hpp"
#include "netsetup/flows.hpp"

namespace slurmvm::netsetup {

// How long dnsmasq may take to listen in its jail.
constexpr std::chrono::seconds kDnsmasqTimeout{10};

OvsdbClient& RealNodeEffects::ovsdb() {
  if (!client_) client_.emplace(OvsdbClient::connect(paths_.ovsdb_socket));
  return *client_;
}

std::string RealNodeEffects::bridge_datapath(const std::string& bridge, config::OvsDatapath wanted) {
  if (wanted != config::OvsDatapath::auto_detect) return std::string(config::to_string(wanted));
  const nlohmann::json ops = nlohmann::json::array(
      {{{"op", "select"}, {"table", "Bridge"}, {"where", {{"name", "==", bridge}}}, {"columns", {"datapath_type"}}}});
  const auto result = ovsdb().transact(ops, std::chrono::seconds(10));
  const auto& rows = result.at(0).at("rows");
  if (!rows.empty()) return rows.at(0).at("datapath_type").get<std::string>();
  return ::access("/sys/module/openvswitch", F_OK) == 0 ? "system" : "netdev";
}

void RealNodeEffects::ensure_bridge(const std::string& bridge, const std::string& datapath,
                                    std::chrono::milliseconds deadline) {
  Vswitch(ovsdb(), deadline).ensure_bridge(bridge, datapath);
}

void RealNodeEffects::ensure_tunnel_port(const std::string& bridge, const std::string& port,
                                         std::chrono::milliseconds deadline) {
  Vswitch(ovsdb(), deadline).ensure_tunnel_port(bridge, port);
}

void RealNodeEffects::add_ports(const std::string& bridge, const std::vector<PortSpec>& ports,
                                const std::string& comment, std::chrono::milliseconds deadline) {
  std::vector<std::string> names;
  for (const auto& p : ports) names.push_back(p.name);
  pending_ports_ = PendingPorts{Vswitch(ovsdb(), deadline).commit_add_ports(bridge, ports, comment), std::move(names)};
}

void RealNodeEffects::await_ports(std::chrono::milliseconds deadline) {
  if (!pending_ports_) return;
  const PendingPorts pending = std::move(*pending_ports_);
  pending_ports_.reset();
  Vswitch(ovsdb(), deadline).await_ports(pending.cfg, pending.names);
}

void RealNodeEffects::apply_flows(const std::string& flows, std::chrono::milliseconds deadline) {
  auto target = paths_.openflow();
  target.timeout = deadline;
  netsetup::apply_flows(target, flows, [&](const std::vector<std::string>& names) {
    return Vswitch(ovsdb(), deadline).port_numbers(names);
  });
}

void RealNodeEffects::wait_for_interface(const std::string& name, std::chrono::milliseconds deadline) {
  netsetup::wait_for_interface(name, deadline);
}

bool RealNodeEffects::ip_forward_enabled() {
  try {
    return read_small_file(paths_.ip_forward_sysctl).rfind('1', 0) == 0;
  } catch (const Error&) {
    return false;
  }
}

void RealNodeEffects::save_ip_forward() { netsetup::save_ip_forward(paths_); }

void RealNodeEffects::enable_ip_forward() { netsetup::enable_ip_forward(paths_); }

void RealNodeEffects::sync_nat(std::uint32_t exclude, const std::vector<BridgedPort>& pending) {
  netsetup::sync_nat(paths_, exclude, pending);
}

void RealNodeEffects::create_tap(const TapSpec& tap) { netsetup::create_tap(tap); }

void RealNodeEffects::attach_to_bridge(const std::string& tap, const std::string& bridge,
                                       const std::vector<config::Vlan>& vlans) {
  netsetup::attach_to_bridge(tap, bridge, vlans);
}

void RealNodeEffects::set_interface_ipv4(const std::string& name, std::uint32_t ip, unsigned prefix) {
  netsetup::set_interface_ipv4(name, ip, prefix);
}

void RealNodeEffects::start_dnsmasq(const DnsmasqConfig& cfg, const DnsmasqJail& jail) {
  start_jailed_dnsmasq(cfg, jail, kDnsmasqTimeout);
}

void RealNodeEffects::await_dnsmasq(const DnsmasqJail& jail) {
  await_jailed_dnsmasq(jail.pid_file, jail.log_file, kDnsmasqTimeout);
}

void RealNodeEffects::make_private_dir(const std::filesystem::path& dir, unsigned mode) {
  ensure_private_dir(dir, mode);
}

void RealNodeEffects::write_file(const std::filesystem::path& file, const std::string& content, unsigned mode,
                                 FileOwner owner) {
  write_file_atomic(file, content, mode, owner);
}

bool RealNodeEffects::release_ip_forward(std::uint32_t job) { return netsetup::release_ip_forward(paths_, job); }

RealNodeEffects::~RealNodeEffects() {
  try {
    await_link_group_deletion();
  } catch (const std::exception& e) {
    log_error("{}", e.what());
  }
}

void RealNodeEffects::settle() { await_link_group_deletion(); }

void RealNodeEffects::await_link_group_deletion() {
  if (link_group_deletion_.valid()) link_group_deletion_.get();  // rethrows its Error
}

void RealNodeEffects::delete_tap(const std::string& name) {
  await_link_group_deletion();
  netsetup::delete_tap(name);
}

void RealNodeEffects::detach_from_bridge(const std::string& tap) { netsetup::detach_from_bridge(tap); }

void RealNodeEffects::delete_link_group(std::uint32_t group) {
  await_link_group_deletion();
  // The thread starts in this thread's network namespace (the node's, or a test's).
  try {
    link_group_deletion_ = std::async(std::launch::async, [group] { netsetup::delete_link_group(group); });
  } catch (const std::system_error&) {
    netsetup::delete_link_group(group);  // no thread to be had: at the kernel's pace, here
  }
}

void RealNodeEffects::delete_link(const std::string& name) { netsetup::delete_link(name); }

void RealNodeEffects::stop_dnsmasq(const std::filesystem::path& pid_file, const std::filesystem::path& log_file) {
  stop_jailed_dnsmasq(pid_file, log_file);
}

void RealNodeEffects::stop_legacy_dnsmasq(const std::filesystem::path& pid_file) {
  netsetup::stop_legacy_dnsmasq(pid_file);
}

void RealNodeEffects::remove_ports(const std::string& bridge, const std::vector<std::string>& names,
                                   const std::string& comment, std::chrono::milliseconds deadline) {
  // A connection of its own: each undo stands alone, whatever an earlier one did to the last.
  auto client = OvsdbClient::connect(paths_.ovsdb_socket);
  Vswitch(client, deadline).remove_ports(bridge, names, comment);
}

void RealNodeEffects::clear_interface_ipv4(const std::string& name) { netsetup::clear_interface_ipv4(name); }

void RealNodeEffects::delete_job_flows(const std::string& bridge, std::uint32_t job) {
  NodePaths on_bridge = paths_;
  on_bridge.bridge = bridge;
  netsetup::delete_job_flows(on_bridge.openflow(), job);
}

void RealNodeEffects::remove_file(const std::filesystem::path& file) {
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) throw Error::from_errno("removing " + file.string(), errno);
}

void RealNodeEffects::remove_tree(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) throw Error("removing " + dir.string() + ": " + ec.message());
}

bool RealNodeEffects::exists(const std::filesystem::path& file) {
  std::error_code ec;
  return std::filesystem::exists(file, ec);
}

std::vector<JobState> RealNodeEffects::job_states(std::uint32_t exclude) { return read_job_states(paths_, exclude); }

std::optional<JobState> RealNodeEffects::job_state(std::uint32_t job) {
  const auto file = paths_.state_file(job);
  if (!exists(file)) return std::nullopt;
  return parse_job_state(read_small_file(file), file.string());
}

}  // namespace slurmvm::netsetup
