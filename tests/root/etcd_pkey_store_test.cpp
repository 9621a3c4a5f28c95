// The pkey store in etcd v3 (etcd_pkey_store.hpp) against a real etcd (Debian's etcd-server),
// started by the test on loopback ports nobody else holds, with a data directory of its own,
// and stopped by pid at the end: one pkey per job even when jobs join at once from several
// "nodes", released with the job's last node, and a job whose lease is no longer renewed (its
// nodes crashed) gives its pkey back on its own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "error.hpp"
#include "subprocess.hpp"
#include "unique_fd.hpp"
#include "vfio/etcd_pkey_store.hpp"
#include "vfio/ib_guid.hpp"

namespace fs = std::filesystem;
using namespace slurmvm;
using namespace slurmvm::vfio;
using namespace std::chrono_literals;

namespace {

constexpr const char* kEtcd = "/usr/bin/etcd";
constexpr PkeyRange kRange{0x2001, 0x2010};

// A loopback port free at this moment (bound, read, released).
int free_port() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 0;
  socklen_t len = sizeof a;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

auto members(std::uint64_t host, std::uint32_t rank) {
  return [=](std::uint16_t pkey) { return NodeMembers{{host}, {vf_port_guid(pkey, rank)}}; };
}

class EtcdStore : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kEtcd)) GTEST_SKIP() << "etcd-server is not installed (scripts/install-deps)";
    std::string tmpl = (fs::temp_directory_path() / "svm-etcd-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    const int client = free_port(), peer = free_port();
    ASSERT_TRUE(client > 0 && peer > 0);
    endpoint_ = fmt::format("http://127.0.0.1:{}", client);
    const std::string peer_url = fmt::format("http://127.0.0.1:{}", peer);
    cmd_.argv = {kEtcd, "--name", "svm-test", "--data-dir", (dir_ / "data").string(),
                "--listen-client-urls", endpoint_, "--advertise-client-urls", endpoint_,
                "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                "--initial-cluster", "svm-test=" + peer_url, "--logger", "zap", "--log-outputs", (dir_ / "etcd.log").string()};
    start();
  }
  // Starts etcd and waits until it answers (10 s).
  void start() {
    etcd_ = spawn(cmd_);
    for (int i = 0; i < 100; ++i) {
      try {
        EtcdClient(std::vector<std::string>{endpoint_}, 1s).range_prefix("/");
        return;
      } catch (const Error&) {
        if (const auto r = etcd_.poll()) FAIL() << "etcd exited (" << r->exit_code << "): see " << dir_ / "etcd.log";
        std::this_thread::sleep_for(100ms);
      }
    }
    FAIL() << "etcd did not answer on " << endpoint_;
  }
  void TearDown() override {
    if (etcd_.running()) etcd_.stop(SIGTERM, 5s);
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  EtcdPkeyStore store(std::chrono::seconds ttl = kDefaultLeaseTtl) {
    return EtcdPkeyStore(EtcdClient({endpoint_}, 5s), "/svm-test/pkeys/", ttl);
  }

  fs::path dir_;
  std::string endpoint_;
  Command cmd_;
  ChildProcess etcd_;
};

TEST_F(EtcdStore, OnePkeyPerJobReleasedWithItsLastNode) {
  auto s = store();
  EXPECT_EQ(s.join("ib", kRange, 42, "node1", members(0x11, 0)), 0x2001);
  EXPECT_EQ(s.join("ib", kRange, 43, "node1", members(0x11, 0)), 0x2002);
  EXPECT_EQ(s.join("ib", kRange, 42, "node2", members(0x22, 1)), 0x2001);
  EXPECT_EQ(s.join("ib", kRange, 42, "node2", members(0x22, 1)), 0x2001);  // a retried prolog
  auto all = s.list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].job, 42u);
  EXPECT_EQ(all[0].members.size(), 2u);
  EXPECT_EQ(all[0].members.at("node2").vf_guids, std::vector<std::uint64_t>{vf_port_guid(0x2001, 1)});

  EXPECT_EQ(s.leave("ib", 42, "node1"), 0x2001);
  EXPECT_EQ(s.list().size(), 2u);  // node2 still holds it
  EXPECT_EQ(s.leave("ib", 42, "node2"), 0x2001);
  EXPECT_EQ(s.leave("ib", 42, "node2"), 0);  // a second epilog
  ASSERT_EQ(s.list().size(), 1u);
  EXPECT_EQ(s.join("ib", kRange, 44, "node3", members(0x33, 0)), 0x2001);  // free again
  EXPECT_EQ(s.forget("ib", 43), 0x2002);
  EXPECT_EQ(s.list().size(), 1u);
}

