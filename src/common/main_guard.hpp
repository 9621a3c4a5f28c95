// The one place where exceptions stop (docs/design.md §4, errors): every program's main() runs its
// body through guarded_main(), so that an error becomes one logged line a person can act on
// and a documented exit code, and nothing escapes into the C runtime. The SPANK plugin has its
// own guard (src/spank/guard.hpp): there the C boundary is each entry point, not main().
#pragma once

#include <exception>
#include <optional>

#include "error.hpp"
#include "log.hpp"

namespace slurmvm {

// Runs body() and returns its exit code. An exception is logged and gives the documented code
// of its ErrorKind (docs/exit-codes.md), or `failure_code` when the program has its own
// contract for failures (the root helpers: Slurm reads any non-zero status as a node fault).
template <class Body>
int guarded_main(Body&& body, std::optional<int> failure_code = std::nullopt) noexcept {
  try {
    return body();
  } catch (const Error& e) {
    log_error("{}", e.what());
    return failure_code.value_or(exit_code_for(e.kind()));
  } catch (const std::exception& e) {
    log_error("internal error: {}", e.what());
  } catch (...) {
    log_error("internal error: unknown exception");
  }
  return failure_code.value_or(exit_code_for(ErrorKind::internal));
}

}  // namespace slurmvm
