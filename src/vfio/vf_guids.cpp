// A VF's GUIDs and policy through sysfs (vf_guids.hpp).
#include "vfio/vf_guids.hpp"

#include <fmt/format.h>

#include "error.hpp"
#include "file_read.hpp"
#include "vfio/ib_guid.hpp"
#include "vfio/pci_sysfs.hpp"
#include "vfio/sysfs_write.hpp"

namespace fs = std::filesystem;

namespace slurmvm::vfio {
namespace {

std::uint64_t read_guid(const fs::path& file) {
  const auto guid = parse_guid(read_file(file, 4096));
  if (!guid) throw Error(fmt::format("{}: not a GUID", file.string()), ErrorKind::system);
  return *guid;
}

}  // namespace

std::string_view to_string(VfPolicy policy) {
  switch (policy) {
    case VfPolicy::down: return "Down";
    case VfPolicy::up: return "Up";
    case VfPolicy::follow: return "Follow";
  }
  return "Down";
}

std::optional<VfPolicy> parse_vf_policy(std::string_view text) {
  text = trim_space(text);
  for (auto p : {VfPolicy::down, VfPolicy::up, VfPolicy::follow}) {
    if (text == to_string(p)) return p;
  }
  return std::nullopt;
}

fs::path vf_sriov_dir(const fs::path& sysfs, std::string_view pf, unsigned vf) {
  if (!is_full_bdf(pf)) throw Error(fmt::format("\"{}\" is not a PCI function address", pf), ErrorKind::internal);
  const fs::path dir = sysfs / "bus/pci/devices" / std::string(pf) / "sriov" / std::to_string(vf);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error(fmt::format("PCI function {} has no VF {} to set GUIDs on ({} is missing: is the HCA's "
                            "SR-IOV enabled, and its driver one that exposes sriov/<vf>/node, such as mlx5?)",
                            pf, vf, dir.string()),
                ErrorKind::not_found);
  }
  return dir;
}

VfGuids read_vf_guids(const fs::path& sysfs, std::string_view pf, unsigned vf) {
  const fs::path dir = vf_sriov_dir(sysfs, pf, vf);
  return {read_guid(dir / "node"), read_guid(dir / "port")};
}

void assign_vf_guids(const fs::path& sysfs, std::string_view pf, unsigned vf, VfGuids guids,
                     VfPolicy policy) {
  const fs::path dir = vf_sriov_dir(sysfs, pf, vf);
  write_sysfs(dir / "node", format_guid_colon(guids.node) + "\n");
  write_sysfs(dir / "port", format_guid_colon(guids.port) + "\n");
  write_sysfs(dir / "policy", std::string(to_string(policy)) + "\n");
}

void release_vf_guids(const fs::path& sysfs, std::string_view pf, unsigned vf, VfGuids previous) {
  fs::path dir;
  try {
    dir = vf_sriov_dir(sysfs, pf, vf);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found) return;
    throw;
  }
  write_sysfs(dir / "policy", std::string(to_string(VfPolicy::down)) + "\n");
  write_sysfs(dir / "node", format_guid_colon(previous.node) + "\n");
  write_sysfs(dir / "port", format_guid_colon(previous.port) + "\n");
}

}  // namespace slurmvm::vfio
