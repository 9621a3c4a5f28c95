// Addresses and names for a job's VMs, served on each node for its own VMs: one dnsmasq per job
// per node (like libvirt's one dnsmasq per virtual network), jailed in namespaces of its own
// with one interface on the job's network (dnsmasq_jail.hpp).
// DHCP hands each local VM its planned address (static leases only: nothing else is ever
// leased), the gateway, the MTU and the DNS server; DNS answers vmN and vmN.<domain> for every
// VM of the job, on every node, so no node depends on another. Images without cloud-init thus
// get their address and names. docs/netsetup.md §6.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "addressing.hpp"

namespace slurmvm::netsetup {

struct DnsmasqHost {
  std::string name;  // vmN
  std::uint32_t ip = 0;
  std::optional<MacAddress> mac;  // set for this node's VMs: they get a DHCP lease
};

// Its one interface, inside its network namespace.
inline constexpr const char* kDnsmasqInterface = "dhcp0";

struct DnsmasqConfig {
  std::string program = "/usr/sbin/dnsmasq";
  std::uint32_t server_ip = 0;   // its own address (AddressPlan: the subnet's last host address)
  std::uint32_t gateway_ip = 0;  // the VMs' router
  Ipv4Cidr subnet;  // the job's subnet: every planned address is in it
  unsigned mtu = 0;
  std::optional<std::string> domain;      // vmN.<domain> resolves too
  std::optional<std::string> dns_search;  // DHCP option 119 (networks.yaml dns-search)
  std::optional<std::string> upstream_dns;  // other names are forwarded there; unset: refused
  std::optional<std::string> ntp_server;
  std::vector<DnsmasqHost> hosts;         // every VM of the job
};

// Pure. The command line: no configuration file, no /etc/hosts, no lease file, no pid file,
// in the foreground (the jail knows its pid), bound to kDnsmasqInterface, staying the jail's
// root (it has nobody to change to: dnsmasq_jail.hpp), static leases only. Throws
// Error(config) on a domain or upstream that is not a plain DNS name or IPv4 address (they come
// from the site configuration, but end up in argv).
std::vector<std::string> dnsmasq_argv(const DnsmasqConfig& cfg);

// Ledgers written before the jail (op dhcp.start): stops the daemonized instance whose pid
// file this is, if it still runs: SIGTERM, then SIGKILL after `grace`; the pid is only
// signalled if its command line names this pid file (never a recycled pid). Removes the pid
// file. Nothing to stop is success (idempotent undo).
void stop_legacy_dnsmasq(const std::filesystem::path& pid_file,
                         std::chrono::milliseconds grace = std::chrono::seconds(5));

}  // namespace slurmvm::netsetup
