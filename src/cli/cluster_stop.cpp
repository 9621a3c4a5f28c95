// Stopping a virtual cluster (cluster_stop.hpp).
#include "cluster_stop.hpp"

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "drive_lock.hpp"
#include "error.hpp"
#include "log.hpp"
#include "programs.hpp"
#include "vm_set.hpp"

namespace slurmvm::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// How long guests with persistent drives get to shut down when the cluster stops.
constexpr seconds kPowerDownGrace{90};

// QEMU unlinks its listening sockets when it exits; the job directory is on the shared home.
bool vm_running(const JobDir& dir, std::uint32_t rank) {
  try {
    const auto vm = dir.read_vm(rank);
    std::error_code ec;
    return vm && std::filesystem::exists(vm->qmp, ec);
  } catch (const Error&) {
    return false;
  }
}

std::optional<std::uint32_t> find_step_id(const JobDir& dir, std::uint32_t count) {
  for (std::uint32_t r = 0; r < count; ++r) {
    try {
      if (auto vm = dir.read_vm(r); vm && vm->step_id) return vm->step_id;
    } catch (const Error&) {
      // A VM file being rewritten: try the next one.
    }
  }
  return std::nullopt;
}

// VMs with persistent drives get an ACPI power-down first (pcocc does the same): SIGTERM
// ends QEMU at once, and what the guest still held in its page cache would never reach the
// drive. The request goes through `vm monitor-cmd` (on the VMs' nodes); the guests get
// kPowerDownGrace to shut down before the step is stopped anyway.
void power_down_persistent(const JobDir& dir, std::uint32_t count, ChildProcess& step) {
  std::vector<std::uint32_t> ranks;
  for (std::uint32_t r = 0; r < count; ++r) {
    try {
      if (auto vm = dir.read_vm(r); vm && vm->persistent_drives) ranks.push_back(r);
    } catch (const Error&) {
      // unreadable: it is stopped like the others
    }
  }
  if (ranks.empty()) return;
  Command c;
  c.argv = {self_executable().string(), "monitor-cmd", "-j", std::to_string(dir.job_id()), format_vm_set(ranks),
            "system_powerdown"};
  c.inherit_env = true;
  c.timeout = seconds(60);
  const RunResult r = slurmvm::run(c);
  if (!r.ok()) {
    log_warning("could not power down {} (persistent drives): {}", format_vm_set(ranks), r.err);
    return;
  }
  if (ranks.size() == count && step.wait_for(kPowerDownGrace)) return;
  if (ranks.size() != count) {
    // The others are stopped with the step; give the powered-down ones their time first.
    const auto deadline = Clock::now() + kPowerDownGrace;
    for (const auto rank : ranks) {
      while (Clock::now() < deadline && vm_running(dir, rank)) std::this_thread::sleep_for(milliseconds(500));
    }
  }
}

}  // namespace

// Stops the VMs we started. Their teardown messages (srun's "task N: Terminated", QEMU's
// "terminating on signal 15") are expected here and go to step.log only.
void stop_vms(const JobDir& dir, std::uint32_t count, ChildProcess& step, OutputRelay& output) {
  if (!step.running() || step.poll()) return;
  std::cerr << "vm: stopping the virtual cluster\n";
  output.mute();
  power_down_persistent(dir, count, step);
  if (!step.running() || step.poll()) return;  // every VM shut down by itself
  // SIGTERM to the step's tasks: each QEMU closes its disks and exits. (SIGTERM to srun
  // itself would make srun kill the step with SIGKILL.)
  if (auto step_id = find_step_id(dir, count)) {
    Command scancel;
    scancel.argv = {"scancel", "--quiet", "--signal=TERM", fmt::format("{}.{}", dir.job_id(), *step_id)};
    scancel.search_path = true;
    scancel.inherit_env = true;
    scancel.timeout = seconds(20);
    const RunResult r = slurmvm::run(scancel);
    if (r.ok() && step.wait_for(seconds(30))) return;
  }
  const RunResult r = step.stop(SIGTERM, seconds(30));
  if (r.signal == SIGKILL) {
    log_warning("the VMs' srun step did not end within 30 s and was killed; its messages are in {}",
                (dir.path() / "step.log").string());
  }
}

// The VMs are gone: their mmp: cluster drives are free for the user's other jobs. (If vm
// boot dies first, the next job finds the lock's job ended and takes it over.)
void release_drive_locks(const JobDir& dir, std::uint32_t count) {
  for (std::uint32_t r = 0; r < count; ++r) {
    try {
      if (auto vm = dir.read_vm(r)) {
        for (const auto& lock : vm->drive_locks) release_drive_lock(lock, dir.job_id());
      }
    } catch (const Error& e) {
      log_warning("vm{}: drive locks not released: {}", r, e.what());
    }
  }
}

}  // namespace slurmvm::cli
