// `vm ps [--all] [--json]`: the user's virtual clusters: their jobs as squeue reports them
// (one squeue call), with the cluster definition from each job directory. --all adds the job
// directories of ended jobs (their console logs are kept there). A batch job still queued has
// no job directory yet and shows once it runs.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "job_files.hpp"
#include "subprocess.hpp"
#include "table.hpp"
#include "verb.hpp"

namespace slurmvm::cli {
namespace {

struct QueuedJob {
  std::string name, partition, nodes, state, time, limit;
};

// job id -> its squeue fields, for the user's jobs.
std::map<std::uint32_t, QueuedJob> queued_jobs() {
  Command c;
  c.argv = {"squeue", "--noheader", "--user=" + user_name(), "--format=%i|%j|%P|%D|%T|%M|%l"};
  c.search_path = true;
  c.inherit_env = true;
  c.timeout = std::chrono::seconds(20);
  const RunResult r = run_checked(c);
  std::map<std::uint32_t, QueuedJob> jobs;
  std::size_t start = 0;
  while (start < r.out.size()) {
    auto end = r.out.find('\n', start);
    if (end == std::string::npos) end = r.out.size();
    const std::string line = r.out.substr(start, end - start);
    start = end + 1;
    std::vector<std::string> f;
    std::size_t s = 0;
    for (;;) {
      const auto bar = line.find('|', s);
      f.push_back(line.substr(s, bar == std::string::npos ? std::string::npos : bar - s));
      if (bar == std::string::npos) break;
      s = bar + 1;
    }
    std::uint32_t id = 0;
    if (f.size() != 7 || std::from_chars(f[0].data(), f[0].data() + f[0].size(), id).ec != std::errc()) continue;
    jobs[id] = {f[1], f[2], f[3], f[4], f[5], f[6]};
  }
  return jobs;
}

// The job ids that have a job directory with a cluster.
std::vector<std::uint32_t> job_dirs(const std::filesystem::path& home) {
  std::vector<std::uint32_t> ids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(home / ".local/state/slurm-vm", ec)) {
    const std::string name = e.path().filename().string();
    std::uint32_t id = 0;
    if (!name.starts_with("job-") || !std::filesystem::exists(e.path() / "cluster.json")) continue;
    const auto [end, err] = std::from_chars(name.data() + 4, name.data() + name.size(), id);
    if (err == std::errc() && end == name.data() + name.size() && id != 0) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

class PsVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("ps", "List your virtual clusters");
    cmd_->add_flag("-a,--all", all_, "Also the clusters of ended jobs (whose logs are kept)");
    cmd_->add_flag("--json", json_, "Print JSON");
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    const auto home = home_directory();
    const auto queued = queued_jobs();
    Table table({"JOBID", "NAME", "DEFINITION", "VMS", "NODES", "PARTITION", "STATE", "TIME", "TIMELIMIT"});
    nlohmann::json out = nlohmann::json::array();
    for (const auto id : job_dirs(home)) {
      const auto q = queued.find(id);
      if (q == queued.end() && !all_) continue;
      ClusterFile c;
      try {
        c = JobDir(home, id).read_cluster();
      } catch (const Error&) {
        continue;  // being written, or not ours to read
      }
      const QueuedJob j = q != queued.end() ? q->second : QueuedJob{"-", "-", std::to_string(c.nodes.size()), "ENDED", "-", "-"};
      table.add_row({std::to_string(id), j.name, c.definition, std::to_string(c.node_of_vm.size()), j.nodes,
                     j.partition, j.state, j.time, j.limit});
      out.push_back({{"job_id", id}, {"name", j.name}, {"definition", c.definition},
                     {"vms", c.node_of_vm.size()}, {"nodes", c.nodes}, {"partition", j.partition},
                     {"state", j.state}, {"time", j.time}, {"time_limit", j.limit}});
    }
    if (json_) {
      std::cout << out.dump(2) << '\n';
    } else {
      table.print(std::cout);
    }
    return 0;
  }

 private:
  CLI::App* cmd_ = nullptr;
  bool all_ = false;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Verb> make_ps_verb() { return std::make_unique<PsVerb>(); }

}  // namespace slurmvm::cli
