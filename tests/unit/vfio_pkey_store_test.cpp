// The file store of partition keys (pkey_store.hpp) in a temporary directory: allocation per
// job, idempotent joins from a job's nodes, release when the last node leaves, exhaustion, a
// corrupt file's pkey never handed out again, and processes joining at the same moment.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "error.hpp"
#include "vfio/etcd_client.hpp"
#include "vfio/ib_guid.hpp"
#include "vfio/pkey_store.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace slurmvm;
using namespace slurmvm::vfio;
using ::testing::HasSubstr;

namespace {

constexpr PkeyRange kRange{0x2001, 0x2004};

class PkeyStoreTest : public ::testing::Test {
 protected:
  // The node's members: its host port and a VF for rank `rank`, from the pkey it is given.
  static auto members(std::uint64_t host, std::uint32_t rank) {
    return [=](std::uint16_t pkey) { return NodeMembers{{host}, {vf_port_guid(pkey, rank)}}; };
  }

  slurmvm::test::TempDir tmp_{"svm-pkeys"};
  fs::path root_ = tmp_.path();
};

}  // namespace

TEST_F(PkeyStoreTest, OnePkeyPerJobSharedByItsNodesAndReleasedByTheLast) {
  FilePkeyStore store(root_);
  EXPECT_EQ(store.join("ib", kRange, 42, "node1", members(0x11, 0)), 0x2001);
  EXPECT_EQ(store.join("ib", kRange, 43, "node1", members(0x11, 0)), 0x2002);
  EXPECT_EQ(store.join("ib", kRange, 42, "node2", members(0x22, 1)), 0x2001);
  EXPECT_EQ(store.join("ib", kRange, 42, "node2", members(0x22, 1)), 0x2001);  // a retried prolog
  auto all = store.list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].job, 42u);
  ASSERT_EQ(all[0].members.size(), 2u);
  EXPECT_EQ(all[0].members.at("node2").vf_guids.at(0), vf_port_guid(0x2001, 1));
  EXPECT_EQ(store.leave("ib", 42, "node1"), 0x2001);
  EXPECT_EQ(store.list().size(), 2u);  // node2 still holds VFs with GUIDs from 0x2001
  EXPECT_EQ(store.join("ib", kRange, 44, "node3", members(0x33, 0)), 0x2003);
  EXPECT_EQ(store.leave("ib", 42, "node2"), 0x2001);
  EXPECT_EQ(store.leave("ib", 42, "node2"), 0);  // a second epilog
  EXPECT_EQ(store.join("ib", kRange, 45, "node1", members(0x11, 0)), 0x2001);  // free again
  // Networks are apart: the same range on another network starts over.
  EXPECT_EQ(store.join("ib2", kRange, 45, "node1", members(0x11, 0)), 0x2001);
}

TEST_F(PkeyStoreTest, ExhaustionNamesTheNetworkAndTheRange) {
  FilePkeyStore store(root_);
  for (std::uint32_t job = 1; job <= 4; ++job) store.join("ib", kRange, job, "n", members(1, 0));
  try {
    store.join("ib", kRange, 5, "n", members(1, 0));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_THAT(e.what(), HasSubstr("network ib: every partition key of [0x2001, 0x2004] is held"));
  }
}

TEST_F(PkeyStoreTest, ACorruptFilesPkeyIsNeverHandedOutAgain) {
  FilePkeyStore store(root_);
  store.join("ib", kRange, 1, "n", members(1, 0));
  std::ofstream(root_ / "pkeys/ib/0x2001.json") << "{ torn";
  EXPECT_EQ(store.join("ib", kRange, 2, "n", members(1, 0)), 0x2002);
  EXPECT_EQ(store.list().size(), 1u);  // listed without the corrupt one
}

