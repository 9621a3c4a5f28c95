// The stubbed spank_* and slurm_* functions (spank_stub.hpp).
#include "spank_stub.hpp"

#include <cstdarg>
#include <cstring>

namespace slurmvm::test {
namespace {
SpankStub g_stub;
}  // namespace

SpankStub& spank_stub() { return g_stub; }
void reset_spank_stub() { g_stub = SpankStub{}; }
spank_t stub_handle() { return reinterpret_cast<spank_t>(&g_stub); }

}  // namespace slurmvm::test

using slurmvm::test::spank_stub;

extern "C" {

spank_err_t spank_getenv(spank_t, const char* var, char* buf, int len) {
  ++spank_stub().getenv_calls;
  const auto it = spank_stub().job_env.find(var);
  if (it == spank_stub().job_env.end()) return static_cast<spank_err_t>(ESPANK_ENV_NOEXIST);
  if (static_cast<int>(it->second.size()) + 1 > len) {
    std::memcpy(buf, it->second.data(), static_cast<std::size_t>(len - 1));
    buf[len - 1] = '\0';
    return static_cast<spank_err_t>(ESPANK_NOSPACE);
  }
  std::memcpy(buf, it->second.c_str(), it->second.size() + 1);
  return static_cast<spank_err_t>(ESPANK_SUCCESS);
}

spank_err_t spank_setenv(spank_t, const char* var, const char* val, int overwrite) {
  if (!overwrite && spank_stub().task_env.count(var)) return static_cast<spank_err_t>(ESPANK_ENV_EXISTS);
  spank_stub().task_env[var] = val;
  return static_cast<spank_err_t>(ESPANK_SUCCESS);
}

spank_err_t spank_unsetenv(spank_t, const char* var) {
  spank_stub().task_env.erase(var);
  spank_stub().task_env[std::string("unset:") + var] = "";
  return static_cast<spank_err_t>(ESPANK_SUCCESS);
}

spank_err_t spank_job_control_setenv(spank_t, const char* name, const char* value, int) {
  if (spank_stub().job_control_result != ESPANK_SUCCESS) return spank_stub().job_control_result;
  spank_stub().job_control_env[name] = value;
  return static_cast<spank_err_t>(ESPANK_SUCCESS);
}

spank_err_t spank_option_register(spank_t, struct spank_option* opt) {
  spank_stub().option = opt;
  return static_cast<spank_err_t>(ESPANK_SUCCESS);
}

const char* spank_strerror(spank_err_t err) { return err == ESPANK_SUCCESS ? "Success" : "stubbed failure"; }

spank_context_t spank_context(void) { return S_CTX_LOCAL; }

void slurm_info(const char*, ...) {}
void slurm_error(const char*, ...) {}
void slurm_debug(const char*, ...) {}
void slurm_spank_log(const char*, ...) {}

}  // extern "C"
