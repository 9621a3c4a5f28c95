// The run directory's layout (node_layout.hpp).
#include "node_layout.hpp"

#include <fmt/format.h>

#include "error.hpp"

namespace fs = std::filesystem;

namespace slurmvm {

fs::path RunDirLayout::job_dir(std::uint32_t job_id) const { return jobs_dir() / std::to_string(job_id); }

fs::path RunDirLayout::state_file(std::uint32_t job_id) const { return state_dir() / fmt::format("{}.json", job_id); }

fs::path RunDirLayout::flows_file(std::uint32_t job_id) const { return state_dir() / fmt::format("{}.flows", job_id); }

std::optional<fs::path> absolute_path_override(
    const std::function<std::optional<std::string>(const std::string&)>& env, const std::string& name) {
  auto v = env(name);
  if (!v || v->empty()) return std::nullopt;
  const fs::path p(*v);
  if (!p.is_absolute() || p.lexically_normal() != p || v->find('\n') != std::string::npos) {
    throw Error(fmt::format("{}=\"{}\" is not an absolute, normal path", name, *v), ErrorKind::config);
  }
  return p;
}

RunDirLayout run_dir_layout_from_env(const std::function<std::optional<std::string>(const std::string&)>& env) {
  RunDirLayout layout;
  if (auto v = absolute_path_override(env, "SLURM_VM_RUNDIR")) layout.run_dir = *v;
  return layout;
}

}  // namespace slurmvm
