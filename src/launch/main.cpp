// vm-launch: the program each VM task runs (one Slurm task = one VM). It prepares the VM's files
// and execs QEMU, so that the VM is the task. Started by `vm` as
//   srun -n N -c C -m arbitrary .../libexec/slurm-vm/vm-launch DEF
// This file only reads the command line and maps failures to exit codes (docs/exit-codes.md);
// launcher.cpp has the sequence, docs/vm-launch.md the whole story.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string_view>

#include <fmt/format.h>

#include "config/identity.hpp"
#include "error.hpp"
#include "launch/launcher.hpp"
#include "launch/parent_death.hpp"
#include "launch/pinning.hpp"
#include "launch/task_env.hpp"
#include "log.hpp"
#include "main_guard.hpp"

namespace {

using slurmvm::Error;
using slurmvm::ErrorKind;

constexpr const char* kUsage =
    "Usage: vm-launch [--no-network] [-v] CLUSTER_DEF\n"
    "\n"
    "Runs the VM of this Slurm task (rank SLURM_PROCID of CLUSTER_DEF, e.g. master:1,compute:4):\n"
    "prepares its overlay disk and cloud-init seed in ~/.local/state/slurm-vm/job-<id>/vm<rank>/,\n"
    "then becomes QEMU. Started by `vm alloc` / `vm batch` as the tasks of an srun step.\n"
    "\n"
    "  --no-network  no NIC (without the node's network map; for tests)\n"
    "  -v            say what is decided (KVM or TCG, memory, QEMU's command line); -vv: debug\n"
    "  -h, --help    this text\n"
    "  -V, --version the version\n"
    "\n"
    "Exit status: QEMU's once it runs; before that 2 usage, 3 configuration, 4 not found,\n"
    "5 system failure, 6 timeout, 1 internal error. See docs/vm-launch.md.\n";

int real_main(int argc, char** argv) {
  const pid_t parent = ::getppid();  // the step's slurmstepd
  slurmvm::launch::LaunchOptions options;
  int verbosity = 0;
  bool have_definition = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "-V" || arg == "--version") {
      std::puts("vm-launch (slurm-vm) " SLURM_VM_VERSION);
      return 0;
    }
    if (arg == "--no-network") {
      options.network = false;
    } else if (arg == "-v" || arg == "--verbose") {
      ++verbosity;
    } else if (arg == "-vv") {
      verbosity += 2;
    } else if (arg.starts_with("-") && arg != "-") {
      throw Error(fmt::format("unknown option {} (see --help)", arg), ErrorKind::usage);
    } else if (!have_definition) {
      options.definition = arg;
      have_definition = true;
    } else {
      throw Error(fmt::format("unexpected argument {} (see --help)", arg), ErrorKind::usage);
    }
  }
  if (!have_definition) throw Error("missing the cluster definition (see --help)", ErrorKind::usage);
  slurmvm::set_log_level(verbosity >= 2   ? slurmvm::LogLevel::debug
                         : verbosity == 1 ? slurmvm::LogLevel::info
                                          : slurmvm::LogLevel::warning);

  const std::vector<int> affinity = slurmvm::launch::current_affinity();
  const auto task = slurmvm::launch::read_task_env(slurmvm::config::process_env, affinity);
  // Every message from here on names the VM and the node: srun mixes all tasks' output.
  slurmvm::set_log_sink(slurmvm::stderr_sink(fmt::format("vm-launch: vm{} on {}", task.rank, task.node)));
  // SIGTERM: QEMU's orderly exit (its drives closed) when slurmstepd dies under it.
  slurmvm::launch::end_with_parent(SIGTERM, parent);
  slurmvm::launch::launch_vm(options, task, affinity);
}

}  // namespace

int main(int argc, char** argv) {
  slurmvm::set_log_sink(slurmvm::stderr_sink("vm-launch"));
  return slurmvm::guarded_main([&] { return real_main(argc, argv); });
}
