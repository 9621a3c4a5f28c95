// `vm exec [-j JOBID] [--timeout S] [-i] vmN -- COMMAND...`: runs COMMAND in the VM through its
// qemu-guest-agent (guest-exec: no SSH, no network needed), then prints its output and exits
// with its status. The agent's socket is on the VM's node (on_node.hpp). The command runs as
// the agent's user (root) with the agent's environment; -i sends this command's standard
// input to it.
#include <unistd.h>

#include <iostream>
#include <iterator>
#include <thread>

#include <fmt/format.h>

#include "base64.hpp"
#include "error.hpp"
#include "job_files.hpp"
#include "job_selection.hpp"
#include "on_node.hpp"
#include "qmp.hpp"
#include "verb.hpp"
#include "vm_set.hpp"

namespace slurmvm::cli {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class ExecVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("exec", "Run a command in a VM through its guest agent; its output and status come back");
    add_job_options(cmd_, job_);
    cmd_->add_option("--timeout", timeout_s_, "Seconds to wait for the command")
        ->check(CLI::Range(1, 7 * 86400))
        ->capture_default_str();
    cmd_->add_flag("-i,--stdin", stdin_, "Send standard input to the command (read to its end first)");
    // pcocc's exec flags, hidden: each is refused with what to type instead (pcocc_habit()).
    cmd_->add_option("-u", pcocc_user_)->group("");  // --user: job selection's (job_selection.hpp)
    cmd_->add_flag("-s,--script", pcocc_script_)->group("");
    cmd_->add_option("VM", vm_, "The VM (vm0, vm1, ...)")->required();
    // Not required() here: pcocc's `exec CMD` lands in VM, and pcocc_habit() says what to type.
    cmd_->add_option("COMMAND", command_, "The program and its arguments (after --)");
    cmd_->positionals_at_end();
    cmd_->footer(
        "Needs qemu-guest-agent running in the guest. The exit status is the command's (128+N for\n"
        "signal N); 6 when it did not end in time (it keeps running in the VM).");
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    pcocc_habit();
    const auto [dir, cluster, vm] = find_one_vm(job_, vm_, "exec");
    if (!on_node(vm.node)) return run_on_node(cluster, vm.node, false);
    // Once the VM name has been read every word is the command's, `--` included (a command
    // forwarded to the node arrives with it): the first `--` is the separator.
    if (!command_.empty() && command_.front() == "--") command_.erase(command_.begin());
    if (command_.empty()) throw Error("no command given: vm exec vmN -- COMMAND...", ErrorKind::usage);

    auto agent = with_context(fmt::format("{} on {}", vm.name, vm.node),
                              [&] { return QmpClient::connect_guest_agent(vm.agent, 10s); });
    nlohmann::json args = {{"path", command_.front()},
                           {"arg", std::vector<std::string>(command_.begin() + 1, command_.end())},
                           {"capture-output", true}};
    if (stdin_) {
      const std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
      args["input-data"] = base64_lines(input);
    }
    const auto pid = with_context(fmt::format("{} on {}", vm.name, vm.node), [&] {
      return agent.execute("guest-exec", args).at("pid").get<std::int64_t>();
    });
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s_);
    auto pause = 50ms;
    for (;;) {
      const auto st = agent.execute("guest-exec-status", {{"pid", pid}});
      if (st.value("exited", false)) {
        std::cout << base64_decode(st.value("out-data", "")) << std::flush;
        std::cerr << base64_decode(st.value("err-data", "")) << std::flush;
        if (st.value("out-truncated", false) || st.value("err-truncated", false)) {
          std::cerr << fmt::format("vm: {}: the guest agent truncated the command's output\n", vm.name);
        }
        if (st.contains("signal")) return 128 + st.at("signal").get<int>();
        return st.value("exitcode", 0);
      }
      if (Clock::now() >= deadline) {
        throw Error(fmt::format("{}: {} did not end within {} s (--timeout); it still runs in the VM as pid {}",
                                vm.name, command_.front(), timeout_s_, pid),
                    ErrorKind::timeout);
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(500));
    }
  }

 private:
  // pcocc's `exec [-i INDEX] [-u USER] [-s] CMD...` ran in vm0 by default, picked the VM with
  // -i. Here the VM comes first and -i is --stdin, so `vm exec -i 1 hostname` would otherwise
  // fail on "1" with no word about why.
  void pcocc_habit() const {
    if (!pcocc_user_.empty()) {
      throw Error(fmt::format("vm exec runs commands as root through the guest agent; to run as {}, use "
                              "`vm ssh {}@vmN COMMAND` (docs/migrating-from-pcocc.md)",
                              pcocc_user_, pcocc_user_),
                  ErrorKind::usage);
    }
    if (pcocc_script_) {
      throw Error("vm exec has no -s: copy the script with `vm scp FILE vmN:/tmp/` and run it, or use "
                  "`vm batch -b FILE` (docs/migrating-from-pcocc.md)",
                  ErrorKind::usage);
    }
    if (!vm_.empty() && vm_.find_first_not_of("0123456789") == std::string::npos) {
      throw Error(fmt::format("vm exec takes the VM by name first: `vm exec vm{} -- COMMAND...`; -i sends "
                              "standard input here, it is not pcocc's VM index (docs/migrating-from-pcocc.md)",
                              vm_),
                  ErrorKind::usage);
    }
    if (!vm_.starts_with("vm")) {
      throw Error(fmt::format("vm exec takes the VM first: `vm exec vm0 -- {} ...` (pcocc's exec ran in vm0 by "
                              "default)",
                              vm_),
                  ErrorKind::usage);
    }
    if (command_.empty() || (command_.size() == 1 && command_.front() == "--")) {
      throw Error(fmt::format("no command given: vm exec {} -- COMMAND...", vm_), ErrorKind::usage);
    }
  }

  CLI::App* cmd_ = nullptr;
  std::string pcocc_user_;
  bool pcocc_script_ = false;
  JobSelection job_;
  int timeout_s_ = 600;
  bool stdin_ = false;
  std::string vm_;
  std::vector<std::string> command_;
};

}  // namespace

std::unique_ptr<Verb> make_exec_verb() { return std::make_unique<ExecVerb>(); }

}  // namespace slurmvm::cli
