// Node names to IPv4 addresses with one deadline (resolve_nodes.hpp).
#include "netsetup/resolve_nodes.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include "error.hpp"
#include "resolve.hpp"

namespace slurmvm::netsetup {

std::map<std::string, std::uint32_t> resolve_nodes(const std::vector<std::string>& names,
                                                   std::chrono::milliseconds timeout) {
  std::map<std::string, std::uint32_t> out;
  if (names.empty()) return out;
  std::vector<ResolveRequest> requests;
  for (const auto& n : names) requests.push_back({n, "", AF_INET, SOCK_DGRAM});
  try {
    const auto lists = resolve_all(requests, deadline_in(timeout));
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(lists[i]->ai_addr);
      out[names[i]] = ntohl(sin->sin_addr.s_addr);
    }
  } catch (const Error& e) {
    throw Error(fmt::format("the job's node addresses: {}", e.what()), e.kind());
  }
  return out;
}

}  // namespace slurmvm::netsetup
