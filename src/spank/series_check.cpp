// Runs when the host process (slurmd, slurmstepd, srun, sbatch, salloc) dlopen()s the plugin,
// before Slurm's loader compares plugin_version with its own and refuses another release series
// with a message that names neither the cause nor the fix (slurm_series.hpp). The host's
// libslurm exports slurm_api_version() (libslurmfull in slurmd and srun, libslurm elsewhere); a
// process without it (a test, a tool) is not checked. SLURM_VM_LIBSLURM_API: CMakeLists.txt.
// The message goes to stderr (srun, sbatch, salloc; slurmd -D) and to syslog (slurmd as a
// service), because Slurm's own log is not set up for plugins yet at this point.
#include <dlfcn.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <slurm/slurm_version.h>

#include "slurm_series.hpp"

namespace {

__attribute__((constructor)) void check_slurm_series() noexcept {
  using ApiVersion = long (*)();
  void* symbol = ::dlsym(RTLD_DEFAULT, "slurm_api_version");
  if (symbol == nullptr) return;
  // POSIX guarantees the object-to-function pointer conversion dlsym() needs.
  const auto api_version = reinterpret_cast<ApiVersion>(symbol);
  try {
    const auto message = slurmvm::spank::series_mismatch(
        SLURM_VERSION_NUMBER, SLURM_VM_LIBSLURM_API, static_cast<unsigned long>(api_version()));
    if (!message) return;
    std::fprintf(stderr, "slurm-vm: error: %s\n", message->c_str());
    std::fflush(stderr);
    ::syslog(LOG_DAEMON | LOG_ERR, "slurm-vm: %s", message->c_str());
  } catch (const std::exception&) {
    // Out of memory formatting a message: Slurm's own refusal still follows.
  }
}

}  // namespace
