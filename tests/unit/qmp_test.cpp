// The QMP client against a fake QEMU in a thread: greeting and capabilities, replies matched by
// id with events queued around them, error replies, partial and pretty-printed messages,
// deadlines, a closed connection, and connecting to a socket path longer than sun_path.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "qmp.hpp"
#include "unique_fd.hpp"

using nlohmann::json;
using slurmvm::Error;
using slurmvm::ErrorKind;
using slurmvm::QmpClient;
using slurmvm::UniqueFd;
using namespace std::chrono_literals;

namespace {

constexpr const char* kGreeting =
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

}  // namespace

TEST(Qmp, NegotiatesCapabilitiesAndReturnsTheReply) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    const json request = q.expect("query-status", {{"status", "paused"}, {"running", false}});
    EXPECT_TRUE(request.contains("id"));
    EXPECT_FALSE(request.contains("arguments"));  // none given: none sent
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  EXPECT_EQ(qmp.greeting()["QMP"]["version"]["qemu"]["major"], 7);
  const json status = qmp.execute("query-status");
  EXPECT_EQ(status["status"], "paused");
}

TEST(Qmp, SendsArgumentsAndAUniqueIdPerCommand) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    const json first = q.expect("human-monitor-command", "ok\r\n");
    EXPECT_EQ(first["arguments"]["command-line"], "info status");
    const json second = q.expect("cont");
    EXPECT_NE(first["id"], second["id"]);
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  EXPECT_EQ(qmp.execute("human-monitor-command", {{"command-line", "info status"}}), "ok\r\n");
  qmp.execute("cont");
}

TEST(Qmp, QueuesEventsThatArriveBeforeTheReply) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    const json request = q.read_request();
    q.send({{"event", "RESUME"}, {"timestamp", {{"seconds", 1}, {"microseconds", 2}}}});
    // The reply in pieces, with an event in between two messages, as a slow socket delivers.
    const std::string reply = json{{"return", json::object()}, {"id", request["id"]}}.dump() + "\r\n";
    q.write_raw(R"({"event": "STOP", "timestamp": {"seconds": 3, "microseconds": 4}})" "\r\n");
    q.write_raw(reply.substr(0, 5));
    std::this_thread::sleep_for(20ms);
    q.write_raw(reply.substr(5));
    q.send({{"event", "SHUTDOWN"}, {"data", {{"guest", false}}}});
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  EXPECT_EQ(qmp.execute("cont"), json::object());
  ASSERT_EQ(qmp.pending_events().size(), 2u);
  EXPECT_EQ(qmp.next_event(0ms).value()["event"], "RESUME");
  EXPECT_EQ(qmp.next_event(0ms).value()["event"], "STOP");
  // The one after the reply is read when asked for.
  auto shutdown = qmp.next_event(2s);
  ASSERT_TRUE(shutdown);
  EXPECT_EQ((*shutdown)["data"]["guest"], false);
  EXPECT_FALSE(qmp.next_event(50ms));
}

TEST(Qmp, ReportsQmpErrorsWithClassAndDescription) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    const json request = q.read_request();
    q.send({{"error", {{"class", "CommandNotFound"}, {"desc", "The command frobnicate has not been found"}}},
            {"id", request["id"]}});
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  try {
    qmp.execute("frobnicate");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::system);
    EXPECT_STREQ(e.what(), "QMP command frobnicate failed: CommandNotFound: The command frobnicate has not been found");
  }
}

TEST(Qmp, AnErrorWithoutIdIsTheCurrentCommands) {
  // QEMU answers a request it could not parse without an id.
  Harness h([](FakeQemu& q) {
    q.handshake();
    q.read_request();
    q.send({{"error", {{"class", "GenericError"}, {"desc", "JSON parse error"}}}});
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  EXPECT_THROW(qmp.execute("query-status"), Error);
}

TEST(Qmp, DropsLateRepliesToEarlierCommands) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    const json request = q.read_request();
    q.send({{"return", "stale"}, {"id", "slurm-vm-0"}});
    q.send({{"return", "fresh"}, {"id", request["id"]}});
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  EXPECT_EQ(qmp.execute("query-name"), "fresh");
}

TEST(Qmp, TimesOutWhenQemuDoesNotAnswer) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    q.read_request();  // and never answers
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  const auto start = std::chrono::steady_clock::now();
  try {
    qmp.execute("query-status", nullptr, 150ms);
    FAIL() << "no timeout";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::timeout);
    EXPECT_NE(std::string(e.what()).find("query-status"), std::string::npos) << e.what();
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 140ms);
  EXPECT_LT(took, 2s);
}

TEST(Qmp, TimesOutWithoutGreeting) {
  Harness h([](FakeQemu&) {});
  try {
    QmpClient::attach(h.take_client(), 100ms);
    FAIL() << "no timeout";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::timeout);
  }
}