TEST_F(EtcdStore, EveryPkeyHeldIsTheJobsFault) {
  auto s = store();
  EXPECT_EQ(s.join("ib", {0x2001, 0x2001}, 1, "n", members(1, 0)), 0x2001);
  try {
    s.join("ib", {0x2001, 0x2001}, 2, "n", members(1, 0));
    FAIL() << "two jobs on one pkey";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("every partition key of [0x2001, 0x2001] is held"));
  }
}

// Eight jobs' first nodes and a second node of each, all at once, each with its own client:
// one pkey per job, all different.
TEST_F(EtcdStore, ConcurrentJoinsGetOnePkeyPerJob) {
  std::vector<std::thread> threads;
  std::vector<std::uint16_t> got(16);
  for (std::uint32_t i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      auto s = store();
      got[i] = s.join("ib", kRange, 100 + i % 8, fmt::format("node{}", i / 8), members(i, i / 8));
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::uint16_t> distinct;
  for (std::uint32_t j = 0; j < 8; ++j) {
    EXPECT_EQ(got[j], got[j + 8]) << "job " << 100 + j << "'s two nodes disagree";
    distinct.insert(got[j]);
  }
  EXPECT_EQ(distinct.size(), 8u);
  for (const auto& a : store().list()) EXPECT_EQ(a.members.size(), 2u) << "job " << a.job;
}

// Job 51 is renewed (vm-pkeyd sees it in squeue), job 52's nodes crashed: its keys expire with
// its lease and its pkey is handed out again; job 51 keeps its own.
TEST_F(EtcdStore, AnUnrenewedJobsPkeyComesBack) {
  auto s = store(2s);
  EXPECT_EQ(s.join("ib", kRange, 51, "n1", members(1, 0)), 0x2001);
  EXPECT_EQ(s.join("ib", kRange, 52, "n2", members(2, 0)), 0x2002);
  bool gone = false;
  for (int i = 0; i < 40 && !gone; ++i) {
    EXPECT_TRUE(s.renew({51}).empty());
    std::this_thread::sleep_for(250ms);
    const auto all = s.list();
    gone = all.size() == 1 && all[0].job == 51;
  }
  EXPECT_TRUE(gone) << "job 52's pkey never came back";
  EXPECT_EQ(s.renew({52}), std::vector<std::uint32_t>{52});  // its lease is gone
  EXPECT_EQ(s.join("ib", kRange, 53, "n3", members(3, 0)), 0x2002);
}

// etcd restarted: what it holds is still there (it is the store, not a cache).
TEST_F(EtcdStore, AllocationsSurviveARestartOfEtcd) {
  auto s = store();
  EXPECT_EQ(s.join("ib", kRange, 61, "n1", members(1, 0)), 0x2001);
  etcd_.stop(SIGTERM, 5s);
  EXPECT_THROW(s.list(), Error);  // nobody answers: an error, never an empty store
  start();
  const auto all = s.list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].job, 61u);
  EXPECT_EQ(s.join("ib", kRange, 61, "n2", members(2, 1)), 0x2001);
}

}  // namespace
