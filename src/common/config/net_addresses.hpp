// Parsers for the addresses networks.yaml holds: IPv4 addresses and CIDR networks, MAC
// prefixes, PCI addresses, InfiniBand partition keys, interface names. Pure functions: nullopt
// means "not that syntax"; networks.cpp turns it into a located error.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slurmvm::config {

struct Ipv4Network {
  std::uint32_t address = 0;  // host byte order
  int prefix_length = 0;

  std::uint32_t mask() const noexcept;
  bool has_host_bits() const noexcept { return (address & ~mask()) != 0; }
  bool overlaps(const Ipv4Network& other) const noexcept;
  std::string str() const;  // "10.200.0.0/16"
};

std::optional<std::uint32_t> parse_ipv4(std::string_view text);
std::string ipv4_str(std::uint32_t address);
// "a.b.c.d/n", n in 0..32.
std::optional<Ipv4Network> parse_ipv4_network(std::string_view text);

// The first 1 to 4 octets of the MACs of a network's VMs ("52:54:00").
struct MacPrefix {
  std::array<std::uint8_t, 4> octets{};
  int length = 0;
  std::string str() const;  // lower case, "52:54:00"
};
std::optional<MacPrefix> parse_mac_prefix(std::string_view text);

// [DDDD:]BB:SS[.F]; the function may be omitted, as in pcocc's examples ("0000:00:04").
struct PciAddress {
  std::uint16_t domain = 0;
  std::uint8_t bus = 0;
  std::uint8_t slot = 0;
  std::optional<std::uint8_t> function;
  std::string str() const;  // "0000:00:04.0", or without ".F" when omitted
  bool operator==(const PciAddress&) const = default;
};
std::optional<PciAddress> parse_pci_address(std::string_view text);

// An InfiniBand partition key written "0xNNNN" (1 to 4 hex digits), the 15-bit key without the
// membership bit.
std::optional<std::uint16_t> parse_pkey(std::string_view text);

// A Linux network interface name: 1 to 15 bytes (IFNAMSIZ - 1), no '/', ':', whitespace.
bool is_valid_ifname(std::string_view name) noexcept;

}  // namespace slurmvm::config
