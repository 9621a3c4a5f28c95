// Exceptions never cross into Slurm (docs/design.md §4): every function Slurm calls (the SPANK
// entry points, the option callback) runs its body through guarded().
#pragma once

#include <exception>

#include "error.hpp"
#include "slurm_spank.hpp"

namespace slurmvm::spank {

// Returns body()'s result, or -1 (SPANK's failure) after reporting the exception once with
// slurm_error. That message reaches the user's terminal in srun/sbatch/salloc and slurmd's
// log elsewhere. The report itself allocates nothing, so it cannot throw again.
template <class F>
int guarded(const char* callback, F&& body) noexcept {
  try {
    return body();
  } catch (const Error& e) {
    slurm_error("spank_vm: %s", e.what());
  } catch (const std::exception& e) {
    slurm_error("spank_vm: %s: internal error: %s", callback, e.what());
  } catch (...) {
    slurm_error("spank_vm: %s: internal error: unknown exception", callback);
  }
  return -1;
}

}  // namespace slurmvm::spank
