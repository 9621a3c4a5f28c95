// allow-outbound and cluster-networks (network_outbound.hpp).
#include "config/network_outbound.hpp"

#include <fmt/format.h>

#include <charconv>
#include <string>
#include <vector>

#include "config/enum_names.hpp"

namespace slurmvm::config {
namespace {

// `list` is written as a YAML list, never by name.
constexpr EnumName<AllowOutbound> kAllowOutbound[] = {
    {"none", AllowOutbound::none}, {"all", AllowOutbound::all}, {"external", AllowOutbound::external}};
constexpr EnumName<OutboundProto> kOutboundProtos[] = {
    {"tcp", OutboundProto::tcp}, {"udp", OutboundProto::udp}, {"icmp", OutboundProto::icmp}};

int read_port(const Value& v) { return v.as_int32(1, 65535); }

// Reads `key` into `field` when present.
template <class T, class Parse>
void read_optional(Mapping& m, std::string_view key, T& field, Parse&& parse) {
  if (auto v = m.get(key)) field = parse(*v);
}

// "N" or "N-M", 1..65535.
void read_port_range(const Value& v, int& min_port, int& max_port) {
  if (v.is_scalar() && !v.is_quoted()) {
    const std::string text = v.as_string();
    const auto dash = text.find('-');
    if (dash != std::string::npos) {
      auto num = [&](std::string_view part) {
        int out = 0;
        const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
        if (part.empty() || ec != std::errc{} || end != part.data() + part.size() || out < 1 || out > 65535) {
          v.fail_expected("a port or a range of ports like 3000-3100");
        }
        return out;
      };
      min_port = num(std::string_view(text).substr(0, dash));
      max_port = num(std::string_view(text).substr(dash + 1));
      if (min_port > max_port) v.fail(fmt::format("{} is an empty range", text));
      return;
    }
  }
  min_port = max_port = read_port(v);
}

OutboundAllow read_outbound_allow(const Value& v) {
  Mapping m = v.as_map();
  OutboundAllow a;
  const Value to = m.require("to");
  const auto net = parse_ipv4_network(to.as_string());
  if (!net) to.fail_expected("an IPv4 network in CIDR notation (a.b.c.d/n)");
  if (net->has_host_bits()) {
    to.fail(fmt::format("{} has host bits set (did you mean {}?)", net->str(),
                        Ipv4Network{net->address & net->mask(), net->prefix_length}.str()));
  }
  a.to = *net;
  read_optional(m, "proto", a.proto, [](const Value& p) { return p.as_enum<OutboundProto>(kOutboundProtos); });
  if (auto ports = m.get("ports")) {
    if (a.proto != OutboundProto::tcp && a.proto != OutboundProto::udp) {
      ports->fail("ports need proto: tcp or proto: udp");
    }
    read_port_range(*ports, a.min_port, a.max_port);
  }
  m.reject_unknown_keys();
  return a;
}

std::vector<Ipv4Network> read_network_list(const Value& v) {
  std::vector<Ipv4Network> out;
  for (const auto& item : v.as_list()) {
    const auto net = parse_ipv4_network(item.as_string());
    if (!net || net->has_host_bits()) item.fail_expected("an IPv4 network in CIDR notation with no host bits");
    out.push_back(*net);
  }
  return out;
}

}  // namespace

void read_outbound_settings(Mapping& s, EthernetNetwork& n) {
  if (auto v = s.get("allow-outbound")) {
    if (v->is_list()) {
      n.allow_outbound = AllowOutbound::list;
      for (const auto& item : v->as_list()) n.outbound_allow.push_back(read_outbound_allow(item));
    } else {
      n.allow_outbound = v->as_enum<AllowOutbound>(kAllowOutbound);
    }
  }
  read_optional(s, "cluster-networks", n.cluster_networks, read_network_list);
}

std::vector<Ipv4Network> default_private_networks() {
  return {{0x0A000000, 8}, {0xAC100000, 12}, {0xC0A80000, 16}, {0x64400000, 10}, {0xA9FE0000, 16}};
}

std::string_view to_string(OutboundProto proto) noexcept {
  return proto == OutboundProto::any ? "any" : name_of<OutboundProto>(kOutboundProtos, proto);
}

std::string_view to_string(AllowOutbound allow) noexcept {
  if (allow == AllowOutbound::list) return "list";
  return name_of<AllowOutbound>(kAllowOutbound, allow);
}

}  // namespace slurmvm::config
