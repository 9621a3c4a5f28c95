// `vm alloc [-c CPUS] [-N NODES] [-E SCRIPT] [salloc options] DEF`: allocates one Slurm task
// per VM with salloc and runs `vm boot` in the allocation, which starts the VMs, waits for them
// and runs the user's shell or SCRIPT. salloc replaces this process, so its exit code (the
// script's) is the command's, and the terminal belongs to it as with a plain salloc.
#include <unistd.h>

#include <cerrno>
#include <iostream>

#include <fmt/format.h>

#include "cluster_def.hpp"
#include "config/config.hpp"
#include "error.hpp"
#include "log.hpp"
#include "override_options.hpp"
#include "submission.hpp"
#include "programs.hpp"
#include "subprocess.hpp"
#include "verb.hpp"

namespace slurmvm::cli {
namespace {

class AllocVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("alloc", "Allocate a virtual cluster and run a shell or a script with it");
    cmd_->footer(
        "Options not listed here go to salloc(1). DEF is TEMPLATE[:COUNT[:c=CPUS]][,...], e.g. "
        "master:1,compute:4;\nthe VMs are named vm0, vm1, ... in that order. c=CPUS sizes a group's VMs "
        "(master:1:c=8,compute:4:c=2):\nseveral sizes make a heterogeneous job. The exit status is the script's "
        "(or the shell's).");
    cmd_->add_option("-c,--cpus-per-vm", cpus_, "CPUs of each VM (salloc --cpus-per-task)")->check(CLI::PositiveNumber);
    cmd_->add_option("-N,--nodes", nodes_, "Nodes to spread the VMs over (salloc --nodes)");
    cmd_->add_option("-E,--script,--alloc-script", script_, "Run this command (through /bin/sh -c) instead of $SHELL");
    cmd_->add_option("--timeout", timeout_s_, "Seconds to wait for every VM to answer SSH")
        ->check(CLI::Range(1, 86400));
    overrides_.declare(cmd_);
    cmd_->add_option("-r,--restart-ckpt", restart_ckpt_,
                     "Restore the cluster checkpointed in this directory (vm ckpt); DEF may be left out");
    cmd_->allow_extras();
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    std::optional<RestoreSubmission> restore;
    if (!restart_ckpt_.empty()) restore = read_restore_submission(cmd_->remaining(), restart_ckpt_, cpus_, overrides_);
    export_restore_env(restore);
    const Submission sub =
        restore ? std::move(restore->sub) : read_submission(cmd_->remaining(), "vm alloc -c 2 tiny:2", overrides_);
    const ClusterDef& def = sub.def;
    std::vector<std::string> argv = slurm_argv("salloc", sub, restore ? restore->cpus : cpus_, nodes_);
    argv.push_back(self_executable().string());
    argv.push_back("boot");
    if (restore) argv.insert(argv.end(), {"--restore", restore->dir.string()});
    if (!script_.empty()) argv.insert(argv.end(), {"-E", script_});
    if (timeout_s_ > 0) argv.push_back(fmt::format("--timeout={}", timeout_s_));
    argv.insert(argv.end(), {"-d", def.to_string()});

    // The templates as resolved now, overrides applied: what the VMs get however long the job
    // waits in the queue (salloc hands its environment to the command it runs).
    std::string env = resolved_env(sub.resolved);
    if (::putenv(env.data()) != 0) throw Error::from_errno("putenv", errno);
    log_info("running {}", format_argv(argv));
    exec_program(std::move(argv), "is Slurm's client installed and on PATH?");
  }

 private:
  CLI::App* cmd_ = nullptr;
  unsigned cpus_ = 0;
  std::string nodes_;
  std::string script_;
  int timeout_s_ = 0;
  std::string restart_ckpt_;
  OverrideOptions overrides_;
};

}  // namespace

std::unique_ptr<Verb> make_alloc_verb() { return std::make_unique<AllocVerb>(); }

}  // namespace slurmvm::cli
