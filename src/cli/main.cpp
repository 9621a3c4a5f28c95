// `vm`: the user's command for virtual clusters as Slurm jobs. This file only wires the verbs
// together and maps failures to exit codes; each verb lives in verb_<name>.cpp.
#include <cstdio>

#include <fmt/format.h>
#include <iostream>

#include "error.hpp"
#include "log.hpp"
#include "main_guard.hpp"
#include "on_node.hpp"
#include "pcocc_habits.hpp"
#include "verb.hpp"

namespace {

using slurmvm::Error;
using slurmvm::ErrorKind;

constexpr const char* kDescription =
    "Run virtual clusters of QEMU/KVM VMs as Slurm jobs.\n"
    "\n"
    "Exit status: 0 success, 1 internal error, 2 usage error, 3 configuration error,\n"
    "4 not found, 5 system or Slurm failure, 6 timeout; verbs that run a program\n"
    "(alloc -E, ssh) return that program's status. See vm(1).";

int real_main(int argc, char** argv) {
  slurmvm::cli::remember_command_line(argc, argv);
  int verbosity = 0;
  CLI::App app(kDescription, "vm");
  app.set_version_flag("-V,--version", "vm (slurm-vm) " SLURM_VM_VERSION);
  app.add_flag("-v,--verbose", verbosity, "More messages on stderr (repeat for debug)");
  app.require_subcommand(1);

  slurmvm::cli::VerbList verbs;
  verbs.push_back(slurmvm::cli::make_alloc_verb());
  verbs.push_back(slurmvm::cli::make_batch_verb());
  verbs.push_back(slurmvm::cli::make_boot_verb());
  verbs.push_back(slurmvm::cli::make_ssh_verb());
  verbs.push_back(slurmvm::cli::make_scp_verb());
  verbs.push_back(slurmvm::cli::make_list_verb());
  verbs.push_back(slurmvm::cli::make_ps_verb());
  verbs.push_back(slurmvm::cli::make_console_verb());
  verbs.push_back(slurmvm::cli::make_exec_verb());
  verbs.push_back(slurmvm::cli::make_run_verb());
  verbs.push_back(slurmvm::cli::make_nc_verb());
  verbs.push_back(slurmvm::cli::make_reset_verb());
  verbs.push_back(slurmvm::cli::make_monitor_cmd_verb());
  verbs.push_back(slurmvm::cli::make_dump_verb());
  verbs.push_back(slurmvm::cli::make_save_verb());
  verbs.push_back(slurmvm::cli::make_ckpt_verb());
  verbs.push_back(slurmvm::cli::make_image_verb());
  verbs.push_back(slurmvm::cli::make_template_verb());
  verbs.push_back(slurmvm::cli::make_doctor_verb());
  for (auto& verb : verbs) verb->declare(app);

  // CLI11 would only say "A subcommand is required" for a mistyped verb.
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      names += (names.empty() ? "" : ", ") + sub->get_name();
      known = known || sub->check_name(argv[1]);
    }
    if (!known) {
      if (auto hint = slurmvm::cli::pcocc_only_verb(argv[1])) {
        throw Error(*hint + " (docs/migrating-from-pcocc.md)", ErrorKind::usage);
      }
      throw Error(fmt::format("unknown verb \"{}\" (verbs: {}; see vm --help)", argv[1], names), ErrorKind::usage);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0 in CLI11.
    const int rc = app.exit(e);
    return rc == 0 ? 0 : slurmvm::exit_code_for(ErrorKind::usage);
  }

  slurmvm::set_log_level(verbosity >= 2   ? slurmvm::LogLevel::debug
                         : verbosity == 1 ? slurmvm::LogLevel::info
                                                 : slurmvm::LogLevel::warning);
  // The verbs whose behaviour pcocc's variables would have changed.
  for (const CLI::App* sub : app.get_subcommands()) {
    if (const std::string& v = sub->get_name(); v == "alloc" || v == "batch" || v == "boot") {
      slurmvm::cli::warn_pcocc_environment();
    }
  }
  for (auto& verb : verbs) {
    if (verb->selected()) return verb->run();
  }
  return slurmvm::exit_code_for(ErrorKind::usage);
}

}  // namespace

int main(int argc, char** argv) {
  slurmvm::set_log_sink(slurmvm::stderr_sink("vm"));
  return slurmvm::guarded_main([&] { return real_main(argc, argv); });
}
