// The host ports reverse NAT hands out (nat.hpp): which ports of the node listen (the
// /proc/net/tcp text, the fallback of sock_diag.hpp) and the lowest free ones of the site's
// range. Pure.
#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/nat.hpp"

namespace slurmvm::netsetup {

std::set<std::uint16_t> parse_listening_ports(std::string_view text, std::string_view wanted_state) {
  // "  0: 0100007F:0016 00000000:0000 0A ..." (tcp6: 32 hex digits before the colon).
  std::set<std::uint16_t> ports;
  auto next_field = [](std::string_view& line) {
    const auto b = line.find_first_not_of(' ');
    if (b == std::string_view::npos) return std::string_view{};
    line.remove_prefix(b);
    const auto e = std::min(line.find(' '), line.size());
    auto f = line.substr(0, e);
    line.remove_prefix(e);
    return f;
  };
  while (!text.empty()) {
    const auto nl = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(std::min(nl + 1, text.size()));
    const auto slot = next_field(line);
    const auto local = next_field(line);
    next_field(line);  // remote address
    const auto state = next_field(line);
    if (slot.empty() || slot.back() != ':' || state != wanted_state) continue;
    const auto colon = local.rfind(':');
    if (colon == std::string_view::npos || local.size() - colon - 1 != 4) continue;
    unsigned port = 0;
    const char* first = local.data() + colon + 1;
    const char* last = local.data() + local.size();
    const auto [ptr, ec] = std::from_chars(first, last, port, 16);
    if (ec != std::errc{} || ptr != last) continue;
    ports.insert(static_cast<std::uint16_t>(port));
  }
  return ports;
}

std::vector<std::uint16_t> allocate_host_ports(std::size_t count, std::uint16_t min_port,
                                               std::uint16_t max_port,
                                               const std::set<std::uint16_t>& used) {
  std::vector<std::uint16_t> out;
  if (count == 0) return out;
  std::size_t free_ports = 0;
  for (unsigned p = min_port; p <= max_port && min_port != 0; ++p) {
    if (used.count(static_cast<std::uint16_t>(p))) continue;
    ++free_ports;
    if (out.size() < count) out.push_back(static_cast<std::uint16_t>(p));
  }
  if (out.size() < count) {
    throw Error(fmt::format("reverse NAT: {} host port{} needed, but only {} of [{}, {}] {} free "
                            "on this node (other jobs and listening sockets hold the rest)",
                            count, count == 1 ? " is" : "s are", free_ports, min_port, max_port,
                            free_ports == 1 ? "is" : "are"),
                ErrorKind::config);
  }
  return out;
}

}  // namespace slurmvm::netsetup
