// Name lookups within a deadline (common resolve.hpp) against a DNS server that never answers:
// a child process with a network namespace of its own (only loopback) and a mount namespace
// whose /etc/resolv.conf names 127.0.0.1, where a UDP socket takes the queries and says
// nothing. glibc's getaddrinfo would wait for resolv.conf's timeouts and attempts; the prolog
// resolving the job's nodes and the etcd client resolving an endpoint must give up at their
// deadline with an error that says so. An IP literal needs no resolver at all.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <net/if.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

#include "error.hpp"
#include "netsetup/resolve_nodes.hpp"
#include "resolve.hpp"
#include "unique_fd.hpp"
#include "vfio/etcd_client.hpp"

using namespace slurmvm;
using namespace std::chrono_literals;

namespace {

// Runs `body` in a child with its own network and mount namespaces and a silent DNS server;
// the child's exit status: 0 when `body` returned true, 1 when false, 2 when the namespace
// could not be made.
int in_silent_dns_namespace(const std::function<bool()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) ::_exit(2);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(2);
    // Loopback up (SIOCSIFFLAGS: no `ip` needed).
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) ::_exit(2);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) ::_exit(2);
    // The DNS server that never answers.
    UniqueFd dns(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(53);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(dns.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ::_exit(2);
    char conf[] = "/tmp/svm-resolv-XXXXXX";
    const int fd = ::mkstemp(conf);
    if (fd < 0) ::_exit(2);
    const std::string text = "nameserver 127.0.0.1\noptions timeout:5 attempts:3\n";
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) ::_exit(2);
    ::close(fd);
    const bool bound = ::mount(conf, "/etc/resolv.conf", nullptr, MS_BIND, nullptr) == 0;
    ::unlink(conf);
    if (!bound) ::_exit(2);
    ::_exit(body() ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

// `f` throws Error(timeout) within [deadline, deadline + slack].
bool times_out_in_time(const std::function<void()>& f, std::chrono::milliseconds deadline) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    f();
    std::fprintf(stderr, "no error\n");
    return false;
  } catch (const Error& e) {
    const auto took = std::chrono::steady_clock::now() - t0;
    std::fprintf(stderr, "%s (after %lld ms)\n", e.what(),
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
    return e.kind() == ErrorKind::timeout && took >= deadline && took < deadline + 1500ms;
  }
}

class ResolveDeadline : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces)";
  }
};

TEST_F(ResolveDeadline, ASilentDnsServerEndsAtTheDeadline) {
  EXPECT_EQ(in_silent_dns_namespace([] {
              return times_out_in_time(
                  [] { resolve_all({{"svm-nowhere.test", "2379", AF_UNSPEC, SOCK_STREAM}}, deadline_in(400ms)); },
                  400ms);
            }),
            0);
}

TEST_F(ResolveDeadline, ThePrologsNodeLookupEndsAtItsTimeout) {
  EXPECT_EQ(in_silent_dns_namespace([] {
              return times_out_in_time([] { netsetup::resolve_nodes({"svm-node1.test", "svm-node2.test"}, 400ms); },
                                       400ms);
            }),
            0);
}

// The etcd client (the pkey store of the prolog, the epilog and vm-pkeyd) names the endpoint
// and gives up within its request timeout.
TEST_F(ResolveDeadline, AnEtcdEndpointByNameEndsWithinTheRequestTimeout) {
  EXPECT_EQ(in_silent_dns_namespace([] {
              const auto t0 = std::chrono::steady_clock::now();
              try {
                vfio::EtcdClient({"http://svm-etcd.test:2379"}, 400ms).range_prefix("/");
                return false;
              } catch (const Error& e) {
                const auto took = std::chrono::steady_clock::now() - t0;
                std::fprintf(stderr, "%s\n", e.what());
                return std::string(e.what()).find("svm-etcd.test:2379") != std::string::npos &&
                       std::string(e.what()).find("did not finish in time") != std::string::npos && took < 1900ms;
              }
            }),
            0);
}

// A literal resolves at once, even with the silent server: no lookup is made.
TEST_F(ResolveDeadline, AnIpLiteralNeedsNoResolver) {
  EXPECT_EQ(in_silent_dns_namespace([] {
              const auto lists = resolve_all({{"127.0.0.1", "2379", AF_UNSPEC, SOCK_STREAM}, {"::1", "", AF_UNSPEC, SOCK_STREAM}},
                                             deadline_in(1ms));
              return lists.size() == 2 && lists[0]->ai_family == AF_INET && lists[1]->ai_family == AF_INET6;
            }),
            0);
}

}  // namespace
