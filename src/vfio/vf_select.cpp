// Choosing a job's VFs (vf_select.hpp).
#include "vfio/vf_select.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::vfio {

std::vector<VfState> select_free_vfs(std::vector<VfState> vfs, std::size_t count, const std::set<std::string>& held,
                                     std::string_view node, std::string_view device) {
  std::sort(vfs.begin(), vfs.end(), [](const VfState& a, const VfState& b) { return a.index < b.index; });
  std::vector<VfState> out;
  for (auto& vf : vfs) {
    if (out.size() == count) break;
    if (vf.driver == kVfioDriver || held.count(vf.bdf) != 0) continue;
    out.push_back(std::move(vf));
  }
  if (out.size() < count) {
    throw Error(fmt::format("{}: {} has {} free SR-IOV virtual functions of {}, the job needs {} on this node "
                            "(one per VM): ask for fewer VMs per node",
                            node, device, out.size(), vfs.size(), count),
                ErrorKind::config);
  }
  return out;
}

}  // namespace slurmvm::vfio
