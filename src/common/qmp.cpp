// QMP client (qmp.hpp).
#include "qmp.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "deadline.hpp"
#include "error.hpp"
#include "log.hpp"
#include "unix_socket.hpp"

namespace slurmvm {
namespace {

using Clock = QmpClient::Clock;
using nlohmann::json;

bool is_reply(const json& m) { return m.is_object() && (m.contains("return") || m.contains("error")); }

}  // namespace

QmpClient QmpClient::connect(const std::filesystem::path& path, QmpConnectOptions options) {
  return open(path, options, Protocol::qmp);
}

QmpClient QmpClient::connect_guest_agent(const std::filesystem::path& path, std::chrono::milliseconds timeout) {
  return open(path, {.timeout = timeout, .wait_for_socket = false}, Protocol::guest_agent);
}

QmpClient QmpClient::open(const std::filesystem::path& path, QmpConnectOptions options, Protocol protocol) {
  const auto deadline = Clock::now() + options.timeout;
  auto pause = std::chrono::milliseconds(10);
  for (;;) {
    int error = 0;
    UniqueFd fd = connect_unix_stream(path, error);
    if (fd) {
      QmpClient client(std::move(fd));
      if (protocol == Protocol::qmp) {
        with_context(fmt::format("QMP socket {}", path.string()), [&] { client.handshake(deadline); });
      } else {
        client.agent_ = true;
        client.decoder_ = JsonStreamDecoder({.peer = "the guest agent", .max_message = kMaxMessageBytes, .resync_on_ff = true});
        client.sync_guest_agent(deadline);
      }
      return client;
    }
    // A full backlog means another client holds QEMU's only QMP connection: worth waiting for
    // (the pinning helper holds it a moment after start). A missing socket or a refusal is
    // worth waiting for only when QEMU is known to be starting.
    const bool busy = error == EAGAIN;
    const bool not_ready = error == ENOENT || error == ECONNREFUSED;
    if (!busy && !(options.wait_for_socket && not_ready)) {
      throw Error::from_errno(fmt::format("cannot connect to the QMP socket {}", path.string()), error);
    }
    if (Clock::now() + pause >= deadline) {
      throw Error(fmt::format("QMP socket {} did not accept a connection within {} ms{}",
                              path.string(), options.timeout.count(),
                              busy ? " (another client is connected to it)" : ""),
                  ErrorKind::timeout);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
}

QmpClient QmpClient::attach(UniqueFd fd, std::chrono::milliseconds timeout) {
  if (::fcntl(fd.get(), F_SETFL, O_NONBLOCK) != 0) throw Error::from_errno("fcntl", errno);
  QmpClient client(std::move(fd));
  client.handshake(Clock::now() + timeout);
  return client;
}

void QmpClient::handshake(Clock::time_point deadline) {
  // The greeting comes first and unasked; events cannot precede it.
  auto greeting = receive("the QMP greeting", deadline);
  if (!greeting) throw Error("no QMP greeting before the deadline", ErrorKind::timeout);
  if (!greeting->is_object() || !greeting->contains("QMP")) {
    throw Error(fmt::format("not a QMP greeting: {}", greeting->dump()), ErrorKind::system);
  }
  greeting_ = std::move(*greeting);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  execute("qmp_capabilities", nullptr, std::max(left, std::chrono::milliseconds(1)));
}

void QmpClient::sync_guest_agent(Clock::time_point deadline) {
  // qemu-guest-agent has no greeting, and its channel may still hold a reply meant for an
  // earlier client (one that timed out). guest-sync-delimited makes the agent flush its input
  // and answer with 0xFF then our random id: everything before that answer is stale.
  const auto id = static_cast<std::int64_t>(Clock::now().time_since_epoch().count() & 0x3fffffffffffLL);
  send({{"execute", "guest-sync-delimited"}, {"arguments", {{"id", id}}}}, "guest-sync-delimited", deadline);
  for (;;) {
    auto message = receive("the guest agent's answer", deadline);
    if (!message) {
      throw Error("no qemu-guest-agent answered within the deadline: is it installed and running in the guest?",
                  ErrorKind::timeout);
    }
    if (message->is_object() && message->value("return", json()) == id) return;
  }
}

json QmpClient::execute(std::string_view command, const json& arguments,
                        std::chrono::milliseconds timeout) {
  return execute_with_fd(command, arguments, -1, timeout);
}

json QmpClient::execute_with_fd(std::string_view command, const json& arguments, int fd,
                                std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string id = fmt::format("slurm-vm-{}", next_id_++);
  json request = {{"execute", command}, {"id", id}};
  if (!arguments.is_null() && !(arguments.is_object() && arguments.empty())) {
    request["arguments"] = arguments;
  }
  const std::string what = fmt::format("{} command {}", agent_ ? "guest agent" : "QMP", command);
  send(request, what, deadline, fd);
  for (;;) {
    auto message = receive(what, deadline);
    if (!message) {
      throw Error(fmt::format("{}: no reply within {} ms", what, timeout.count()), ErrorKind::timeout);
    }
    if (!is_reply(*message)) {
      if (message->is_object() && message->contains("event")) {
        events_.push_back(std::move(*message));
      } else {
        log_debug("QMP: ignoring unexpected message {}", message->dump());
      }
      continue;
    }
    // QEMU answers a request it could not parse with an error without id; as commands are
    // sent one at a time, that error is this command's. Other ids are late replies to commands
    // that timed out: dropped.
    const auto found = message->find("id");
    if (found != message->end() && *found != id) {
      log_debug("QMP: dropping a reply to an earlier command: {}", message->dump());
      continue;
    }
    if (const auto error = message->find("error"); error != message->end()) {
      const std::string cls = error->is_object() ? error->value("class", "GenericError") : "GenericError";
      const std::string desc = error->is_object() ? error->value("desc", error->dump()) : error->dump();
      throw Error(fmt::format("{} failed: {}: {}", what, cls, desc), ErrorKind::system);
    }
    return std::move((*message)["return"]);
  }
}

std::optional<json> QmpClient::next_event(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (events_.empty()) {
    auto message = receive("a QMP event", deadline);
    if (!message) return std::nullopt;
    if (message->is_object() && message->contains("event")) {
      events_.push_back(std::move(*message));
    } else {
      log_debug("QMP: ignoring a message that is not an event: {}", message->dump());
    }
  }
  json event = std::move(events_.front());
  events_.pop_front();
  return event;
}

void QmpClient::send(const json& message, std::string_view what, Clock::time_point deadline, int fd) {
  std::string text = message.dump();
  text += '\n';
  std::string_view rest = text;
  while (!rest.empty()) {
    iovec iov{const_cast<char*>(rest.data()), rest.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
      // QEMU takes the fd that came with the bytes of the command naming it (qemu_chr_fe_get_msgfd).
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    // MSG_NOSIGNAL: a QEMU that went away is an error to report, not a SIGPIPE that kills us.
    const ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    if (n > 0) {
      rest.remove_prefix(static_cast<std::size_t>(n));
      fd = -1;  // sent once
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(fd_.get(), POLLOUT, deadline)) {
        throw Error(fmt::format("{}: QEMU did not read the request in time", what), ErrorKind::timeout);
      }
      continue;
    }
    throw Error::from_errno(fmt::format("{}: cannot send to QEMU", what), errno);
  }
}

std::optional<json> QmpClient::receive(std::string_view what, Clock::time_point deadline) {
  for (;;) {
    if (auto message = with_context(what, [&] { return decoder_.next(); })) return message;
    char chunk[16384];
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n > 0) {
      decoder_.feed(std::string_view(chunk, static_cast<std::size_t>(n)));
      continue;
    }
    if (n == 0) throw Error(fmt::format("{}: QEMU closed the QMP connection", what), ErrorKind::system);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      throw Error::from_errno(fmt::format("{}: cannot read from QEMU", what), errno);
    }
    if (!wait_fd(fd_.get(), POLLIN, deadline)) return std::nullopt;
  }
}

}  // namespace slurmvm
