// One rtnetlink request and its acknowledgement, built attribute by attribute: what the link
// group, bridge port and VLAN calls send (no libnl: docs/design.md §4). Every call acts in the calling thread's namespace.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace slurmvm::netsetup {

// The error of an NLMSG_ERROR answer as the helpers use it: 0 or a negative errno. Any other
// value (the kernel sends none, a corrupted answer could) reads as -EPROTO, so that negating it
// is always defined (tests/fuzz/node_text_fuzz found -INT_MIN).
int netlink_error(int error) noexcept;

class RtnlMessage {
 public:
  // A request of `type` (RTM_NEWLINK, ...) with NLM_F_REQUEST | NLM_F_ACK | `flags`, whose
  // fixed header (an ifinfomsg, ...) is `header`.
  RtnlMessage(std::uint16_t type, std::uint16_t flags, const void* header, std::size_t header_len);

  void put(std::uint16_t attr, const void* data, std::size_t len);
  template <class T>
  void put(std::uint16_t attr, const T& value) {
    put(attr, &value, sizeof value);
  }
  // Raw bytes, padded to 4: the fixed header some nested attributes start with (a veth
  // peer's ifinfomsg, VETH_INFO_PEER).
  void put_header(const void* data, std::size_t len);
  // A nested attribute: put() its members between begin_nest() and end_nest().
  std::size_t begin_nest(std::uint16_t attr);
  void end_nest(std::size_t token);

  // Sends the request and waits (5 s at most) for the kernel's answer: 0, or a negative errno.
  // Throws Error when the socket itself fails or no answer comes. `protocol`: the netlink
  // family (NETLINK_NETFILTER for ctnetlink, conntrack.hpp).
  int transact(int protocol = NETLINK_ROUTE) const;

 private:
  std::vector<unsigned char> buf_;
};

// One NLM_F_DUMP request of `type` (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE) whose fixed header
// is `header`, and every answer up to NLMSG_DONE, concatenated (at most 64 MiB; 5 s per read).
// Throws Error.
std::vector<unsigned char> rtnl_dump(std::uint16_t type, const void* header, std::size_t header_len);
// The same over another netlink family (`protocol`: NETLINK_SOCK_DIAG, ...).
std::vector<unsigned char> netlink_dump(int protocol, std::uint16_t type, const void* header,
                                        std::size_t header_len);

// Calls `each(type, payload)` for every message of a dump (payload: what follows the netlink
// header) until NLMSG_DONE; an NLMSG_ERROR or a truncated message is an Error.
void for_each_rtnl_message(std::span<const unsigned char> bytes,
                           const std::function<void(std::uint16_t, std::span<const unsigned char>)>& each);
// Calls `attr(type, data)` for every attribute that follows a fixed header of `header_len`
// bytes in `payload` (or, header_len 0, for the members of a nested attribute's data).
void for_each_rtnl_attr(std::span<const unsigned char> payload, std::size_t header_len,
                        const std::function<void(std::uint16_t, std::span<const unsigned char>)>& attr);

}  // namespace slurmvm::netsetup
