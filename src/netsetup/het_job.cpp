// A heterogeneous job's components, from squeue and scontrol (het_job.hpp).
#include "netsetup/het_job.hpp"

#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <fmt/format.h>

#include "error.hpp"
#include "log.hpp"
#include "netsetup/job_error.hpp"
#include "node_layout.hpp"
#include "slurm_lists.hpp"
#include "subprocess.hpp"

namespace slurmvm::netsetup {
namespace {

// Digits only, no sign, within uint32_t.
std::optional<std::uint32_t> decimal(std::string_view text) {
  std::uint32_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = text.find(sep, start);
    out.push_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

[[noreturn]] void disagree(std::uint32_t het_job_id, const std::string& what) {
  throw Error(fmt::format("heterogeneous job {}: {}", het_job_id, escape_for_log(what, 512)), ErrorKind::config);
}

struct Component {
  std::uint32_t job_id = 0;
  std::vector<std::string> nodes;  // squeue's %N, expanded
  std::uint32_t cpus = 0;          // squeue's %C
  std::map<std::string, std::uint32_t> cpus_on;  // from scontrol's pairs
  bool described = false;
};

}  // namespace

std::uint32_t count_cpu_ids(std::string_view text) {
  std::uint32_t total = 0;
  for (const std::string_view item : split(text, ',')) {
    const auto dash = item.find('-');
    const auto first = decimal(item.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : decimal(item.substr(dash + 1));
    if (!first || !last || *last < *first || *last - *first >= 65536) {
      throw Error(fmt::format("CPU_IDs \"{}\" is not a CPU list", escape_for_log(text, 128)), ErrorKind::config);
    }
    total += *last - *first + 1;
  }
  return total;
}

std::vector<ComponentAllocation> parse_het_components(std::uint32_t het_job_id, std::string_view squeue_text,
                                                      std::string_view scontrol_text) {
  // squeue: the components, their nodes and CPUs.
  std::map<std::uint32_t, Component> by_offset;
  for (const std::string_view line : split(squeue_text, '\n')) {
    if (line.empty()) continue;
    const auto f = split(line, '|');
    const auto plus = f.size() == 4 ? f[1].find('+') : std::string_view::npos;
    const auto id = f.size() == 4 ? decimal(f[0]) : std::nullopt;
    const auto cpus = f.size() == 4 ? decimal(f[3]) : std::nullopt;
    if (!id || !cpus || plus == std::string_view::npos || decimal(f[1].substr(0, plus)) != het_job_id) {
      disagree(het_job_id, fmt::format("unexpected squeue line \"{}\"", line));
    }
    const auto offset = decimal(f[1].substr(plus + 1));
    if (!offset || by_offset.contains(*offset)) disagree(het_job_id, fmt::format("squeue line \"{}\"", line));
    Component c;
    c.job_id = *id;
    c.cpus = *cpus;
    c.nodes = with_context(fmt::format("squeue's node list of job {}", *id), [&] { return expand_hostlist(f[2]); });
    by_offset.emplace(*offset, std::move(c));
  }
  if (by_offset.empty()) disagree(het_job_id, "squeue lists no component");
  if (by_offset.rbegin()->first + 1 != by_offset.size()) disagree(het_job_id, "squeue misses a component");

  // scontrol: the CPUs on each node, believed where squeue agrees.
  for (const std::string_view line : split(scontrol_text, '\n')) {
    if (!line.starts_with("JobId=")) continue;
    const auto words = split(line, ' ');
    const auto id = decimal(words[0].substr(6));
    Component* comp = nullptr;
    for (auto& [offset, c] : by_offset) {
      if (id == c.job_id) comp = &c;
    }
    if (comp == nullptr) continue;  // not a component: a line a user's text began
    if (comp->described) disagree(het_job_id, fmt::format("scontrol describes job {} twice", *id));
    comp->described = true;
    for (std::size_t i = 0; i + 1 < words.size(); ++i) {
      if (!words[i].starts_with("Nodes=") || !words[i + 1].starts_with("CPU_IDs=")) continue;
      const auto nodes = with_context(fmt::format("scontrol's Nodes= of job {}", *id),
                                      [&] { return expand_hostlist(words[i].substr(6)); });
      const std::uint32_t cpus = count_cpu_ids(words[i + 1].substr(8));
      for (const auto& n : nodes) {
        if (!comp->cpus_on.emplace(n, cpus).second) {
          disagree(het_job_id, fmt::format("scontrol gives job {} node {} twice", *id, n));
        }
      }
    }
  }

  std::vector<ComponentAllocation> out;
  for (auto& [offset, c] : by_offset) {
    if (!c.described) disagree(het_job_id, fmt::format("scontrol does not describe job {}", c.job_id));
    ComponentAllocation a;
    a.job_id = c.job_id;
    std::uint64_t sum = 0;
    for (const auto& n : c.nodes) {
      const auto it = c.cpus_on.find(n);
      if (it == c.cpus_on.end()) disagree(het_job_id, fmt::format("scontrol gives job {} no CPUs on {}", c.job_id, n));
      a.nodes.push_back(n);
      a.cpus_per_node.push_back(it->second);
      sum += it->second;
    }
    if (c.cpus_on.size() != c.nodes.size() || sum != c.cpus) {
      disagree(het_job_id, fmt::format("scontrol's CPUs of job {} ({} on {} nodes) are not squeue's ({} on {})", c.job_id,
                                       sum, c.cpus_on.size(), c.cpus, c.nodes.size()));
    }
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<ComponentAllocation> query_het_components(const SlurmQuery& query, std::uint32_t het_job_id) {
  const auto ask = [&](std::vector<std::string> argv) {
    const Command c = query.command(std::move(argv));
    RunResult r;
    try {
      r = run(c);
    } catch (const Error& e) {
      throw JobError(fmt::format("cannot ask slurmctld about heterogeneous job {}: {}", het_job_id, e.what()),
                     ErrorKind::system);
    }
    if (!r.ok()) {
      throw JobError(fmt::format("cannot ask slurmctld about heterogeneous job {}: {} {}: {}", het_job_id,
                                 c.argv.front(), r.timed_out ? "timed out" : fmt::format("exited with status {}", r.exit_code),
                                 escape_for_log(r.err, 512)),
                     ErrorKind::system);
    }
    return r.out;
  };
  const std::string id = std::to_string(het_job_id);
  const std::string squeue = ask({query.squeue, "--noheader", "--jobs=" + id, "--format=%A|%i|%N|%C"});
  const std::string scontrol = ask({query.scontrol, "--details", "--oneliner", "show", "job", id});
  try {
    return parse_het_components(het_job_id, squeue, scontrol);
  } catch (const Error& e) {
    throw JobError(e);
  }
}

}  // namespace slurmvm::netsetup
