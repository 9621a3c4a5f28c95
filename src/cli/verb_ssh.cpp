// `vm ssh` and `vm scp`: OpenSSH with the job's generated ssh_config (job_files.hpp), in which
// each VM name is a Host entry pointing at its node's reverse-NAT port, with the VM's own host
// key checked under its name. `vm ssh vm1 hostname` and `vm scp f vm0:/tmp/` therefore need no
// argument rewriting, and several VMs can appear in one scp command.
#include <unistd.h>

#include <cerrno>
#include <regex>
#include <variant>

#include <fmt/format.h>

#include "config/config.hpp"
#include "error.hpp"
#include "job_files.hpp"
#include "job_selection.hpp"
#include "programs.hpp"
#include "verb.hpp"

namespace slurmvm::cli {
namespace {

// Checks every "vmN" the arguments name (as HOST, USER@HOST or HOST:PATH) against the cluster,
// so that a typo gets our message instead of ssh's "Could not resolve hostname".
void check_vm_names(const std::vector<std::string>& args, const ClusterFile& cluster) {
  static const std::regex vm_ref(R"(^(?:[^@/:]+@)?(vm\d+)(?::.*)?$)");
  const auto count = static_cast<std::uint32_t>(cluster.node_of_vm.size());
  for (const auto& a : args) {
    std::smatch m;
    if (!std::regex_match(a, m, vm_ref)) continue;
    const std::uint32_t rank = parse_vm_name(m[1].str());
    if (rank >= count) {
      throw Error(fmt::format("{} does not exist: job {} has {} VMs (vm0..vm{})", m[1].str(), cluster.job_id, count,
                              count - 1),
                  ErrorKind::not_found);
    }
  }
}

// pcocc's `ssh -p PORT` / `scp -P PORT` named the VM port whose reverse-NAT mapping to use. The
// only port slurm-vm maps is the reverse-nat vm-port of the VMs' network (22 unless the site
// says otherwise), which the job's ssh_config already points at; OpenSSH's own -p would
// override that entry and reach the node instead of the VM, so it is never passed on.
void check_vm_port(int port, std::string_view verb) {
  if (port == 22) return;
  const auto cfg = config::load_config(config::config_dirs_from_env());
  for (const auto& [name, net] : cfg.networks) {
    const auto* eth = std::get_if<config::EthernetNetwork>(&net.settings);
    if (eth != nullptr && eth->reverse_nat && eth->reverse_nat->vm_port == port) return;
  }
  throw Error(fmt::format("vm {}: port {} of the VMs is not reverse-NATed; only their SSH port is, and vm {} "
                          "reaches it without {}. For another port, forward it through SSH (vm ssh -L "
                          "LOCAL:localhost:{} vm0) (docs/migrating-from-pcocc.md)",
                          verb, port, verb, verb == "ssh" ? "-p" : "-P", port),
              ErrorKind::usage);
}

class OpenSshVerb final : public Verb {
 public:
  OpenSshVerb(std::string name, std::string program, std::string help, std::string port_flag)
      : name_(std::move(name)), program_(std::move(program)), help_(std::move(help)), port_flag_(std::move(port_flag)) {}

  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand(name_, help_);
    add_job_options(cmd_, job_);
    cmd_->add_option(port_flag_ + ",--port", port_,
                     "The VM port to reach, as pcocc's; only the reverse-NAT port (22) is reachable")
        ->check(CLI::Range(1, 65535));
    // Everything from the first argument vm does not know goes to OpenSSH untouched.
    cmd_->prefix_command();
    cmd_->footer(fmt::format("Other arguments go to {}(1); VMs are named vm0, vm1, ... and log in as root by "
                             "default.\nThe exit status is {}'s.",
                             program_, program_));
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    if (port_ != 0) check_vm_port(port_, name_);
    const JobDir dir = selected_job_dir(job_);
    const ClusterFile cluster = dir.read_cluster();
    const std::vector<std::string> args = cmd_->remaining();
    if (args.empty()) throw Error(fmt::format("usage: vm {} [-j JOBID] {}", name_, name_ == "ssh" ? "[USER@]vmN [COMMAND...]" : "SOURCE... TARGET"), ErrorKind::usage);
    check_vm_names(args, cluster);
    if (::access(dir.ssh_config().c_str(), R_OK) != 0) {
      throw Error(fmt::format("job {}: the virtual cluster is not ready yet (no {})", cluster.job_id,
                              dir.ssh_config().string()),
                  ErrorKind::not_found);
    }
    std::vector<std::string> argv = {program_, "-F", dir.ssh_config().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    exec_program(std::move(argv), "is openssh-client installed?");
  }

 private:
  std::string name_, program_, help_, port_flag_;
  CLI::App* cmd_ = nullptr;
  JobSelection job_;
  int port_ = 0;
};

}  // namespace

std::unique_ptr<Verb> make_ssh_verb() {
  return std::make_unique<OpenSshVerb>("ssh", "ssh", "Log in to a VM or run a command in it (ssh through reverse NAT)", "-p");
}
std::unique_ptr<Verb> make_scp_verb() {
  return std::make_unique<OpenSshVerb>("scp", "scp", "Copy files to and from VMs (scp, vmN:PATH)", "-P");
}

}  // namespace slurmvm::cli
