// Host names to addresses within a deadline. getaddrinfo(3) has no timeout: a resolver that
// does not answer would hang a root helper (the prolog resolving the job's nodes, the etcd
// client its endpoints) for as long as resolv.conf's retries last, or forever. Names are
// looked up at once with getaddrinfo_a(3) and waited for until the deadline; an IP literal is
// parsed on the spot, without a resolver thread.
#pragma once

#include <netdb.h>

#include <memory>
#include <string>
#include <vector>

#include "deadline.hpp"

namespace slurmvm {

using AddrinfoList = std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)>;

struct ResolveRequest {
  std::string host;
  std::string service;  // a port number, or empty
  int family = AF_UNSPEC;
  int socktype = SOCK_STREAM;
};

// One list per request, in order (never empty). Error(system) naming the first name that does
// not resolve; Error(timeout) past the deadline, naming the names still pending. Lookups still
// running at the deadline are cancelled; glibc may keep their memory until they end.
std::vector<AddrinfoList> resolve_all(const std::vector<ResolveRequest>& requests, Deadline deadline);

}  // namespace slurmvm
