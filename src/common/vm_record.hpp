// vm.json: what vm-launch records about a running VM in its directory just before QEMU starts,
// and everything the CLI (ssh, console, list, save, boot's readiness and teardown) reads back:
// one type, written and read by the same code. docs/vm-launch.md describes every field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace slurmvm {

// What QEMU calls a VM's disk overlay: vm-launch hands it over as fd set 1, already unlinked
// (launch/vm_inputs.hpp, OpenDisk); `vm save` finds the drive by this name.
inline constexpr std::string_view kDiskFdSet = "/dev/fdset/1";

struct VmRecord {
  std::uint32_t rank = 0;
  std::string name;  // vm<rank>
  std::uint32_t job_id = 0;
  std::optional<std::uint32_t> step_id;
  std::string node;
  std::int64_t pid = 0;  // QEMU's (vm-launch execs it), on the VM's node
  // The VM's NIC on the job's L3 network; empty without one.
  std::string tap;
  std::string mac;
  std::string ip;
  std::optional<std::uint16_t> ssh_port;  // reverse NAT on its node
  // The job's network identity (addressing.hpp), 0 without a network: a checkpoint keeps it.
  std::uint32_t network_id = 0;
  std::string hostname;
  std::string host_key_pub;
  // QEMU's sockets and the console log (absolute paths in the job directory).
  std::filesystem::path qmp;
  std::filesystem::path console;
  std::filesystem::path console_log;
  std::filesystem::path agent;
  std::uint32_t vcpus = 0;
  std::uint64_t memory_mib = 0;
  std::string accel;  // "kvm" or "tcg"
  // The template's custom-args hold -no-reboot: a reset must ask QEMU to reset, not exit.
  bool no_reboot = false;
  // What the disk overlay sits on: {"file"} or {"repo", "repo_path", "name", "revision",
  // "file"}; null without an image. `vm save` adds its layer to exactly this revision.
  nlohmann::json image;
  // Where the VM runs: each vCPU's CPUs (empty: not pinned), the emulator threads' CPUs, the
  // NUMA nodes its memory is bound to (empty: unbound).
  std::vector<std::vector<int>> vcpu_cpus;
  std::vector<int> emulator_cpus;
  std::vector<int> numa_nodes;
  // Its writes outlive it: `vm boot` powers it down before stopping the step.
  bool persistent_drives = false;
  // Its mmp: cluster drives' lock files (drive_lock.hpp), emptied by `vm boot` at the end.
  std::vector<std::filesystem::path> drive_locks;
};

nlohmann::json to_json(const VmRecord& vm);
// Throws Error(ErrorKind::system) naming `source` when rank, name or node is missing or a field
// has the wrong type; the other fields default (a record of an earlier version).
VmRecord parse_vm_record(std::string_view text, std::string_view source);

// launch-error, beside vm.json: why vm-launch gave up on a VM before QEMU ran. vm-launch also
// prints it, but srun may drop a task's last output when it kills the step (--kill-on-bad-exit
// after that very task's exit), so `vm boot` reads the reason from here too.
inline constexpr std::string_view kLaunchErrorFile = "launch-error";

struct LaunchFailure {
  std::string node;
  std::string message;  // the error as vm-launch logged it, without its "error: " prefix
};

nlohmann::json to_json(const LaunchFailure& failure);
// Throws Error(ErrorKind::system) naming `source` when the text is not such a record.
LaunchFailure parse_launch_failure(std::string_view text, std::string_view source);

}  // namespace slurmvm
