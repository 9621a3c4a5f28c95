// `vm console [-j JOBID] [-l] [vmN]`: the VM's serial console (QEMU's console socket on its
// node), interactive, detached with Ctrl-]; `--log` prints what the VM wrote to it since it
// started (console.log in the job directory, which every host of the job sees). pcocc used
// Ctrl-C three times and ssh + nc to its own node; here srun --pty carries the terminal.
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "error.hpp"
#include "job_files.hpp"
#include "job_selection.hpp"
#include "on_node.hpp"
#include "relay.hpp"
#include "unix_socket.hpp"
#include "verb.hpp"
#include "vm_set.hpp"

namespace slurmvm::cli {
namespace {

using namespace std::chrono_literals;

class ConsoleVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("console", "Attach to a VM's serial console (Ctrl-] detaches), or print its log");
    add_job_options(cmd_, job_);
    cmd_->add_flag("-l,--log", log_, "Print the console's output since the VM started, and exit");
    cmd_->add_option("VM", vm_, "The VM (default vm0)")->capture_default_str();
    cmd_->footer(
        "Interactive: keys go to the VM's serial port, Ctrl-] detaches (the VM keeps running).\n"
        "Without a terminal, the input is sent and the output copied until 2 s after the input ends.");
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    const auto [dir, cluster, vm] = find_one_vm(job_, vm_, "console");
    if (log_) return print_log(vm);
    if (!on_node(vm.node)) return run_on_node(cluster, vm.node, ::isatty(STDIN_FILENO) != 0);

    int err = 0;
    UniqueFd sock = connect_unix_stream(vm.console, err);
    if (!sock) {
      throw Error::from_errno(fmt::format("{} on {}: cannot connect to its console {}", vm.name, vm.node,
                                          vm.console.string()),
                              err);
    }
    const bool tty = ::isatty(STDIN_FILENO) != 0;
    if (tty) std::cerr << fmt::format("vm: {} console on {}; Ctrl-] detaches\r\n", vm.name, vm.node);
    RelayEnd end;
    {
      RawTerminal raw(STDIN_FILENO);
      RelayOptions o;
      if (tty) o.detach_key = 0x1d;
      o.linger = 2s;
      end = relay(STDIN_FILENO, STDOUT_FILENO, sock.get(), o);
    }
    if (end == RelayEnd::detached) std::cerr << "\nvm: detached\n";
    if (end == RelayEnd::peer_closed) std::cerr << fmt::format("\nvm: {}'s console closed (QEMU ended)\n", vm.name);
    return 0;
  }

 private:
  static int print_log(const VmFile& vm) {
    std::ifstream in(vm.console_log, std::ios::binary);
    if (!in) {
      throw Error(fmt::format("{}: no console log at {} yet", vm.name, vm.console_log.string()), ErrorKind::not_found);
    }
    std::cout << in.rdbuf() << std::flush;
    return 0;
  }

  CLI::App* cmd_ = nullptr;
  JobSelection job_;
  bool log_ = false;
  std::string vm_ = "vm0";
};

}  // namespace

std::unique_ptr<Verb> make_console_verb() { return std::make_unique<ConsoleVerb>(); }

}  // namespace slurmvm::cli
