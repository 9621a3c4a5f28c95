#include "job_names.hpp"

#include <fmt/format.h>

namespace slurmvm {

std::uint32_t network_id_for_job(std::uint32_t job_id, const AddressPlan& plan) {
  return job_id % plan.max_network_id() + 1;
}

std::string tap_name(std::uint32_t job_id, std::uint32_t rank) {
  return fmt::format("svm{:x}.{:x}", job_id, rank);
}

std::filesystem::path user_job_dir(const std::filesystem::path& home, std::uint32_t job_id) {
  return home / ".local/state/slurm-vm" / fmt::format("job-{}", job_id);
}

}  // namespace slurmvm
