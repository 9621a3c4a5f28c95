// Host names to addresses within a deadline (resolve.hpp).
#include "resolve.hpp"

#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "error.hpp"

using namespace std::chrono_literals;

namespace slurmvm {
namespace {

std::string shown(const ResolveRequest& r) { return r.service.empty() ? r.host : r.host + ":" + r.service; }

}  // namespace

std::vector<AddrinfoList> resolve_all(const std::vector<ResolveRequest>& requests, Deadline deadline) {
  std::vector<AddrinfoList> out;
  out.reserve(requests.size());
  // The lookups handed to glibc: heap-allocated, since one still running at the deadline keeps
  // using its request (gai_cancel cannot stop a lookup already started).
  struct Pending {
    ResolveRequest req;
    addrinfo hints{};
    gaicb cb{};
    std::size_t index = 0;
  };
  std::vector<Pending*> pending;
  std::vector<addrinfo*> results(requests.size(), nullptr);
  auto release = [&](bool abandon_running) {
    for (auto* p : pending) {
      if (abandon_running && ::gai_error(&p->cb) == EAI_INPROGRESS) continue;  // glibc's now
      if (p->cb.ar_result != nullptr && results[p->index] != p->cb.ar_result) ::freeaddrinfo(p->cb.ar_result);
      delete p;
    }
    pending.clear();
  };
  auto free_results = [&] {
    for (auto*& r : results) {
      if (r != nullptr) ::freeaddrinfo(r);
      r = nullptr;
    }
  };
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    addrinfo hints{};
    hints.ai_family = r.family;
    hints.ai_socktype = r.socktype;
    hints.ai_flags = AI_NUMERICHOST;
    const char* service = r.service.empty() ? nullptr : r.service.c_str();
    addrinfo* res = nullptr;
    if (const int rc = ::getaddrinfo(r.host.c_str(), service, &hints, &res); rc == 0) {
      results[i] = res;
      continue;
    } else if (rc != EAI_NONAME) {
      free_results();
      throw Error(fmt::format("cannot resolve {}: {}", shown(r), ::gai_strerror(rc)), ErrorKind::system);
    }
    auto* p = new Pending{r, {}, {}, i};
    p->hints.ai_family = r.family;
    p->hints.ai_socktype = r.socktype;
    p->cb.ar_name = p->req.host.c_str();
    p->cb.ar_service = p->req.service.empty() ? nullptr : p->req.service.c_str();
    p->cb.ar_request = &p->hints;
    pending.push_back(p);
  }
  if (!pending.empty()) {
    std::vector<gaicb*> list;
    for (auto* p : pending) list.push_back(&p->cb);
    if (const int rc = ::getaddrinfo_a(GAI_NOWAIT, list.data(), static_cast<int>(list.size()), nullptr); rc != 0) {
      release(false);
      free_results();
      throw Error(fmt::format("getaddrinfo_a: {}", ::gai_strerror(rc)), ErrorKind::system);
    }
    for (;;) {
      std::vector<std::string> running;
      for (auto* p : pending) {
        if (::gai_error(&p->cb) == EAI_INPROGRESS) running.push_back(shown(p->req));
      }
      if (running.empty()) break;
      if (expired(deadline)) {
        for (auto* p : pending) ::gai_cancel(&p->cb);
        release(true);
        free_results();
        throw Error(fmt::format("resolving {} did not finish in time (a DNS server that does not answer?)",
                                fmt::join(running, ", ")),
                    ErrorKind::timeout);
      }
      std::this_thread::sleep_for(2ms);
    }
    for (auto* p : pending) {
      const int rc = ::gai_error(&p->cb);
      if (rc != 0 || p->cb.ar_result == nullptr) {
        const std::string what = fmt::format("cannot resolve {}: {}", shown(p->req), ::gai_strerror(rc));
        release(false);
        free_results();
        throw Error(what, ErrorKind::system);
      }
      results[p->index] = p->cb.ar_result;
    }
    release(false);
  }
  for (auto* r : results) out.emplace_back(r, ::freeaddrinfo);
  return out;
}

}  // namespace slurmvm
