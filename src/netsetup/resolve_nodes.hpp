// The IPv4 addresses of a job's other nodes (vm-prolog step 5), all looked up at once with one
// deadline (common resolve.hpp): a hung resolver must not hang the prolog.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace slurmvm::netsetup {

// name -> address (host byte order). Throws Error(system) naming a name that does not resolve,
// Error(timeout) past the deadline.
std::map<std::string, std::uint32_t> resolve_nodes(const std::vector<std::string>& names,
                                                   std::chrono::milliseconds timeout);

}  // namespace slurmvm::netsetup
