// vm-node-restore: puts back, after ovs-vswitchd restarted, what the running jobs' networks
// need from it and it forgot. OpenFlow rules live in ovs-vswitchd's memory only: a restart
// leaves the integration bridge with no flow at all (fail_mode=secure: nothing passes, which
// is safe, and every running VM is cut off). The userspace datapath also recreates the jobs'
// gateway ports without their addresses. Run as root once ovs-vswitchd is up again, e.g. as
// an ExecStartPost= of the node's ovs-vswitchd unit (docs/prolog-epilog.md, "After an
// ovs-vswitchd restart").
//
// From the node's job records (state/<id>.json, state/<id>.flows, written by vm-prolog step
// 17), under the node lock: the base flows of each bridge in use, each job's flows (the saved
// text replaces the job's cookie atomically, so a run on a healthy node changes nothing), and
// each gateway's address. A job whose records cannot be read is reported and skipped.
//
// Then the ports of jobs long gone. After a reboot /run is empty: the ledgers went with it, and
// so did every kernel object they recorded, but OVS keeps its database on disk, so the ports of
// the jobs that ran before come back as rows naming devices that no longer exist (no epilog
// and no reclaim can find them: both start from a ledger). A port tagged
// external_ids:slurm-vm-job=<id> whose job has no ledger on this node belongs to no one and is
// removed. The node lock keeps prologs out meanwhile, and a prolog records a job's ports in its
// ledger before it adds them.
//
// Exit codes: 0 every job restored (or none to restore); 1 some job could not be (each is
// logged); 2 usage.
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config/identity.hpp"
#include "error.hpp"
#include "log.hpp"
#include "main_guard.hpp"
#include "malloc_reuse.hpp"
#include "netsetup/flows.hpp"
#include "netsetup/node_job.hpp"
#include "netsetup/node_plan.hpp"
#include "netsetup/ovsdb.hpp"
#include "netsetup/tap.hpp"

using namespace std::chrono_literals;
using namespace slurmvm;
using namespace slurmvm::netsetup;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
// ovs-vswitchd recreates internal ports asynchronously after it starts.
constexpr auto kPortTimeout = 30s;

int run_main(int argc, char** argv) {
  if (argc > 1) {
    const bool help = std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0;
    (help ? std::cout : std::cerr)
        << "usage: vm-node-restore\n"
           "Puts the running VM jobs' OpenFlow rules and gateway addresses back after ovs-vswitchd\n"
           "restarted, and removes the OVS ports of jobs with no ledger on the node (after a reboot)\n"
           "(root; SLURM_VM_RUNDIR and SLURM_VM_OVSDB_SOCKET as for vm-prolog).\n"
           "Exit: 0 restored or nothing to do, 1 some job failed (logged), 2 usage.\n";
    return help ? kExitOk : kExitUsage;
  }
  const NodePaths paths = node_paths_from_env(config::process_env);
  const auto lock = NodeLock::acquire(paths, 60s);
  int failed = 0, restored = 0;
  std::set<std::string> bridges_with_base_flows;
  std::vector<std::string> unreadable;
  const auto jobs = read_job_states(paths, 0, &unreadable);
  for (const auto& file : unreadable) {
    log_error("{}: not a job record: that job's network is not restored", file);
    ++failed;
  }
  for (const auto& job : jobs) {
    try {
      if (!job.bridge.empty()) {
        NodePaths on_bridge = paths;
        on_bridge.bridge = job.bridge;
        // ovs-vswitchd may have numbered the ports anew when it restarted: ask it again.
        auto number_ports = [&](const std::vector<std::string>& names) {
          auto ovsdb = OvsdbClient::connect(paths.ovsdb_socket);
          return Vswitch(ovsdb).port_numbers(names);
        };
        if (bridges_with_base_flows.insert(job.bridge).second) {
          apply_flows(on_bridge.openflow(), node_base_flows(), number_ports);
        }
        apply_flows(on_bridge.openflow(), read_small_file(paths.flows_file(job.job_id)), number_ports);
      }
      if (job.gateway) {
        wait_for_interface(job.gateway->port, kPortTimeout);
        set_interface_ipv4(job.gateway->port, job.gateway->ip, job.gateway->prefix);
      }
      ++restored;
    } catch (const std::exception& e) {
      log_error("job {}: not restored: {}", job.job_id, e.what());
      ++failed;
    }
  }
  try {
    std::set<std::string> bridges = bridges_with_base_flows;
    bridges.insert(paths.bridge);
    auto ovsdb = OvsdbClient::connect(paths.ovsdb_socket);
    Vswitch vswitch(ovsdb);
    for (const auto& bridge : bridges) {
      for (const auto& [job, ports] : vswitch.job_ports(bridge)) {
        if (std::filesystem::exists(ledger_path(paths.ledger_dir(), job))) continue;
        const auto removed = vswitch.remove_ports(bridge, ports, fmt::format("vm-node-restore: job {} has no ledger", job));
        log_warning("job {}: removed its {} port(s) from {} ({}): no ledger on this node (lost with /run in a reboot?)",
                    job, removed, bridge, fmt::join(ports, ", "));
      }
    }
  } catch (const std::exception& e) {
    log_error("ports of ended jobs not swept: {}", e.what());
    ++failed;
  }
  log_info("restored {} job(s), {} failed", restored, failed);
  return failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  slurmvm::reuse_freed_memory();
  slurmvm::set_log_sink(slurmvm::helper_sink("vm-node-restore"));
  slurmvm::set_log_level(slurmvm::LogLevel::info);
  return slurmvm::guarded_main([&] { return run_main(argc, argv); }, kExitFailed);
}
