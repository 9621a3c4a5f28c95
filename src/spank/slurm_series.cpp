#include "slurm_series.hpp"

#include <fmt/format.h>

namespace slurmvm::spank {

std::string slurm_series(unsigned long version_number) {
  return fmt::format("{}.{:02}", (version_number >> 16) & 0xffU, (version_number >> 8) & 0xffU);
}

std::optional<std::string> series_mismatch(unsigned long built_version, unsigned built_api,
                                           unsigned long running_api_version) {
  const auto running_api = (running_api_version >> 16) & 0xffU;
  if (running_api == built_api) return std::nullopt;
  return fmt::format(
      "spank_vm.so (slurm-vm) was built for Slurm {} (libslurm API {}) but is loaded by a Slurm "
      "with libslurm API {}, another release: Slurm will refuse it (\"Incompatible Slurm "
      "plugin\"). Install the slurm-vm packages built for this Slurm (slurmd -V prints its "
      "version), or rebuild slurm-vm against its headers (docs/install.md, \"Upgrading Slurm\")",
      slurm_series(built_version), built_api, running_api);
}

}  // namespace slurmvm::spank
