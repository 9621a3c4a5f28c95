// vm-prolog's changes to the node, steps 11-19 of docs/prolog-epilog.md §2, in order: each one
// recorded in the job's ledger (host_changes.hpp) before it is made through `effects`
// (node_effects.hpp). The steps before (inputs, plan, lock, checks, ports) and the rollback
// stay in src/prolog/main.cpp. tests/unit/prolog_apply_test.cpp pins the sequence of records and
// effects of a reference job.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "netsetup/job_state.hpp"
#include "netsetup/ledger.hpp"
#include "netsetup/node_effects.hpp"
#include "netsetup/node_job.hpp"
#include "netsetup/node_plan.hpp"

namespace slurmvm::netsetup {

// The OVS deadline for a job with `ports` ports on the node: ovs-vswitchd's userspace datapath
// needs about 1 s per 64 ports added or removed (bench/node-setup), so 10 s plus 100 ms a port.
std::chrono::milliseconds ovs_timeout(std::size_t ports);

struct PrologJob {
  const NodePaths& paths;
  const JobInputs& in;
  const NodePlan& plan;
  config::OvsDatapath datapath = config::OvsDatapath::auto_detect;  // slurm-vm.yaml ovs.datapath
  gid_t gid = 0;
  const std::map<std::string, std::uint32_t>& node_ips;  // underlay addresses (step 5)
  const JobState& state;                                   // the record so far (steps 8-9)
  const std::vector<std::uint16_t>& ssh_ports;             // reverse NAT host ports (step 9)
  vfio::PkeyStoreSpec pkey_store = {};                     // slurm-vm.yaml store (infiniband)
};

// Steps 11-19. Throws on the first failure; the caller rolls the ledger back.
void apply_prolog_changes(Ledger& ledger, NodeEffects& effects, const PrologJob& job);

}  // namespace slurmvm::netsetup
