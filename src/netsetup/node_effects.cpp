// The real node's effects (node_effects.hpp).
#include "netsetup/node_effects.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "netsetup/bridge_port.hpp"
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
  Vswitch(ovsdb(), deadline).add_ports(bridge, ports, comment);
}

void RealNodeEffects::apply_flows(const std::string& flows, std::chrono::milliseconds deadline) {
  auto ofctl = paths_.ofctl();
  ofctl.timeout = deadline;
  netsetup::apply_flows(ofctl, flows);
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

void RealNodeEffects::enable_ip_forward() { netsetup::enable_ip_forward(paths_); }

void RealNodeEffects::sync_nat(const std::vector<BridgedPort>& pending) { netsetup::sync_nat(paths_, 0, pending); }

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

void RealNodeEffects::make_private_dir(const std::filesystem::path& dir, unsigned mode) {
  ensure_private_dir(dir, mode);
}

void RealNodeEffects::write_file(const std::filesystem::path& file, const std::string& content, unsigned mode,
                                 FileOwner owner) {
  write_file_atomic(file, content, mode, owner);
}

}  // namespace slurmvm::netsetup
