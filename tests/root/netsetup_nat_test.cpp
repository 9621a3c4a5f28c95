// The nftables batch applied in-process (libnftables, nat.cpp) against the real kernel, inside a
// throw-away network namespace (node_sandbox.hpp): the table appears with the job's rules, a
// batch the kernel refuses changes nothing and says why, the last job's removal deletes the
// table; the listening ports reverse NAT avoids, from sock_diag; the connections a port's
// previous VM kept, forgotten at the rebuild that gives the port to another. Skipped without root.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <utility>

#include "file_read.hpp"
#include "netsetup/conntrack.hpp"
#include "netsetup/nat.hpp"
#include "netsetup/nftables_netlink.hpp"
#include "netsetup/rtnl.hpp"
#include "netsetup/sock_diag.hpp"
#include "node_sandbox.hpp"
#include "unique_fd.hpp"

using namespace slurmvm::netsetup;
using namespace slurmvm::test;
using slurmvm::Error;

namespace {
// The ip table as `nft` prints it inside the namespace, "" when there is none.
std::string listed_table(const TestNetns& ns) {
  const auto r = run_argv({"/usr/sbin/ip", "netns", "exec", ns.name(), "/usr/sbin/nft", "list", "table", "ip", "slurm_vm"});
  return r.exit_code == 0 ? r.out : "";
}
}  // namespace

TEST(NetsetupNat, ABatchReplacesTheTableAndARefusedOneChangesNothing) {
  SKIP_UNLESS_ROOT();
  TestNetns ns;
  const std::vector<NatRule> rules = {{7, 0, 40022, 0x0afb0002, 22}};
  {
    EnterNetns in(ns.name());
    apply_nat_batch(nat_table_batch(rules, 1));
  }
  const std::string table = listed_table(ns);
  EXPECT_NE(table.find("40022"), std::string::npos) << table;
  EXPECT_NE(table.find("dnat"), std::string::npos) << table;

  {
    EnterNetns in(ns.name());
    // A good table then a bad rule in one batch: all or nothing, and nft's own diagnosis.
    const std::string bad = nat_table_batch({{8, 0, 40023, 0x0afb0003, 22}}, 2) +
                            "add rule ip slurm_vm no_such_chain accept\n";
    try {
      apply_nat_batch(bad);
      ADD_FAILURE() << "a batch with a rule in a missing chain was applied";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("replacing nftables table ip slurm_vm"), std::string::npos) << what;
      // nft 1.0.6 points its caret at the wrong line of the batch, but names the refusal.
      EXPECT_NE(what.find("Could not process rule: No such file or directory"), std::string::npos) << what;
    }
  }
  EXPECT_EQ(listed_table(ns), table) << "a refused batch changed the table";

  {
    EnterNetns in(ns.name());
    apply_nat_batch(nat_table_batch({}, 0));  // the node's last job gone
  }
  EXPECT_EQ(listed_table(ns), "");
}

