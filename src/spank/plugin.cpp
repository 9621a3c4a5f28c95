// spank_vm.so: the SPANK entry points, and only them. Each runs its body through guarded()
// (no exception reaches Slurm) and sends the work to the file of the current context
// (contexts.hpp). Callbacks it does not define cost nothing: Slurm skips them.
#include <cstdlib>
#include <string_view>
#include <vector>

#include "contexts.hpp"
#include "guard.hpp"
#include "options.hpp"
#include "plugin_args.hpp"
#include "slurm_log_sink.hpp"
#include "slurm_spank.hpp"

// SPANK_PLUGIN() defines const arrays, and a const object at namespace scope has internal
// linkage in C++: without these extern "C" declarations the symbols are not exported and
// Slurm refuses the plugin ("Plugin name/type/version symbol missing").
#pragma GCC visibility push(default)
extern "C" {
extern const char plugin_name[];
extern const char plugin_type[];
extern const unsigned int plugin_version;
extern const unsigned int spank_plugin_version;
SPANK_PLUGIN(spank_vm, 1)
}
#pragma GCC visibility pop

namespace {

// From slurm_spank_init on; one process handles one context.
slurmvm::spank::PluginArgs g_args;

}  // namespace

// Every context: arguments, log, option. The arguments are parsed everywhere so that a
// mistake in plugstack.conf stops slurmd when it starts, and every srun, sbatch and salloc,
// instead of surfacing in one job's step. The option is registered everywhere because the
// allocator knows only registered options and slurmstepd needs the same table as srun.
extern "C" int slurm_spank_init(spank_t sp, int ac, char** av) {
  return slurmvm::spank::guarded("slurm_spank_init", [&] {
    slurmvm::spank::install_slurm_log_sink();
    const std::vector<std::string_view> args(av, av + ac);
    g_args = slurmvm::spank::parse_plugin_args(args);
    slurmvm::spank::register_options(sp);
    return 0;
  });
}

// After the options: the value is final (spank_option_getopt does not work here, the option
// callback's stored value does).
extern "C" int slurm_spank_init_post_opt(spank_t sp, int /*ac*/, char** /*av*/) {
  return slurmvm::spank::guarded("slurm_spank_init_post_opt", [&] {
    switch (spank_context()) {
      case S_CTX_LOCAL:
        // srun inside an allocation (SLURM_JOB_ID set) starts a step of a job whose prolog has run.
        return slurmvm::spank::submit_init_post_opt(sp, g_args, std::getenv("SLURM_JOB_ID") == nullptr);
      case S_CTX_ALLOCATOR:
        return slurmvm::spank::submit_init_post_opt(sp, g_args, true);
      case S_CTX_REMOTE:
        return slurmvm::spank::remote_init_post_opt(sp);
      case S_CTX_SLURMD:      // only init and slurmd_exit run there (spank(7))
      case S_CTX_JOB_SCRIPT:  // not loaded: no job_prolog/job_epilog here
      case S_CTX_ERROR:
        break;
    }
    return 0;
  });
}
