// `vm ps [-a | -u USER] [--ended] [--json]`: virtual clusters, as squeue reports their jobs (one
// squeue call), with the cluster definition from each job directory. A batch job still queued
// has no job directory yet and shows once it runs.
//
// -a and -u keep pcocc's meaning (every user's clusters, one user's). A cluster is only known
// from its owner's job directory, private to them (0700), so other users' clusters show to root
// only: root reads each directory with the owner's uid, which also works on a root-squashed
// NFS home. --ended adds the job directories of ended jobs (their console logs are kept).
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <charconv>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "job_files.hpp"
#include "log.hpp"
#include "subprocess.hpp"
#include "table.hpp"
#include "verb.hpp"

namespace slurmvm::cli {
namespace {

struct QueuedJob {
  std::string user, name, partition, nodes, state, time, limit;
};

std::vector<std::string> split_bars(const std::string& line) {
  std::vector<std::string> f;
  std::size_t s = 0;
  for (;;) {
    const auto bar = line.find('|', s);
    f.push_back(line.substr(s, bar == std::string::npos ? std::string::npos : bar - s));
    if (bar == std::string::npos) return f;
    s = bar + 1;
  }
}

// job id -> its squeue fields; `user` empty: every user's jobs.
std::map<std::uint32_t, QueuedJob> queued_jobs(const std::string& user) {
  Command c;
  // squeue's --all is hidden partitions too, not all users: that is the default.
  c.argv = {"squeue", "--all", "--noheader", "--format=%i|%u|%j|%P|%D|%T|%M|%l"};
  if (!user.empty()) c.argv.push_back("--user=" + user);
  c.search_path = true;
  c.inherit_env = true;
  c.timeout = std::chrono::seconds(20);
  const RunResult r = run_checked(c);
  std::map<std::uint32_t, QueuedJob> jobs;
  std::size_t start = 0;
  while (start < r.out.size()) {
    auto end = r.out.find('\n', start);
    if (end == std::string::npos) end = r.out.size();
    const auto f = split_bars(r.out.substr(start, end - start));
    start = end + 1;
    std::uint32_t id = 0;
    if (f.size() != 8 || std::from_chars(f[0].data(), f[0].data() + f[0].size(), id).ec != std::errc()) continue;
    jobs[id] = {f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
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

// Root takes the owner's uid and gid while reading their job directories, and back after.
class OwnerCredentials {
 public:
  explicit OwnerCredentials(const passwd& pw) {
    if (::geteuid() != 0 || pw.pw_uid == 0) return;
    if (::setegid(pw.pw_gid) != 0) throw Error::from_errno(fmt::format("setegid({})", pw.pw_gid), errno);
    if (::seteuid(pw.pw_uid) != 0) {
      const int err = errno;
      if (::setegid(0) != 0) std::abort();
      throw Error::from_errno(fmt::format("seteuid({})", pw.pw_uid), err);
    }
    switched_ = true;
  }
  ~OwnerCredentials() {
    if (!switched_) return;
    // Failing to get root back would leave the rest of the listing wrong: stop there.
    if (::seteuid(0) != 0 || ::setegid(0) != 0) std::abort();
  }
  OwnerCredentials(const OwnerCredentials&) = delete;
  OwnerCredentials& operator=(const OwnerCredentials&) = delete;

 private:
  bool switched_ = false;
};

class PsVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("ps", "List virtual clusters (yours by default)");
    auto* all = cmd_->add_flag("-a,--all", all_users_, "Every user's clusters (root sees them all, others only theirs)");
    cmd_->add_option("-u,--user", user_, "This user's clusters (root, or yourself)")->excludes(all);
    cmd_->add_flag("--ended", ended_, "Also the clusters of ended jobs (whose logs are kept)");
    cmd_->add_flag("--json", json_, "Print JSON");
    cmd_->footer("-a and -u are pcocc's. Other users' job directories are private to them, so their\n"
                 "clusters are listed for root only.");
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    const std::string me = user_name();
    const std::string only = all_users_ ? "" : (user_.empty() ? me : user_);
    if (!only.empty() && only != me && ::geteuid() != 0) {
      throw Error(fmt::format("vm ps -u {}: other users' virtual clusters are private to them (only root "
                              "can list them)",
                              only),
                  ErrorKind::usage);
    }
    const auto queued = queued_jobs(only);
    std::set<std::string> users;
    if (!only.empty()) {
      users.insert(only);
    } else if (::geteuid() == 0) {
      for (const auto& [id, j] : queued) users.insert(j.user);
    } else {
      users.insert(me);
    }
    Table table({"JOBID", "USER", "NAME", "DEFINITION", "VMS", "NODES", "PARTITION", "STATE", "TIME", "TIMELIMIT"});
    nlohmann::json out = nlohmann::json::array();
    for (const auto& user : users) list_user(user, user == me, queued, table, out);
    print_listing(table, out, json_);
    return 0;
  }

 private:
  void list_user(const std::string& user, bool is_me, const std::map<std::uint32_t, QueuedJob>& queued,
                 Table& table, nlohmann::json& out) const {
    const passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr || pw->pw_dir == nullptr) {
      if (!user_.empty()) throw Error(fmt::format("no user named {}", user), ErrorKind::not_found);
      return;
    }
    const std::filesystem::path home = is_me ? home_directory() : std::filesystem::path(pw->pw_dir);
    const passwd owner = *pw;
    const OwnerCredentials as_owner(owner);
    for (const auto id : job_dirs(home)) {
      const auto q = queued.find(id);
      if (q == queued.end() && !ended_) continue;
      if (q != queued.end() && q->second.user != user) continue;
      ClusterFile c;
      try {
        c = JobDir(home, id).read_cluster();
      } catch (const Error&) {
        continue;  // being written
      }
      const QueuedJob j = q != queued.end() ? q->second
                                            : QueuedJob{user, "-", "-", std::to_string(c.nodes.size()), "ENDED", "-", "-"};
      table.add_row({std::to_string(id), user, j.name, c.definition, std::to_string(c.node_of_vm.size()), j.nodes,
                     j.partition, j.state, j.time, j.limit});
      out.push_back({{"job_id", id}, {"user", user}, {"name", j.name}, {"definition", c.definition},
                     {"vms", c.node_of_vm.size()}, {"nodes", c.nodes}, {"partition", j.partition},
                     {"state", j.state}, {"time", j.time}, {"time_limit", j.limit}});
    }
  }

  CLI::App* cmd_ = nullptr;
  bool all_users_ = false;
  bool ended_ = false;
  bool json_ = false;
  std::string user_;
};

}  // namespace

std::unique_ptr<Verb> make_ps_verb() { return std::make_unique<PsVerb>(); }

}  // namespace slurmvm::cli
