// vm-epilog: the root job epilog (slurm.conf Epilog=). Undoes the node's ledger of the job in
// reverse (the undo handlers of src/netsetup/node_job.hpp) and removes the job's directory.
// Idempotent: a second run, or a run for a job the prolog never touched, succeeds and changes
// nothing. The steps are docs/prolog-epilog.md, section 3.
//
// Exit codes: 0 nothing left of the job on this node; 1 some undo failed (the ledger is kept
// whole for the next attempt; Slurm drains the node so an admin looks).
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "error.hpp"
#include "config/identity.hpp"
#include "log.hpp"
#include "main_guard.hpp"
#include "malloc_reuse.hpp"
#include "netsetup/ledger.hpp"
#include "netsetup/node_job.hpp"
#include "netsetup/node_plan.hpp"

using namespace std::chrono_literals;
using namespace slurmvm;
using namespace slurmvm::netsetup;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;

// The process environment, as the pure parsers (node_plan.hpp) read it.
const auto env_lookup = config::process_env;

int run_main() {
  // 1. The job id (the only input the epilog needs; nothing else is trusted or loaded).
  // The epilog runs for every job of the cluster: one that is not a virtual cluster must
  // never fail here, so its job id only matters if something of it is on the node.
  const NodePaths paths = node_paths_from_env(env_lookup);
  std::uint32_t job_id = 0;
  try {
    job_id = job_id_from_env(env_lookup);
  } catch (const Error&) {
    if (!is_vm_job(env_lookup)) return kExitOk;
    throw;
  }

  // 2. Nothing of this job here (not a VM job, or cleaned already): done, without locking.
  std::error_code ec;
  const bool has_ledger = std::filesystem::exists(ledger_path(paths.ledger_dir(), job_id), ec);
  const bool has_dir = std::filesystem::exists(paths.job_dir(job_id), ec);
  const bool has_state = std::filesystem::exists(paths.state_file(job_id), ec);
  if (!has_ledger && !has_dir && !has_state) return kExitOk;

  // 3. The node lock: the nftables rebuild and the forwarding count see one job at a time.
  const auto lock = NodeLock::acquire(paths, 60s);

  // 4. Undo the ledger in reverse; every handler treats "already gone" as success.
  // 5. Then what a prolog may leave without a ledger entry: the error file of a refused job,
  //    and a record whose ledger entry was undone by a rollback that then crashed.
  const auto report = clean_job(paths, job_id);
  for (const auto& f : report.failures) {
    log_error("job {}: undo of ledger line {} ({}) failed: {}", job_id, f.line,
              f.op.empty() ? "corrupt line" : f.op, f.error);
  }
  if (!report.ok()) {
    log_error("job {}: {} undo step(s) failed; the ledger is kept for the next attempt", job_id,
              report.failures.size());
    return kExitFailed;
  }
  log_info("job {}: node cleaned ({} ledger entries undone)", job_id, report.undone);
  return kExitOk;
}

}  // namespace

int main() {
  slurmvm::reuse_freed_memory();
  slurmvm::set_log_sink(slurmvm::helper_sink("vm-epilog"));
  return slurmvm::guarded_main(run_main, kExitFailed);
}
