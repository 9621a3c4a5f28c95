// Reading a whole file (file_read.hpp).
#include "file_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "error.hpp"
#include "unique_fd.hpp"

namespace fs = std::filesystem;

namespace slurmvm {

std::string read_file(const fs::path& path, std::size_t limit, Symlinks symlinks) {
  // O_NONBLOCK: opening a FIFO put in the file's place does not wait for a writer (refused below).
  const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (symlinks == Symlinks::refuse ? O_NOFOLLOW : 0);
  UniqueFd fd(::open(path.c_str(), flags));
  if (!fd) throw Error::from_errno(fmt::format("cannot open {}", path.string()), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw Error::from_errno(fmt::format("stat {}", path.string()), errno);
  if (!S_ISREG(st.st_mode)) throw Error(fmt::format("{} is not a regular file", path.string()), ErrorKind::config);
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error::from_errno(fmt::format("cannot read {}", path.string()), errno);
    }
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > limit) {
      throw Error(fmt::format("{} is larger than {} bytes", path.string(), limit), ErrorKind::config);
    }
  }
  return out;
}

std::optional<std::string> read_file_if_exists(const fs::path& path, std::size_t limit, Symlinks symlinks) {
  try {
    return read_file(path, limit, symlinks);
  } catch (const Error& e) {
    if (e.errnum() == ENOENT) return std::nullopt;
    throw;
  }
}

}  // namespace slurmvm
