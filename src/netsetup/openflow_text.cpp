#include "netsetup/openflow_text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "addressing.hpp"
#include "config/net_addresses.hpp"
#include "error.hpp"

namespace slurmvm::netsetup::openflow {
namespace {

// OXM basic class (OpenFlow 1.4 §7.2.3.7): class 0x8000, field << 9, length in bytes.
constexpr std::uint32_t oxm(unsigned field, unsigned bytes) { return 0x80000000u | (field << 9) | bytes; }
// Open vSwitch's NXM classes (ovs-fields(7)): NXM_OF (0x0000) and NXM_NX (0x0001).
constexpr std::uint32_t nxm(unsigned cls, unsigned field, unsigned bytes) { return (cls << 16) | (field << 9) | bytes; }

enum FieldId { in_port, eth_dst, eth_src, eth_type, ip_proto, ipv4_src, ipv4_dst, udp_src, udp_dst,
               arp_op, arp_spa, arp_tpa, arp_sha, arp_tha, tun_id, tun_src, tun_dst, kFields };

// The fields flows.cpp uses. Open vSwitch accepts its NXM headers inside an OXM match and in
// set_field; the tunnel endpoint addresses have no OXM header of their own.
const std::array<Field, kFields> kFieldTable = {{
    {"in_port", "", oxm(0, 4), 0, 4, 0},
    {"dl_dst", "NXM_OF_ETH_DST", oxm(3, 6), nxm(0, 1, 6), 6, 1},
    {"dl_src", "NXM_OF_ETH_SRC", oxm(4, 6), nxm(0, 2, 6), 6, 2},
    {"", "", oxm(5, 2), 0, 2, 3},  // eth_type: from "ip", "arp", "udp"
    {"", "", oxm(10, 1), 0, 1, 4},  // ip_proto: from "udp"
    {"nw_src", "", oxm(11, 4), 0, 4, 5},
    {"nw_dst", "", oxm(12, 4), 0, 4, 6},
    {"tp_src", "", oxm(15, 2), 0, 2, 7},  // UDP: the only transport the flows match
    {"tp_dst", "", oxm(16, 2), 0, 2, 8},
    {"arp_op", "NXM_OF_ARP_OP", oxm(21, 2), nxm(0, 15, 2), 2, 9},
    {"arp_spa", "NXM_OF_ARP_SPA", oxm(22, 4), nxm(0, 16, 4), 4, 10},
    {"arp_tpa", "NXM_OF_ARP_TPA", oxm(23, 4), nxm(0, 17, 4), 4, 11},
    {"arp_sha", "NXM_NX_ARP_SHA", oxm(24, 6), nxm(1, 17, 6), 6, 12},
    {"arp_tha", "NXM_NX_ARP_THA", oxm(25, 6), nxm(1, 18, 6), 6, 13},
    {"tun_id", "", oxm(38, 8), 0, 8, 14},
    {"tun_src", "", nxm(1, 31, 4), 0, 4, 15},
    {"tun_dst", "", nxm(1, 32, 4), 0, 4, 16},
}};

constexpr std::uint16_t kEthIp = 0x0800;
constexpr std::uint16_t kEthArp = 0x0806;
constexpr std::uint8_t kIpProtoUdp = 17;

[[noreturn]] void bad(std::size_t line, std::string_view what, std::string_view token) {
  throw Error(fmt::format("flow line {}: {} \"{}\"", line, what, token), ErrorKind::internal);
}

const Field* by_match_name(std::string_view name) {
  for (const auto& f : kFieldTable) {
    if (!f.match_name.empty() && f.match_name == name) return &f;
  }
  return nullptr;
}

// "NXM_OF_ETH_SRC[]": the whole field (the flows never touch part of one).
const Field* by_nxm_name(std::string_view name) {
  if (name.size() < 3 || name.substr(name.size() - 2) != "[]") return nullptr;
  name.remove_suffix(2);
  for (const auto& f : kFieldTable) {
    if (!f.nxm_name.empty() && f.nxm_name == name) return &f;
  }
  return nullptr;
}

std::vector<std::uint8_t> big_endian(std::uint64_t v, unsigned bytes) {
  std::vector<std::uint8_t> out(bytes);
  for (unsigned i = bytes; i-- > 0; v >>= 8) out[i] = static_cast<std::uint8_t>(v & 0xff);
  return out;
}

std::optional<std::uint64_t> number(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// A field's value in its text form: a MAC for 6-byte fields, a dotted quad for 4-byte ones
// (tun_src, nw_dst...), a number otherwise; a number is also accepted for any width (load:).
std::vector<std::uint8_t> field_value(std::size_t line, const Field& f, std::string_view text, bool numeric) {
  if (!numeric && f.bytes == 6) {
    try {
      const auto mac = parse_mac(text);
      return {mac.begin(), mac.end()};
    } catch (const Error&) {
      bad(line, "not a MAC address", text);
    }
  }
  if (!numeric && f.bytes == 4 && &f != &kFieldTable[in_port]) {
    const auto ip = config::parse_ipv4(text);
    if (!ip) bad(line, "not an IPv4 address", text);
    return big_endian(*ip, 4);
  }
  const auto v = number(text);
  if (!v || (f.bytes < 8 && *v >> (8 * f.bytes) != 0)) {
    bad(line, fmt::format("not a {}-byte value", f.bytes), text);
  }
  return big_endian(*v, f.bytes);
}

// Splits at commas outside parentheses ("resubmit(,1)" is one action).
std::vector<std::string_view> split_top(std::string_view s) {
  std::vector<std::string_view> out;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || (s[i] == ',' && depth == 0)) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    } else if (s[i] == '(') {
      ++depth;
    } else if (s[i] == ')') {
      --depth;
    }
  }
  return out;
}

