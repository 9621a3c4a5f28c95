// Why the VMs' step ended (step_end.hpp).
#include "step_end.hpp"

#include <charconv>

#include <fmt/format.h>

namespace slurmvm::cli {
namespace {

// "0-1,3" -> 0 1 3; empty on anything else.
std::vector<std::uint32_t> task_ranks(std::string_view text) {
  std::vector<std::uint32_t> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const auto dash = item.find('-');
    std::uint32_t lo = 0, hi = 0;
    const std::string_view a = item.substr(0, dash);
    const std::string_view b = dash == std::string_view::npos ? a : item.substr(dash + 1);
    const auto ra = std::from_chars(a.data(), a.data() + a.size(), lo);
    const auto rb = std::from_chars(b.data(), b.data() + b.size(), hi);
    if (a.empty() || b.empty() || ra.ec != std::errc() || ra.ptr != a.data() + a.size() || rb.ec != std::errc() ||
        rb.ptr != b.data() + b.size() || hi < lo || hi - lo > 65536) {
      return {};
    }
    for (std::uint32_t r = lo; r <= hi; ++r) out.push_back(r);
  }
  return out;
}

}  // namespace

std::vector<VmEnd> step_end_causes(std::string_view log_text) {
  static constexpr std::string_view kPrefix = "srun: error: ";
  std::vector<VmEnd> out;
  while (!log_text.empty()) {
    const auto nl = log_text.find('\n');
    std::string_view line = log_text.substr(0, nl);
    log_text = nl == std::string_view::npos ? std::string_view{} : log_text.substr(nl + 1);
    if (line.starts_with("srun: ") && line.find("Terminating StepId") != std::string_view::npos) break;
    if (!line.starts_with(kPrefix)) continue;
    line.remove_prefix(kPrefix.size());
    // NODE: task[s] RANKS: HOW
    const auto colon = line.find(": task");
    if (colon == std::string_view::npos || colon == 0) continue;
    const std::string_view node = line.substr(0, colon);
    std::string_view rest = line.substr(colon + 6);
    if (rest.starts_with("s")) rest.remove_prefix(1);
    if (!rest.starts_with(" ")) continue;
    rest.remove_prefix(1);
    const auto sep = rest.find(": ");
    if (sep == std::string_view::npos) continue;
    const auto ranks = task_ranks(rest.substr(0, sep));
    const std::string_view how = rest.substr(sep + 2);
    if (ranks.empty() || how.empty() || node.find(' ') != std::string_view::npos) continue;
    for (const auto r : ranks) out.push_back({r, std::string(node), std::string(how)});
  }
  return out;
}

std::string describe_step_end(std::uint32_t job_id, std::uint32_t vm_count, const std::vector<VmEnd>& causes,
                              int srun_exit_code, int srun_signal) {
  if (causes.empty()) {
    if (srun_exit_code == 0 && srun_signal == 0) {
      return fmt::format("job {}: the virtual cluster has shut down: every VM powered off", job_id);
    }
    return fmt::format("job {}: the virtual cluster ended: the VMs' srun step ended ({}) without naming a VM",
                       job_id,
                       srun_signal != 0 ? fmt::format("signal {}", srun_signal)
                                        : fmt::format("exit status {}", srun_exit_code));
  }
  std::string vms;
  for (const auto& c : causes) {
    vms += fmt::format("{}vm{} on {} ({})", vms.empty() ? "" : ", ", c.rank, c.node, c.how);
  }
  return fmt::format("job {}: the virtual cluster ended: {} ended{}", job_id, vms,
                     causes.size() < vm_count ? "; the other VMs were stopped with it" : "");
}

}  // namespace slurmvm::cli
