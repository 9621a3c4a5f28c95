// `vm list [-j JOBID] [--json]`: the VMs of one virtual cluster: name, node, address, SSH port
// and state (pending: vm-launch has not started; booting: QEMU runs but SSH does not answer;
// ready: SSH answers; running: QEMU runs and the VM has no SSH port to ask).
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cluster_def.hpp"
#include "job_files.hpp"
#include "job_selection.hpp"
#include "ssh_probe.hpp"
#include "table.hpp"
#include "verb.hpp"

namespace slurmvm::cli {
namespace {

class ListVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("list", "List the VMs of a virtual cluster");
    add_job_options(cmd_, job_);
    cmd_->add_flag("--json", json_, "Print a JSON array");
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    const JobDir dir = selected_job_dir(job_);
    const ClusterFile cluster = dir.read_cluster();
    const ClusterDef def = ClusterDef::parse(cluster.definition);
    nlohmann::json out = nlohmann::json::array();
    Table table({"NAME", "TEMPLATE", "NODE", "ADDRESS", "PORT", "STATE"});
    for (std::uint32_t r = 0; r < cluster.node_of_vm.size(); ++r) {
      const auto vm = dir.read_vm(r);
      const std::string node = cluster.nodes.at(cluster.node_of_vm[r]);
      std::string state = "pending";
      if (vm) {
        if (!vm->ssh_port) {
          state = "running";
        } else {
          state = ssh_answers(vm->node, *vm->ssh_port, std::chrono::milliseconds(1000)) ? "ready" : "booting";
        }
      }
      const std::string port = vm && vm->ssh_port ? std::to_string(*vm->ssh_port) : "-";
      const std::string ip = vm && !vm->ip.empty() ? vm->ip : "-";
      table.add_row({fmt::format("vm{}", r), def.template_of(r), node, ip, port, state});
      out.push_back({{"name", fmt::format("vm{}", r)},
                     {"template", def.template_of(r)},
                     {"node", node},
                     {"address", vm && !vm->ip.empty() ? nlohmann::json(vm->ip) : nlohmann::json(nullptr)},
                     {"ssh_port", vm && vm->ssh_port ? nlohmann::json(*vm->ssh_port) : nlohmann::json(nullptr)},
                     {"state", state}});
    }
    print_listing(table, out, json_);
    return 0;
  }

 private:
  CLI::App* cmd_ = nullptr;
  JobSelection job_;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Verb> make_list_verb() { return std::make_unique<ListVerb>(); }

}  // namespace slurmvm::cli
