// The job's DHCP and DNS server, jailed (docs/security.md, "The job's dnsmasq").
//
// dnsmasq parses what the guests send, and to answer DHCP it must keep CAP_NET_ADMIN (it writes
// an ARP entry for a client that has no address yet; dnsmasq.c refuses to start without the
// capability). In the node's namespaces that capability would let a compromised dnsmasq rewrite
// the node's network; held in the initial user namespace it would even reach other network
// namespaces (moving a link there, or IFLA_TARGET_NETNSID). So each job's dnsmasq runs in a user
// namespace of its own, whose root is the node's `nobody` (uid_map "0 65534 1"), owning a network
// namespace of its own that holds one interface: the far end of a veth pair whose near end
// (svmdh<hex job id>) is a port of the job's network on the integration bridge, anti-spoofed by
// the job's flows like a VM's. Its capabilities reach that namespace and nothing else; what it
// can open is what `nobody` can. Nothing is mounted: the namespaces live exactly as long as
// dnsmasq, and the veth's far end with them.
//
// The pid file (root's, in <rundir>/dnsmasq) holds the pid and the kernel's start time of the
// process, so that stopping it never signals a recycled pid.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "addressing.hpp"
#include "netsetup/dnsmasq.hpp"

namespace slurmvm::netsetup {

struct DnsmasqJail {
  std::string port;              // the veth's near end, svmdh<hex job id>, in the node's namespace
  MacAddress mac{};              // the far end's (kDnsmasqInterface): the job's flows know it
  std::uint32_t ip = 0;          // the far end's address, in the job's subnet
  unsigned prefix = 0;
  std::uint32_t gateway = 0;     // its default route: names it forwards upstream go through it
  unsigned mtu = 1450;           // both ends (the job network's TAP MTU)
  std::uint32_t link_group = 0;  // the near end's (link_group.hpp): it goes with the job's TAPs
  std::filesystem::path pid_file;  // "<pid> <start time>\n", written before dnsmasq runs
  std::filesystem::path log_file;  // dnsmasq's stderr: why it did not start
};

// Forks a child that makes the two namespaces; maps its root to nobody (nogroup: nobody's
// primary group); creates the veth, the far end directly in the new network namespace; gives
// the far end its MAC, address, MTU and default route (transmit checksum offload off: the
// userspace datapath forwards what it reads from the near end as it is); then lets the child
// exec dnsmasq (dnsmasq_argv, in the foreground) and returns once the exec succeeded (the pid
// file, written before, names it). A child whose parent dies before that never execs. Throws
// Error, with the child's own reason when it failed, once `timeout` has passed otherwise; the
// caller's ledger entry undoes whatever was made (stop_jailed_dnsmasq, then the veth's
// deletion).
void start_jailed_dnsmasq(const DnsmasqConfig& cfg, const DnsmasqJail& jail, std::chrono::milliseconds timeout);

// Waits until the dnsmasq of the pid file listens on the DHCP and DNS ports. Separate from the
// start so that the prolog does its other work meanwhile: dnsmasq takes ~20 ms to load and bind
// on the 2-vCPU test VM, which the prolog used to wait out doing nothing. Throws Error with the
// tail of dnsmasq's log when it exited (a refused option, a port taken), or at the timeout.
void await_jailed_dnsmasq(const std::filesystem::path& pid_file, const std::filesystem::path& log_file,
                          std::chrono::milliseconds timeout);

// Stops the process of the pid file if it is still the one that was started (same start time):
// SIGTERM, then SIGKILL after `grace`; then removes the pid and log files. Whatever is already
// gone is success (idempotent undo). The veth is left to its own undo (delete_link, or the job's
// link group): the kernel deletes the pair itself once the jail's network namespace dies with
// its last process, and a deletion here would cost the epilog an RCU grace period of its own
// (~25 ms) that the group's one RTM_DELLINK shares with the TAPs.
void stop_jailed_dnsmasq(const std::filesystem::path& pid_file, const std::filesystem::path& log_file,
                         std::chrono::milliseconds grace = std::chrono::seconds(5));

// Pure: the start time (field 22, in clock ticks since boot) in the text of /proc/<pid>/stat;
// nullopt when it does not parse (the command name may hold spaces and parentheses).
std::optional<unsigned long long> parse_proc_start_time(std::string_view stat);

}  // namespace slurmvm::netsetup
