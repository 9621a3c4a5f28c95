// slurm-vm's log through Slurm's (slurm_log_sink.hpp).
#include "slurm_log_sink.hpp"

#include <string>
#include <string_view>

#include "log.hpp"
#include "slurm_spank.hpp"

namespace slurmvm::spank {
namespace {

void to_slurm(LogLevel level, std::string_view raw) {
  // The option value is the user's: no forged slurmd log lines (log.hpp, escape_for_log).
  const std::string message = escape_for_log(raw);
  const int n = static_cast<int>(message.size());
  const char* m = message.data();
  switch (level) {
    case LogLevel::error:
      slurm_error("spank_vm: %.*s", n, m);
      break;
    case LogLevel::warning:
      // spank.h: slurm_info() from slurmstepd only reaches the node's log; slurm_spank_log()
      // (spank(7)) prints at error level without "error: ", so warnings reach the user too.
      slurm_spank_log("spank_vm: warning: %.*s", n, m);
      break;
    case LogLevel::info:
      slurm_info("spank_vm: %.*s", n, m);
      break;
    case LogLevel::debug:
      slurm_debug("spank_vm: %.*s", n, m);
      break;
  }
}

}  // namespace

void install_slurm_log_sink() {
  set_log_sink(to_slurm);
  // Pass everything on: Slurm decides what to print from its own verbosity.
  set_log_level(LogLevel::debug);
}

}  // namespace slurmvm::spank