TEST(Qmp, RefusesAPeerThatIsNotQmp) {
  Harness h([](FakeQemu& q) { q.write_raw("{\"hello\": 1}\n"); });
  EXPECT_THROW(QmpClient::attach(h.take_client(), 1s), Error);
  Harness h2([](FakeQemu& q) { q.write_raw("SSH-2.0-OpenSSH\r\n"); });
  EXPECT_THROW(QmpClient::attach(h2.take_client(), 1s), Error);
}

TEST(Qmp, ReportsAConnectionClosedByQemu) {
  Harness h([](FakeQemu& q) {
    q.handshake();
    q.read_request();
    q.hang_up();
  });
  QmpClient qmp = QmpClient::attach(h.take_client(), 2s);
  try {
    qmp.execute("quit", nullptr, 2s);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::system);
    EXPECT_NE(std::string(e.what()).find("closed"), std::string::npos) << e.what();
  }
}

TEST(Qmp, ReadsPrettyPrintedMessages) {
  Harness h([](FakeQemu& q) {
    q.write_raw(json::parse(kGreeting).dump(4) + "\n");
    const json request = q.read_request();
    q.write_raw(json{{"return", json::object()}, {"id", request["id"]}}.dump(2) + "\n");
  });
  EXPECT_NO_THROW(QmpClient::attach(h.take_client(), 2s));
}

namespace {

// A listening unix socket at `path` (any length), accepting one connection in a thread after
// `delay`, then running `script` on it.
class FakeQemuSocket {
 public:
  FakeQemuSocket(const std::filesystem::path& path, std::chrono::milliseconds delay, FakeQemu::Script script) {
    thread_ = std::thread([=, this] {
      std::this_thread::sleep_for(delay);
      UniqueFd dir(::open(path.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      const std::string name = fmt::format("/proc/self/fd/{}/{}", dir.get(), path.filename().string());
      name.copy(addr.sun_path, sizeof addr.sun_path - 1);
      ASSERT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
      ASSERT_EQ(::listen(listener_.get(), 1), 0);
      UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) return;
      FakeQemu q(conn.get());
      script(q);
      char c;
      while (::read(conn.get(), &c, 1) > 0) {
      }
    });
  }
  ~FakeQemuSocket() { thread_.join(); }

 private:
  UniqueFd listener_;
  std::thread thread_;
};

std::filesystem::path temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "qmp_test.XXXXXX").string();
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

}  // namespace

TEST(QmpConnect, WaitsForTheSocketOfAStartingQemuAtAPathLongerThanSunPath) {
  const auto base = temp_dir();
  auto dir = base / std::string(60, 'd') / std::string(60, 'e');
  std::filesystem::create_directories(dir);
  const auto socket = dir / "qmp.sock";
  ASSERT_GT(socket.string().size(), sizeof(sockaddr_un{}.sun_path));
  {
    FakeQemuSocket server(socket, 150ms, [](FakeQemu& q) {
      q.handshake();
      q.expect("query-status", {{"status", "running"}});
    });
    QmpClient qmp = QmpClient::connect(socket, {.timeout = 5s, .wait_for_socket = true});
    EXPECT_EQ(qmp.execute("query-status")["status"], "running");
  }
  std::filesystem::remove_all(base);
}

TEST(QmpConnect, FailsAtOnceOrTimesOutWhenNoQemuListens) {
  const auto base = temp_dir();
  try {
    QmpClient::connect(base / "qmp.sock", {.timeout = 5s, .wait_for_socket = false});
    FAIL() << "connected to nothing";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::system);
    EXPECT_EQ(e.errnum(), ENOENT);
  }
  try {
    QmpClient::connect(base / "qmp.sock", {.timeout = 200ms, .wait_for_socket = true});
    FAIL() << "connected to nothing";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::timeout);
  }
  std::filesystem::remove_all(base);
}

TEST(QmpConnect, NeverHangsOnASocketWhoseOnlyConnectionIsTaken) {
  // QEMU serves one QMP client at a time: others queue in the backlog, then are refused with
  // EAGAIN. Either way the caller gets a timeout, not a hang.
  const auto base = temp_dir();
  const auto path = base / "qmp.sock";
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.string().copy(addr.sun_path, sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 0), 0);
  std::vector<UniqueFd> queued;
  for (int i = 0; i < 8; ++i) {
    UniqueFd c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (::connect(c.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) break;
    queued.push_back(std::move(c));
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    QmpClient::connect(path, {.timeout = 200ms, .wait_for_socket = false});
    FAIL() << "connected to a listener that never accepts";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::timeout) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  std::filesystem::remove_all(base);
}
