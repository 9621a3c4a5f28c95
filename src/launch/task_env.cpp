// The task's environment (task_env.hpp).
#include "launch/task_env.hpp"

#include <unistd.h>

#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "error.hpp"
#include "slurm_lists.hpp"
#include "vm_layout.hpp"

namespace slurmvm::launch {
namespace {

template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// nullopt when unset or empty; Error when set to something that is not a number.
template <class T>
std::optional<T> number_var(const config::EnvLookup& env, const char* name) {
  const auto text = env(name);
  if (!text || text->empty()) return std::nullopt;
  auto value = parse_number<T>(*text);
  if (!value) {
    throw Error(fmt::format("{}={} is not a number", name, *text), ErrorKind::usage);
  }
  return value;
}

template <class T>
T required_number(const config::EnvLookup& env, const char* name) {
  auto value = number_var<T>(env, name);
  if (!value) {
    throw Error(fmt::format("{} is not set: vm-launch runs as a task of the VMs' Slurm step "
                            "(started by `vm alloc`/`vm batch`), not by hand",
                            name),
                ErrorKind::usage);
  }
  return *value;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

// The step's task count on this node, if the environment tells it unambiguously.
std::optional<std::uint32_t> tasks_on_this_node(const config::EnvLookup& env) {
  const auto node_id = number_var<std::uint32_t>(env, "SLURM_NODEID");
  for (const char* name : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
    const auto text = env(name);
    if (!text || text->empty() || !node_id) continue;
    try {
      const auto counts = expand_counts(*text);
      if (*node_id < counts.size() && counts[*node_id] > 0) return counts[*node_id];
    } catch (const Error&) {
      // Malformed: try the next source rather than guess.
    }
  }
  if (auto n = number_var<std::uint32_t>(env, "SLURM_NTASKS_PER_NODE"); n && *n > 0) return n;
  return std::nullopt;
}

}  // namespace

TaskEnv read_task_env(const config::EnvLookup& env, const std::vector<int>& affinity) {
  TaskEnv t;
  t.job_id = required_number<std::uint32_t>(env, "SLURM_JOB_ID");
  t.rank = required_number<std::uint32_t>(env, "SLURM_PROCID");
  t.step_id = number_var<std::uint32_t>(env, "SLURM_STEP_ID");
  const auto node = env("SLURMD_NODENAME");
  t.node = node && !node->empty() ? *node : host_name();

  if (const auto sizes = env(kCpusPerVmEnv); sizes && !sizes->empty()) {
    // A heterogeneous step (VMs of several sizes): this VM's own, by rank.
    std::vector<std::uint32_t> per_vm;
    try {
      per_vm = expand_counts(*sizes);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", kCpusPerVmEnv, e.what()), ErrorKind::usage);
    }
    if (t.rank >= per_vm.size() || per_vm[t.rank] == 0) {
      throw Error(fmt::format("{}={} gives vm{} no CPUs", kCpusPerVmEnv, *sizes, t.rank), ErrorKind::usage);
    }
    t.cpus = per_vm[t.rank];
  } else if (auto cpus = number_var<std::uint32_t>(env, "SLURM_CPUS_PER_TASK")) {
    if (*cpus == 0) throw Error("SLURM_CPUS_PER_TASK=0: a VM needs a CPU", ErrorKind::usage);
    t.cpus = *cpus;
  } else {
    if (affinity.empty()) throw Error("the task may run on no CPU", ErrorKind::internal);
    t.cpus = static_cast<std::uint32_t>(affinity.size());
  }
  t.local_id = number_var<std::uint32_t>(env, "SLURM_LOCALID").value_or(0);

  // Slurm exports 0 for "no limit" in some versions: treat it as unset.
  if (auto m = number_var<std::uint64_t>(env, "SLURM_MEM_PER_CPU"); m && *m > 0) t.mem_per_cpu_mib = m;
  if (auto m = number_var<std::uint64_t>(env, "SLURM_MEM_PER_NODE"); m && *m > 0) t.mem_per_node_mib = m;
  t.tasks_on_node = tasks_on_this_node(env);

  const config::UserIdentity id = config::current_identity(env);
  t.home = id.home;
  t.user = id.name;
  // "/home/alice/" and "/home/alice" name one job directory.
  while (t.home.size() > 1 && t.home.back() == '/') t.home.pop_back();
  if (t.home.empty() || t.home.front() != '/') {
    throw Error(fmt::format("no usable home directory (HOME={}): the job directory lives there",
                            t.home),
                ErrorKind::config);
  }
  return t;
}

}  // namespace slurmvm::launch
