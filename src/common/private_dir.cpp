// Creating a private directory (private_dir.hpp).
#include "private_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "error.hpp"
#include "unique_fd.hpp"

namespace fs = std::filesystem;

namespace slurmvm {

void make_private_dir(const fs::path& base, const fs::path& dir, unsigned mode, LooseMode loose) {
  const fs::path rel = dir.lexically_relative(base);
  if (rel.empty() || rel == "." || *rel.begin() == "..") {
    throw Error(fmt::format("{} is not under {}", dir.string(), base.string()), ErrorKind::internal);
  }
  UniqueFd at(::open(base.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!at) throw Error::from_errno(fmt::format("cannot open {}", base.string()), errno);
  fs::path so_far = base;
  std::size_t left = static_cast<std::size_t>(std::distance(rel.begin(), rel.end()));
  for (const fs::path& part : rel) {
    so_far /= part;
    const bool last = --left == 0;
    if (::mkdirat(at.get(), part.c_str(), last ? static_cast<mode_t>(mode) : 0700) != 0 && errno != EEXIST) {
      throw Error::from_errno(fmt::format("cannot create {}", so_far.string()), errno);
    }
    UniqueFd next(::openat(at.get(), part.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | (last ? O_NOFOLLOW : 0)));
    if (!next) {
      const int e = errno;
      if (last && (e == ELOOP || e == ENOTDIR)) {
        throw Error(fmt::format("{} exists and is not a directory (a symbolic link?): remove it", so_far.string()),
                    ErrorKind::system);
      }
      throw Error::from_errno(fmt::format("cannot open {}", so_far.string()), e);
    }
    at = std::move(next);
  }
  struct stat st {};
  if (::fstat(at.get(), &st) != 0) throw Error::from_errno(fmt::format("stat {}", dir.string()), errno);
  if (st.st_uid != ::geteuid()) {
    throw Error(fmt::format("{} belongs to uid {}, not to uid {}", dir.string(), st.st_uid, ::geteuid()),
                ErrorKind::config);
  }
  const unsigned now = st.st_mode & 07777;
  if (now == mode) return;
  if (loose == LooseMode::refuse && (now & ~mode) != 0) {
    throw Error(fmt::format("{} has mode {:04o}, more open than {:04o}: check who wrote there, then fix it",
                            dir.string(), now, mode),
                ErrorKind::config);
  }
  // O_PATH descriptors cannot fchmod: go through /proc to change the very directory checked.
  const std::string self = fmt::format("/proc/self/fd/{}", at.get());
  if (::chmod(self.c_str(), static_cast<mode_t>(mode)) != 0) {
    throw Error::from_errno(fmt::format("cannot chmod {:04o} {}", mode, dir.string()), errno);
  }
}

}  // namespace slurmvm
