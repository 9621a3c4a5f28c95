// OutputRelay (output_relay.hpp).
#include "output_relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "error.hpp"

namespace slurmvm {
namespace {

// Writes all of buf; gives up quietly on error (a closed terminal must not stop the copy to
// the log, nor the log's failure the terminal).
void write_all(int fd, const char* buf, std::size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    buf += n;
    len -= static_cast<std::size_t>(n);
  }
}

}  // namespace

OutputRelay::OutputRelay(const std::filesystem::path& log, int terminal_fd) : terminal_fd_(terminal_fd) {
  log_.reset(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!log_) throw Error::from_errno("cannot open " + log.string(), errno);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error::from_errno("cannot create a pipe", errno);
  read_.reset(fds[0]);
  write_.reset(fds[1]);
}

OutputRelay::~OutputRelay() {
  if (!thread_.joinable()) return;
  write_.reset();
  drain(std::chrono::seconds(1));
  abandon_ = true;  // a grandchild still holds the pipe: stop waiting for it
  thread_.join();
}

void OutputRelay::start() { thread_ = std::thread([this] { copy_loop(); }); }

void OutputRelay::copy_loop() {
  char buf[4096];
  while (!abandon_) {
    pollfd p{read_.get(), POLLIN, 0};
    const int r = ::poll(&p, 1, 100);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    const ssize_t n = ::read(read_.get(), buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    write_all(log_.get(), buf, static_cast<std::size_t>(n));
    if (!muted_) write_all(terminal_fd_, buf, static_cast<std::size_t>(n));
  }
  eof_ = true;
}

bool OutputRelay::drain(std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!eof_ && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return eof_;
}

}  // namespace slurmvm
