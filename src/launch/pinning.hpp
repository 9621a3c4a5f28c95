// Pinning each vCPU thread to one of the task's CPUs, without ever letting a vCPU run unpinned
// and without putting anything between Slurm and QEMU:
//
//   vm-launch ──fork──▶ helper ──fork──▶ pinner (the helper exits at once; no zombie is left
//      │                                  under QEMU for the VM's lifetime)
//      └─ exec QEMU -S (same pid: QEMU *is* the Slurm task; its vCPUs exist but are paused)
//   pinner: connects to qmp.sock (retrying while QEMU starts), query-cpus-fast gives each
//           vCPU's thread id, sched_setaffinity pins them, `cont` starts the VM, then exits.
//
// The pinner watches QEMU through a pidfd and stops as soon as QEMU is gone (a bad option makes
// QEMU exit at once). If pinning fails the VM is started anyway with a warning; if QMP cannot
// be reached or `cont` fails before the deadline, the VM would stay paused forever, so the
// pinner stops QEMU (SIGTERM) and says why: the task fails visibly instead of hanging.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace slurmvm::launch {

inline constexpr std::chrono::seconds kPinningDeadline{30};

// The CPUs this process may run on (sched_getaffinity), in increasing order.
std::vector<int> current_affinity();

struct PinPlan {
  std::vector<std::vector<int>> cpus_of_vcpu;  // index: vCPU
  // Where QEMU's other threads (main loop, I/O) run: the template's emulator-cores. Empty:
  // wherever the task may run.
  std::vector<int> emulator_cpus;
  std::string note;  // why the plan is not one CPU per vCPU, or empty
};

// Pure. The VM uses vcpus + emulator_cores CPUs of the task's mask: vCPU i gets the i-th, QEMU's
// own threads the last emulator_cores (pcocc's emulator-cores). When the mask holds more CPUs
// than that (threads of a core, or tasks not bound by Slurm's task plugin so that every VM of
// the node sees every CPU), the VM's window starts at CPU (local_id x its CPUs) of the mask,
// wrapping, so that VMs sharing a mask spread over it instead of piling onto its first CPUs.
// Fewer CPUs: vCPUs share them round robin and the emulator threads are not confined.
PinPlan plan_vcpu_pinning(const std::vector<int>& mask, std::uint32_t vcpus, std::uint32_t local_id,
                          std::uint32_t emulator_cores = 0);

// Sets this process's affinity (inherited by the threads QEMU creates after exec); returns 0 or
// an errno.
int set_process_affinity(const std::vector<int>& cpus);

// Sets one thread's affinity; returns 0 or an errno.
using SetAffinity = std::function<int(int thread_id, const std::vector<int>& cpus)>;
int set_thread_affinity(int thread_id, const std::vector<int>& cpus);

// Applies `plan` to the reply of query-cpus-fast ([{"cpu-index", "thread-id", ...}]). Threads
// running several vCPUs (single-threaded TCG) get the union of their CPUs. Returns warnings,
// empty when every vCPU was pinned.
std::vector<std::string> apply_pinning(const nlohmann::json& cpus_fast, const PinPlan& plan,
                                       const SetAffinity& set = set_thread_affinity);

struct PinningJob {
  std::filesystem::path qmp_socket;
  bool bind_vcpus = true;
  PinPlan plan;
  std::chrono::milliseconds deadline = kPinningDeadline;
  // A restore (-incoming): QEMU restores the run state the guest had when it was saved, paused
  // (vm ckpt stops the VMs first), whatever `cont` said while the stream was read: once QEMU
  // has read it (at most `incoming_deadline`), the guest is resumed.
  bool incoming = false;
  std::chrono::milliseconds incoming_deadline = std::chrono::hours(1);
};

// Starts the pinner for the QEMU this process is about to become (see above) and returns in
// the caller once the intermediate helper has exited. Throws Error if it cannot fork.
void start_pinning_helper(const PinningJob& job);

}  // namespace slurmvm::launch
