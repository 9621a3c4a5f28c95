// A fake QEMU for the QMP client's tests: the server side of one connection driven by a script
// in its own thread (FakeQemu), and a client connected to one over a socketpair (Harness).
#pragma once

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "unique_fd.hpp"

namespace slurmvm::test {

using nlohmann::json;

inline constexpr const char* kGreeting =
    R"({"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}})"
    "\r\n";

// The server side of one connection, driven by a script in its own thread.
class FakeQemu {
 public:
  using Script = std::function<void(FakeQemu&)>;

  explicit FakeQemu(int fd) : fd_(fd) {}

  void write_raw(std::string_view text) {
    while (!text.empty()) {
      const ssize_t n = ::write(fd_, text.data(), text.size());
      if (n <= 0) return;
      text.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void send(const json& message) { write_raw(message.dump() + "\r\n"); }
  // The next request line, parsed; null when the client closed.
  json read_request() {
    std::string line;
    char c = 0;
    while (::read(fd_, &c, 1) == 1) {
      if (c == '\n') return json::parse(line);
      line += c;
    }
    return nullptr;
  }
  // Reads a request, checks it is `command`, answers with `result`.
  json expect(const std::string& command, const json& result = json::object()) {
    json request = read_request();
    EXPECT_EQ(request.value("execute", ""), command) << request.dump();
    send({{"return", result}, {"id", request["id"]}});
    return request;
  }
  void handshake() {
    write_raw(kGreeting);
    expect("qmp_capabilities");
  }
  // As QEMU exiting: the client reads end-of-file.
  void hang_up() { ::shutdown(fd_, SHUT_RDWR); }

 private:
  int fd_;
};

// A client connected to a FakeQemu running `script`; the thread is joined on destruction.
class Harness {
 public:
  explicit Harness(FakeQemu::Script script) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    client_fd_.reset(fds[0]);
    server_fd_.reset(fds[1]);
    thread_ = std::thread([this, script = std::move(script)] {
      FakeQemu q(server_fd_.get());
      script(q);
      // Keep the connection open until the client is done, unless the script closed it.
      char c;
      while (server_fd_ && ::read(server_fd_.get(), &c, 1) > 0) {
      }
    });
  }
  ~Harness() {
    client_fd_.reset();
    ::shutdown(server_fd_.get(), SHUT_RDWR);
    thread_.join();
  }
  UniqueFd take_client() { return std::move(client_fd_); }

 private:
  UniqueFd client_fd_;
  UniqueFd server_fd_;
  std::thread thread_;
};

}  // namespace slurmvm::test
