// Node names to IPv4 addresses with one deadline (resolve_nodes.hpp).
#include "netsetup/resolve_nodes.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <thread>

#include <fmt/format.h>

#include "error.hpp"

using namespace std::chrono_literals;

namespace slurmvm::netsetup {

std::map<std::string, std::uint32_t> resolve_nodes(const std::vector<std::string>& names,
                                                   std::chrono::milliseconds timeout) {
  std::map<std::string, std::uint32_t> out;
  if (names.empty()) return out;
  struct Request {
    std::string name;
    addrinfo hints{};
    gaicb cb{};
  };
  // Requests still running at the deadline belong to glibc's resolver thread: they are
  // released on purpose (the process ends soon after).
  auto* reqs = new std::vector<Request>(names.size());
  std::vector<gaicb*> list;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto& r = (*reqs)[i];
    r.name = names[i];
    r.hints.ai_family = AF_INET;
    r.hints.ai_socktype = SOCK_DGRAM;
    r.cb.ar_name = r.name.c_str();
    r.cb.ar_request = &r.hints;
    list.push_back(&r.cb);
  }
  if (const int rc = ::getaddrinfo_a(GAI_NOWAIT, list.data(), static_cast<int>(list.size()), nullptr);
      rc != 0) {
    delete reqs;
    throw Error(fmt::format("getaddrinfo_a: {}", ::gai_strerror(rc)), ErrorKind::system);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool pending = false;
    for (auto* cb : list) pending = pending || ::gai_error(cb) == EAI_INPROGRESS;
    if (!pending) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      for (auto* cb : list) ::gai_cancel(cb);
      throw Error(fmt::format("resolving the job's node names took longer than {} ms",
                              timeout.count()),
                  ErrorKind::timeout);
    }
    std::this_thread::sleep_for(5ms);
  }
  try {
    for (auto& r : *reqs) {
      const int rc = ::gai_error(&r.cb);
      if (rc != 0 || r.cb.ar_result == nullptr) {
        throw Error(fmt::format("cannot resolve node {} to an IPv4 address: {}", r.name,
                                ::gai_strerror(rc)),
                    ErrorKind::system);
      }
      const auto* sin = reinterpret_cast<const sockaddr_in*>(r.cb.ar_result->ai_addr);
      out[r.name] = ntohl(sin->sin_addr.s_addr);
    }
  } catch (...) {
    for (auto& r : *reqs) if (r.cb.ar_result) ::freeaddrinfo(r.cb.ar_result);
    delete reqs;
    throw;
  }
  for (auto& r : *reqs) if (r.cb.ar_result) ::freeaddrinfo(r.cb.ar_result);
  delete reqs;
  return out;
}

}  // namespace slurmvm::netsetup
