// A stand-in for the host process of the SPANK plugin (srun, sbatch, slurmstepd): the spank_*
// calls the plugin's contexts make, backed by maps a test fills and reads. Only for
// tests/spank/*_test.cpp, which link the contexts' sources with spank_stub.cpp instead of Slurm.
#pragma once

#include <map>
#include <string>

#include "slurm_spank.hpp"

namespace slurmvm::test {

struct SpankStub {
  std::map<std::string, std::string> job_env;          // what spank_getenv reads (remote context)
  std::map<std::string, std::string> task_env;         // what spank_setenv/unsetenv changed
  std::map<std::string, std::string> job_control_env;  // spank_job_control_setenv (prefix left out)
  spank_option* option = nullptr;                      // what spank_option_register was given
  int getenv_calls = 0;
  spank_err_t job_control_result = static_cast<spank_err_t>(ESPANK_SUCCESS);

  // As Slurm does for `--vm-template=VALUE`: calls the registered option's callback.
  void give_option(const char* value, int remote) const { option->cb(option->val, value, remote); }
};

// The one stub the stubbed functions act on; reset() between tests.
SpankStub& spank_stub();
void reset_spank_stub();

// A spank_t for the calls (the stub ignores it).
spank_t stub_handle();

}  // namespace slurmvm::test
