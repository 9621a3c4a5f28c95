// The node's own IPv4 addresses and routes, read over rtnetlink (RTM_GETADDR and RTM_GETROUTE
// dumps, no `ip` subprocess), and the two decisions made from them: which networks no VM may
// reach (the node's own addresses and the networks it sits on: its underlay, its controller's
// network when it is on one) and whether a job subnet would shadow something the node already
// routes. Parsing the kernel's dump is a pure function of its bytes (unit-tested).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "addressing.hpp"

namespace slurmvm::netsetup {

struct HostAddress {
  std::string ifname;  // IFA_LABEL
  std::uint32_t address = 0;  // host byte order
  unsigned prefix = 0;
};

struct HostRoute {
  std::uint32_t dst = 0;  // host byte order
  unsigned prefix = 0;
  std::uint32_t oif = 0;  // 0: none (a blackhole, a multipath route)
  std::string ifname;     // of oif, when it has one
  std::uint32_t table = 0;
  std::uint8_t type = 0;  // RTN_UNICAST, RTN_LOCAL, ...
};

// Pure parsers of one rtnetlink dump (the concatenated answers to one request).
std::vector<HostAddress> parse_address_dump(std::span<const unsigned char> bytes);
std::vector<HostRoute> parse_route_dump(std::span<const unsigned char> bytes);

// The live lists of the calling thread's network namespace. Throws Error.
std::vector<HostAddress> host_ipv4_addresses();
std::vector<HostRoute> host_ipv4_routes();

// Every address of an interface slurm-vm did not make (not kVmInterfacePrefix) as a /32, and
// the network it is on: what no VM may reach unless a site lists it.
std::vector<Ipv4Cidr> node_networks(const std::vector<HostAddress>& addresses);

// The first route or address of the node that overlaps `subnet`, described for a person
// ("route 10.251.3.0/24 dev ib0", "address 10.251.3.7/16 on eth1"); nullopt when none does.
// Default routes (/0) overlap everything by nature and are not counted.
std::optional<std::string> subnet_conflict(const Ipv4Cidr& subnet, const std::vector<HostAddress>& addresses,
                                           const std::vector<HostRoute>& routes);

bool overlaps(const Ipv4Cidr& a, const Ipv4Cidr& b) noexcept;

// vm-prolog step 8b, on the live node: refuses a job subnet that would shadow something the
// node reaches already, naming both. A site network (anything but slurm-vm's own `svm*`
// interfaces) is Error(config), a node fault: every such job would fail until an admin picks
// an unused int-network. Another job's subnet, cut from an overlapping pool, is JobError: the
// job can be retried.
void refuse_shadowing_subnet(const Ipv4Cidr& subnet, const std::string& network, const Ipv4Cidr& pool,
                             const std::string& node);

}  // namespace slurmvm::netsetup
