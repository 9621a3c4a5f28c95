// The OVSDB JSON-RPC client: the calls over the stream (ovsdb.hpp; the framer is json_stream.hpp).
#include "netsetup/ovsdb.hpp"

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
#include "netsetup/ovsdb_json.hpp"

namespace slurmvm::netsetup {

using nlohmann::json;
using namespace ovsdb_json;

// ---------------------------------------------------------------------------------------
// OvsdbClient

OvsdbClient OvsdbClient::connect(const std::string& socket_path,
                                 std::chrono::milliseconds timeout) {
  return with_context(fmt::format("connecting to ovsdb-server at {}", socket_path), [&] {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path) {
      throw Error("socket path too long", ErrorKind::config);
    }
    std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      if (!fd) throw Error::from_errno("socket", errno);
      // A unix-socket connect completes at once or fails with EAGAIN (listen backlog full).
      if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
        return OvsdbClient(std::move(fd), socket_path);
      }
      if (errno != EAGAIN && errno != EINTR) throw Error::from_errno("connect", errno);
      if (Clock::now() >= deadline) {
        throw Error(fmt::format("no connection within {} ms", timeout.count()),
                    ErrorKind::timeout);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
}

void OvsdbClient::send_message(const json& msg, Clock::time_point deadline) {
  const std::string bytes = msg.dump();
  std::string_view rest = bytes;
  while (!rest.empty()) {
    ssize_t n = ::send(fd_.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      rest.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) throw Error::from_errno("ovsdb: send", errno);
    if (!wait_fd(fd_.get(), POLLOUT, deadline)) throw Error("ovsdb: timed out sending a request", ErrorKind::timeout);
  }
}

json OvsdbClient::read_message(Clock::time_point deadline) {
  for (;;) {
    if (auto msg = decoder_.next()) return std::move(*msg);
    if (!wait_fd(fd_.get(), POLLIN, deadline)) {
      throw Error("ovsdb: timed out waiting for ovsdb-server", ErrorKind::timeout);
    }
    char buf[65536];
    ssize_t got = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw Error::from_errno("ovsdb: recv", errno);
    }
    if (got == 0) throw Error("ovsdb: ovsdb-server closed the connection", ErrorKind::system);
    decoder_.feed(std::string_view(buf, static_cast<std::size_t>(got)));
  }
}

json OvsdbClient::call(const std::string& method, json params, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::uint64_t id = next_id_++;
  send_message({{"method", method}, {"params", std::move(params)}, {"id", id}}, deadline);
  for (;;) {
    json msg = read_message(deadline);
    if (msg.contains("method")) {
      // §4.1.11: the server probes an idle connection with "echo"; the reply repeats params.
      if (msg["method"] == "echo" && msg.contains("id") && !msg["id"].is_null()) {
        send_message({{"id", msg["id"]}, {"result", msg.value("params", json::array())},
                      {"error", nullptr}},
                     deadline);
      }
      continue;  // notifications ("update", "locked", ...) are not ours: we never subscribe
    }
    if (!msg.contains("id") || msg["id"] != id) {
      log_debug("ovsdb: dropping a reply to another request: {}", msg.dump());
      continue;
    }
    if (msg.contains("error") && !msg["error"].is_null()) {
      throw Error(fmt::format("ovsdb: {} failed: {}", method, msg["error"].dump()),
                  ErrorKind::system);
    }
    return msg.value("result", json());
  }
}

json OvsdbClient::transact(const json& ops, std::chrono::milliseconds timeout) {
  json params = json::array({kDatabase});
  for (const auto& op : ops) params.push_back(op);
  json result = call("transact", std::move(params), timeout);
  check_transact_result(ops, result);
  return result;
}

void check_transact_result(const json& ops, const json& result) {
  if (!result.is_array()) {
    throw Error(fmt::format("ovsdb: transact returned {}, not an array", result.dump()),
                ErrorKind::system);
  }
  for (std::size_t i = 0; i < result.size(); ++i) {
    const json& r = result[i];
    if (!r.is_object() || !r.contains("error") || r["error"].is_null()) continue;
    const std::string what =
        i < ops.size() ? fmt::format("operation {} of {} ({})", i + 1, ops.size(), describe(ops[i]))
                       : std::string("commit");
    std::string msg = fmt::format("ovsdb: transaction failed at {}: {}", what,
                                  r["error"].is_string() ? r["error"].get<std::string>()
                                                         : r["error"].dump());
    if (r.contains("details") && r["details"].is_string()) {
      msg += ": " + r["details"].get<std::string>();
    }
    throw Error(msg, ErrorKind::system);
  }
  if (result.size() < ops.size()) {
    throw Error(fmt::format("ovsdb: transaction returned {} results for {} operations",
                            result.size(), ops.size()),
                ErrorKind::system);
  }
}

}  // namespace slurmvm::netsetup
