// networks.yaml: one parser per network type, then the checks that span networks
// (network.hpp). Settings, their defaults and their limits follow pcocc (pcocc-anatomy §2.3);
// the limits pcocc did not check are checked here, each with its reason.
#include "config/network.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "config/enum_names.hpp"
#include "config/names.hpp"
#include "config/network_outbound.hpp"
#include "config/network_passthrough.hpp"

namespace slurmvm::config {
namespace {

constexpr EnumName<NetworkLayer> kLayers[] = {{"L2", NetworkLayer::l2}, {"L3", NetworkLayer::l3}};
constexpr EnumName<VlanMode> kVlanModes[] = {
    {"native", VlanMode::native}, {"tagged", VlanMode::tagged}, {"untagged", VlanMode::untagged}};
// pcocc accepts this single value and does nothing with it.
enum class Gateway { local_nat };
constexpr EnumName<Gateway> kGateways[] = {{"local-nat", Gateway::local_nat}};

constexpr std::array<std::string_view, 5> kTypeNames = {"ethernet", "infiniband", "host-infiniband",
                                                        "bridged", "genericpci"};
static_assert(kTypeNames.size() == std::variant_size_v<NetworkSettings>);

// 576: the smallest datagram every IPv4 host must accept. 65535: the largest MTU Linux allows.
constexpr int kMinMtu = 576;
constexpr int kMaxMtu = 65535;
constexpr std::int64_t kUnbounded = std::numeric_limits<std::int64_t>::max();
// Reverse NAT ports below 1024 would let a VM answer from a privileged port of its node (a
// client that trusts reserved ports, as NFS and rsh do, would trust the guest).
constexpr int kMinUnprivilegedPort = 1024;


// Reads `key` into `field` when present.
template <class T, class Parse>
void read_optional(Mapping& m, std::string_view key, T& field, Parse&& parse) {
  if (auto v = m.get(key)) field = parse(*v);
}

int read_mtu(const Value& v) { return v.as_int32(kMinMtu, kMaxMtu); }
int read_port(const Value& v) { return v.as_int32(1, 65535); }
std::string read_string(const Value& v) { return v.as_nonempty_string(); }

// Needs room for a gateway, a host address and VMs, and no host bits (a likely typo).
Ipv4Network read_ipv4_network(const Value& v) {
  auto net = parse_ipv4_network(v.as_string());
  if (!net) v.fail_expected("an IPv4 network in CIDR notation (a.b.c.d/n)");
  if (net->prefix_length < 8 || net->prefix_length > 30) {
    v.fail(fmt::format("{}: the prefix length must be between 8 and 30", net->str()));
  }
  if (net->has_host_bits()) {
    v.fail(fmt::format("{} has host bits set (did you mean {}?)", net->str(),
                       Ipv4Network{net->address & net->mask(), net->prefix_length}.str()));
  }
  return *net;
}

MacPrefix read_mac_prefix(const Value& v) {
  auto mac = parse_mac_prefix(v.as_string());
  if (!mac) v.fail_expected("1 to 4 hexadecimal octets separated by ':' (52:54:00)");
  if ((mac->octets[0] & 1) != 0) v.fail("the first octet must be even (a unicast address)");
  return *mac;
}

std::string read_ipv4(const Value& v) {
  std::string text = v.as_string();
  if (!parse_ipv4(text)) v.fail_expected("an IPv4 address");
  return text;
}

std::string read_dns_name(const Value& v) {
  std::string text = v.as_nonempty_string();
  const bool ok = std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
  if (!ok) v.fail_expected("a domain name");
  return text;
}

// Tap names are <tap-prefix><index>: 12 characters leave 3 digits within IFNAMSIZ.
std::string read_tap_prefix(const Value& v) {
  std::string prefix = v.as_nonempty_string();
  if (prefix.size() > 12 || !is_valid_ifname(prefix)) {
    v.fail_expected("an interface name prefix of 1 to 12 characters");
  }
  return prefix;
}

ReverseNat read_reverse_nat(const Value& v) {
  Mapping m = v.as_map();
  ReverseNat r;
  r.vm_port = read_port(m.require("vm-port"));
  const Value min = m.require("min-host-port");
  r.min_host_port = read_port(min);
  if (r.min_host_port < kMinUnprivilegedPort) {
    min.fail(fmt::format("{} is a privileged port: VMs would answer from a reserved port of their node "
                         "(use {} or more)",
                         r.min_host_port, kMinUnprivilegedPort));
  }
  const Value max = m.require("max-host-port");
  r.max_host_port = read_port(max);
  m.reject_unknown_keys();
  if (r.min_host_port > r.max_host_port) {
    max.fail(fmt::format("{} is below min-host-port {}", r.max_host_port, r.min_host_port));
  }
  return r;
}


// ---- one parser per type --------------------------------------------------------------------

NetworkSettings parse_ethernet(Mapping& s) {
  EthernetNetwork n;
  const Value prefix = s.require("dev-prefix");
  n.dev_prefix = prefix.as_string();
  // Devices are named <prefix>_ns_<net>_<jobid> at the longest: 8 keeps them readable and short.
  const bool prefix_ok = !n.dev_prefix.empty() && n.dev_prefix.size() <= 8 &&
                         is_valid_name(n.dev_prefix) && n.dev_prefix.find('-') == std::string::npos;
  if (!prefix_ok) prefix.fail_expected("1 to 8 letters, digits or '_', starting with a letter");
  read_optional(s, "network-layer", n.network_layer,
                [](const Value& v) { return v.as_enum<NetworkLayer>(kLayers); });
  const auto int_v = s.get("int-network");
  const auto ext_v = s.get("ext-network");
  if (int_v) n.int_network = read_ipv4_network(*int_v);
  if (ext_v) n.ext_network = read_ipv4_network(*ext_v);
  read_optional(s, "mac-prefix", n.mac_prefix, read_mac_prefix);
  const auto offset_v = s.get("mac-start-offset");
  if (offset_v) {
    n.mac_start_offset = static_cast<std::uint64_t>(offset_v->as_int(0, kUnbounded));
    offset_v->warn_no_effect("slurm-vm derives each VM's MAC address from the job and the VM's rank (docs/addressing.md)");
  }
  read_optional(s, "mtu", n.mtu, read_mtu);
  read_optional(s, "host-if-suffix", n.host_if_suffix,
                [](const Value& v) { return v.as_string(); });
  read_optional(s, "domain-name", n.domain_name, read_dns_name);
  read_optional(s, "dns-search", n.dns_search, read_dns_name);
  read_optional(s, "dns-server", n.dns_server, read_ipv4);
  read_optional(s, "ntp-server", n.ntp_server, read_string);
  read_outbound_settings(s, n);
  if (auto v = s.get("vm-subnet-prefix")) n.vm_subnet_prefix = v->as_int32(16, 29);
  read_optional(s, "manage-ip-forward", n.manage_ip_forward,
                [](const Value& v) { return v.as_bool(); });
  read_optional(s, "reverse-nat", n.reverse_nat, read_reverse_nat);
  if (auto v = s.get("gateway")) {
    v->as_enum<Gateway>(kGateways);
    v->warn_no_effect("each VM's gateway is the first host address of its job's subnet, on its own node (docs/addressing.md)");
  }
  s.reject_unknown_keys();

  // Each VM's internal address is NATed 1:1 to an external one.
  const Value& where = ext_v ? *ext_v : int_v ? *int_v : s.self();
  if (n.ext_network.prefix_length > n.int_network.prefix_length) {
    where.fail(
        fmt::format("ext-network {} is smaller than int-network {} (each VM needs one "
                    "external address)",
                    n.ext_network.str(), n.int_network.str()));
  }
  if (n.ext_network.overlaps(n.int_network)) {
    where.fail(fmt::format("ext-network {} overlaps int-network {}", n.ext_network.str(),
                           n.int_network.str()));
  }
  // Job subnets of int-network (addressing.hpp): at least two of them, room for a VM.
  const int subnet_prefix = n.vm_subnet_prefix.value_or(default_vm_subnet_prefix(n.int_network));
  if (subnet_prefix <= n.int_network.prefix_length) {
    const Value& at = int_v ? *int_v : s.self();
    at.fail(fmt::format("int-network {} cannot be cut into /{} job subnets (vm-subnet-prefix)", n.int_network.str(),
                        subnet_prefix));
  }
  // A prefix of 1 to 4 octets leaves 16 to 40 bits for the offset (and the VM index).
  const int free_octets = 6 - n.mac_prefix.length;
  if (offset_v && n.mac_start_offset >= (std::uint64_t{1} << (8 * free_octets))) {
    offset_v->fail(
        fmt::format("mac-start-offset {} does not fit in the {} octets after mac-prefix {}",
                    n.mac_start_offset, free_octets, n.mac_prefix.str()));
  }
  // The MAC carries 24 bits of network id and rank after a prefix of at most 3 octets.
  if (n.network_layer == NetworkLayer::l3 && n.mac_prefix.length > 3) {
    s.self().fail(fmt::format("mac-prefix {} leaves fewer than the 3 octets slurm-vm's MACs need (network id, VM rank)",
                              n.mac_prefix.str()));
  }
  return n;
}

Vlan read_vlan(const Value& v) {
  Mapping m = v.as_map();
  Vlan vlan;
  vlan.vid = m.require("vid").as_int32(1, 4094);
  read_optional(m, "type", vlan.mode,
                [](const Value& t) { return t.as_enum<VlanMode>(kVlanModes); });
  m.reject_unknown_keys();
  return vlan;
}

NetworkSettings parse_bridged(Mapping& s) {
  BridgedNetwork n;
  const Value bridge = s.require("host-bridge");
  n.host_bridge = bridge.as_nonempty_string();
  if (!is_valid_ifname(n.host_bridge)) bridge.fail_expected("an interface name");
  // slurm-vm's own devices are svm*: its firewall drops what they bring to the node
  // (netsetup/nat.hpp), which would cut the site's bridge off.
  if (n.host_bridge.rfind("svm", 0) == 0) bridge.fail_expected("a bridge name not starting with \"svm\" (slurm-vm's own devices)");
  // Required by pcocc, optional here: a key that warns must be one a site can remove.
  if (const auto tap_prefix = s.get("tap-prefix")) {
    n.tap_prefix = read_tap_prefix(*tap_prefix);
    tap_prefix->warn_no_effect(
        "slurm-vm names every TAP svm<job>.<n>, so that its firewall covers them (docs/security.md); remove the key");
  }
  read_optional(s, "mtu", n.mtu, read_mtu);
  bool native_seen = false;
  if (auto vlans = s.get("vlans")) {
    for (const Value& item : vlans->as_list()) {
      const Vlan vlan = read_vlan(item);
      if (std::any_of(n.vlans.begin(), n.vlans.end(),
                      [&](const Vlan& o) { return o.vid == vlan.vid; })) {
        item.fail(fmt::format("vlan {} is listed twice", vlan.vid));
      }
      // A port has one PVID: untagged frames can belong to one VLAN only.
      if (vlan.mode == VlanMode::native && std::exchange(native_seen, true)) {
        item.fail("only one vlan can be native");
      }
      n.vlans.push_back(vlan);
    }
  }
  s.reject_unknown_keys();
  return n;
}

NetworkSettings parse_infiniband(Mapping& s) { return read_infiniband_settings(s); }
NetworkSettings parse_host_infiniband(Mapping& s) { return read_host_infiniband_settings(s); }
NetworkSettings parse_generic_pci(Mapping& s) { return read_generic_pci_settings(s); }

using ParseSettings = NetworkSettings (*)(Mapping&);
constexpr EnumName<ParseSettings> kTypes[] = {
    {"ethernet", parse_ethernet},
    {"eth", parse_ethernet},
    {"infiniband", parse_infiniband},
    {"ib", parse_infiniband},
    {"host-infiniband", parse_host_infiniband},
    {"hostib", parse_host_infiniband},
    {"bridged", parse_bridged},
    {"bridged-ethernet", parse_bridged},
    {"genericpci", parse_generic_pci},
};

ParseSettings read_type(const Value& v) {
  const std::string type = v.as_nonempty_string();
  if (type == "nat" || type == "pv") {
    v.fail(
        fmt::format("deprecated pcocc network type \"{}\" is not supported; use type ethernet "
                    "with network-layer {}",
                    type, type == "nat" ? "L3" : "L2"));
  }
  return v.as_enum<ParseSettings>(kTypes);
}

// Host resources two networks must not share, each with the place that claimed it first.
class HostClaims {
 public:
  void claim(const Network& net, Mapping& settings) {
    if (const auto* eth = std::get_if<EthernetNetwork>(&net.settings)) {
      claim_name(fmt::format("dev-prefix \"{}\"", eth->dev_prefix), *settings.get("dev-prefix"));
      if (eth->reverse_nat) claim_ports(*eth->reverse_nat, *settings.get("reverse-nat"));
    } else if (const auto* bridged = std::get_if<BridgedNetwork>(&net.settings); bridged && !bridged->tap_prefix.empty()) {
      claim_name(fmt::format("tap-prefix \"{}\"", bridged->tap_prefix),
                 *settings.get("tap-prefix"));
    } else if (const auto* ib = std::get_if<InfinibandNetwork>(&net.settings)) {
      // VF GUIDs derive from the pkey and the rank only: two networks handing out one pkey
      // would put two jobs in one partition, with the same GUIDs.
      claim_range(pkeys_, ib->min_pkey, ib->max_pkey, "partition keys", *settings.get("min-pkey"), true);
    }
  }

