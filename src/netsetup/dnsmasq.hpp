// Addresses and names for a job's VMs, served on each node for its own VMs: one dnsmasq per job
// per node, bound to the job's gateway port (like libvirt's one dnsmasq per virtual network).
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

struct DnsmasqConfig {
  std::string program = "/usr/sbin/dnsmasq";
  std::filesystem::path pid_file;
  std::string interface;  // the job's gateway port
  std::uint32_t gateway_ip = 0;
  Ipv4Cidr subnet;  // the job's subnet: every planned address is in it
  unsigned mtu = 0;
  std::optional<std::string> domain;      // vmN.<domain> resolves too
  std::optional<std::string> dns_search;  // DHCP option 119 (networks.yaml dns-search)
  std::optional<std::string> upstream_dns;  // other names are forwarded there; unset: refused
  std::optional<std::string> ntp_server;
  std::vector<DnsmasqHost> hosts;         // every VM of the job
};

// Pure. The command line: no configuration file, no /etc/hosts, no lease file, bound to the
// gateway port only (SO_BINDTODEVICE: several jobs' instances share a node), privileges dropped
// to nobody, static leases only. Throws Error(config) on a domain or upstream that is not a
// plain DNS name or IPv4 address (they come from the site configuration, but end up in argv).
std::vector<std::string> dnsmasq_argv(const DnsmasqConfig& cfg);

// Starts it (dnsmasq daemonizes once it is serving, or exits non-zero saying why). Throws
// Error with its message; deadline 10 s.
void start_dnsmasq(const DnsmasqConfig& cfg);

// Stops the instance whose pid file this is, if it still runs: SIGTERM, then SIGKILL after
// `grace`; the pid is only signalled if its command line names this pid file (never a
// recycled pid). Removes the pid file. Nothing to stop is success (idempotent undo).
void stop_dnsmasq(const std::filesystem::path& pid_file,
                  std::chrono::milliseconds grace = std::chrono::seconds(5));

}  // namespace slurmvm::netsetup
