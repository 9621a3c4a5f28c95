// vm doctor: Open vSwitch and nftables (checks.hpp).
#include <fmt/format.h>

#include "checks.hpp"
#include "error.hpp"
#include "file_read.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/ovsdb.hpp"
#include "parsers.hpp"

namespace fs = std::filesystem;

namespace slurmvm::doctor {
namespace {

// A set column of OVSDB's JSON (RFC 7047 §5.1): a bare atom or ["set", [atoms]].
std::vector<std::string> set_of_strings(const nlohmann::json& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array() && v.size() == 2 && v[0] == "set") {
    for (const auto& a : v[1]) {
      if (a.is_string()) out.push_back(a.get<std::string>());
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

}  // namespace

std::vector<Finding> check_ovs(const Host& host, const config::Config* cfg) {
  std::vector<Finding> out;
  const std::string bridge = cfg != nullptr ? cfg->site.ovs.bridge : "br-int";
  nlohmann::json result;
  try {
    auto client = netsetup::OvsdbClient::connect(host.ovsdb_socket, std::chrono::seconds(5));
    const nlohmann::json ops = nlohmann::json::array(
        {{{"op", "select"}, {"table", "Open_vSwitch"}, {"where", nlohmann::json::array()},
          {"columns", {"ovs_version", "datapath_types"}}},
         {{"op", "select"}, {"table", "Bridge"}, {"where", {{"name", "==", bridge}}},
          {"columns", {"datapath_type"}}}});
    result = client.transact(ops, std::chrono::seconds(5));
  } catch (const Error& e) {
    out.push_back({"ovs", Status::fail, fmt::format("Open vSwitch not reachable at {}: {}", host.ovsdb_socket, e.what()),
                   "install and start openvswitch-switch (systemctl enable --now openvswitch-switch)"});
    return out;
  }
  std::string version;  // ovs-ctl records it; an ovsdb-server started by hand may not
  std::vector<std::string> datapaths;
  if (const auto& rows = result.at(0).at("rows"); !rows.empty()) {
    const auto& row = rows.at(0);
    const auto v = set_of_strings(row.value("ovs_version", nlohmann::json()));
    if (!v.empty()) version = v.front();
    datapaths = set_of_strings(row.value("datapath_types", nlohmann::json()));
  }
  out.push_back({"ovs", Status::ok,
                 fmt::format("Open vSwitch{} answers at {}", version.empty() ? "" : " " + version, host.ovsdb_socket), ""});

  // The datapath: what the site asks for (ovs.datapath) against what this host offers. The
  // kernel's needs its openvswitch module; `auto` takes an existing bridge's, else the kernel's
  // when the module is loaded, else the userspace one (docs/config.md).
  std::error_code ec;
  const bool kernel_module = fs::exists(host.sys / "module/openvswitch", ec);
  std::string bridge_datapath;
  if (const auto& rows = result.at(1).at("rows"); !rows.empty()) {
    const auto d = set_of_strings(rows.at(0).value("datapath_type", nlohmann::json()));
    bridge_datapath = d.empty() || d.front().empty() ? "system" : d.front();
  }
  const config::OvsDatapath wanted = cfg != nullptr ? cfg->site.ovs.datapath : config::OvsDatapath::auto_detect;
  const std::string offered = fmt::format("datapaths offered: {}; kernel module {}", join(datapaths),
                                          kernel_module ? "loaded" : "not loaded");
  if (wanted == config::OvsDatapath::system && !kernel_module) {
    out.push_back({"ovs-datapath", Status::fail,
                   fmt::format("ovs.datapath is system but the openvswitch kernel module is not loaded ({})", offered),
                   "modprobe openvswitch (and list it in /etc/modules-load.d)"});
  } else if (!bridge_datapath.empty()) {
    out.push_back({"ovs-datapath", Status::ok, fmt::format("{} exists with datapath {} ({})", bridge, bridge_datapath, offered), ""});
  } else {
    const std::string chosen = wanted == config::OvsDatapath::netdev || (wanted == config::OvsDatapath::auto_detect && !kernel_module)
                                   ? "netdev (userspace)"
                                   : "system (kernel)";
    out.push_back({"ovs-datapath", Status::ok,
                   fmt::format("{} absent: the first job's prolog makes it with datapath {} ({})", bridge, chosen, offered),
                   ""});
  }
  return out;
}

std::vector<Finding> check_nftables(const Host& host, const config::Config* cfg) {
  std::vector<Finding> out;
  std::string ruleset;
  bool listed = false;
  if (!host.root) {
    out.push_back({"nftables", Status::skip, "only root can list the ruleset: run vm doctor as root", ""});
  } else {
    try {
      ruleset = netsetup::nft_list("ruleset");
      listed = true;
      out.push_back({"nftables", Status::ok, "nftables usable (libnftables, the kernel's nf_tables)", ""});
    } catch (const Error& e) {
      out.push_back({"nftables", Status::fail, e.what(),
                     "install libnftables1 (Debian) or nftables (RPM), and load nf_tables and nft_chain_nat"});
    }
  }
  // IPv4 forwarding: the prolog turns it on while a job needs it (manage-ip-forward, the
  // default) and back off after; a network that leaves it to the site needs it on already.
  std::string forward;
  try {
    forward = read_file(host.proc / "sys/net/ipv4/ip_forward", 64);
  } catch (const Error&) {
  }
  const bool forwarding = !forward.empty() && forward[0] == '1';
  std::vector<std::string> site_managed;
  if (cfg != nullptr) {
    for (const auto& [name, n] : cfg->networks) {
      if (const auto* e = std::get_if<config::EthernetNetwork>(&n.settings); e != nullptr && !e->manage_ip_forward) {
        site_managed.push_back(name);
      }
    }
  }
  if (!forwarding && !site_managed.empty()) {
    out.push_back({"ip-forward", Status::fail,
                   fmt::format("IPv4 forwarding is off and network(s) {} leave it to the site", join(site_managed)),
                   "sysctl -w net.ipv4.ip_forward=1 (and in /etc/sysctl.d), or manage-ip-forward: true"});
  } else {
    out.push_back({"ip-forward", Status::ok,
                   fmt::format("IPv4 forwarding {}{}", forwarding ? "on" : "off",
                               forwarding ? "" : " (the prolog turns it on while a job needs it)"),
                   ""});
  }
  // Another firewall's forward chain that drops by default drops the VMs' reverse NAT and
  // outbound traffic too: slurm-vm accepts it in its own table only.
  if (listed) {
    const auto drops = forward_drop_chains(ruleset, "slurm_vm");
    if (drops.empty()) {
      out.push_back({"forward-policy", Status::ok, "no other forward chain drops by default", ""});
    } else {
      out.push_back({"forward-policy", Status::warn,
                     fmt::format("forward chain(s) with policy drop: {}: they drop the VMs' reverse NAT and outbound "
                                 "traffic unless they accept it",
                                 join(drops)),
                     "accept traffic to and from the networks' int-network in those chains"});
    }
  }
  return out;
}

}  // namespace slurmvm::doctor
