// A verb of the `vm` command (`vm template`, `vm alloc`, ...). Each verb is one class in its
// own file: it declares its options on a CLI11 subcommand and runs when that subcommand is
// chosen. Verbs report failures by throwing slurmvm::Error; main() turns that into a message
// and an exit code (docs/exit-codes.md).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace slurmvm::cli {

class Verb {
 public:
  virtual ~Verb() = default;
  // Adds the verb's subcommand(s) to `app`. The verb keeps pointers into `app`; both live
  // until main() returns.
  virtual void declare(CLI::App& app) = 0;
  // Runs if this verb's subcommand was parsed; returns the process exit code.
  virtual int run() = 0;
  // True if this verb's subcommand was given on the command line.
  virtual bool selected() const = 0;
};

using VerbList = std::vector<std::unique_ptr<Verb>>;

// One factory per verb file.
std::unique_ptr<Verb> make_template_verb();
std::unique_ptr<Verb> make_alloc_verb();
std::unique_ptr<Verb> make_batch_verb();
std::unique_ptr<Verb> make_boot_verb();
std::unique_ptr<Verb> make_ssh_verb();
std::unique_ptr<Verb> make_scp_verb();
std::unique_ptr<Verb> make_list_verb();
std::unique_ptr<Verb> make_ps_verb();
std::unique_ptr<Verb> make_console_verb();
std::unique_ptr<Verb> make_exec_verb();
std::unique_ptr<Verb> make_save_verb();
std::unique_ptr<Verb> make_ckpt_verb();
std::unique_ptr<Verb> make_run_verb();
std::unique_ptr<Verb> make_image_verb();
std::unique_ptr<Verb> make_nc_verb();
std::unique_ptr<Verb> make_reset_verb();
std::unique_ptr<Verb> make_monitor_cmd_verb();
std::unique_ptr<Verb> make_dump_verb();
std::unique_ptr<Verb> make_doctor_verb();

}  // namespace slurmvm::cli
