// Job and VM directories, files (job_dir.hpp).
#include "launch/job_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include <fmt/format.h>

#include "error.hpp"
#include "unique_fd.hpp"

namespace slurmvm::launch {

namespace fs = std::filesystem;

VmPaths vm_paths(const fs::path& job_dir, std::uint32_t rank) {
  VmPaths p;
  p.job_dir = job_dir;
  p.vm_dir = job_dir / fmt::format("vm{}", rank);
  p.disk = p.vm_dir / "disk.qcow2";
  p.seed_dir = p.vm_dir / "seed";
  p.seed_iso = p.vm_dir / "seed.iso";
  p.host_key = p.vm_dir / "ssh_host_ed25519_key";
  p.qmp = p.vm_dir / "qmp.sock";
  p.console = p.vm_dir / "console.sock";
  p.console_log = p.vm_dir / "console.log";
  p.agent = p.vm_dir / "qga.sock";
  p.vm_json = p.vm_dir / "vm.json";
  return p;
}

void make_private_dir(const fs::path& home, const fs::path& dir) {
  const fs::path rel = dir.lexically_relative(home);
  if (rel.empty() || *rel.begin() == "..") {
    throw Error(fmt::format("{} is not under {}", dir.string(), home.string()), ErrorKind::internal);
  }
  // Walk down from the home directory with *at() calls, so that each step is checked on the
  // directory actually opened. Existing parents may be symlinks (a ~/.local moved to scratch
  // is the user's choice); the directory we own at the end may not.
  UniqueFd at(::open(home.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!at) throw Error::from_errno(fmt::format("cannot open the home directory {}", home.string()), errno);
  fs::path so_far = home;
  std::size_t left = std::distance(rel.begin(), rel.end());
  for (const fs::path& part : rel) {
    so_far /= part;
    --left;
    const bool last = left == 0;
    if (::mkdirat(at.get(), part.c_str(), 0700) != 0 && errno != EEXIST) {
      throw Error::from_errno(fmt::format("cannot create {}", so_far.string()), errno);
    }
    UniqueFd next(::openat(at.get(), part.c_str(),
                           O_PATH | O_DIRECTORY | O_CLOEXEC | (last ? O_NOFOLLOW : 0)));
    if (!next) {
      const int e = errno;
      if (last && (e == ELOOP || e == ENOTDIR)) {
        throw Error(fmt::format("{} exists and is not a directory (a symbolic link?): remove it",
                                so_far.string()),
                    ErrorKind::system);
      }
      throw Error::from_errno(fmt::format("cannot open {}", so_far.string()), e);
    }
    at = std::move(next);
  }
  struct stat st{};
  if (::fstat(at.get(), &st) != 0) throw Error::from_errno(fmt::format("stat {}", dir.string()), errno);
  if (st.st_uid != ::geteuid()) {
    throw Error(fmt::format("{} belongs to uid {}, not to this user (uid {})", dir.string(),
                            st.st_uid, ::geteuid()),
                ErrorKind::system);
  }
  // O_PATH descriptors cannot fchmod: go through /proc to change the very directory checked.
  const std::string self = fmt::format("/proc/self/fd/{}", at.get());
  if ((st.st_mode & 07777) != 0700 && ::chmod(self.c_str(), 0700) != 0) {
    throw Error::from_errno(fmt::format("cannot make {} private (chmod 0700)", dir.string()), errno);
  }
}

std::string read_file(const fs::path& path, std::size_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) throw Error::from_errno(fmt::format("cannot open {}", path.string()), errno);
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) throw Error::from_errno(fmt::format("stat {}", path.string()), errno);
  if (!S_ISREG(st.st_mode)) {
    throw Error(fmt::format("{} is not a regular file", path.string()), ErrorKind::config);
  }
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

void remove_if_exists(const fs::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw Error::from_errno(fmt::format("cannot remove {}", path.string()), errno);
  }
}

}  // namespace slurmvm::launch
