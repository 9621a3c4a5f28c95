#include "netsetup/openflow_bundle.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <map>

#include <fmt/format.h>

#include "error.hpp"
#include "unix_socket.hpp"

namespace slurmvm::netsetup::openflow {
namespace {

constexpr std::uint32_t kBundleId = 1;  // per connection: ours is the only bundle on it
constexpr std::uint16_t kFlags = kBundleAtomic | kBundleOrdered;
// xids: 0 hello, 1 open, 2.. the flows, then the barrier, then the commit.
constexpr std::uint32_t kOpenXid = 1, kFirstFlowXid = 2;

class Session {
 public:
  Session(const std::string& socket, Deadline deadline) : socket_(socket), deadline_(deadline) {
    int error = 0;
    fd_ = connect_unix_stream(socket, error);
    if (!fd_) {
      throw Error::from_errno(fmt::format("connecting to {} (is ovs-vswitchd running, with this bridge?)", socket),
                              error);
    }
  }

  void send(std::string bytes) { out_ += bytes; }

  // Writes what is queued and reads until `done` says the awaited reply came; every message
  // read goes to `on_message`.
  template <class OnMessage>
  void exchange(OnMessage&& on_message, const bool& done) {
    while (!done) {
      pollfd p{fd_.get(), static_cast<short>(POLLIN | (out_.empty() ? 0 : POLLOUT)), 0};
      const int n = ::poll(&p, 1, poll_timeout_ms(deadline_));
      if (n < 0 && errno != EINTR) throw Error::from_errno("poll", errno);
      if (n <= 0) {
        if (expired(deadline_)) {
          throw Error(fmt::format("ovs-vswitchd did not answer on {} in time", socket_), ErrorKind::timeout);
        }
        continue;
      }
      if (!out_.empty() && (p.revents & (POLLOUT | POLLERR | POLLHUP))) write_some();
      if (p.revents & (POLLIN | POLLERR | POLLHUP)) read_some(on_message);
    }
  }

 private:
  void write_some() {
    const ssize_t n = ::send(fd_.get(), out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      throw Error::from_errno(fmt::format("sending to {}", socket_), errno);
    }
    out_.erase(0, static_cast<std::size_t>(n));
  }

  template <class OnMessage>
  void read_some(OnMessage& on_message) {
    char buf[65536];
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      throw Error::from_errno(fmt::format("reading from {}", socket_), errno);
    }
    if (n == 0) throw Error(fmt::format("ovs-vswitchd closed {}", socket_), ErrorKind::system);
    in_.append(buf, static_cast<std::size_t>(n));
    while (in_.size() >= kHeaderBytes) {
      const Header h = parse_header(in_);
      if (h.length < kHeaderBytes) throw Error(fmt::format("{}: a malformed OpenFlow message", socket_), ErrorKind::system);
      if (in_.size() < h.length) break;
      const std::string msg = in_.substr(0, h.length);
      in_.erase(0, h.length);
      if (h.type == kEchoRequest) {
        send(echo_reply(msg));
      } else {
        on_message(h, msg);
      }
    }
  }

  std::string socket_;
  Deadline deadline_;
  UniqueFd fd_;
  std::string out_, in_;
};

}  // namespace

void commit_bundle(const std::string& socket, const std::vector<FlowLine>& flows, const PortNumbers& ports,
                   Deadline deadline) {
  // Encoded before connecting: a flow naming an unknown port never opens a bundle.
  std::vector<std::string> adds;
  adds.reserve(flows.size());
  for (std::size_t i = 0; i < flows.size(); ++i) {
    adds.push_back(bundle_add(kBundleId, kFlags, flow_mod(flows[i], ports, kFirstFlowXid + static_cast<std::uint32_t>(i))));
  }
  const std::uint32_t barrier_xid = kFirstFlowXid + static_cast<std::uint32_t>(flows.size());
  const std::uint32_t commit_xid = barrier_xid + 1;

  Session s(socket, deadline);
  std::vector<std::string> refused;
  bool done = false;
  std::uint8_t version = 0;
  auto on_message = [&](const Header& h, const std::string& msg) {
    if (h.type == kHello) {
      version = h.version;
    } else if (h.type == kError) {
      std::string what;
      if (h.xid == kOpenXid) {
        what = "opening the bundle";
      } else if (h.xid >= kFirstFlowXid && h.xid < barrier_xid) {
        what = fmt::format("flow line {}", flows[h.xid - kFirstFlowXid].line);
      } else if (h.xid == commit_xid) {
        what = "the commit";
        done = true;
      } else {
        what = h.xid == 0 ? std::string("the hello") : fmt::format("message {}", h.xid);
        done = done || h.xid == 0;  // OFPET_HELLO_FAILED: the switch closes the connection
      }
      refused.push_back(fmt::format("{}: {}", what, describe_error(msg)));
    } else if (h.type == kBarrierReply && h.xid == barrier_xid) {
      done = true;
    } else if (h.type == kBundleControl && h.xid == commit_xid && bundle_control_type(msg) == kCommitReply) {
      done = true;
    }
  };
  auto fail = [&] {
    std::string text;
    for (const auto& r : refused) text += (text.empty() ? "" : "; ") + r;
    if (version != 0 && version < kVersion14) {
      text += fmt::format(" (the bridge speaks OpenFlow version 0x{:02x}: allow OpenFlow14 in its Bridge protocols)",
                          version);
    }
    throw Error(fmt::format("ovs-vswitchd on {} refused the OpenFlow bundle: {}", socket, text), ErrorKind::system);
  };

  s.send(hello(0));
  s.send(bundle_control(kOpenXid, kBundleId, kOpenRequest, kFlags));
  for (auto& a : adds) s.send(std::move(a));
  s.send(barrier_request(barrier_xid));
  s.exchange(on_message, done);
  if (!refused.empty()) fail();  // closing the connection discards the open bundle
  done = false;
  s.send(bundle_control(commit_xid, kBundleId, kCommitRequest, kFlags));
  s.exchange(on_message, done);
  if (!refused.empty()) fail();
}

}  // namespace slurmvm::netsetup::openflow
