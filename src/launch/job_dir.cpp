// Job and VM directories, files (job_dir.hpp).
#include "launch/job_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include <fmt/format.h>

#include "error.hpp"
#include "unique_fd.hpp"
#include "vm_record.hpp"

namespace slurmvm::launch {

namespace fs = std::filesystem;

VmPaths vm_paths(const fs::path& job_dir, std::uint32_t rank) {
  VmPaths p;
  p.job_dir = job_dir;
  p.vm_dir = job_dir / fmt::format("vm{}", rank);
  p.disk = p.vm_dir / "disk.qcow2";
  p.seed_dir = p.vm_dir / "seed";
  p.seed_iso = p.vm_dir / "seed.iso";
  p.host_key = p.vm_dir / "ssh_host_ed25519_key";
  p.qmp = p.vm_dir / "qmp.sock";
  p.console = p.vm_dir / "console.sock";
  p.console_log = p.vm_dir / "console.log";
  p.agent = p.vm_dir / "qga.sock";
  p.vm_json = p.vm_dir / "vm.json";
  p.launch_error = p.vm_dir / kLaunchErrorFile;
  return p;
}

void remove_if_exists(const fs::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw Error::from_errno(fmt::format("cannot remove {}", path.string()), errno);
  }
}

}  // namespace slurmvm::launch
