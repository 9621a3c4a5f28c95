// The byte relay (relay.hpp).
#include "relay.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "error.hpp"

namespace slurmvm::cli {
namespace {

using Clock = std::chrono::steady_clock;

void write_all(int fd, const char* p, std::size_t n, const char* what) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      pollfd pfd{fd, POLLOUT, 0};
      ::poll(&pfd, 1, 1000);
      continue;
    }
    if (w < 0) throw Error::from_errno(what, errno);
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

RelayEnd relay(int in, int out, int sock, const RelayOptions& options) {
  char buf[16384];
  bool in_open = true;
  std::optional<Clock::time_point> linger_until;
  for (;;) {
    pollfd fds[2] = {{sock, POLLIN, 0}, {in, static_cast<short>(in_open ? POLLIN : 0), 0}};
    int timeout_ms = -1;
    if (linger_until) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*linger_until - Clock::now()).count();
      if (left <= 0) return RelayEnd::input_ended;
      timeout_ms = static_cast<int>(left);
    }
    const int n = ::poll(fds, in_open ? 2 : 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error::from_errno("poll", errno);
    if (n == 0) continue;  // the linger deadline: checked above
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t r = ::read(sock, buf, sizeof buf);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r < 0) throw Error::from_errno("reading the socket", errno);
      if (r == 0) return RelayEnd::peer_closed;
      write_all(out, buf, static_cast<std::size_t>(r), "writing the output");
    }
    if (in_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t r = ::read(in, buf, sizeof buf);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r < 0) throw Error::from_errno("reading the input", errno);
      if (r == 0) {
        in_open = false;
        if (options.linger) {
          linger_until = Clock::now() + *options.linger;
        } else {
          ::shutdown(sock, SHUT_WR);  // the peer sees the end of our data, and finishes
        }
        continue;
      }
      std::size_t len = static_cast<std::size_t>(r);
      if (options.detach_key) {
        if (const void* k = std::memchr(buf, *options.detach_key, len)) {
          write_all(sock, buf, static_cast<std::size_t>(static_cast<const char*>(k) - buf), "writing the socket");
          return RelayEnd::detached;
        }
      }
      write_all(sock, buf, len, "writing the socket");
    }
  }
}

RawTerminal::RawTerminal(int fd) : fd_(fd) {
  static_assert(sizeof(termios) <= sizeof saved_);
  termios t{};
  if (::isatty(fd) == 0 || ::tcgetattr(fd, &t) != 0) return;
  std::memcpy(saved_, &t, sizeof t);
  ::cfmakeraw(&t);
  if (::tcsetattr(fd, TCSANOW, &t) == 0) active_ = true;
}

RawTerminal::~RawTerminal() {
  if (!active_) return;
  termios t{};
  std::memcpy(&t, saved_, sizeof t);
  ::tcsetattr(fd_, TCSANOW, &t);
}

}  // namespace slurmvm::cli
