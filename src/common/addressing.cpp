#include "addressing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "error.hpp"

namespace slurmvm {
namespace {

[[noreturn]] void bad(std::string_view what, std::string_view text, std::string_view expected) {
  throw Error(fmt::format("invalid {} \"{}\": expected {}", what, text, expected), ErrorKind::config);
}

// Parses a decimal number in [0, max] covering all of `text`.
bool parse_uint(std::string_view text, std::uint32_t max, std::uint32_t& out) {
  if (text.empty() || text.size() > 10) return false;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v > max) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

std::uint32_t prefix_mask(unsigned prefix) {
  return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
}

}  // namespace

Ipv4Cidr Ipv4Cidr::parse(std::string_view text) {
  constexpr std::string_view expected = "an IPv4 network like 10.128.0.0/9";
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) bad("network", text, expected);
  std::uint32_t prefix = 0;
  if (!parse_uint(text.substr(slash + 1), 32, prefix)) bad("network", text, expected);
  std::uint32_t address = 0;
  std::string_view rest = text.substr(0, slash);
  for (int i = 0; i < 4; ++i) {
    const auto dot = rest.find('.');
    if ((i < 3) == (dot == std::string_view::npos)) bad("network", text, expected);
    std::uint32_t octet = 0;
    if (!parse_uint(rest.substr(0, dot), 255, octet)) bad("network", text, expected);
    address = (address << 8) | octet;
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
  }
  if ((address & ~prefix_mask(prefix)) != 0) {
    bad("network", text, fmt::format("a network address with no host bits set ({}/{})",
                                      format_ipv4(address & prefix_mask(prefix)), prefix));
  }
  return {address, prefix};
}

std::uint32_t Ipv4Cidr::size() const noexcept {
  return prefix == 0 ? ~std::uint32_t{0} : std::uint32_t{1} << (32 - prefix);
}

std::string Ipv4Cidr::to_string() const { return fmt::format("{}/{}", format_ipv4(address), prefix); }

std::string format_ipv4(std::uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

std::string format_mac(const MacAddress& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

MacAddress parse_mac(std::string_view text) {
  MacAddress out{};
  if (text.size() != 17) bad("MAC address", text, "six hex octets like 52:54:00:0a:30:01");
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') bad("MAC address", text, "six hex octets like 52:54:00:0a:30:01");
    auto [end, ec] = std::from_chars(text.data() + i * 3, text.data() + i * 3 + 2, out[i], 16);
    if (ec != std::errc() || end != text.data() + i * 3 + 2) bad("MAC address", text, "six hex octets like 52:54:00:0a:30:01");
  }
  return out;
}

std::array<std::uint8_t, 3> parse_mac_prefix(std::string_view text) {
  constexpr std::string_view expected = "three hex bytes like 52:54:00, locally administered and unicast";
  std::array<std::uint8_t, 3> out{};
  if (text.size() != 8 || text[2] != ':' || text[5] != ':') bad("MAC prefix", text, expected);
  for (std::size_t i = 0; i < 3; ++i) {
    auto [end, ec] = std::from_chars(text.data() + i * 3, text.data() + i * 3 + 2, out[i], 16);
    if (ec != std::errc() || end != text.data() + i * 3 + 2) bad("MAC prefix", text, expected);
  }
  // Bit 0 of the first byte is multicast, bit 1 "locally administered" (IEEE 802, §8.2).
  if ((out[0] & 0x01) != 0 || (out[0] & 0x02) == 0) bad("MAC prefix", text, expected);
  return out;
}

AddressPlan::AddressPlan(Ipv4Cidr pool, unsigned job_prefix, std::array<std::uint8_t, 3> mac_prefix)
    : pool_(pool), job_prefix_(job_prefix), mac_prefix_(mac_prefix) {
  if (job_prefix <= pool.prefix || job_prefix > 30) {
    throw Error(fmt::format("address plan: job subnets /{} must be longer than the pool {} and at most /30",
                            job_prefix, pool.to_string()),
                ErrorKind::config);
  }
}

AddressPlan AddressPlan::default_plan() {
  return AddressPlan(Ipv4Cidr::parse("10.128.0.0/9"), 20, {0x52, 0x54, 0x00});
}

std::uint32_t AddressPlan::max_network_id() const noexcept {
  const unsigned bits = job_prefix_ - pool_.prefix;
  // Subnet index 0 is left unused so that network id == subnet index and 0 stays invalid.
  const std::uint64_t subnets = bits >= 32 ? (std::uint64_t{1} << 32) : (std::uint64_t{1} << bits);
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(subnets - 1, kMaxNetworkId));
}

std::uint32_t AddressPlan::max_rank() const noexcept {
  // Per subnet: network address, gateway, VMs..., DHCP/DNS server, broadcast.
  const std::uint32_t hosts = (std::uint32_t{1} << (32 - job_prefix_)) - 4;
  return std::min(hosts - 1, kMaxRank);
}

Ipv4Cidr AddressPlan::job_subnet(std::uint32_t network_id) const {
  if (network_id == 0 || network_id > max_network_id()) {
    throw Error(fmt::format("network id {} is outside 1..{} of the address plan {} split in /{}", network_id,
                            max_network_id(), pool_.to_string(), job_prefix_),
                ErrorKind::config);
  }
  return {pool_.address + (network_id << (32 - job_prefix_)), job_prefix_};
}

VmAddress AddressPlan::vm(std::uint32_t network_id, std::uint32_t rank) const {
  const Ipv4Cidr subnet = job_subnet(network_id);
  if (rank > max_rank()) {
    throw Error(fmt::format("vm{} is beyond the last rank {} a /{} job subnet can address", rank, max_rank(),
                            job_prefix_),
                ErrorKind::config);
  }
  VmAddress a;
  // MAC: prefix, then 12 bits of network id and 12 bits of rank: unique across running jobs.
  const std::uint32_t low = (network_id << 12) | rank;
  a.mac = {mac_prefix_[0], mac_prefix_[1], mac_prefix_[2], static_cast<std::uint8_t>(low >> 16),
           static_cast<std::uint8_t>(low >> 8), static_cast<std::uint8_t>(low)};
  a.gateway = subnet.address + 1;
  a.dns = subnet.address + subnet.size() - 2;
  a.ip = subnet.address + 2 + rank;
  a.prefix = subnet.prefix;
  a.hostname = fmt::format("vm{}", rank);
  return a;
}

}  // namespace slurmvm
