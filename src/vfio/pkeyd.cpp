// vm-pkeyd's pass (pkeyd.hpp).
#include "vfio/pkeyd.hpp"

#include <signal.h>

#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "atomic_file.hpp"
#include "error.hpp"
#include "file_read.hpp"
#include "log.hpp"
#include "subprocess.hpp"
#include "vfio/partitions_file.hpp"

namespace fs = std::filesystem;

namespace slurmvm::vfio {
namespace {

constexpr std::size_t kMaxPartitionsFile = 64 << 20;
constexpr const char* kSqueue = "/usr/bin/squeue";

std::string current_content(const fs::path& file) {
  return read_file_if_exists(file, kMaxPartitionsFile).value_or(std::string{});
}

// A systemd unit name: what `systemctl` takes, nothing a shell or option parser would read.
bool is_unit_name(std::string_view s) {
  if (s.empty() || s.size() > 255 || s.front() == '-') return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != '@' && c != ':') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<PartitionTarget> partition_targets(const config::NetworkMap& networks) {
  std::vector<PartitionTarget> out;
  for (const auto& [name, net] : networks) {
    if (const auto* ib = std::get_if<config::InfinibandNetwork>(&net.settings)) {
      out.push_back({name, ib->opensm_partition_cfg, ib->opensm_partition_tpl, ib->opensm_daemon});
    }
  }
  return out;
}

void RealOpensmNotifier::reread(const std::string& opensm) {
  if (!opensm.empty() && opensm.front() == '/') {
    const std::string text = read_file(opensm, 64);
    long pid = 0;
    const auto end = text.data() + text.find_last_not_of(" \n") + 1;
    const auto [p, ec] = std::from_chars(text.data(), end, pid);
    if (ec != std::errc() || p != end || pid <= 1) {
      throw Error(fmt::format("{} does not hold a process id", opensm), ErrorKind::config);
    }
    // The pid file may be stale: signal only an opensm.
    const std::string comm = read_file(fmt::format("/proc/{}/comm", pid), 64);
    if (!comm.starts_with("opensm")) {
      throw Error(fmt::format("{}: process {} is {}, not opensm (a stale pid file?)", opensm, pid,
                              comm.substr(0, comm.find('\n'))),
                  ErrorKind::system);
    }
    if (::kill(static_cast<pid_t>(pid), SIGHUP) != 0) throw Error::from_errno(fmt::format("SIGHUP to opensm {}", pid), errno);
    return;
  }
  if (!is_unit_name(opensm)) throw Error(fmt::format("\"{}\" is neither a pid file nor a systemd unit", opensm), ErrorKind::config);
  Command c;
  c.argv = {"/usr/bin/systemctl", "kill", "--signal=SIGHUP", "--kill-whom=main", "--", opensm};
  c.timeout = std::chrono::seconds(20);
  run_checked(c);
}

SyncResult sync_partitions(const std::vector<PartitionTarget>& targets, const std::vector<PkeyAllocation>& allocations,
                           OpensmNotifier& notifier) {
  SyncResult result;
  for (const auto& t : targets) {
    try {
      std::vector<JobPartition> jobs;
      for (const auto& a : allocations) {
        if (a.network != t.network) continue;
        JobPartition j{a.job, a.pkey, {}, {}};
        for (const auto& [node, m] : a.members) {
          j.vf_guids.insert(j.vf_guids.end(), m.vf_guids.begin(), m.vf_guids.end());
          j.host_guids.insert(j.host_guids.end(), m.host_guids.begin(), m.host_guids.end());
        }
        jobs.push_back(std::move(j));
      }
      const std::string text = partitions_file(read_file(t.partition_tpl, kMaxPartitionsFile), std::move(jobs));
      if (text == current_content(t.partition_cfg)) continue;  // unchanged: no reload
      write_file_atomic(t.partition_cfg, text, 0644);
      result.rewritten.push_back(t.network);
      notifier.reread(t.opensm);
      log_info("network {}: {} rewritten, OpenSM told", t.network, t.partition_cfg.string());
    } catch (const Error& e) {
      result.failed.push_back(fmt::format("{}: {}", t.network, e.what()));
      log_error("network {}: {}", t.network, e.what());
    }
  }
  return result;
}

std::optional<std::set<std::uint32_t>> parse_squeue_ids(std::string_view text) {
  std::set<std::uint32_t> ids;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    while (!line.empty() && line.back() == ' ') line.remove_suffix(1);
    if (line.empty()) continue;
    std::uint32_t id = 0;
    const auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), id);
    if (ec != std::errc() || id == 0 || p != line.data() + line.size()) return std::nullopt;
    ids.insert(id);
  }
  return ids;
}

std::optional<std::set<std::uint32_t>> slurm_jobs() {
  Command c;
  // %A -r: each array task and each heterogeneous component under its own job id, the one its
  // prolog stored (%i would print "1234_5" for job 1240, which then looked ended).
  c.argv = {kSqueue, "-h", "-r", "-o", "%A", "--states=all"};
  c.env_allow = {"SLURM_CONF"};
  c.timeout = std::chrono::seconds(20);
  try {
    const RunResult r = run(c);
    if (r.exit_code != 0) {
      log_warning("squeue failed (exit {}): no allocation is pruned this time", r.exit_code);
      return std::nullopt;
    }
    return parse_squeue_ids(r.out);
  } catch (const Error& e) {
    log_warning("squeue: {}: no allocation is pruned this time", e.what());
    return std::nullopt;
  }
}

}  // namespace slurmvm::vfio
