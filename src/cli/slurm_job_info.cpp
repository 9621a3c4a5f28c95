// What `vm boot` learns about its allocation (slurm_job_info.hpp).
#include "slurm_job_info.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <regex>

#include <fmt/format.h>

#include "error.hpp"
#include "subprocess.hpp"

namespace slurmvm::cli {

std::string required_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    throw Error(fmt::format("{} is not set: `vm boot` runs inside a Slurm allocation (use `vm alloc` or "
                            "`vm batch`, or call it from a batch script)",
                            name),
                ErrorKind::usage);
  }
  return v;
}

std::optional<std::string> memory_env_from_scontrol(std::string_view oneliner) {
  const std::string text(oneliner);
  auto mebibytes = [](const std::smatch& m, std::size_t number) {
    std::uint64_t mib = std::stoull(m[number].str());
    if (m[number + 1] == "G") mib *= 1024;
    if (m[number + 1] == "T") mib *= 1024 * 1024;
    return mib;
  };
  static const std::regex field(R"((?:^|\s)MinMemory(CPU|Node)=(\d+)([MGT]?)(?:\s|$))");
  std::smatch m;
  if (!std::regex_search(text, m, field)) return std::nullopt;
  if (const std::uint64_t mib = mebibytes(m, 2); mib != 0) {
    return fmt::format("{}={}", m[1] == "CPU" ? "SLURM_MEM_PER_CPU" : "SLURM_MEM_PER_NODE", mib);
  }
  // --mem=0 (full-node templates): the whole memory of each node, which Slurm exports nowhere;
  // the job's allocated TRES hold the total (nodes of different sizes: their average).
  static const std::regex tres(R"((?:^|\s)TRES=\S*\bmem=(\d+)([MGT]?))");
  static const std::regex node_count(R"((?:^|\s)NumNodes=(\d+))");
  std::smatch t, n;
  if (!std::regex_search(text, t, tres) || !std::regex_search(text, n, node_count)) return std::nullopt;
  const std::uint64_t nodes = std::max<std::uint64_t>(std::stoull(n[1].str()), 1);
  return fmt::format("SLURM_MEM_PER_NODE={}", mebibytes(t, 1) / nodes);
}

// Slurm exports SLURM_MEM_PER_CPU / SLURM_MEM_PER_NODE only when the user asked for memory,
// not when it comes from the partition's or the site's default (DefMemPerCPU), yet vm-launch
// sizes each VM from it. Ask slurmctld what the job got: one scontrol call per boot.
std::optional<std::string> job_memory_env() {
  if (std::getenv("SLURM_MEM_PER_CPU") != nullptr || std::getenv("SLURM_MEM_PER_NODE") != nullptr) {
    return std::nullopt;
  }
  Command c;
  c.argv = {"scontrol", "show", "job", "--oneliner", required_env("SLURM_JOB_ID")};
  c.search_path = true;
  c.inherit_env = true;
  c.timeout = std::chrono::seconds(20);
  return memory_env_from_scontrol(run_checked(c).out);
}

}  // namespace slurmvm::cli
