#include "ssh_probe.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string_view>

#include "deadline.hpp"
#include "unique_fd.hpp"

namespace slurmvm::cli {
namespace {

using Clock = std::chrono::steady_clock;

UniqueFd connect_to(const addrinfo& ai, Clock::time_point deadline, int& error) {
  UniqueFd fd(::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol));
  if (!fd) {
    error = errno;
    return {};
  }
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      error = errno;
      return {};
    }
    if (!wait_fd(fd.get(), POLLOUT, deadline)) {
      error = ETIMEDOUT;
      return {};
    }
    socklen_t len = sizeof error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) return {};
  }
  return fd;
}

bool banner_from(const addrinfo& ai, Clock::time_point deadline) {
  int err = 0;
  UniqueFd fd = connect_to(ai, deadline, err);
  if (!fd) return false;
  std::string got;
  while (got.size() < 4) {
    if (!wait_fd(fd.get(), POLLIN, deadline)) return false;
    char buf[64];
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return false;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return std::string_view(got).starts_with("SSH-");
}

}  // namespace

UniqueFd tcp_connect(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout, int& error) {
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
    error = EHOSTUNREACH;
    return {};
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (UniqueFd fd = connect_to(*ai, deadline, error)) return fd;
  }
  return {};
}

bool ssh_answers(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return false;
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (banner_from(*ai, deadline)) return true;
  }
  return false;
}

}  // namespace slurmvm::cli