 private:
  struct PortRange {
    int min;
    int max;
    std::string where;
  };

  static std::string where(const Value& at) { return fmt::format("{}:{}", at.file(), at.line()); }

  void claim_name(const std::string& what, const Value& at) {
    auto [it, inserted] = names_.emplace(what, where(at));
    if (!inserted) at.fail(fmt::format("{} is already used at {}", what, it->second));
  }

  void claim_ports(const ReverseNat& r, const Value& at) {
    claim_range(ports_, r.min_host_port, r.max_host_port, "host ports", at, false);
  }

  static void claim_range(std::vector<PortRange>& taken, int min, int max, const char* what, const Value& at,
                          bool hex) {
    const auto show = [hex](int v) { return hex ? fmt::format("{:#06x}", v) : std::to_string(v); };
    for (const PortRange& p : taken) {
      if (min <= p.max && p.min <= max) {
        at.fail(fmt::format("{} {}-{} overlap {} {}-{} used at {}", what, show(min), show(max), what, show(p.min),
                            show(p.max), p.where));
      }
    }
    taken.push_back({min, max, where(at)});
  }

  std::map<std::string, std::string> names_;
  std::vector<PortRange> ports_;
  std::vector<PortRange> pkeys_;
};

}  // namespace

std::string_view to_string(NetworkLayer layer) noexcept {
  return name_of<NetworkLayer>(kLayers, layer);
}
int default_vm_subnet_prefix(const Ipv4Network& pool) noexcept {
  // 64 subnets of a pool (/22s of a /16: 63 jobs of up to 1020 VMs each), between /20 (the
  // 4092 ranks a MAC carries) and /24; a pool too small for that is cut in 16 (/29 at most).
  return std::max(std::clamp(pool.prefix_length + 6, 20, 24), std::min(pool.prefix_length + 4, 29));
}

std::string_view to_string(VlanMode mode) noexcept { return name_of<VlanMode>(kVlanModes, mode); }

std::string_view Network::type_name() const noexcept { return kTypeNames[settings.index()]; }

NetworkMap parse_networks(const Value& root) {
  NetworkMap networks;
  HostClaims claims;
  for (const auto& entry : root.as_map().entries()) {
    check_name(entry, "network");
    Mapping net = entry.value.as_map();
    const ParseSettings parse = read_type(net.require("type"));
    const auto settings_v = net.get("settings");
    net.reject_unknown_keys();
    // No settings at all reads as empty settings, located at the network.
    Mapping settings =
        settings_v ? settings_v->as_map()
                   : Mapping(entry.value.child(YAML::Node(), "settings", entry.value.line()));
    Network n{entry.name, entry.key.file(), entry.key.line(), parse(settings)};
    claims.claim(n, settings);
    networks.emplace(entry.name, std::move(n));
  }
  return networks;
}

}  // namespace slurmvm::config