TEST_F(PkeyStoreTest, AllocationFilesRoundTrip) {
  const PkeyAllocation a{"ib", 0x2a3b, 77, {{"node1", {{0x11, 0x12}, {vf_port_guid(0x2a3b, 3)}}}, {"node2", {{}, {}}}}};
  const auto back = parse_allocation(to_text(a), "x");
  EXPECT_EQ(back.network, "ib");
  EXPECT_EQ(back.pkey, 0x2a3b);
  EXPECT_EQ(back.job, 77u);
  EXPECT_EQ(back.members, a.members);
  EXPECT_THROW(parse_allocation(R"({"network":"ib","pkey":"0x7fff","job":1,"members":{}})", "x"), Error);
  EXPECT_THROW(parse_allocation(R"({"network":"ib","pkey":"0x2001","job":1,"members":{"n":{"host":["zz"],"vfs":[]}}})", "x"),
               Error);
}

// Jobs whose nodes set up at the same moment: 6 jobs of 2 nodes each, 12 processes joining at
// once, get 6 distinct pkeys, each job one.
TEST_F(PkeyStoreTest, ConcurrentJoinsGetDistinctPkeysPerJob) {
  constexpr PkeyRange wide{0x0100, 0x01ff};
  std::vector<pid_t> children;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  for (std::uint32_t job = 1; job <= 6; ++job) {
    for (int node = 0; node < 2; ++node) {
      const pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        ::close(go[1]);
        char c;
        if (::read(go[0], &c, 1) < 0) ::_exit(2);  // all start together (EOF)
        try {
          FilePkeyStore(root_).join("ib", wide, job, "node" + std::to_string(node), members(0x10 + node, 0));
          ::_exit(0);
        } catch (...) {
          ::_exit(1);
        }
      }
      children.push_back(pid);
    }
  }
  ::close(go[0]);
  ::close(go[1]);  // EOF: go
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const auto all = FilePkeyStore(root_).list();
  ASSERT_EQ(all.size(), 6u);
  std::set<std::uint32_t> jobs;
  for (const auto& a : all) {
    jobs.insert(a.job);
    EXPECT_EQ(a.members.size(), 2u) << "job " << a.job;
  }
  EXPECT_EQ(jobs.size(), 6u);
}

// The pure parts of the etcd client: range ends, HTTP answers, endpoints.
TEST(EtcdClient, PrefixEndsAndAnswers) {
  EXPECT_EQ(prefix_end("/slurm-vm/pkeys/ib/0x2001"), "/slurm-vm/pkeys/ib/0x2002");
  EXPECT_EQ(prefix_end("/a/"), "/a0");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_end(std::string("\xff", 1)), "");
  const auto [status, j] = parse_http_json_response("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"count\":\"1\"}");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(j.at("count"), "1");
  EXPECT_THROW(parse_http_json_response("HTTP/1.0 200 OK\r\n\r\nnot json"), Error);
  EXPECT_THROW(parse_http_json_response("SSH-2.0-OpenSSH"), Error);
  EXPECT_EQ(parse_etcd_endpoint("http://etcd1:2379/").host, "etcd1");
  EXPECT_EQ(parse_etcd_endpoint("http://[::1]:2379").host, "::1");
  EXPECT_FALSE(parse_etcd_endpoint("http://etcd1:2379/").tls);
  EXPECT_TRUE(parse_etcd_endpoint("https://etcd1:2379").tls);
  EXPECT_EQ(parse_etcd_endpoint("https://10.0.0.2:2379").port, "2379");
  EXPECT_THROW(parse_etcd_endpoint("ftp://etcd1:2379"), Error);
  EXPECT_THROW(parse_etcd_endpoint("https://etcd1"), Error);
  // Certificates with only http:// endpoints: the site meant TLS, so it is refused, not ignored.
  EXPECT_THROW(EtcdClient({"http://etcd1:2379"}, std::chrono::seconds(1), {"/etc/ca.pem", "", ""}), Error);
  // A CA file that does not load is named.
  try {
    EtcdClient({"https://etcd1:2379"}, std::chrono::seconds(1), {"/nonexistent/ca.pem", "", ""});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_NE(std::string(e.what()).find("ca-cert /nonexistent/ca.pem"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_etcd_endpoint("http://etcd1"), Error);
  EXPECT_THROW(parse_etcd_endpoint("http://etcd1:2379/v3"), Error);
}
