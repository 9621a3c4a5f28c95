// Does a VM answer SSH yet? Connects to its node's reverse-NAT port and waits for the server's
// identification line ("SSH-2.0-...", RFC 4253 §4.2): cheaper than running ssh, and it proves
// the guest's sshd is up, not only that the port is forwarded.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "unique_fd.hpp"

namespace slurmvm::cli {

bool ssh_answers(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);

// A non-blocking TCP connection to host:port within `timeout`, or an empty fd with `error`
// (an errno value) set.
UniqueFd tcp_connect(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout, int& error);

}  // namespace slurmvm::cli
