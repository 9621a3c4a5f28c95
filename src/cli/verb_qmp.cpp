// The verbs that act on VMs through QEMU's monitor (QMP), pcocc's semantics:
//   vm reset [-j JOBID] VMSET             system reset, as the power button's neighbour
//   vm monitor-cmd [-j JOBID] VMSET CMD.. a human monitor command (`info status`, ...)
//   vm dump [-j JOBID] vmN FILE           the guest's memory as an ELF core, written on the
//                                         VM's node by QEMU (as the user)
// The QMP sockets exist on the VMs' nodes only: the VMs of a set are grouped by node, each
// group handled where it runs (on_node.hpp). Every QMP call has a deadline.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "error.hpp"
#include "job_files.hpp"
#include "job_selection.hpp"
#include "log.hpp"
#include "on_node.hpp"
#include "qmp.hpp"
#include "verb.hpp"
#include "vm_set.hpp"

namespace slurmvm::cli {
namespace {

using namespace std::chrono_literals;

QmpClient connect_qmp(const VmFile& vm) {
  return with_context(fmt::format("on {}", vm.node),
                      [&] { return QmpClient::connect(vm.qmp, {.timeout = 10s}); });
}

class QmpVerb : public Verb {
 public:
  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    const JobDir dir = selected_job_dir(job_);
    const ClusterFile cluster = dir.read_cluster();
    const auto ranks = parse_vm_set(vm_set_, static_cast<std::uint32_t>(cluster.node_of_vm.size()));
    check_set(ranks);
    std::map<std::string, std::vector<std::uint32_t>> by_node;
    for (const auto rank : ranks) by_node[cluster.nodes.at(cluster.node_of_vm.at(rank))].push_back(rank);
    int rc = 0;
    for (const auto& [node, on] : by_node) {
      if (!on_node(node)) {
        std::vector<std::string> args = {name_, "-j", std::to_string(dir.job_id())};
        if (ranks.size() > 1) args.push_back("--names");
        args.push_back(format_vm_set(on));
        args.insert(args.end(), extra_args_.begin(), extra_args_.end());
        if (const int r = run_on_node(cluster, node, false, args); r != 0) rc = r;
        continue;
      }
      for (const auto rank : on) {
        try {
          act(require_vm(dir, rank), names_ || ranks.size() > 1);
        } catch (const Error& e) {
          std::cerr << fmt::format("vm: error: vm{}: {}\n", rank, e.what());
          rc = exit_code_for(e.kind());
        }
      }
    }
    return rc;
  }

 protected:
  void declare_common(CLI::App& app, const std::string& name, const std::string& help) {
    name_ = name;
    cmd_ = app.add_subcommand(name, help);
    add_job_options(cmd_, job_);
    // Part of a set, forwarded to its node: print the VMs' names as for the whole set.
    cmd_->add_flag("--names", names_)->group("");
  }
  virtual void check_set(const std::vector<std::uint32_t>&) const {}
  // Acts on one VM, here on its node. `several`: other VMs' results are printed too.
  virtual void act(const VmFile& vm, bool several) = 0;

  CLI::App* cmd_ = nullptr;
  std::string name_;
  JobSelection job_;
  bool names_ = false;
  std::string vm_set_;
  std::vector<std::string> extra_args_;  // forwarded after the set
};

class ResetVerb final : public QmpVerb {
 public:
  void declare(CLI::App& app) override {
    declare_common(app, "reset", "Reset VMs, as a hardware reset button would");
    cmd_->add_option("VMSET", vm_set_, "VMs: vm0, vm[0-3,7], ...")->required();
  }

 private:
  void act(const VmFile& vm, bool) override {
    auto qmp = connect_qmp(vm);
    // With -no-reboot (the template asks QEMU to exit when the guest reboots, so that a guest
    // that panics stops) a reset would stop the VM too: reset it for this one request.
    if (vm.no_reboot) qmp.execute("set-action", {{"reboot", "reset"}});
    qmp.execute("system_reset");
    if (vm.no_reboot) {
      // The firmware of a direct kernel boot resets the machine once more right after (a RESET
      // event with "guest": true, ~50 ms later, measured with QEMU 7.2): the guest's own
      // reboots stop the VM again only once the resets have settled (2 s without one).
      auto quiet_until = std::chrono::steady_clock::now() + 2s;
      for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(quiet_until - std::chrono::steady_clock::now());
        if (left <= 0ms) break;
        if (auto e = qmp.next_event(left); e && e->value("event", "") == "RESET") {
          quiet_until = std::chrono::steady_clock::now() + 2s;
        }
      }
      qmp.execute("set-action", {{"reboot", "shutdown"}});
    }
    std::cout << fmt::format("{}: reset\n", vm.name);
  }
};

