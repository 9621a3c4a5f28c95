// rtnetlink requests (rtnl.hpp).
#include "netsetup/rtnl.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include "error.hpp"
#include "unique_fd.hpp"

namespace slurmvm::netsetup {
namespace {

// The <linux/netlink.h> accessor macros use C casts (-Wold-style-cast): the same arithmetic.
constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }
constexpr std::size_t kNlHeader = align4(sizeof(nlmsghdr));
constexpr std::size_t kAttrHeader = align4(sizeof(rtattr));
// A dump larger than this is not a compute node's (a full BGP table is ~1M routes: refused).
constexpr std::size_t kMaxDumpBytes = std::size_t{64} << 20;

void set_length(std::vector<unsigned char>& buf) {
  const auto len = static_cast<std::uint32_t>(buf.size());
  std::memcpy(buf.data() + offsetof(nlmsghdr, nlmsg_len), &len, sizeof len);
}

}  // namespace

int netlink_error(int error) noexcept { return error <= 0 && error > -4096 ? error : -EPROTO; }

RtnlMessage::RtnlMessage(std::uint16_t type, std::uint16_t flags, const void* header, std::size_t header_len) {
  nlmsghdr h{};
  h.nlmsg_type = type;
  h.nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
  h.nlmsg_seq = 1;
  buf_.resize(kNlHeader + align4(header_len));
  std::memcpy(buf_.data(), &h, sizeof h);
  std::memcpy(buf_.data() + kNlHeader, header, header_len);
  set_length(buf_);
}

void RtnlMessage::put(std::uint16_t attr, const void* data, std::size_t len) {
  rtattr a{};
  a.rta_type = attr;
  a.rta_len = static_cast<unsigned short>(kAttrHeader + len);
  const std::size_t at = buf_.size();
  buf_.resize(at + align4(kAttrHeader + len));
  std::memcpy(buf_.data() + at, &a, sizeof a);
  if (len > 0) std::memcpy(buf_.data() + at + kAttrHeader, data, len);
  set_length(buf_);
}

void RtnlMessage::put_header(const void* data, std::size_t len) {
  const std::size_t at = buf_.size();
  buf_.resize(at + align4(len));
  std::memcpy(buf_.data() + at, data, len);
  set_length(buf_);
}

std::size_t RtnlMessage::begin_nest(std::uint16_t attr) {
  const std::size_t at = buf_.size();
  put(static_cast<std::uint16_t>(attr | NLA_F_NESTED), nullptr, 0);
  return at;
}

void RtnlMessage::end_nest(std::size_t token) {
  const auto len = static_cast<unsigned short>(buf_.size() - token);
  std::memcpy(buf_.data() + token + offsetof(rtattr, rta_len), &len, sizeof len);
}

int RtnlMessage::transact(int protocol) const {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol));
  if (!fd) throw Error::from_errno("opening a netlink socket", errno);
  // The kernel answers a local socket at once; the timeout is only a guard.
  const timeval timeout{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), buf_.data(), buf_.size(), 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
    throw Error::from_errno("sending an rtnetlink request", errno);
  }
  alignas(nlmsghdr) char buf[8192];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) throw Error("no rtnetlink answer from the kernel within 5 s", ErrorKind::timeout);
    if (n < 0) throw Error::from_errno("waiting for the kernel's rtnetlink answer", errno);
    const auto len = static_cast<std::size_t>(n);
    for (std::size_t off = 0; off + sizeof(nlmsghdr) <= len;) {
      nlmsghdr h;
      std::memcpy(&h, buf + off, sizeof h);
      if (h.nlmsg_len < sizeof(nlmsghdr) || off + h.nlmsg_len > len) break;
      if (h.nlmsg_seq == 1 && h.nlmsg_type == NLMSG_ERROR && h.nlmsg_len >= kNlHeader + sizeof(nlmsgerr)) {
        nlmsgerr err;
        std::memcpy(&err, buf + off + kNlHeader, sizeof err);
        return netlink_error(err.error);
      }
      off += align4(h.nlmsg_len);
    }
  }
}