class LineParser {
 public:
  LineParser(std::size_t line) { flow_.line = line; }

  FlowLine parse(std::string_view text) {
    if (text.rfind("delete ", 0) == 0) return parse_delete(text.substr(7));
    const auto at = text.find(" actions=");
    if (at == std::string_view::npos || text.find(" actions=", at + 1) != std::string_view::npos) {
      bad(flow_.line, "expected one \" actions=\" in", text);
    }
    for (auto tok : split_top(text.substr(0, at))) match_token(tok);
    check_prerequisites();
    std::sort(flow_.match.begin(), flow_.match.end(),
              [](const MatchEntry& a, const MatchEntry& b) { return a.field->rank < b.field->rank; });
    const auto actions = split_top(text.substr(at + 9));
    if (actions.size() == 1 && actions[0] == "drop") return std::move(flow_);
    for (auto tok : actions) action_token(tok);
    return std::move(flow_);
  }

 private:
  // "delete cookie=C/-1": every flow with exactly this cookie, in every table.
  FlowLine parse_delete(std::string_view rest) {
    if (rest.rfind("cookie=", 0) != 0 || rest.size() < 10 || rest.substr(rest.size() - 3) != "/-1") {
      bad(flow_.line, "expected \"delete cookie=C/-1\", not", rest);
    }
    const auto c = number(rest.substr(7, rest.size() - 10));
    if (!c) bad(flow_.line, "not a cookie", rest);
    flow_.kind = FlowLine::Kind::delete_cookie;
    flow_.cookie = *c;
    return std::move(flow_);
  }

  void add(FieldId id, std::vector<std::uint8_t> value, std::vector<std::uint8_t> mask = {}, std::string port = {}) {
    const Field* f = &kFieldTable[id];
    for (const auto& m : flow_.match) {
      if (m.field == f) bad(flow_.line, "field given twice", f->match_name.empty() ? "eth_type/ip_proto" : f->match_name);
    }
    flow_.match.push_back({f, std::move(port), std::move(value), std::move(mask)});
  }

  bool has(FieldId id) const {
    return std::any_of(flow_.match.begin(), flow_.match.end(),
                       [&](const MatchEntry& m) { return m.field == &kFieldTable[id]; });
  }

  std::uint64_t header_number(std::string_view tok, std::string_view key, std::uint64_t max) {
    const auto v = number(tok.substr(key.size()));
    if (!v || *v > max) bad(flow_.line, "bad value in", tok);
    return *v;
  }

  void match_token(std::string_view tok) {
    if (tok.rfind("cookie=", 0) == 0) {
      flow_.cookie = header_number(tok, "cookie=", UINT64_MAX);
    } else if (tok.rfind("table=", 0) == 0) {
      flow_.table = static_cast<std::uint8_t>(header_number(tok, "table=", 254));
    } else if (tok.rfind("priority=", 0) == 0) {
      flow_.priority = static_cast<std::uint16_t>(header_number(tok, "priority=", 65535));
    } else if (tok == "ip") {
      add(eth_type, big_endian(kEthIp, 2));
    } else if (tok == "arp") {
      add(eth_type, big_endian(kEthArp, 2));
    } else if (tok == "udp") {
      add(eth_type, big_endian(kEthIp, 2));
      add(ip_proto, {kIpProtoUdp});
    } else {
      const auto eq = tok.find('=');
      const Field* f = eq == std::string_view::npos ? nullptr : by_match_name(tok.substr(0, eq));
      if (f == nullptr || f == &kFieldTable[tun_dst]) bad(flow_.line, "unknown match", tok);
      const auto id = static_cast<FieldId>(f - kFieldTable.data());
      auto value = tok.substr(eq + 1);
      if (id == in_port) {
        if (value.empty()) bad(flow_.line, "no port in", tok);
        add(id, {}, {}, std::string(value));
        return;
      }
      std::vector<std::uint8_t> mask;
      if (const auto slash = value.find('/'); slash != std::string_view::npos) {
        if (f->bytes != 6) bad(flow_.line, "only MAC fields are matched with a mask:", tok);
        mask = field_value(flow_.line, *f, value.substr(slash + 1), false);
        value = value.substr(0, slash);
      }
      auto v = field_value(flow_.line, *f, value, false);
      for (std::size_t i = 0; i < mask.size(); ++i) {
        if ((v[i] & ~mask[i]) != 0) bad(flow_.line, "value has bits outside its mask:", tok);
      }
      add(id, std::move(v), std::move(mask));
    }
  }

