// Writing a sysfs attribute, the one way src/vfio does it: one write(2) of the whole value (sysfs
// takes an attribute in one write), O_TRUNC as a shell's `>` does (sysfs ignores it; a test's
// plain file needs it), never through a symlink at the last component. The kernel's refusal
// (EBUSY, ENODEV, EINVAL) becomes Error naming the value and the file.
#pragma once

#include <filesystem>
#include <string_view>

namespace slurmvm::vfio {

void write_sysfs(const std::filesystem::path& file, std::string_view value);

}  // namespace slurmvm::vfio
