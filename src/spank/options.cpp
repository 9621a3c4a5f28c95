// --vm-template=DEF (options.hpp).
#include "options.hpp"

#include <fmt/format.h>

#include "error.hpp"
#include "guard.hpp"

namespace slurmvm::spank {
namespace {

std::optional<std::string> g_value;

// Slurm may call this several times for one process: sbatch for the #SBATCH line and then
// for the command line (the last value wins, as for sbatch's own options), and slurmstepd
// twice for an srun step (from the launch message, then from the job's environment). So it
// only stores the value. Checking waits for init_post_opt, when the final value, or the
// SLURM_VM_TEMPLATE fallback when there is none, is known.
int on_vm_template(int /*val*/, const char* optarg, int /*remote*/) {
  return guarded("--vm-template", [&] {
    g_value = optarg != nullptr ? optarg : "";
    return 0;
  });
}

// struct spank_option wants char*; Slurm copies the strings when the option is registered.
char g_name[] = "vm-template";
char g_arginfo[] = "DEF";
char g_usage[] =
    "[slurm-vm] Run the job as a virtual cluster, one VM per task: DEF is "
    "TEMPLATE[:COUNT[:c=CPUS]][,...], e.g. master:1,compute:4 (`vm template list`). "
    "Default: $SLURM_VM_TEMPLATE.";
spank_option g_option = {g_name, g_arginfo, g_usage, 1, 0, on_vm_template};

}  // namespace

void register_options(spank_t sp) {
  if (const spank_err_t rc = spank_option_register(sp, &g_option); rc != ESPANK_SUCCESS) {
    throw Error(fmt::format("cannot register --{}: {}", g_name, spank_strerror(rc)));
  }
}

const std::optional<std::string>& option_value() noexcept { return g_value; }

void clear_option_value() noexcept { g_value.reset(); }

}  // namespace slurmvm::spank
