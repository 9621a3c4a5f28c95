// Job selection (job_selection.hpp).
#include "job_selection.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "error.hpp"
#include "job_files.hpp"
#include "log.hpp"
#include "subprocess.hpp"

namespace slurmvm::cli {
namespace {

std::uint32_t env_job_id() {
  // A command forwarded to a node (on_node.hpp) is told the cluster's job: its own
  // SLURM_JOB_ID is the step's, a component's in a heterogeneous job.
  const char* forwarded = std::getenv("SLURM_VM_JOB_ID");
  const char* env = forwarded != nullptr && *forwarded != '\0' ? forwarded : std::getenv("SLURM_JOB_ID");
  if (env == nullptr) return 0;
  std::uint32_t id = 0;
  const std::string_view s(env);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  return ec == std::errc() && end == s.data() + s.size() ? id : 0;
}

std::string describe(const std::vector<RunningCluster>& jobs) {
  std::string out;
  for (const auto& j : jobs) out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", j.id, j.name);
  return out;
}

// The user's running jobs that have a cluster in their job directory.
std::vector<RunningCluster> running_clusters() {
  Command c;
  c.argv = {"squeue", "--noheader", "--user=" + user_name(), "--states=RUNNING", "--format=%i|%j"};
  c.search_path = true;
  c.inherit_env = true;
  c.timeout = std::chrono::seconds(20);
  const RunResult r = run_checked(c);
  const auto home = home_directory();
  std::vector<RunningCluster> out;
  std::size_t start = 0;
  while (start < r.out.size()) {
    auto end = r.out.find('\n', start);
    if (end == std::string::npos) end = r.out.size();
    const std::string line = r.out.substr(start, end - start);
    start = end + 1;
    const auto bar = line.find('|');
    std::uint32_t id = 0;
    if (bar == std::string::npos) continue;
    const auto [p, ec] = std::from_chars(line.data(), line.data() + bar, id);
    // A heterogeneous job (VMs of several sizes) shows once per component, as HET+OFFSET: its
    // cluster is HET's, counted once, from the first component.
    const std::string_view rest(p, static_cast<std::size_t>(line.data() + bar - p));
    if (ec != std::errc() || !(rest.empty() || rest == "+0") || id == 0) continue;
    std::error_code fec;
    if (!std::filesystem::exists(JobDir(home, id).path() / "cluster.json", fec)) continue;
    out.push_back({id, line.substr(bar + 1)});
  }
  return out;
}

}  // namespace

void add_job_options(CLI::App* cmd, JobSelection& selection, bool admin_user) {
  auto* j = cmd->add_option("-j,--jobid", selection.id,
                            "The job of the virtual cluster (default: $SLURM_JOB_ID, else your only running one)");
  cmd->add_option("-J,--jobname,--job-name", selection.name, "The job of the virtual cluster, by its Slurm job name")
      ->excludes(j);
  if (admin_user) {
    cmd->add_option("--user", selection.user, "Root: act on this user's virtual cluster, as that user");
  }
}

std::uint32_t pick_job(const JobSelection& selection, std::uint32_t env_job_id,
                       const std::vector<RunningCluster>& running) {
  if (selection.id != 0) return selection.id;
  if (!selection.name.empty()) {
    std::vector<RunningCluster> named;
    for (const auto& j : running) {
      if (j.name == selection.name) named.push_back(j);
    }
    if (named.size() == 1) return named.front().id;
    if (named.empty()) {
      throw Error(fmt::format("you have no running virtual cluster named {}{}", selection.name,
                              running.empty() ? "" : " (running: " + describe(running) + ")"),
                  ErrorKind::not_found);
    }
    throw Error(fmt::format("several of your running virtual clusters are named {}: {}; choose one with -j JOBID",
                            selection.name, describe(named)),
                ErrorKind::usage);
  }
  if (env_job_id != 0) return env_job_id;
  if (running.size() == 1) return running.front().id;
  if (running.empty()) {
    throw Error("no job given and you have no running virtual cluster: start one with `vm alloc`, or give -j JOBID",
                ErrorKind::usage);
  }
  throw Error(fmt::format("you have several running virtual clusters: {}; choose one with -j JOBID or -J NAME",
                          describe(running)),
              ErrorKind::usage);
}

void act_as_cluster_owner(const std::string& user) {
  if (user.empty()) return;
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) throw Error(fmt::format("--user {}: no such user", user), ErrorKind::not_found);
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  const std::string name = pw->pw_name, home = pw->pw_dir;  // getpw* storage is overwritten by the next call
  if (uid == ::geteuid()) return;
  if (::geteuid() != 0) {
    throw Error(fmt::format("--user {}: only root acts on another user's virtual clusters (Slurm's operators "
                            "without root: scontrol and scancel)",
                            user),
                ErrorKind::usage);
  }
  // Groups first: once the uid is the user's, nothing else can be dropped.
  if (::initgroups(name.c_str(), gid) != 0) throw Error::from_errno(fmt::format("--user {}: initgroups", user), errno);
  if (::setresgid(gid, gid, gid) != 0) throw Error::from_errno(fmt::format("--user {}: setresgid", user), errno);
  if (::setresuid(uid, uid, uid) != 0) throw Error::from_errno(fmt::format("--user {}: setresuid", user), errno);
  uid_t r = 0, e = 0, sv = 0;
  if (::getresuid(&r, &e, &sv) != 0 || r != uid || e != uid || sv != uid) {
    throw Error(fmt::format("--user {}: still not uid {}", user, uid), ErrorKind::system);
  }
  ::setenv("HOME", home.c_str(), 1);
  ::setenv("USER", name.c_str(), 1);
  ::setenv("LOGNAME", name.c_str(), 1);
  // Root's own allocation, agent and runtime directory are not the user's.
  for (const char* v : {"SLURM_JOB_ID", "SLURM_JOBID", "SLURM_VM_TEMPLATE", "SSH_AUTH_SOCK", "XDG_RUNTIME_DIR"}) {
    ::unsetenv(v);
  }
  // srun starts its tasks in this directory: root's own (/root) is the user's no more.
  if (::access(".", X_OK) != 0 && ::chdir(home.c_str()) == 0) {
    log_info("{} may not enter the current directory: working in {}", name, home);
  }
  log_info("acting as {} (uid {})", name, uid);
}

std::uint32_t resolve_job(const JobSelection& selection) {
  act_as_cluster_owner(selection.user);
  if (selection.id != 0) return selection.id;
  const std::uint32_t env = env_job_id();
  if (selection.name.empty() && env != 0) return env;
  std::vector<RunningCluster> running;
  try {
    running = running_clusters();
  } catch (const Error& e) {
    if (!selection.name.empty()) {
      throw Error(fmt::format("cannot find your virtual cluster named {}: {}", selection.name, e.what()), e.kind());
    }
    throw Error(fmt::format("no job given: use -j JOBID or -J NAME, or run this inside `vm alloc` or a batch job "
                            "(your running virtual clusters cannot be listed: {})",
                            e.what()),
                ErrorKind::usage);
  }
  return pick_job(selection, env, running);
}

}  // namespace slurmvm::cli
