// Connecting the QMP client: to a socket that appears while QEMU starts, at a path longer than
// sun_path; failing at once or timing out when nothing listens; never hanging when QEMU's only
// connection is taken.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "fake_qemu.hpp"
#include "qmp.hpp"
#include "unique_fd.hpp"

using nlohmann::json;
using slurmvm::Error;
using slurmvm::ErrorKind;
using slurmvm::QmpClient;
using slurmvm::UniqueFd;
using slurmvm::test::FakeQemu;
using slurmvm::test::Harness;
using slurmvm::test::kGreeting;
using namespace std::chrono_literals;

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
