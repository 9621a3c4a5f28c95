// The one way slurm-vm waits with a time limit ("nothing waits forever"): a Deadline is a point
// on the steady clock, which a change of the wall clock cannot move; a wait on a descriptor
// gets what is left of it. Every socket, pipe and pidfd wait of the programs goes through here.
#pragma once

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "error.hpp"

namespace slurmvm {

using SteadyClock = std::chrono::steady_clock;
using Deadline = SteadyClock::time_point;

inline Deadline deadline_in(std::chrono::milliseconds from_now) { return SteadyClock::now() + from_now; }

inline bool expired(Deadline deadline) { return SteadyClock::now() >= deadline; }

// What is left, never negative.
inline std::chrono::milliseconds time_left(Deadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

// The timeout for one poll(2): what is left, rounded up (a rest of 0.4 ms must not become a
// busy loop of zero timeouts), at most 60 s (the caller loops; an int cannot hold every
// duration), 0 once expired.
inline int poll_timeout_ms(Deadline deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

// Waits until `fd` reports one of `events` (or an error or hang-up condition, which the
// caller's next read or write reports) or the deadline passes: true when ready, false at the
// deadline. EINTR is retried; another poll failure throws Error.
inline bool wait_fd(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, poll_timeout_ms(deadline));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) throw Error::from_errno("poll", errno);
    if (n == 0 && expired(deadline)) return false;
  }
}

// The pauses between the polls of a condition that nothing signals (a daemon's progress read
// from its database, a socket another process binds): short at first, because the condition
// usually holds within a millisecond or two and a fixed 5 ms pause made every such wait cost
// 5 ms (bench/node-setup), then doubling up to `longest` so that a slow daemon is not hammered.
class PollBackoff {
 public:
  explicit PollBackoff(Deadline deadline, std::chrono::microseconds first = std::chrono::microseconds(250),
                       std::chrono::microseconds longest = std::chrono::milliseconds(5))
      : deadline_(deadline), next_(first), longest_(longest) {}

  // Sleeps the next pause, cut at the deadline. False, without sleeping, once it has passed.
  bool pause() {
    const auto now = SteadyClock::now();
    if (now >= deadline_) return false;
    std::this_thread::sleep_for(std::min<SteadyClock::duration>(next_, deadline_ - now));
    next_ = std::min(next_ * 2, longest_);
    return true;
  }

 private:
  Deadline deadline_;
  std::chrono::microseconds next_;
  std::chrono::microseconds longest_;
};

}  // namespace slurmvm
