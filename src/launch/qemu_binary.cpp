// Finding QEMU (qemu_binary.hpp).
#include "launch/qemu_binary.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "error.hpp"

namespace slurmvm::launch {

namespace fs = std::filesystem;

bool is_executable_file(const fs::path& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

fs::path find_in_fixed_dirs(std::string_view name, const IsExecutable& executable) {
  for (const std::string_view dir : kBinaryDirs) {
    fs::path candidate = fs::path(dir) / name;
    if (executable(candidate)) return candidate;
  }
  throw Error(fmt::format("{} is not installed (looked in {}); install it, or give the template's "
                          "qemu-bin as an absolute path",
                          name, fmt::join(kBinaryDirs, ", ")),
              ErrorKind::not_found);
}

fs::path resolve_qemu_binary(std::string_view qemu_bin, const IsExecutable& executable) {
  if (qemu_bin.empty()) throw Error("the template's qemu-bin is empty", ErrorKind::config);
  if (qemu_bin.front() == '/') {
    if (!executable(fs::path(qemu_bin))) {
      throw Error(fmt::format("qemu-bin {} is not an executable file", qemu_bin), ErrorKind::not_found);
    }
    return fs::path(qemu_bin);
  }
  if (qemu_bin.find('/') != std::string_view::npos) {
    throw Error(fmt::format("qemu-bin \"{}\" is a relative path: give a name or an absolute path",
                            qemu_bin),
                ErrorKind::config);
  }
  return find_in_fixed_dirs(qemu_bin, executable);
}

}  // namespace slurmvm::launch
