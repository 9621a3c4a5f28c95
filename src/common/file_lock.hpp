// The one way slurm-vm takes an flock(2) with a time limit (the node lock, a job's ledger, the
// pkey store): flock has no timeout of its own, so a non-blocking attempt is retried until the
// deadline (deadline.hpp). The lock goes with the descriptor (UniqueFd); the caller says what
// was locked and who may hold it when this returns false.
#pragma once

#include <sys/file.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "deadline.hpp"
#include "error.hpp"

namespace slurmvm {

// Exclusive lock on `fd` (opened on `what`, for messages): true once held, false when the
// deadline passed first. Error(system) for an flock failure other than contention.
inline bool flock_until(int fd, Deadline deadline, const std::string& what,
                        std::chrono::milliseconds retry = std::chrono::milliseconds(5)) {
  for (;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) throw Error::from_errno("flock " + what, errno);
    if (expired(deadline)) return false;
    std::this_thread::sleep_for(std::min(retry, time_left(deadline) + std::chrono::milliseconds(1)));
  }
}

}  // namespace slurmvm