  std::uint16_t ethertype() const {
    for (const auto& m : flow_.match) {
      if (m.field == &kFieldTable[eth_type]) return static_cast<std::uint16_t>(m.value[0] << 8 | m.value[1]);
    }
    return 0;
  }

  // The prerequisites of ovs-fields(7), checked here so a mistake names its line.
  void check_prerequisites() const {
    const auto type = ethertype();
    for (const auto& m : flow_.match) {
      const auto id = static_cast<FieldId>(m.field - kFieldTable.data());
      if ((id == ipv4_src || id == ipv4_dst) && type != kEthIp) bad(flow_.line, "needs ip or udp:", m.field->match_name);
      if ((id == udp_src || id == udp_dst) && !has(ip_proto)) bad(flow_.line, "needs udp:", m.field->match_name);
      if (id >= arp_op && id <= arp_tha && type != kEthArp) bad(flow_.line, "needs arp:", m.field->match_name);
    }
  }

  void action_token(std::string_view tok) {
    Action a;
    if (tok == "in_port") {
      a.kind = Action::Kind::output_in_port;
    } else if (tok.rfind("output:", 0) == 0 && tok.size() > 7) {
      a.port = std::string(tok.substr(7));
    } else if (tok.rfind("resubmit(,", 0) == 0 && tok.back() == ')') {
      const auto t = number(tok.substr(10, tok.size() - 11));
      if (!t || *t > 254) bad(flow_.line, "bad table in", tok);
      a.kind = Action::Kind::resubmit;
      a.table = static_cast<std::uint8_t>(*t);
    } else if (tok.rfind("mod_dl_src:", 0) == 0) {
      a.kind = Action::Kind::set_field;
      a.field = &kFieldTable[eth_src];
      a.value = field_value(flow_.line, *a.field, tok.substr(11), false);
    } else if (tok.rfind("set_field:", 0) == 0 || tok.rfind("load:", 0) == 0 || tok.rfind("move:", 0) == 0) {
      const bool set = tok[0] == 's', load = tok[0] == 'l';
      const auto body = tok.substr(tok.find(':') + 1);
      const auto arrow = body.find("->");
      if (arrow == std::string_view::npos) bad(flow_.line, "no \"->\" in", tok);
      const auto from = body.substr(0, arrow), to = body.substr(arrow + 2);
      a.field = set ? by_match_name(to) : by_nxm_name(to);
      if (a.field == nullptr || a.field == &kFieldTable[in_port]) bad(flow_.line, "unknown destination in", tok);
      if (set || load) {
        a.kind = Action::Kind::set_field;
        a.value = field_value(flow_.line, *a.field, from, load);
      } else {
        a.kind = Action::Kind::move;
        a.source = by_nxm_name(from);
        if (a.source == nullptr) bad(flow_.line, "unknown source in", tok);
        if (a.source->bytes != a.field->bytes) bad(flow_.line, "fields of different widths in", tok);
      }
    } else {
      bad(flow_.line, "unknown action", tok);
    }
    flow_.actions.push_back(std::move(a));
  }

  FlowLine flow_;
};

}  // namespace

std::vector<FlowLine> parse_flows(std::string_view text) {
  std::vector<FlowLine> out;
  std::size_t line = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const auto one = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line;
    if (one.empty()) continue;
    out.push_back(LineParser(line).parse(one));
  }
  return out;
}

std::vector<std::string> port_names(const std::vector<FlowLine>& flows) {
  std::set<std::string> names;
  for (const auto& f : flows) {
    for (const auto& m : f.match) {
      if (!m.port.empty()) names.insert(m.port);
    }
    for (const auto& a : f.actions) {
      if (a.kind == Action::Kind::output) names.insert(a.port);
    }
  }
  return {names.begin(), names.end()};
}

}  // namespace slurmvm::netsetup::openflow
