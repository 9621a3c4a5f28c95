// nf_tables messages without libnftables (nftables_netlink.hpp). The message layout is the
// kernel's uapi (linux/netfilter/nfnetlink.h, nf_tables.h): a batch is NFNL_MSG_BATCH_BEGIN,
// the nf_tables messages, NFNL_MSG_BATCH_END, committed by the kernel all or nothing.
#include "netsetup/nftables_netlink.hpp"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/rtnl.hpp"
#include "unique_fd.hpp"

namespace slurmvm::netsetup {
namespace {

constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }
constexpr std::size_t kNlHeader = align4(sizeof(nlmsghdr));
constexpr std::size_t kAttrHeader = align4(sizeof(nlattr));

class BatchWriter {
 public:
  explicit BatchWriter(std::uint32_t seq) : seq_(seq) {}

  // One message: netlink header, nfgenmsg, then (for a table message) its NFTA_TABLE_NAME.
  void message(std::uint16_t type, std::uint16_t flags, std::uint8_t family, std::uint16_t res_id,
               std::string_view table) {
    const std::size_t at = buf_.size();
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
    h.nlmsg_seq = seq_++;
    nfgenmsg g{};
    g.nfgen_family = family;
    g.version = NFNETLINK_V0;
    g.res_id = htons(res_id);
    buf_.resize(at + kNlHeader + align4(sizeof g));
    std::memcpy(buf_.data() + at + kNlHeader, &g, sizeof g);
    if (!table.empty()) {
      nlattr a{};
      a.nla_type = NFTA_TABLE_NAME;
      a.nla_len = static_cast<std::uint16_t>(kAttrHeader + table.size() + 1);  // NUL-terminated
      const std::size_t attr_at = buf_.size();
      buf_.resize(attr_at + align4(a.nla_len));
      std::memcpy(buf_.data() + attr_at, &a, sizeof a);
      std::memcpy(buf_.data() + attr_at + kAttrHeader, table.data(), table.size());
    }
    h.nlmsg_len = static_cast<std::uint32_t>(buf_.size() - at);
    std::memcpy(buf_.data() + at, &h, sizeof h);
  }

  std::vector<unsigned char> take() { return std::move(buf_); }

 private:
  std::uint32_t seq_;
  std::vector<unsigned char> buf_;
};

constexpr std::uint16_t nft_type(int msg) { return static_cast<std::uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg); }

}  // namespace

std::vector<unsigned char> delete_tables_batch(std::string_view name, std::uint32_t first_seq) {
  // Without a name the table messages would carry no NFTA_TABLE_NAME; a name that does not fit
  // an attribute's 16-bit length is no table name (the kernel allows 255 bytes).
  if (name.empty() || name.size() > 4096) throw Error("nf_tables: no usable table name", ErrorKind::internal);
  BatchWriter w(first_seq);
  w.message(NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, {});
  for (const std::uint8_t family : {std::uint8_t{NFPROTO_IPV4}, std::uint8_t{NFPROTO_BRIDGE}}) {
    w.message(nft_type(NFT_MSG_NEWTABLE), NLM_F_CREATE | NLM_F_ACK, family, 0, name);
    w.message(nft_type(NFT_MSG_DELTABLE), NLM_F_ACK, family, 0, name);
  }
  w.message(NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, {});
  return w.take();
}

int batch_outcome(std::span<const unsigned char> answers, std::uint32_t first_seq, std::uint32_t acked) {
  std::set<std::uint32_t> missing;
  for (std::uint32_t i = 1; i <= acked; ++i) missing.insert(first_seq + i);
  for (std::size_t off = 0; off + sizeof(nlmsghdr) <= answers.size();) {
    nlmsghdr h;
    std::memcpy(&h, answers.data() + off, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || off + h.nlmsg_len > answers.size()) break;
    if (h.nlmsg_type == NLMSG_ERROR && h.nlmsg_len >= kNlHeader + sizeof(nlmsgerr)) {
      nlmsgerr err;
      std::memcpy(&err, answers.data() + off + kNlHeader, sizeof err);
      if (err.error != 0) return netlink_error(err.error);
      missing.erase(h.nlmsg_seq);
    }
    off += align4(h.nlmsg_len);
  }
  return missing.empty() ? 0 : -EAGAIN;
}

void delete_nft_tables(std::string_view name) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
  if (!fd) throw Error::from_errno("opening an nfnetlink socket", errno);
  // The kernel answers a local socket at once; the timeout is only a guard.
  const timeval timeout{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  constexpr std::uint32_t first_seq = 1;
  const auto batch = delete_tables_batch(name, first_seq);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), batch.data(), batch.size(), 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
    throw Error::from_errno("sending an nf_tables batch", errno);
  }
  std::vector<unsigned char> answers;
  alignas(nlmsghdr) unsigned char buf[8192];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) throw Error("no nf_tables answer from the kernel within 5 s", ErrorKind::timeout);
    if (n < 0) throw Error::from_errno("waiting for the kernel's nf_tables answer", errno);
    answers.insert(answers.end(), buf, buf + n);
    // Four acknowledged messages: add and delete, for the ip and the bridge table.
    const int outcome = batch_outcome(answers, first_seq, 4);
    if (outcome == -EAGAIN) continue;
    if (outcome != 0) throw Error::from_errno(fmt::format("deleting nftables tables {}", name), -outcome);
    return;
  }
}

}  // namespace slurmvm::netsetup