// The last VM job gone: both tables, rules and all, deleted by the four netlink messages of
// nftables_netlink.hpp, without libnftables; again with nothing left, still a success.
TEST(NetsetupNat, TheLastJobsTablesGoOverNetlink) {
  SKIP_UNLESS_ROOT();
  TestNetns ns;
  NodeTable full;
  full.vm_jobs = 1;
  full.reverse_nat.push_back({7, 0, 40022, 0x0afb0002, 22});
  full.owners.push_back({7, 1000});
  full.bridged.push_back({7, 0, "svm7.0", {0x42, 0, 0, 0, 0, 7}, true});
  {
    EnterNetns in(ns.name());
    apply_nat_table(full);
  }
  auto listed = [&](const char* family) {
    const auto r = run_argv({"/usr/sbin/ip", "netns", "exec", ns.name(), "/usr/sbin/nft", "list", "table", family, "slurm_vm"});
    return r.exit_code == 0 ? r.out : "";
  };
  EXPECT_NE(listed("ip").find("meta skuid { 0, 1000 }"), std::string::npos) << listed("ip");
  EXPECT_NE(listed("bridge").find("svm7.0"), std::string::npos) << listed("bridge");
  {
    EnterNetns in(ns.name());
    apply_nat_table(NodeTable{});
  }
  EXPECT_EQ(listed("ip"), "");
  EXPECT_EQ(listed("bridge"), "");
  {
    EnterNetns in(ns.name());
    EXPECT_NO_THROW(apply_nat_table(NodeTable{}));
  }
  const auto ruleset = run_argv({"/usr/sbin/ip", "netns", "exec", ns.name(), "/usr/sbin/nft", "list", "ruleset"});
  EXPECT_EQ(ruleset.out, "");

  // A batch the kernel refuses (a table name longer than NFT_TABLE_MAXNAMELEN) is an Error
  // with the kernel's errno, read from its acknowledgement, and changes nothing.
  {
    EnterNetns in(ns.name());
    apply_nat_table(full);
    try {
      delete_nft_tables(std::string(300, 'x'));
      ADD_FAILURE() << "the kernel accepted a 300-character table name";
    } catch (const Error& e) {
      EXPECT_EQ(e.errnum(), ERANGE) << e.what();
    }
  }
  EXPECT_NE(listed("ip").find("meta skuid { 0, 1000 }"), std::string::npos) << listed("ip");
}

// The ports reverse NAT must not hand out: every listening TCP socket of the namespace, IPv4
// and IPv6, asked of sock_diag; not a connected socket's port, not another namespace's
// listener; the same set /proc/net/tcp{,6} shows.
TEST(NetsetupNat, ListeningPortsComeFromSockDiag) {
  SKIP_UNLESS_ROOT();
  // A listener outside the namespace, which must not appear in it.
  slurmvm::UniqueFd outside(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(outside);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(outside.get(), reinterpret_cast<sockaddr*>(&any), sizeof any), 0);
  ASSERT_EQ(::listen(outside.get(), 1), 0);
  socklen_t len = sizeof any;
  ASSERT_EQ(::getsockname(outside.get(), reinterpret_cast<sockaddr*>(&any), &len), 0);
  const std::uint16_t outside_port = ntohs(any.sin_port);

  TestNetns ns;
  EnterNetns in(ns.name());
  ASSERT_EQ(run_argv({"/usr/sbin/ip", "link", "set", "lo", "up"}).exit_code, 0);
  auto listen_on = [](int family) {
    slurmvm::UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_storage a{};
    a.ss_family = static_cast<sa_family_t>(family);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)), 0);
    EXPECT_EQ(::listen(fd.get(), 1), 0);
    socklen_t n = sizeof a;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &n);
    const std::uint16_t port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&a)->sin_port
                                                       : reinterpret_cast<sockaddr_in6*>(&a)->sin6_port);
    return std::pair{std::move(fd), port};
  };
  auto [v4, v4_port] = listen_on(AF_INET);
  auto [v6, v6_port] = listen_on(AF_INET6);
  // A connection to the IPv4 listener: its client's port is not a listening one.
  slurmvm::UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(v4_port);
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  sockaddr_in mine{};
  len = sizeof mine;
  ASSERT_EQ(::getsockname(client.get(), reinterpret_cast<sockaddr*>(&mine), &len), 0);

  // sock_diag itself answers (no fallback to /proc hides a broken request)...
  EXPECT_EQ(sock_diag_listening_ports(AF_INET), (std::set<std::uint16_t>{v4_port}));
  EXPECT_EQ(sock_diag_listening_ports(AF_INET6), (std::set<std::uint16_t>{v6_port}));
  // ...and the union is what the prolog uses.
  const auto ports = listening_tcp_ports();
  EXPECT_EQ(ports, (std::set<std::uint16_t>{v4_port, v6_port}));
  EXPECT_EQ(ports.count(ntohs(mine.sin_port)), 0U);
  EXPECT_EQ(ports.count(outside_port), 0U);
  std::set<std::uint16_t> proc;
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    const auto text = slurmvm::read_file_if_exists(file);
    ASSERT_TRUE(text) << file;
    const auto p = parse_listening_ports(*text);
    proc.insert(p.begin(), p.end());
  }
  EXPECT_EQ(ports, proc);
}

