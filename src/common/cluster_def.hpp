// Cluster definitions, the user's `tpl:count,tpl:count` (pcocc syntax): parsed, checked and
// numbered. VMs are named vm0..vmN-1 in definition order, so `master:1,compute:3` gives
// vm0 = master and vm1..vm3 = compute. A group may size its VMs: `master:1:c=8,compute:16:c=2`
// (CPUs per VM; a group without `c=` takes the job's -c); a cluster of several sizes runs as a
// Slurm heterogeneous job, one component per group (docs/design.md §8).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace slurmvm {

// A bound that catches typos like `compute:1000000` before Slurm is asked for the cores.
// It matches the addressing plan's per-job limit (addressing.hpp).
inline constexpr std::uint32_t kMaxVmsPerCluster = 4092;

// The largest `c=`: QEMU's own bound on vCPUs for the q35 machine.
inline constexpr std::uint32_t kMaxCpusPerVm = 1024;

struct ClusterGroup {
  std::string template_name;
  std::uint32_t count = 1;
  std::optional<std::uint32_t> cpus;  // c=N: CPUs (Slurm's -c) of each VM of the group
};

class ClusterDef {
 public:
  // Parses DEF; throws Error(ErrorKind::config) naming the offending piece and its column.
  static ClusterDef parse(std::string_view text);

  const std::vector<ClusterGroup>& groups() const noexcept { return groups_; }
  std::uint32_t vm_count() const noexcept { return vm_count_; }
  // Template of VM `rank` (0-based); rank must be < vm_count().
  const std::string& template_of(std::uint32_t rank) const;
  // Index in groups() of VM `rank`'s group; Error(not_found) past the last VM.
  std::size_t group_of(std::uint32_t rank) const;
  // Canonical text: counts always written ("a:1,b:2", "a:1:c=4,b:2").
  std::string to_string() const;

  // Whether the groups' VMs differ in size once `default_cpus` (the job's -c) fills the groups
  // without `c=`: then the cluster needs a heterogeneous job.
  bool sized(std::uint32_t default_cpus) const;
  // CPUs of each VM of group `g`: its c=, else `default_cpus`.
  std::uint32_t cpus_of_group(std::size_t g, std::uint32_t default_cpus) const;

  // Throws Error(ErrorKind::not_found) for the first template that `exists` rejects.
  void check_templates(const std::function<bool(std::string_view)>& exists) const;

 private:
  std::vector<ClusterGroup> groups_;
  std::uint32_t vm_count_ = 0;
};

// Until heterogeneous jobs carry them (docs/design.md §8), a definition with c= is refused where
// a job is submitted (the SPANK plugin, vm alloc, vm batch), so that no cluster silently gets
// one size for all: Error(config) saying what to use instead.
void refuse_sizes_per_group(const ClusterDef& def);

// True if `name` is a valid template name: a letter, then letters, digits, '_', '-' or '.'.
bool is_valid_template_name(std::string_view name) noexcept;

}  // namespace slurmvm
