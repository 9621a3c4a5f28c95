// Copies bytes both ways between the user's terminal (or pipes) and a socket: what `vm
// console` (QEMU's serial console socket) and `vm nc` (a VM's SSH through its node's reverse
// NAT, for ssh's ProxyCommand) do. One poll(2) loop, no threads.
#pragma once

#include <chrono>
#include <optional>

namespace slurmvm::cli {

struct RelayOptions {
  // A byte on `in` that ends the session instead of being sent (Ctrl-] = 0x1d for the console).
  std::optional<unsigned char> detach_key;
  // After `in` ends: keep copying the socket's bytes this long (a console answers late), or,
  // unset, until the peer closes (nc: ssh waits for the server's last bytes).
  std::optional<std::chrono::milliseconds> linger;
};

enum class RelayEnd { peer_closed, detached, input_ended };

// Until the socket closes, the detach key is typed, or `in` ends (and the linger time passed).
// Throws Error on an I/O error.
RelayEnd relay(int in, int out, int sock, const RelayOptions& options);

// Puts the terminal on `fd` in raw mode (no echo, no line editing, no signals from keys) and
// restores it when destroyed; does nothing when fd is not a terminal.
class RawTerminal {
 public:
  explicit RawTerminal(int fd);
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool active() const noexcept { return active_; }

 private:
  int fd_;
  bool active_ = false;
  alignas(8) unsigned char saved_[64];  // struct termios
};

}  // namespace slurmvm::cli
