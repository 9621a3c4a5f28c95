// Parsers for the addresses networks.yaml holds (net_addresses.hpp).
#include "config/net_addresses.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>

namespace slurmvm::config {
namespace {

// An unsigned number in `base` spelled with 1..max_digits digits and nothing else.
template <class T>
std::optional<T> parse_number(std::string_view text, int base, std::size_t max_digits) {
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  if (value > std::numeric_limits<T>::max()) return std::nullopt;
  return static_cast<T>(value);
}

// Splits "a<sep>b<sep>c" into at most `max` fields; nullopt if there are more.
template <std::size_t N>
std::optional<std::size_t> split(std::string_view text, char sep,
                                 std::array<std::string_view, N>& out) {
  std::size_t n = 0;
  for (;;) {
    if (n == N) return std::nullopt;
    const std::size_t pos = text.find(sep);
    out[n++] = text.substr(0, pos);
    if (pos == std::string_view::npos) return n;
    text.remove_prefix(pos + 1);
  }
}

}  // namespace

std::uint32_t Ipv4Network::mask() const noexcept {
  return prefix_length == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_length);
}

bool Ipv4Network::overlaps(const Ipv4Network& other) const noexcept {
  const std::uint32_t m = prefix_length < other.prefix_length ? mask() : other.mask();
  return (address & m) == (other.address & m);
}

std::string Ipv4Network::str() const {
  return fmt::format("{}/{}", ipv4_str(address), prefix_length);
}

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
  std::array<std::string_view, 4> parts;
  if (split(text, '.', parts) != 4) return std::nullopt;
  std::uint32_t address = 0;
  for (std::string_view p : parts) {
    // No leading zeros: "010" is octal to inet_aton and decimal to others.
    if (p.size() > 1 && p[0] == '0') return std::nullopt;
    auto octet = parse_number<std::uint8_t>(p, 10, 3);
    if (!octet) return std::nullopt;
    address = (address << 8) | *octet;
  }
  return address;
}

std::string ipv4_str(std::uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

std::optional<Ipv4Network> parse_ipv4_network(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto address = parse_ipv4(text.substr(0, slash));
  auto length = parse_number<std::uint8_t>(text.substr(slash + 1), 10, 2);
  if (!address || !length || *length > 32) return std::nullopt;
  return Ipv4Network{*address, *length};
}

std::string MacPrefix::str() const {
  std::string out;
  for (int i = 0; i < length; ++i) {
    if (i > 0) out += ':';
    out += fmt::format("{:02x}", octets[static_cast<std::size_t>(i)]);
  }
  return out;
}

std::optional<MacPrefix> parse_mac_prefix(std::string_view text) {
  std::array<std::string_view, 4> parts;
  const auto n = split(text, ':', parts);
  if (!n) return std::nullopt;
  MacPrefix prefix;
  for (std::size_t i = 0; i < *n; ++i) {
    if (parts[i].size() != 2) return std::nullopt;
    auto octet = parse_number<std::uint8_t>(parts[i], 16, 2);
    if (!octet) return std::nullopt;
    prefix.octets[i] = *octet;
  }
  prefix.length = static_cast<int>(*n);
  return prefix;
}

std::string PciAddress::str() const {
  std::string out = fmt::format("{:04x}:{:02x}:{:02x}", domain, bus, slot);
  if (function) out += fmt::format(".{}", *function);
  return out;
}

std::optional<PciAddress> parse_pci_address(std::string_view text) {
  PciAddress a;
  if (const std::size_t dot = text.find('.'); dot != std::string_view::npos) {
    a.function = parse_number<std::uint8_t>(text.substr(dot + 1), 8, 1);  // 0..7
    if (!a.function) return std::nullopt;
    text = text.substr(0, dot);
  }
  std::array<std::string_view, 3> parts;
  const auto n = split(text, ':', parts);
  if (!n || *n < 2) return std::nullopt;
  std::size_t i = 0;
  if (*n == 3) {
    if (parts[0].size() != 4) return std::nullopt;
    auto domain = parse_number<std::uint16_t>(parts[i++], 16, 4);
    if (!domain) return std::nullopt;
    a.domain = *domain;
  }
  if (parts[i].size() != 2 || parts[i + 1].size() != 2) return std::nullopt;
  auto bus = parse_number<std::uint8_t>(parts[i], 16, 2);
  auto slot = parse_number<std::uint8_t>(parts[i + 1], 16, 2);
  if (!bus || !slot || *slot > 0x1f) return std::nullopt;
  a.bus = *bus;
  a.slot = *slot;
  return a;
}

std::optional<std::uint16_t> parse_pkey(std::string_view text) {
  if (!text.starts_with("0x") && !text.starts_with("0X")) return std::nullopt;
  auto key = parse_number<std::uint16_t>(text.substr(2), 16, 4);
  if (!key || *key > 0x7fff) return std::nullopt;
  return key;
}

bool is_valid_ifname(std::string_view name) noexcept {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0';
  });
}

}  // namespace slurmvm::config