// A host port that goes to another VM takes its connections along (conntrack.hpp): a SYN to
// the node's port 40022, DNATed to 10.251.0.2:22 and never answered, leaves a conntrack entry
// that would send the next connection from the same source port there too. Once the table
// sends 40022 to 10.251.0.3, the rebuild deletes that entry; the new VM's own are kept.
TEST(NetsetupNat, ARebuildForgetsConnectionsSentToAPortsPreviousVm) {
  SKIP_UNLESS_ROOT();
  TestNetns ns;
  EnterNetns in(ns.name());
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"/usr/sbin/ip", "link", "set", "lo", "up"},
           {"/usr/sbin/ip", "link", "add", "svmt0", "type", "veth", "peer", "name", "svmt1"},
           {"/usr/sbin/ip", "addr", "add", "10.99.0.1/24", "dev", "svmt0"},     // the node
           {"/usr/sbin/ip", "addr", "add", "10.251.0.1/24", "dev", "svmt1"},    // a job's gateway
           {"/usr/sbin/ip", "link", "set", "svmt0", "up"},
           {"/usr/sbin/ip", "link", "set", "svmt1", "up"},
           {"/usr/sbin/ip", "neigh", "add", "10.251.0.2", "lladdr", "02:00:00:00:00:02", "dev", "svmt1"},
           {"/usr/sbin/ip", "neigh", "add", "10.251.0.3", "lladdr", "02:00:00:00:00:03", "dev", "svmt1"}}) {
    ASSERT_EQ(run_argv(argv).exit_code, 0) << argv[1] << " " << argv[2];
  }
  NodeTable table;
  table.vm_jobs = 1;
  table.reverse_nat.push_back({7, 0, 40022, 0x0afb0002, 22});
  apply_nat_table(table);
  // A connection attempt from the node to its own port: DNATed by the output chain, sent out
  // of the gateway, never answered (SYN_SENT, 120 s).
  auto syn_to_port = [] {
    slurmvm::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(40022);
    a.sin_addr.s_addr = htonl(0x0a630001);
    const int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    EXPECT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
    ::usleep(100 * 1000);  // the SYN leaves: its entry is confirmed
    return fd;             // open: the entry stays as it is
  };
  auto to_vm = [](std::uint32_t vm) {
    nfgenmsg g{};
    g.nfgen_family = AF_INET;
    std::size_t n = 0;
    for (const auto& c : parse_nat_connections(netlink_dump(NETLINK_NETFILTER, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, &g, sizeof g))) {
      if (c.orig_dport == 40022 && c.reply_src == vm) ++n;
    }
    return n;
  };
  const auto old_connection = syn_to_port();
  ASSERT_EQ(to_vm(0x0afb0002), 1u) << "no conntrack entry for the SYN to port 40022";
  // A rebuild that changes nothing for the port keeps it.
  apply_nat_table(table);
  EXPECT_EQ(to_vm(0x0afb0002), 1u);
  // The port goes to another VM: the old entry is forgotten; the new VM's are kept.
  table.reverse_nat = {{8, 0, 40022, 0x0afb0003, 22}};
  apply_nat_table(table);
  EXPECT_EQ(to_vm(0x0afb0002), 0u);
  const auto new_connection = syn_to_port();
  EXPECT_EQ(to_vm(0x0afb0003), 1u);
  apply_nat_table(table);
  EXPECT_EQ(to_vm(0x0afb0003), 1u);
  EXPECT_EQ(forget_stale_nat_connections(table.reverse_nat), 0u);
}
