#include "job_names.hpp"

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm {

std::uint32_t network_id_for_job(std::uint32_t job_id, const AddressPlan& plan) {
  return job_id % plan.max_network_id() + 1;
}

std::string tap_name(std::uint32_t job_id, std::uint32_t rank, std::uint32_t nic) {
  if (rank > 0xfff || nic > kMaxNicsPerVm) {
    throw Error(fmt::format("no TAP name for NIC {} of vm{}", nic, rank), ErrorKind::internal);
  }
  std::string name = nic == 0 ? fmt::format("svm{:x}.{:x}", job_id, rank)
                              : fmt::format("svm{:x}.{:x}{:03x}", job_id, nic, rank);
  if (name.size() > 15) {
    throw Error(fmt::format("job {}: NIC {} of vm{} has no TAP name that fits in 15 characters "
                            "(job ids above {:#x} allow one NIC per VM)",
                            job_id, nic, rank, 0xfffffff),
                ErrorKind::internal);
  }
  return name;
}

std::filesystem::path user_job_dir(const std::filesystem::path& home, std::uint32_t job_id) {
  return home / ".local/state/slurm-vm" / fmt::format("job-{}", job_id);
}

}  // namespace slurmvm
