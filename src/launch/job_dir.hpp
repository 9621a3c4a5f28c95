// The job's private directory in the user's home (slurmvm::user_job_dir) and each VM's
// subdirectory in it: disk overlay, seed, sockets, console log, vm.json. Home directories are
// shared between nodes, so every task of the job creates the same job directory at once:
// creation tolerates that race. The job and VM directories are 0700, never symbolic links.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "atomic_file.hpp"
#include "file_read.hpp"
#include "private_dir.hpp"

namespace slurmvm::launch {

// Every path of one VM, absolute (QEMU records backing and socket paths as given).
struct VmPaths {
  std::filesystem::path job_dir;
  std::filesystem::path vm_dir;       // <job_dir>/vm<rank>
  std::filesystem::path disk;         // disk.qcow2: the copy-on-write overlay
  std::filesystem::path seed_dir;     // seed/: meta-data and user-data, as put in the ISO
  std::filesystem::path seed_iso;     // seed.iso
  std::filesystem::path host_key;     // ssh_host_ed25519_key (only while the seed is built)
  std::filesystem::path qmp;          // qmp.sock
  std::filesystem::path console;      // console.sock
  std::filesystem::path console_log;  // console.log
  std::filesystem::path agent;        // qga.sock: qemu-guest-agent's channel
  std::filesystem::path vm_json;      // vm.json
  std::filesystem::path launch_error;  // launch-error: why this launch failed (vm_record.hpp)
};

// Pure.
VmPaths vm_paths(const std::filesystem::path& job_dir, std::uint32_t rank);

// Files of the job's directory are written with write_file_atomic (atomic_file.hpp),
// Durability::flushed: they die with the job.

// Removes `path` if it exists (not a directory). Throws on any other failure.
void remove_if_exists(const std::filesystem::path& path);

}  // namespace slurmvm::launch
