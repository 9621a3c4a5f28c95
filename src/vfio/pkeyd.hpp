// vm-pkeyd's work, one pass at a time: for each `infiniband` network, OpenSM's partitions file
// made from the site's template and the running jobs' pkeys (partitions_file.hpp), written only
// when its content changes, and OpenSM told to re-read it; allocations of jobs Slurm no longer
// knows are dropped from the store (a job whose epilog never ran on some node: a node crash).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "vfio/pkey_store.hpp"

namespace slurmvm::vfio {

// One infiniband network's OpenSM files (networks.yaml; pcocc's keys).
struct PartitionTarget {
  std::string network;
  std::filesystem::path partition_cfg;  // opensm-partition-cfg: written here
  std::filesystem::path partition_tpl;  // opensm-partition-tpl: the site's static part
  std::string opensm;                   // opensm-daemon: a pid file (absolute path) or a systemd unit
};

// The targets of every infiniband network of the configuration.
std::vector<PartitionTarget> partition_targets(const config::NetworkMap& networks);

// How OpenSM is asked to re-read its partitions file.
class OpensmNotifier {
 public:
  virtual ~OpensmNotifier() = default;
  // `opensm`: a pid file (absolute path) or a systemd unit. Throws Error when it cannot.
  virtual void reread(const std::string& opensm) = 0;
};

// SIGHUP (opensm(8): "re-read the partition configuration"): to the process of the pid file if
// it is an opensm, else through `systemctl kill --signal=SIGHUP --kill-whom=main UNIT`. Never by
// process name (pcocc signalled anything named like it).
class RealOpensmNotifier final : public OpensmNotifier {
 public:
  void reread(const std::string& opensm) override;
};

struct SyncResult {
  std::vector<std::string> rewritten;  // networks whose file changed (OpenSM told)
  std::vector<std::string> failed;     // "network: what failed" (the others still synced)
};

// One pass over `targets` with the store's `allocations`. A target's failure (an unreadable
// template, OpenSM not reachable) does not stop the others.
SyncResult sync_partitions(const std::vector<PartitionTarget>& targets, const std::vector<PkeyAllocation>& allocations,
                           OpensmNotifier& notifier);

// The job ids Slurm still knows (`squeue -h -r -o %A`, every state, 20 s deadline: array tasks
// and heterogeneous components each under their own id); nullopt when it cannot tell, in which
// case nothing is pruned.
std::optional<std::set<std::uint32_t>> slurm_jobs();

// Pure: squeue's output ("1234\n1240\n...") as ids; nullopt when a line is not one.
std::optional<std::set<std::uint32_t>> parse_squeue_ids(std::string_view text);

}  // namespace slurmvm::vfio
