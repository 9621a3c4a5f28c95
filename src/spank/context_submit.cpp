// srun (local context) and sbatch, salloc (allocator context), as the submitting user, before
// the job reaches slurmctld: the one place where a wrong definition can be refused with a
// message on the user's terminal and nothing started on any node. Both contexts do the same.
//
// The check is for the user's benefit, not a security boundary: the user controls this
// process, its environment and even which plugstack.conf it reads (SLURM_CONF). The root
// helpers check the definition again against the system configuration only.
#include <fmt/format.h>

#include "checkpoint.hpp"
#include "config/identity.hpp"
#include "contexts.hpp"
#include "definition.hpp"
#include "error.hpp"
#include "log.hpp"
#include "options.hpp"

namespace slurmvm::spank {

int submit_init_post_opt(spank_t sp, const PluginArgs& args, bool new_job) {
  const auto request = requested_definition(option_value(), config::process_env(kEnvVar));
  if (!request) return 0;
  // A step inside an existing allocation (the VMs' step vm boot starts, an srun in a batch
  // script, which inherits SLURM_VM_TEMPLATE): that job's prolog has run and nothing reads the
  // value; loading the configuration again would only cost time and could fail on a template
  // edited since the submission (the VMs use the cluster resolved then: resolved_cluster.hpp).
  if (!new_job) {
    log_debug("{}: a step of an existing job: nothing to check", request->source);
    return 0;
  }
  // The user's own configuration is read here, as the user, in the user's process.
  const CheckedDefinition checked =
      check_definition(*request, submission_config_dirs(config::process_env, args));
  const ClusterDef& def = checked.def;
  const std::string canonical = def.to_string();

  // The only way a value reaches the Prolog= and Epilog= programs, which see it as
  // SPANK_VM_TEMPLATE; vm-prolog reads it there. Inside an existing allocation (srun in a
  // batch script) nothing reads it: that job's prolog has already run.
  if (const spank_err_t rc = spank_job_control_setenv(sp, kJobControlVar, canonical.c_str(), 1);
      rc != ESPANK_SUCCESS) {
    throw Error(
        fmt::format("cannot hand the cluster definition to the job prolog: "
                    "spank_job_control_setenv: {}",
                    spank_strerror(rc)));
  }
  // The NICs of each VM: its template's resource set, as the user's configuration says.
  if (const spank_err_t rc =
          spank_job_control_setenv(sp, kResourcesJobControlVar, checked.resource_sets.c_str(), 1);
      rc != ESPANK_SUCCESS) {
    throw Error(
        fmt::format("cannot hand the resource sets to the job prolog: spank_job_control_setenv: {}",
                    spank_strerror(rc)));
  }
  // A restore (vm alloc -r) keeps the checkpointed cluster's addresses: vm-prolog plans the
  // network with that identity (checked again there: this process is the user's).
  if (const auto id = config::process_env(kNetworkIdEnv); id && !id->empty()) {
    if (id->size() > 5 || id->find_first_not_of("0123456789") != std::string::npos) {
      throw Error(fmt::format("{}=\"{}\": a network id is a number (vm alloc -r sets it from the checkpoint)",
                              kNetworkIdEnv, id->substr(0, 16)),
                  ErrorKind::usage);
    }
    if (const spank_err_t rc = spank_job_control_setenv(sp, kNetworkIdJobControlVar, id->c_str(), 1);
        rc != ESPANK_SUCCESS) {
      throw Error(fmt::format("cannot hand the network id to the job prolog: spank_job_control_setenv: {}",
                              spank_strerror(rc)));
    }
  }
  // No check of the VM count against the task count: an srun inside a virtual cluster's
  // batch script inherits the option (Slurm exports it) and legitimately runs other steps.
  log_debug("{}: cluster {} ({} VMs) handed to the job prolog as SPANK_{}", request->source,
            canonical, def.vm_count(), kJobControlVar);
  return 0;
}

}  // namespace slurmvm::spank
