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

// openssl(1) with ARGS; the test fails when it does.
void openssl(std::vector<std::string> args) {
  Command c;
  c.argv = {"/usr/bin/openssl"};
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  const auto r = run(c);
  ASSERT_TRUE(r.ok()) << format_argv(c.argv) << ": " << r.err;
}

// A CA (DIR/NAME.pem, DIR/NAME.key), and a certificate DIR/NAME.pem signed by CA with EXTS.
void make_ca(const fs::path& dir, const std::string& name) {
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
           (dir / (name + ".key")).string(), "-out", (dir / (name + ".pem")).string(), "-days", "2", "-subj",
           "/CN=" + name});
}
void make_cert(const fs::path& dir, const std::string& ca, const std::string& name,
               const std::vector<std::string>& exts) {
  std::vector<std::string> a = {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                "-keyout", (dir / (name + ".key")).string(), "-out", (dir / (name + ".pem")).string(),
                                "-days", "2", "-subj", "/CN=" + name, "-CA", (dir / (ca + ".pem")).string(), "-CAkey",
                                (dir / (ca + ".key")).string(), "-addext", "basicConstraints=critical,CA:FALSE"};
  for (const auto& e : exts) a.insert(a.end(), {"-addext", e});
  openssl(a);
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
    endpoint_ = fmt::format("{}://127.0.0.1:{}", tls_ ? "https" : "http", client);
    port_ = client;
    const std::string peer_url = fmt::format("http://127.0.0.1:{}", peer);
    cmd_.argv = {kEtcd, "--name", "svm-test", "--data-dir", (dir_ / "data").string(),
                "--listen-client-urls", endpoint_, "--advertise-client-urls", endpoint_,
                "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                "--initial-cluster", "svm-test=" + peer_url, "--logger", "zap", "--log-outputs", (dir_ / "etcd.log").string()};
    if (tls_) {
      // The site's CA; etcd's certificate for 127.0.0.1 only; a node's client certificate.
      if (!fs::exists("/usr/bin/openssl")) GTEST_SKIP() << "openssl is not installed (scripts/install-deps)";
      ASSERT_NO_FATAL_FAILURE(make_ca(dir_, "ca"));
      ASSERT_NO_FATAL_FAILURE(make_cert(dir_, "ca", "server", {"subjectAltName=IP:127.0.0.1", "extendedKeyUsage=serverAuth,clientAuth"}));
      ASSERT_NO_FATAL_FAILURE(make_cert(dir_, "ca", "node", {"extendedKeyUsage=clientAuth"}));
      files_ = {(dir_ / "ca.pem").string(), (dir_ / "node.pem").string(), (dir_ / "node.key").string()};
      cmd_.argv.insert(cmd_.argv.end(), {"--cert-file", (dir_ / "server.pem").string(), "--key-file",
                                         (dir_ / "server.key").string(), "--client-cert-auth", "--trusted-ca-file",
                                         (dir_ / "ca.pem").string()});
    }
    start();
  }
  // Starts etcd and waits until it answers (10 s).
  void start() {
    etcd_ = spawn(cmd_);
    for (int i = 0; i < 100; ++i) {
      try {
        EtcdClient(std::vector<std::string>{endpoint_}, 1s, files_).range_prefix("/");
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
    return EtcdPkeyStore(EtcdClient({endpoint_}, 5s, files_), "/svm-test/pkeys/", ttl);
  }

  bool tls_ = false;
  EtcdTlsFiles files_;
  int port_ = 0;
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

// The same store over TLS: etcd with --client-cert-auth, the node with the site's CA and its
// client certificate (slurm-vm.yaml store.etcd ca-cert, client-cert, client-key).
class EtcdTlsStore : public EtcdStore {
 protected:
  void SetUp() override {
    tls_ = true;
    EtcdStore::SetUp();
  }
  // What a client with these files gets from etcd: "" when it answers, else the error.
  std::string refusal(const std::string& endpoint, const EtcdTlsFiles& files) {
    try {
      EtcdClient({endpoint}, 3s, files).range_prefix("/");
      return "";
    } catch (const Error& e) {
      return e.what();
    }
  }
};

TEST_F(EtcdTlsStore, JoinAndLeaveOverTls) {
  auto s = store();
  EXPECT_EQ(s.join("ib", kRange, 42, "node1", members(0x11, 0)), 0x2001);
  EXPECT_EQ(s.join("ib", kRange, 42, "node2", members(0x22, 1)), 0x2001);
  EXPECT_EQ(s.join("ib", kRange, 43, "node1", members(0x11, 0)), 0x2002);
  ASSERT_EQ(s.list().size(), 2u);
  EXPECT_TRUE(s.renew({42, 43}).empty());
  EXPECT_EQ(s.leave("ib", 42, "node1"), 0x2001);
  EXPECT_EQ(s.leave("ib", 42, "node2"), 0x2001);
  EXPECT_EQ(s.forget("ib", 43), 0x2002);
  EXPECT_TRUE(s.list().empty());
}

// Each check of the handshake holds: the server's certificate must come from the site's CA
// and name the endpoint; etcd must see the node's certificate.
TEST_F(EtcdTlsStore, EveryCheckOfTheHandshakeHolds) {
  ASSERT_EQ(refusal(endpoint_, files_), "");
  ASSERT_NO_FATAL_FAILURE(make_ca(dir_, "other-ca"));
  EXPECT_THAT(refusal(endpoint_, {(dir_ / "other-ca.pem").string(), files_.client_cert, files_.client_key}),
              ::testing::HasSubstr("certificate verify failed"));
  // etcd's certificate is for 127.0.0.1, not for the name "localhost" (which resolves to it).
  EXPECT_THAT(refusal(fmt::format("https://localhost:{}", port_), files_), ::testing::HasSubstr("certificate verify failed"));
  EXPECT_THAT(refusal(endpoint_, {files_.ca_cert, "", ""}), ::testing::HasSubstr("no etcd endpoint answered"));
  // Plain HTTP to a TLS port: an error within the deadline, never a hang.
  EXPECT_THAT(refusal(fmt::format("http://127.0.0.1:{}", port_), {}), ::testing::HasSubstr("no etcd endpoint answered"));
}

}  // namespace
