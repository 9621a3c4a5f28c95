// Writing a sysfs attribute (sysfs_write.hpp).
#include "vfio/sysfs_write.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <fmt/format.h>

#include "error.hpp"
#include "unique_fd.hpp"

namespace slurmvm::vfio {

void write_sysfs(const std::filesystem::path& file, std::string_view value) {
  std::string_view shown = value;
  while (!shown.empty() && shown.back() == '\n') shown.remove_suffix(1);
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) throw Error::from_errno(fmt::format("opening {}", file.string()), errno);
  for (;;) {
    const ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n == static_cast<ssize_t>(value.size())) return;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error::from_errno(fmt::format("writing \"{}\" to {}", shown, file.string()), errno);
    throw Error(fmt::format("writing \"{}\" to {}: short write", shown, file.string()), ErrorKind::system);
  }
}

}  // namespace slurmvm::vfio
