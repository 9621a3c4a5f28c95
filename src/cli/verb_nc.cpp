// `vm nc [-j JOBID] vmN [PORT]`: a connection to the VM's SSH port through its node's reverse
// NAT, on standard input and output: an ssh ProxyCommand (`ssh -o ProxyCommand='vm nc %h'
// root@vm0`), as pcocc's nc, without needing nc(1). Only the network's reverse-NAT port
// (22) is reachable from outside the VM.
#include <unistd.h>

#include <fmt/format.h>

#include "error.hpp"
#include "job_files.hpp"
#include "job_selection.hpp"
#include "relay.hpp"
#include "ssh_probe.hpp"
#include "verb.hpp"
#include "vm_set.hpp"

namespace slurmvm::cli {
namespace {

using namespace std::chrono_literals;

class NcVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("nc", "Connect standard input and output to a VM's SSH port (an ssh ProxyCommand)");
    add_job_options(cmd_, job_);
    cmd_->add_option("VM", vm_, "The VM (vm0, vm1, ...)")->required();
    cmd_->add_option("PORT", port_, "The VM's port: only the reverse-NAT port (22) is reachable")
        ->check(CLI::Range(1, 65535))
        ->capture_default_str();
    cmd_->footer("Example: ssh -o ProxyCommand='vm nc -j 42 %h' root@vm0");
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    const auto [dir, cluster, vm] = find_one_vm(job_, vm_, "nc");
    if (port_ != 22) {
      throw Error(fmt::format("port {} of {} is not reachable: only its SSH port (22) is reverse-NATed", port_,
                              vm.name),
                  ErrorKind::usage);
    }
    if (!vm.ssh_port) throw Error(fmt::format("{} has no reverse-NAT port", vm.name), ErrorKind::not_found);
    int err = 0;
    UniqueFd sock = tcp_connect(vm.node, *vm.ssh_port, 10s, err);
    if (!sock) {
      throw Error::from_errno(fmt::format("{}: cannot connect to {}:{}", vm.name, vm.node, *vm.ssh_port), err);
    }
    relay(STDIN_FILENO, STDOUT_FILENO, sock.get(), {});
    return 0;
  }

 private:
  CLI::App* cmd_ = nullptr;
  JobSelection job_;
  std::string vm_;
  int port_ = 22;
};

}  // namespace

std::unique_ptr<Verb> make_nc_verb() { return std::make_unique<NcVerb>(); }

}  // namespace slurmvm::cli
