// The batch script `vm batch` hands to sbatch on its standard input: it boots the virtual
// cluster with `vm boot`, runs the user's host script on the job's first node and the VM script
// inside vm0 (at the same time when both are given), and ends the job when they finish. The
// scripts travel inside it, base64-encoded, and are written at run time into a fresh private
// directory (mktemp -d, mode 0700) removed when the job ends: no predictable /tmp path, no
// file of the user's left behind (pcocc-anatomy.md §6, item 9). Pure, golden-tested.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace slurmvm::cli {

struct BatchScripts {
  std::string vm_program;                 // absolute path of `vm` on the compute nodes
  std::optional<std::string> host_script;  // contents (-E FILE)
  std::optional<std::string> vm_script;    // contents (-b FILE), run as root in vm0
  int boot_timeout_s = 300;                // vm boot --timeout
  // The cluster's templates as resolved at submission (resolved_cluster.hpp, JSON), given to
  // vm boot as SLURM_VM_RESOLVED: the VMs get them however long the job waits in the queue.
  std::string resolved_cluster;
  // vm boot --restore: the checkpoint directory the cluster resumes from (vm batch -r).
  std::string restore_dir;
  // vm batch --junit: where each script's output, status and time go (junit_report.hpp), an
  // absolute path every node sees; empty: nowhere.
  std::string results_dir;
};

// The script text. Its exit status, and so the job's (sbatch --wait returns it): the VM
// script's when it failed, else the host script's; `vm boot`'s own code when the cluster did
// not come up (docs/exit-codes.md). With neither script the cluster runs until the job's time
// limit or scancel.
std::string batch_script(const BatchScripts& s);

}  // namespace slurmvm::cli