void for_each_rtnl_message(std::span<const unsigned char> bytes,
                           const std::function<void(std::uint16_t, std::span<const unsigned char>)>& each) {
  std::size_t off = 0;
  while (off + sizeof(nlmsghdr) <= bytes.size()) {
    nlmsghdr h;
    std::memcpy(&h, bytes.data() + off, sizeof h);
    if (h.nlmsg_len < kNlHeader || off + h.nlmsg_len > bytes.size()) {
      throw Error("rtnetlink: a truncated message in the dump", ErrorKind::system);
    }
    if (h.nlmsg_type == NLMSG_DONE) return;
    if (h.nlmsg_type == NLMSG_ERROR) {
      int err = 0;
      if (h.nlmsg_len >= kNlHeader + sizeof(int)) std::memcpy(&err, bytes.data() + off + kNlHeader, sizeof err);
      throw Error::from_errno("rtnetlink dump", -netlink_error(err));
    }
    each(h.nlmsg_type, bytes.subspan(off + kNlHeader, h.nlmsg_len - kNlHeader));
    off += align4(h.nlmsg_len);
  }
}

void for_each_rtnl_attr(std::span<const unsigned char> payload, std::size_t header_len,
                        const std::function<void(std::uint16_t, std::span<const unsigned char>)>& attr) {
  std::size_t off = align4(header_len);
  while (off + sizeof(rtattr) <= payload.size()) {
    rtattr a;
    std::memcpy(&a, payload.data() + off, sizeof a);
    if (a.rta_len < sizeof(rtattr) || off + a.rta_len > payload.size()) break;
    attr(a.rta_type, payload.subspan(off + kAttrHeader, a.rta_len - kAttrHeader));
    off += align4(a.rta_len);
  }
}

std::vector<unsigned char> rtnl_dump(std::uint16_t type, const void* header, std::size_t header_len) {
  return netlink_dump(NETLINK_ROUTE, type, header, header_len);
}

std::vector<unsigned char> netlink_dump(int protocol, std::uint16_t type, const void* header,
                                        std::size_t header_len) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol));
  if (!fd) throw Error::from_errno("opening a netlink socket", errno);
  const timeval timeout{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::vector<unsigned char> req(kNlHeader + align4(header_len));
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(req.size());
  h.nlmsg_type = type;
  h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  h.nlmsg_seq = 1;
  std::memcpy(req.data(), &h, sizeof h);
  std::memcpy(req.data() + kNlHeader, header, header_len);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), req.data(), req.size(), 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
    throw Error::from_errno("sending a netlink dump request", errno);
  }
  std::vector<unsigned char> out;
  std::vector<unsigned char> buf(32768);
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) throw Error("no netlink answer from the kernel within 5 s", ErrorKind::timeout);
    if (n < 0) throw Error::from_errno("reading a netlink dump", errno);
    if (n == 0) throw Error("netlink: the dump ended without NLMSG_DONE", ErrorKind::system);
    out.insert(out.end(), buf.begin(), buf.begin() + n);
    if (out.size() > kMaxDumpBytes) throw Error("netlink: the dump is larger than 64 MiB", ErrorKind::system);
    // The last message of the last datagram says whether the dump is complete.
    bool done = false;
    for (std::size_t off = 0; off + sizeof(nlmsghdr) <= static_cast<std::size_t>(n);) {
      nlmsghdr m;
      std::memcpy(&m, buf.data() + off, sizeof m);
      if (m.nlmsg_len < kNlHeader) break;
      if (m.nlmsg_type == NLMSG_DONE || m.nlmsg_type == NLMSG_ERROR) done = true;
      off += align4(m.nlmsg_len);
    }
    if (done) return out;
  }
}

}  // namespace slurmvm::netsetup
