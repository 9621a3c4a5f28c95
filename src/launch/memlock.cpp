// The locked-memory limit a VM with VFIO devices needs (memlock.hpp).
#include "launch/memlock.hpp"

#include <sys/resource.h>

#include <cerrno>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::launch {
namespace {

std::string mib(std::uint64_t bytes) {
  if (bytes == RLIM_INFINITY) return "unlimited";
  return fmt::format("{} MiB", bytes >> 20);
}

}  // namespace

MemlockVerdict memlock_verdict(std::uint64_t memory_mib, std::size_t devices, MemlockLimits limits,
                               const std::string& node) {
  MemlockVerdict v;
  if (devices == 0) return v;
  const std::uint64_t needed = (memory_mib + kVfioMemlockSlackMiB) << 20;
  if (limits.soft == RLIM_INFINITY || limits.soft >= needed) return v;
  if (limits.hard == RLIM_INFINITY || limits.hard >= needed) {
    v.raise_soft_to = limits.hard;
    return v;
  }
  v.error = fmt::format("node {}: the VM's {} passthrough device(s) need {} of locked memory (its RAM, pinned by "
                        "VFIO), but the step's limit is {} (hard {}): the site must raise it (slurmd's "
                        "LimitMEMLOCK=infinity in systemd and PropagateResourceLimits allowing MEMLOCK in "
                        "slurm.conf; docs/infiniband.md)",
                        node, devices, mib(needed), mib(limits.soft), mib(limits.hard));
  return v;
}

void ensure_memlock(std::uint64_t memory_mib, std::size_t devices, const std::string& node) {
  if (devices == 0) return;
  rlimit rl{};
  if (::getrlimit(RLIMIT_MEMLOCK, &rl) != 0) throw Error::from_errno("getrlimit(RLIMIT_MEMLOCK)", errno);
  const auto v = memlock_verdict(memory_mib, devices, {rl.rlim_cur, rl.rlim_max}, node);
  if (v.error) throw Error(*v.error, ErrorKind::config);
  if (v.raise_soft_to) {
    rl.rlim_cur = *v.raise_soft_to;
    if (::setrlimit(RLIMIT_MEMLOCK, &rl) != 0) throw Error::from_errno("setrlimit(RLIMIT_MEMLOCK)", errno);
  }
}

}  // namespace slurmvm::launch
