// Persistent-drive locks for mmp: cluster (drive_lock.hpp).
#include "drive_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "error.hpp"
#include "subprocess.hpp"
#include "unique_fd.hpp"

namespace slurmvm {
namespace {

namespace fs = std::filesystem;

// The lock file, open and exclusively flock()ed for the caller's critical section (on a shared
// home flock reaches across nodes: NFS maps it to POSIX locks; Lustre needs -o flock).
UniqueFd open_locked(const fs::path& lock) {
  UniqueFd fd(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) throw Error::from_errno(fmt::format("cannot open the drive lock {}", lock.string()), errno);
  // Bounded: the holders only read and write a few bytes.
  for (int i = 0; ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0; ++i) {
    if (errno != EWOULDBLOCK || i >= 100) {
      throw Error::from_errno(fmt::format("cannot lock {}", lock.string()), errno);
    }
    ::usleep(50'000);
  }
  return fd;
}

// The job id in the lock file; nullopt when it is empty (free).
std::optional<std::uint32_t> lock_owner(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return std::nullopt;
  char* end = nullptr;
  const unsigned long id = std::strtoul(buf, &end, 10);
  if (end == buf || id == 0 || id > 0xffffffffUL) return std::nullopt;
  return static_cast<std::uint32_t>(id);
}

void set_owner(int fd, const fs::path& lock, std::optional<std::uint32_t> job_id) {
  const std::string text = job_id ? fmt::format("{}\n", *job_id) : std::string();
  if (::ftruncate(fd, 0) != 0 ||
      (!text.empty() && ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) ||
      ::fsync(fd) != 0) {
    throw Error::from_errno(fmt::format("cannot write the drive lock {}", lock.string()), errno);
  }
}

}  // namespace

std::string drive_lock_name(std::string_view drive) {
  std::string out;
  for (const char c : drive) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '.' ||
                       c == '_' || c == '-';
    out += plain ? std::string(1, c) : fmt::format("%{:02X}", u);
  }
  return out;
}

bool slurm_job_alive(std::uint32_t job_id) {
  Command c;
  c.argv = {"scontrol", "show", "job", "--oneliner", std::to_string(job_id)};
  c.search_path = true;
  c.inherit_env = true;
  c.timeout = std::chrono::seconds(20);
  const RunResult r = run(c);
  if (!r.ok()) {
    // An unknown job id is Slurm's "Invalid job id specified": gone. Anything else (slurmctld
    // unreachable) must not hand a drive in use to another job.
    if (r.err.find("Invalid job id") != std::string::npos) return false;
    throw Error(fmt::format("cannot ask Slurm whether job {} still runs: {}", job_id, r.err), ErrorKind::system);
  }
  for (const char* state : {"JobState=RUNNING", "JobState=PENDING", "JobState=SUSPENDED", "JobState=CONFIGURING",
                            "JobState=COMPLETING", "JobState=REQUEUED", "JobState=RESIZING"}) {
    if (r.out.find(state) != std::string::npos) return true;
  }
  return false;
}

fs::path lock_drive_for_job(const fs::path& dir, const std::string& drive, std::uint32_t job_id,
                            const JobAlive& alive) {
  const fs::path lock = dir / drive_lock_name(drive);
  const UniqueFd fd = open_locked(lock);
  const auto owner = lock_owner(fd.get());
  if (owner && *owner == job_id) return lock;  // another VM of this job
  if (owner && alive(*owner)) {
    throw Error(fmt::format("persistent drive {} (mmp: cluster) is in use by your job {}: wait for it to end, "
                            "or set mmp: no if the VMs may share it",
                            drive, *owner),
                ErrorKind::usage);
  }
  set_owner(fd.get(), lock, job_id);  // free, or its job is gone
  return lock;
}

bool release_drive_lock(const fs::path& lock, std::uint32_t job_id) {
  // Emptied, not removed: a process waiting on the old file would otherwise lock a dead inode.
  std::error_code ec;
  if (!fs::exists(lock, ec)) return false;
  const UniqueFd locked = open_locked(lock);
  const auto owner = lock_owner(locked.get());
  if (!owner || *owner != job_id) return false;
  set_owner(locked.get(), lock, std::nullopt);
  return true;
}

}  // namespace slurmvm
