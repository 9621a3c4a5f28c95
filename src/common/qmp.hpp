// A client of QEMU's machine protocol (QMP) over a unix socket: vm-launch uses it to pin vCPUs
// and start the VM, the CLI for reset, monitor-cmd, save. QMP is JSON objects, one per line
// ("\r\n"); after a greeting the client negotiates capabilities, then sends commands. Replies
// carry the id the command was sent with; asynchronous events (SHUTDOWN, BLOCK_JOB_COMPLETED...)
// may arrive at any time, before a reply included, so they are queued, never taken for a reply.
// Every operation has a deadline: a QEMU that stops answering costs a timeout, never a hang.
//
//   auto qmp = slurmvm::QmpClient::connect(vmdir / "qmp.sock", {.timeout = 5s});
//   nlohmann::json status = qmp.execute("query-status");   // {"status":"running",...}
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "json_stream.hpp"
#include "unique_fd.hpp"

namespace slurmvm {

struct QmpConnectOptions {
  // For the whole connection: socket, greeting and capabilities negotiation.
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  // Keep retrying while the socket does not exist or refuses connections (a QEMU that is still
  // starting); otherwise the first failure is final.
  bool wait_for_socket = false;
};

class QmpClient {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kDefaultTimeout{std::chrono::seconds(10)};
  // A message larger than this is refused rather than buffered (a runaway peer).
  static constexpr std::size_t kMaxMessageBytes = 64 * 1024 * 1024;

  // Connects to the socket at `path` (any length: paths longer than sun_path are reached
  // through their directory), reads the greeting and negotiates capabilities.
  // Throws Error: ErrorKind::timeout past the deadline, ErrorKind::system otherwise.
  static QmpClient connect(const std::filesystem::path& path, QmpConnectOptions options = {});
  // qemu-guest-agent's channel (the same JSON commands, no greeting): connects and resyncs
  // with guest-sync-delimited. ErrorKind::timeout when no agent answers.
  static QmpClient connect_guest_agent(const std::filesystem::path& path, std::chrono::milliseconds timeout);
  // The same over an already connected stream socket (tests use a socketpair).
  static QmpClient attach(UniqueFd fd, std::chrono::milliseconds timeout = kDefaultTimeout);

  QmpClient(QmpClient&&) noexcept = default;
  QmpClient& operator=(QmpClient&&) noexcept = default;
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;
  ~QmpClient() = default;

  // Sends {"execute": command, "arguments": arguments, "id": <unique>} and returns the reply's
  // "return" value. `arguments` null or an empty object sends none. Throws Error naming the
  // command: QMP's error class and description (ErrorKind::system), ErrorKind::timeout when no
  // reply came in time, ErrorKind::system when QEMU closed the connection.
  nlohmann::json execute(std::string_view command, const nlohmann::json& arguments = nullptr,
                         std::chrono::milliseconds timeout = kDefaultTimeout);
  // The same, with `fd` passed alongside the request (SCM_RIGHTS), as QMP's getfd and add-fd
  // expect it: QEMU keeps its own copy; the caller still owns `fd`.
  nlohmann::json execute_with_fd(std::string_view command, const nlohmann::json& arguments, int fd,
                                 std::chrono::milliseconds timeout = kDefaultTimeout);

  // The oldest event not yet taken, reading the socket for at most `timeout` when none is
  // queued; nullopt when none came. An event is {"event", "data", "timestamp"}.
  std::optional<nlohmann::json> next_event(std::chrono::milliseconds timeout);
  // Events received so far and not taken, oldest first.
  std::deque<nlohmann::json>& pending_events() noexcept { return events_; }

  // The server's greeting: {"QMP": {"version": ..., "capabilities": [...]}}.
  const nlohmann::json& greeting() const noexcept { return greeting_; }

 private:
  enum class Protocol { qmp, guest_agent };
  explicit QmpClient(UniqueFd fd) : fd_(std::move(fd)) {}
  static QmpClient open(const std::filesystem::path& path, QmpConnectOptions options, Protocol protocol);
  void handshake(Clock::time_point deadline);
  void sync_guest_agent(Clock::time_point deadline);
  // `fd` >= 0 goes with the message's first bytes.
  void send(const nlohmann::json& message, std::string_view what, Clock::time_point deadline, int fd = -1);
  // The next complete message, reading as needed; nullopt at the deadline.
  std::optional<nlohmann::json> receive(std::string_view what, Clock::time_point deadline);

  UniqueFd fd_;
  JsonStreamDecoder decoder_{{.peer = "QEMU", .max_message = kMaxMessageBytes}};  // bytes received, not yet taken
  std::deque<nlohmann::json> events_;
  nlohmann::json greeting_;
  std::uint64_t next_id_ = 1;
  bool agent_ = false;
};

}  // namespace slurmvm
