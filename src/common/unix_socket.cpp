// Unix stream sockets (unix_socket.hpp).
#include "unix_socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm {

UniqueFd connect_unix_stream(const std::filesystem::path& path, int& error) {
  // Non-blocking from the start: a blocking connect() to a listener whose backlog is full (QEMU
  // serves one QMP client at a time) would wait for as long as the other client stays.
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock) throw Error::from_errno("socket(AF_UNIX)", errno);

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string target = path.string();
  UniqueFd dir;
  if (target.size() >= sizeof addr.sun_path) {
    dir.reset(::open(path.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
      error = errno;
      return {};
    }
    target = fmt::format("/proc/self/fd/{}/{}", dir.get(), path.filename().string());
    if (target.size() >= sizeof addr.sun_path) {
      throw Error(fmt::format("socket name {} is too long", path.filename().string()),
                  ErrorKind::internal);
    }
  }
  std::copy(target.begin(), target.end(), addr.sun_path);
  // A unix stream connect completes or fails at once (EAGAIN: the backlog is full).
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    error = errno;
    return {};
  }
  return sock;
}

}  // namespace slurmvm
