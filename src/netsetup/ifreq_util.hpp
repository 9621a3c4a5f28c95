// The small ioctl helpers of the netsetup code that configures interfaces by name: an AF_INET
// control socket, an ifreq for a validated name, an IPv4 sockaddr. Internal to src/netsetup.
#pragma once

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "error.hpp"
#include "netsetup/tap.hpp"
#include "unique_fd.hpp"

namespace slurmvm::netsetup {

inline UniqueFd inet_socket() {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) throw Error::from_errno("socket(AF_INET)", errno);
  return s;
}

inline ifreq ifreq_for(const std::string& ifname) {
  validate_ifname(ifname);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  return ifr;
}

inline void put_ipv4(sockaddr& sa, std::uint32_t ip) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(ip);
  std::memcpy(&sa, &sin, sizeof sin);
}

}  // namespace slurmvm::netsetup
