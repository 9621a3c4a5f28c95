// OpenSM's partitions file (partitions_file.hpp).
#include "vfio/partitions_file.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "error.hpp"
#include "vfio/ib_guid.hpp"

namespace slurmvm::vfio {
namespace {

// One or more definitions "NAME=PKEY, ipoib[, indx0] : GUID=full, ... ;" of at most
// kGuidsPerLine GUIDs each. An empty list writes nothing (no member: no definition).
void append_definitions(std::string& out, const std::string& name, std::uint16_t pkey, bool indx0,
                        std::vector<std::uint64_t> guids) {
  std::sort(guids.begin(), guids.end());
  guids.erase(std::unique(guids.begin(), guids.end()), guids.end());
  for (std::size_t at = 0; at < guids.size(); at += kGuidsPerLine) {
    out += fmt::format("{}={:#06x}, ipoib{} :", name, pkey, indx0 ? ", indx0" : "");
    const std::size_t end = std::min(guids.size(), at + kGuidsPerLine);
    for (std::size_t i = at; i < end; ++i) {
      out += fmt::format(" {}=full{}", format_guid(guids[i]), i + 1 < end ? "," : "");
    }
    out += " ;\n";
  }
}

}  // namespace

std::string partitions_file(std::string_view template_text, std::vector<JobPartition> jobs) {
  std::sort(jobs.begin(), jobs.end(), [](const JobPartition& a, const JobPartition& b) { return a.pkey < b.pkey; });
  for (std::size_t i = 1; i < jobs.size(); ++i) {
    if (jobs[i].pkey == jobs[i - 1].pkey) {
      throw Error(fmt::format("jobs {} and {} both hold partition key {:#06x}", jobs[i - 1].job, jobs[i].job,
                              jobs[i].pkey),
                  ErrorKind::config);
    }
  }
  std::string out(template_text);
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += "# slurm-vm: one partition per running job, written by vm-pkeyd (changes here are overwritten)\n";
  for (const auto& j : jobs) {
    const std::string name = fmt::format("slurm_vm_job_{}", j.job);
    append_definitions(out, name, j.pkey, true, j.vf_guids);
    append_definitions(out, name, j.pkey, false, j.host_guids);
  }
  return out;
}

}  // namespace slurmvm::vfio
