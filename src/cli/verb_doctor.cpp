// `vm doctor [--json] [-w NODELIST]`: checks what a node needs to run virtual clusters and says
// what is wrong, one line each with the fix (src/doctor/checks.hpp). Without -w it checks this
// host; with -w it runs itself on each node of NODELIST through srun (one task per node) and
// gathers their reports. Exit status 0 when every host is ready, 8 when one is not.
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <map>
#include <string_view>
#include <iostream>

#include <fmt/format.h>

#include "checks.hpp"
#include "config/dirs.hpp"
#include "error.hpp"
#include "programs.hpp"
#include "report.hpp"
#include "subprocess.hpp"
#include "verb.hpp"

namespace slurmvm::cli {
namespace {

constexpr int kNotReady = 8;

class DoctorVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("doctor", "Check that this node (or the nodes of -w) can run virtual clusters");
    cmd_->footer(
        "One line per check with the fix when it is wrong: the system configuration, Slurm (the plugin in\n"
        "plugstack.conf and the Slurm release it was built for, Prolog=, Epilog=, PrologFlags), KVM, QEMU,\n"
        "Open vSwitch and its datapath, nftables, IPv4 forwarding, the state directories, and for VFIO\n"
        "networks the IOMMU, locked memory and InfiniBand VFs and subnet manager. Run it as root: some\n"
        "checks need it. Exit status: 0 every host ready, 8 a host is not (a check failed).");
    cmd_->add_flag("--json", json_, "Print JSON (one object per host) instead of text");
    cmd_->add_option("-w,--nodes,--nodelist", nodes_, "Check these nodes through srun (one task on each)");
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override { return nodes_.empty() ? run_here() : run_on_nodes(); }

 private:
  int run_here() {
    doctor::Host host;
    host.root = ::geteuid() == 0;
    const config::ConfigDirs dirs = config::config_dirs_from_env();
    const doctor::Report report = doctor::run_all_checks(host, dirs.system);
    if (json_) {
      std::cout << doctor::to_json(report).dump() << '\n';
    } else {
      std::cout << doctor::render_text(report);
    }
    return report.ready() ? 0 : kNotReady;
  }

  // Each node prints its report as one JSON line; they are read back and shown together.
  int run_on_nodes() {
    Command c;
    // --label: srun then forwards each task's output line by line ("0: {...}"), so that two
    // nodes' reports never interleave within a line.
    c.argv = {"srun", "--nodelist=" + nodes_, "--ntasks-per-node=1", "--time=5", "--job-name=vm-doctor", "--label",
              self_executable().string(), "doctor", "--json"};
    c.search_path = true;
    c.inherit_env = true;
    c.capture_stderr = false;  // srun's own messages (queued, waiting) as they come
    c.timeout = std::chrono::minutes(10);
    const RunResult r = slurmvm::run(c);
    // srun --label prefixes every chunk it forwards with the task's number, and splits a long
    // line into several chunks: a task's report is its chunks put back together.
    std::map<int, std::string> task_output;
    std::size_t start = 0;
    while (start < r.out.size()) {
      const auto end = r.out.find('\n', start);
      const std::string_view line =
          std::string_view(r.out).substr(start, end == std::string::npos ? std::string::npos : end - start);
      const auto colon = line.find(": ");
      int task = -1;
      if (colon != std::string_view::npos && colon > 0 && colon < 8) {
        const std::string_view label = line.substr(0, colon);
        const auto first = label.find_first_not_of(' ');
        if (first != std::string_view::npos) {
          const auto [p, ec] = std::from_chars(label.data() + first, label.data() + label.size(), task);
          if (ec != std::errc() || p != label.data() + label.size()) task = -1;
        }
      }
      if (task >= 0) task_output[task].append(line.substr(colon + 2));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    std::vector<doctor::Report> reports;
    for (const auto& [task, text] : task_output) {
      try {
        reports.push_back(doctor::report_from_json(nlohmann::json::parse(text)));
      } catch (const nlohmann::json::exception&) {
        throw Error(fmt::format("vm doctor: task {} printed what is not a report: {}", task, text.substr(0, 200)),
                    ErrorKind::system);
      }
    }
    if (reports.empty()) {
      throw Error(fmt::format("vm doctor: srun on {} gave no report (exit status {}{})", nodes_, r.exit_code,
                              r.timed_out ? ", no answer in 10 min" : ""),
                  r.timed_out ? ErrorKind::timeout : ErrorKind::system);
    }
    bool ready = true;
    if (json_) {
      nlohmann::json all = nlohmann::json::array();
      for (const auto& rep : reports) all.push_back(doctor::to_json(rep));
      std::cout << all.dump(2) << '\n';
    }
    for (const auto& rep : reports) {
      ready = ready && rep.ready();
      if (!json_) std::cout << doctor::render_text(rep);
    }
    if (r.exit_code != 0 && r.exit_code != kNotReady && !r.timed_out) {
      std::cerr << fmt::format("vm doctor: srun ended with status {}: not every node may have answered\n", r.exit_code);
      ready = false;
    }
    return ready ? 0 : kNotReady;
  }

  CLI::App* cmd_ = nullptr;
  bool json_ = false;
  std::string nodes_;
};

}  // namespace

std::unique_ptr<Verb> make_doctor_verb() { return std::make_unique<DoctorVerb>(); }

}  // namespace slurmvm::cli
