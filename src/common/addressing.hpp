// Deterministic per-VM identities. Every VM's MAC address, IPv4 address and host name follow
// from two numbers: the job's network id (unique among the site's running virtual networks,
// also the GRE tunnel key) and the VM's rank in the cluster definition. Nothing is stored, so
// every node, the CLI and the epilog compute the same answer. See docs/addressing.md.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace slurmvm {

struct Ipv4Cidr {
  std::uint32_t address = 0;  // host byte order, the network address
  unsigned prefix = 0;        // 0..32

  static Ipv4Cidr parse(std::string_view text);  // "10.128.0.0/9"; throws Error(config)
  std::uint32_t size() const noexcept;           // number of addresses (2^(32-prefix)), capped
  std::string to_string() const;
};

std::string format_ipv4(std::uint32_t address);

using MacAddress = std::array<std::uint8_t, 6>;
std::string format_mac(const MacAddress& mac);
// "52:54:00:0a:30:01" (six hex octets, either case); throws Error(config) otherwise.
MacAddress parse_mac(std::string_view text);
// "52:54:00" -> 3 bytes; throws Error(config) on anything but a locally administered unicast
// three-byte prefix.
std::array<std::uint8_t, 3> parse_mac_prefix(std::string_view text);

struct VmAddress {
  MacAddress mac;
  std::uint32_t ip;          // host byte order
  unsigned prefix;           // the job subnet's prefix length
  std::uint32_t gateway;     // the job subnet's first host address
  std::uint32_t dns;         // its last: the job's DHCP and DNS server (dnsmasq_jail.hpp)
  std::string hostname;      // "vm3"
};

// How a site's address pool is cut into one subnet per virtual network.
class AddressPlan {
 public:
  // 12 bits of the MAC carry the network id, 12 bits the rank; the two highest "ranks" are
  // the gateway's (0xfff) and the DHCP/DNS server's (0xffe) MACs.
  static constexpr std::uint32_t kMaxNetworkId = 4095;
  static constexpr std::uint32_t kMaxRank = 4091;

  // pool: where job subnets are carved from; job_prefix: each job subnet's prefix length.
  AddressPlan(Ipv4Cidr pool, unsigned job_prefix, std::array<std::uint8_t, 3> mac_prefix);
  // The default: pool 10.128.0.0/9 cut into /20 subnets (2047 networks of 4092 VMs),
  // MAC prefix 52:54:00 (QEMU's, locally administered).
  static AddressPlan default_plan();

  // Network ids run 1..max_network_id(); 0 is never a job's.
  std::uint32_t max_network_id() const noexcept;
  // Ranks run 0..max_rank().
  std::uint32_t max_rank() const noexcept;

  // Throws Error(config) when the id or rank is outside the plan.
  VmAddress vm(std::uint32_t network_id, std::uint32_t rank) const;
  Ipv4Cidr job_subnet(std::uint32_t network_id) const;

 private:
  Ipv4Cidr pool_;
  unsigned job_prefix_;
  std::array<std::uint8_t, 3> mac_prefix_;
};

}  // namespace slurmvm
