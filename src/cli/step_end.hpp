// Why the VMs' srun step ended, from srun's own messages. The step has one task per VM and each
// task is QEMU itself (vm-launch execs it), so srun's report of a task ending is the VM's:
//   srun: error: node2: task 1: Killed
//   srun: error: node1: tasks 0-1: Exited with exit code 3
// A task that exits 0 (a guest that powered off) is not reported. The step runs with
// --kill-on-bad-exit, so after the first bad end srun prints "_step_signal: Terminating
// StepId=..." and the other VMs' ends ("Terminated"): those are collateral, not causes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slurmvm::cli {

struct VmEnd {
  std::uint32_t rank = 0;
  std::string node;
  std::string how;  // srun's words: "Killed", "Exited with exit code 3", "Segmentation fault"
};

// The VMs whose end ended the step, in srun's order, from the step's log text (srun's and the
// VMs' output mixed). Lines srun printed after it started terminating the step are left out.
std::vector<VmEnd> step_end_causes(std::string_view log_text);

// The user's command was stopped because the step ended: one line saying so, naming the VMs.
// `srun_exit_code` 0 with no causes: every guest powered off.
std::string describe_step_end(std::uint32_t job_id, std::uint32_t vm_count, const std::vector<VmEnd>& causes,
                              int srun_exit_code, int srun_signal);

}  // namespace slurmvm::cli