class MonitorCmdVerb final : public QmpVerb {
 public:
  void declare(CLI::App& app) override {
    declare_common(app, "monitor-cmd", "Run a QEMU human monitor command in VMs (e.g. info status)");
    cmd_->add_option("VMSET", vm_set_, "VMs: vm0, vm[0-3,7], ...")->required();
    cmd_->add_option("COMMAND", extra_args_, "The monitor command and its arguments")->required();
    cmd_->positionals_at_end();
    cmd_->footer("With several VMs, each output line starts with the VM's name.");
  }

 private:
  void act(const VmFile& vm, bool several) override {
    std::string line;
    for (const auto& w : extra_args_) line += (line.empty() ? "" : " ") + w;
    auto qmp = connect_qmp(vm);
    std::string out = qmp.execute("human-monitor-command", {{"command-line", line}}, 60s).get<std::string>();
    // The monitor ends its lines with CRLF (it was made for terminals).
    out.erase(std::remove(out.begin(), out.end(), '\r'), out.end());
    if (!several) {
      std::cout << out << std::flush;
      return;
    }
    std::size_t start = 0;
    while (start < out.size()) {
      const auto nl = out.find('\n', start);
      const auto end = nl == std::string::npos ? out.size() : nl;
      const std::string l = out.substr(start, end - start);
      std::cout << vm.name << ": " << l << '\n';
      start = end + 1;
    }
    std::cout << std::flush;
  }
};

class DumpVerb final : public QmpVerb {
 public:
  void declare(CLI::App& app) override {
    declare_common(app, "dump", "Dump a VM's memory to a file (an ELF core, written on the VM's node)");
    cmd_->add_option("VM", vm_set_, "The VM: vm0, vm1, ...")->required();
    cmd_->add_option("FILE", file_, "Where to write it; relative to the current directory")->required();
    cmd_->add_option("--timeout", timeout_s_, "Seconds to wait for the dump")->capture_default_str();
    cmd_->footer("The VM keeps running meanwhile. FILE must not exist; QEMU writes it as you.");
  }

  int run() override {
    std::filesystem::path p(file_);
    if (p.is_relative()) p = std::filesystem::current_path() / p;
    extra_args_ = {p.lexically_normal().string(), fmt::format("--timeout={}", timeout_s_)};
    file_ = extra_args_[0];
    return QmpVerb::run();
  }

 private:
  void check_set(const std::vector<std::uint32_t>& ranks) const override {
    if (ranks.size() != 1) throw Error("vm dump takes one VM (vm0, vm1, ...)", ErrorKind::usage);
  }

  void act(const VmFile& vm, bool) override {
    if (::access(file_.c_str(), F_OK) == 0) {
      throw Error(fmt::format("{} exists: remove it or choose another file", file_), ErrorKind::usage);
    }
    auto qmp = connect_qmp(vm);
    // detach: QEMU answers at once and dumps in the background; query-dump reports progress.
    qmp.execute("dump-guest-memory", {{"paging", false}, {"protocol", "file:" + file_}, {"detach", true}});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s_);
    for (;;) {
      const auto status = qmp.execute("query-dump");
      const auto state = status.value("status", "");
      if (state == "completed") break;
      if (state == "failed") throw Error(fmt::format("QEMU could not write {}", file_), ErrorKind::system);
      if (std::chrono::steady_clock::now() >= deadline) {
        throw Error(fmt::format("the dump of {} did not finish within {} s ({} of {} bytes)", vm.name, timeout_s_,
                                status.value("completed", 0), status.value("total", 0)),
                    ErrorKind::timeout);
      }
      std::this_thread::sleep_for(200ms);
    }
    std::cout << fmt::format("{}: memory dumped to {} on {}\n", vm.name, file_, vm.node);
  }

  std::string file_;
  int timeout_s_ = 600;
};

}  // namespace

std::unique_ptr<Verb> make_reset_verb() { return std::make_unique<ResetVerb>(); }
std::unique_ptr<Verb> make_monitor_cmd_verb() { return std::make_unique<MonitorCmdVerb>(); }
std::unique_ptr<Verb> make_dump_verb() { return std::make_unique<DumpVerb>(); }

}  // namespace slurmvm::cli
