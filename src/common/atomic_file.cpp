// Atomic file replacement (atomic_file.hpp).
#include "atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include <fmt/format.h>

#include "error.hpp"
#include "unique_fd.hpp"

namespace fs = std::filesystem;

namespace slurmvm {

void write_file_atomic(const fs::path& file, std::string_view content, unsigned mode, FileOwner owner,
                       Durability durability) {
  std::random_device random;
  const fs::path tmp = file.parent_path() / fmt::format(".{}.{:08x}.tmp", file.filename().string(), random());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, static_cast<mode_t>(mode)));
  if (!fd) throw Error::from_errno("creating " + tmp.string(), errno);
  try {
    if ((owner.uid != 0 || owner.gid != 0) && ::fchown(fd.get(), owner.uid, owner.gid) != 0) {
      throw Error::from_errno(fmt::format("chown {}:{} {}", owner.uid, owner.gid, tmp.string()), errno);
    }
    // The umask may have taken bits away; the caller said what the mode is.
    if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) throw Error::from_errno("chmod " + tmp.string(), errno);
    std::string_view rest = content;
    while (!rest.empty()) {
      const ssize_t n = ::write(fd.get(), rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error::from_errno("writing " + tmp.string(), errno);
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    if (durability == Durability::synced && ::fsync(fd.get()) != 0) {
      throw Error::from_errno("fsync " + tmp.string(), errno);
    }
    if (::close(fd.release()) != 0) throw Error::from_errno("writing " + tmp.string(), errno);
    if (::rename(tmp.c_str(), file.c_str()) != 0) {
      throw Error::from_errno("renaming " + tmp.string() + " to " + file.string(), errno);
    }
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace slurmvm
