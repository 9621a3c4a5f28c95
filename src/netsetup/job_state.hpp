// The node's record of a job, state/<jobid>.json: written by vm-prolog (step 17), read by later
// prologs, by the nftables rebuild and by vm-node-restore; one type, one JSON form, written and
// read by the same code (docs/prolog-epilog.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "netsetup/nat.hpp"

namespace slurmvm::netsetup {

// The node's own record of a job (root-only, <rundir>/state/<jobid>.json): what node-wide
// decisions need to know about the jobs already on the node: their network ids and the host
// ports and NAT rules they hold.
struct JobState {
  std::uint32_t job_id = 0;
  // The component of a heterogeneous job whose prolog built this node's share for every
  // component here ("built_by"; 0: an ordinary job). A sibling component's prolog then has
  // nothing left to do.
  std::uint32_t built_by = 0;
  std::uint32_t network_id = 0;
  std::vector<NatRule> nat;
  // Set when the job's network allows outbound connections ("outbound" in JSON).
  std::optional<OutboundRule> outbound;
  // The job's owner, when the job has a gateway on this node ("owner"): who besides root may
  // open connections to its VMs from the node.
  std::optional<std::uint32_t> owner;
  // The job's bridged NICs on this node ("bridged"): the bridge table's rules.
  std::vector<BridgedPort> bridged;
  // What vm-node-restore puts back after an ovs-vswitchd restart: the bridge the job's flows
  // are on ("bridge"; the flow text itself is state/<id>.flows) and its gateway port's address
  // ("gateway": {"port", "address"}), which the userspace datapath's internal port loses.
  std::string bridge;
  struct Gateway {
    std::string port;
    std::uint32_t ip = 0;
    unsigned prefix = 0;
  };
  std::optional<Gateway> gateway;
  // Its DHCP/DNS server's upstream, when the network names a dns-server and the node forwards
  // ("dns": {"server", "upstream"}; DnsUpstream::job_id is job_id).
  std::optional<DnsUpstream> dns;
};
nlohmann::json to_json(const JobState& s);
// Throws Error(config) naming `source` when the text is not a valid state.
JobState parse_job_state(std::string_view text, std::string_view source);

}  // namespace slurmvm::netsetup
