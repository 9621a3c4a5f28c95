// Reclaiming stale jobs' leftovers (reclaim.hpp).
#include "netsetup/reclaim.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "error.hpp"
#include "log.hpp"
#include "subprocess.hpp"
#include "unique_fd.hpp"

namespace slurmvm::netsetup {
namespace {

// Slurm's final job states (squeue(1) JOB STATE CODES): a job in one of these runs nothing.
constexpr std::array<std::string_view, 9> kFinalStates = {
    "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY"};

bool is_final(std::string_view state) {
  for (auto f : kFinalStates) {
    if (state == f) return true;
  }
  return false;
}

}  // namespace

std::optional<std::set<std::uint32_t>> parse_live_jobs(std::string_view squeue_output) {
  std::set<std::uint32_t> live;
  std::istringstream in{std::string(squeue_output)};
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::istringstream words(line);
    std::string id, shown, state, extra;
    if (!(words >> id >> shown >> state) || (words >> extra)) return std::nullopt;
    std::uint32_t job = 0;
    std::optional<std::uint32_t> het;
    try {
      job = parse_job_id(id);
      // A heterogeneous job's component shows as HET+OFFSET: its records on a node go by HET,
      // which must count as alive as long as any component is (docs/design.md §8).
      if (const auto plus = shown.find('+'); plus != std::string::npos) het = parse_job_id(shown.substr(0, plus));
    } catch (const Error&) {
      return std::nullopt;
    }
    // "CANCELLED by 1000" is printed as one word by %T; a state with a suffix is not final.
    if (!is_final(state)) {
      live.insert(job);
      if (het) live.insert(*het);
    }
  }
  return live;
}

Command SlurmQuery::command(std::vector<std::string> argv) const {
  Command c;
  c.argv = std::move(argv);
  c.env_set = {kChildPath};
  if (!slurm_conf.empty()) c.env_set.push_back("SLURM_CONF=" + slurm_conf);
  c.timeout = timeout;
  return c;
}

std::optional<std::set<std::uint32_t>> live_jobs_on_node(const SlurmQuery& query, const std::string& node) {
  const Command c =
      query.command({query.squeue, "--noheader", "--states=all", "--format=%A %i %T", "--nodelist=" + node});
  RunResult r;
  try {
    r = run(c);
  } catch (const Error& e) {
    log_warning("cannot ask slurmctld which jobs run on {}: {}", node, e.what());
    return std::nullopt;
  }
  if (!r.ok()) {
    log_warning("cannot ask slurmctld which jobs run on {}: squeue {}: {}", node,
                r.timed_out ? "timed out" : fmt::format("exited with status {}", r.exit_code), r.err);
    return std::nullopt;
  }
  auto live = parse_live_jobs(r.out);
  if (!live) log_warning("cannot ask slurmctld which jobs run on {}: unexpected squeue output", node);
  return live;
}

std::optional<std::uint32_t> stepd_job(std::string_view cmdline) {
  constexpr std::string_view prefix = "slurmstepd: [";
  if (!cmdline.starts_with(prefix)) return std::nullopt;
  const std::string_view rest = cmdline.substr(prefix.size());
  std::uint32_t job = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), job);
  if (ec != std::errc() || job == 0 || end == rest.data() + rest.size() || (*end != '.' && *end != '+')) {
    return std::nullopt;
  }
  return job;
}

std::set<std::uint32_t> jobs_with_stepd(const std::filesystem::path& proc) {
  std::set<std::uint32_t> jobs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(proc, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    // Only the start matters: "slurmstepd: [" and the id. A process gone meanwhile reads as "".
    char buf[64];
    UniqueFd fd(::open((entry.path() / "cmdline").c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) continue;
    if (const auto job = stepd_job({buf, static_cast<std::size_t>(n)})) jobs.insert(*job);
  }
  return jobs;
}

ReclaimReport reclaim_stale_jobs(const NodePaths& paths, const SlurmQuery& query, const std::string& node,
                                 std::uint32_t current_job, const std::filesystem::path& proc) {
  ReclaimReport report;
  auto candidates = jobs_with_leftovers(paths);
  candidates.erase(current_job);
  if (!candidates.empty() && !proc.empty()) {
    for (const auto job : jobs_with_stepd(proc)) candidates.erase(job);
  }
  if (candidates.empty()) return report;
  const auto live = live_jobs_on_node(query, node);
  if (!live || !live->contains(current_job)) {
    if (live) log_warning("slurmctld does not list job {} on {}: not trusting its answer", current_job, node);
    log_warning("leftovers of job(s) {} are kept until a later prolog can tell whether they still run",
                fmt::join(candidates, ", "));
    report.skipped = true;
    return report;
  }
  for (const auto job : candidates) {
    if (live->contains(job)) continue;
    log_warning("job {} has ended but its leftovers are still on {} (its epilog never ran): cleaning up", job,
                node);
    try {
      const auto undo = clean_job(paths, job);
      if (undo.ok()) {
        report.reclaimed.insert(job);
        continue;
      }
      for (const auto& f : undo.failures) log_error("job {}: undo of ledger line {} ({}) failed: {}", job, f.line, f.op, f.error);
    } catch (const Error& e) {
      log_error("job {}: cleaning up failed: {}", job, e.what());
    }
    report.failed.insert(job);
  }
  return report;
}

}  // namespace slurmvm::netsetup
