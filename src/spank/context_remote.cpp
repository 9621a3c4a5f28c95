// slurmstepd (remote context), as root, once per job step before its tasks start: tells the
// tasks which virtual cluster they belong to (SLURM_VM_TEMPLATE, canonical; vm-launch reads
// it). Job-control variables do not reach step environments, so this is the only way.
//
// The value is the user's. It is parsed again, since a user can bypass the check at
// submission (another plugstack.conf, or Slurm's own _SLURM_SPANK_OPTION_ variable), but no
// file is read: this process is root, and a user's files are opened as the user only
// (docs/design.md §5). The extern step gets no option and no user environment: nothing to do.
//
// Nothing here fails the step. A failed init_post_opt in a batch step drains the node
// ("batch job complete failure", measured on 22.05), which would let any user drain nodes
// with a bad value. Instead the error goes to the node's log and the tasks get no
// SLURM_VM_TEMPLATE at all: vm-launch has no VM to start, and only this job fails.
#include <fmt/format.h>

#include <cstring>

#include "contexts.hpp"
#include "definition.hpp"
#include "error.hpp"
#include "log.hpp"
#include "options.hpp"

namespace slurmvm::spank {
namespace {

// A definition of kMaxVmsPerCluster one-VM groups with long names still fits.
constexpr std::size_t kMaxValue = 1 << 20;

// A variable of the job's environment (spank_getenv copies into a buffer of ours).
std::optional<std::string> job_getenv(spank_t sp, const char* name) {
  std::string buf(256, '\0');
  for (;;) {
    const spank_err_t rc = spank_getenv(sp, name, buf.data(), static_cast<int>(buf.size()));
    if (rc == ESPANK_SUCCESS) {
      buf.resize(std::strlen(buf.c_str()));
      return buf;
    }
    if (rc == ESPANK_ENV_NOEXIST) return std::nullopt;
    if (rc == ESPANK_NOSPACE && buf.size() < kMaxValue) {
      buf.resize(buf.size() * 8);
      continue;
    }
    throw Error(
        fmt::format("cannot read {} from the job's environment: {}", name, spank_strerror(rc)));
  }
}

}  // namespace

int remote_init_post_opt(spank_t sp) {
  try {
    const auto request = requested_definition(option_value(), job_getenv(sp, kEnvVar));
    if (!request) return 0;
    const std::string canonical = parse_definition(*request).to_string();
    if (const spank_err_t rc = spank_setenv(sp, kEnvVar, canonical.c_str(), 1);
        rc != ESPANK_SUCCESS) {
      throw Error(
          fmt::format("cannot set {} for the job's tasks: {}", kEnvVar, spank_strerror(rc)));
    }
    log_debug("{}: the step's tasks get {}={}", request->source, kEnvVar, canonical);
  } catch (const Error& e) {
    log_error("{}; the job's tasks get no {}", e.what(), kEnvVar);
    spank_unsetenv(sp, kEnvVar);
  }
  return 0;
}

}  // namespace slurmvm::spank
