// What `vm ckpt` does on each node of the job, to the VMs running there, one phase at a time:
// `vm ckpt` runs `vm ckpt --phase=P` as one srun step with a task on every node of the job, so
// that each phase happens on all nodes at once (the VMs are paused together).
//   stop  pauses every VM (QMP stop: the guest's clock and devices stop, in-flight disk I/O
//         drains);
//   save  writes each paused VM's disk layer (drive-backup sync=top) and then its memory
//         (migration to a file QEMU gets as a descriptor), syncs both, and prints one JSON line
//         per VM with the files' sizes and sha256;
//   cont  resumes them (a checkpoint that failed: the cluster goes on as before);
//   quit  ends them (the checkpoint is safe: the cluster stops, as pcocc's did).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "checkpoint.hpp"
#include "job_files.hpp"

namespace slurmvm::cli {

enum class CheckpointPhase { stop, save, cont, quit };

// "stop" -> stop...; Error(usage) for anything else.
CheckpointPhase parse_checkpoint_phase(const std::string& text);
const char* phase_name(CheckpointPhase phase);

// One VM's files as `save` reports them (a JSON line on stdout).
struct SavedVm {
  std::uint32_t rank = 0;
  std::optional<CheckpointFile> disk;
  CheckpointFile memory;
};
nlohmann::json to_json(const SavedVm& saved);
SavedVm parse_saved_vm(const nlohmann::json& j);

// Runs the phase on the VMs of `dir`'s cluster that run on `node` (this node). Errors are
// printed per VM ("vm: error: vm3: ..."); returns the exit status (0: all went well).
int run_checkpoint_phase(CheckpointPhase phase, const JobDir& dir, const std::string& node,
                         const std::filesystem::path& staging, std::chrono::seconds timeout);

}  // namespace slurmvm::cli
