// Listening ports over sock_diag netlink (sock_diag.hpp).
#include "netsetup/sock_diag.hpp"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "error.hpp"
#include "file_read.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/rtnl.hpp"

namespace slurmvm::netsetup {
namespace {

// TCP_LISTEN from the kernel's enum tcp_state (include/net/tcp_states.h), which no uapi header
// exports; its bit is what inet_diag_req_v2.idiag_states selects.
constexpr std::uint32_t kTcpListenState = 10;

}  // namespace

std::set<std::uint16_t> sock_diag_listening_ports(std::uint8_t family) {
  inet_diag_req_v2 req{};
  req.sdiag_family = family;
  req.sdiag_protocol = IPPROTO_TCP;
  req.idiag_states = 1U << kTcpListenState;
  return parse_inet_diag_ports(netlink_dump(NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, &req, sizeof req));
}

std::set<std::uint16_t> parse_inet_diag_ports(std::span<const unsigned char> dump) {
  std::set<std::uint16_t> ports;
  for_each_rtnl_message(dump, [&](std::uint16_t type, std::span<const unsigned char> payload) {
    if (type != SOCK_DIAG_BY_FAMILY) return;
    if (payload.size() < sizeof(inet_diag_msg)) throw Error("sock_diag: a truncated socket record", ErrorKind::system);
    inet_diag_msg msg;
    std::memcpy(&msg, payload.data(), sizeof msg);
    ports.insert(ntohs(msg.id.idiag_sport));
  });
  return ports;
}

std::set<std::uint16_t> listening_tcp_ports() {
  std::set<std::uint16_t> used;
  for (const std::uint8_t family : {std::uint8_t{AF_INET}, std::uint8_t{AF_INET6}}) {
    try {
      const auto ports = sock_diag_listening_ports(family);
      used.insert(ports.begin(), ports.end());
      continue;
    } catch (const Error& e) {
      // ENOENT: no tcp_diag (a module not loaded) or no IPv6; EPROTONOSUPPORT: no sock_diag
      // at all. /proc has the same answer, only slower; thread-self, since the caller's
      // namespace is this thread's.
      if (e.errnum() != ENOENT && e.errnum() != EPROTONOSUPPORT) throw;
    }
    const auto text =
        read_file_if_exists(family == AF_INET ? "/proc/thread-self/net/tcp" : "/proc/thread-self/net/tcp6");
    if (!text) continue;  // no IPv6
    const auto ports = parse_listening_ports(*text);
    used.insert(ports.begin(), ports.end());
  }
  return used;
}

}  // namespace slurmvm::netsetup
