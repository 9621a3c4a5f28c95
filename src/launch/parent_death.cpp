#include "launch/parent_death.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::launch {

void end_with_parent(int signal, pid_t parent) {
  if (::prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(signal), 0UL, 0UL, 0UL) != 0) {
    throw Error::from_errno("prctl(PR_SET_PDEATHSIG)", errno);
  }
  // A parent that died before the prctl sends nothing: the reparenting shows it.
  if (::getppid() != parent) {
    throw Error(fmt::format("the task's parent (pid {}) ended before the VM started", parent),
                ErrorKind::system);
  }
}

}  // namespace slurmvm::launch
