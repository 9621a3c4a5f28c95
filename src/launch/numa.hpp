// Guest memory on the NUMA nodes of the VM's vCPUs, through libhwloc (no numactl fork): before
// vm-launch becomes QEMU it binds its own memory policy (set_mempolicy MPOL_BIND, which execve
// keeps and every QEMU thread inherits) to the nodes holding the CPUs its vCPUs are pinned to,
// so that the guest's RAM is allocated where those vCPUs run. A VM whose vCPUs span two nodes
// is bound to both (its memory is not split per guest NUMA node: docs/vm-launch.md).
#pragma once

#include <string>
#include <vector>

struct hwloc_topology;

namespace slurmvm::launch {

// An hwloc topology, destroyed with its owner.
class Topology {
 public:
  // This machine's, as the process sees it (cpusets of its cgroup respected).
  static Topology this_system();
  // hwloc's synthetic description, for tests: "node:2 core:2 pu:1".
  static Topology synthetic(const std::string& description);

  Topology(Topology&& other) noexcept;
  Topology& operator=(Topology&&) = delete;
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;
  ~Topology();

  // OS indexes of the NUMA nodes holding any of `cpus` (OS CPU numbers), in increasing order.
  std::vector<int> nodes_of_cpus(const std::vector<int>& cpus) const;
  int node_count() const;

  // Binds the calling thread's memory policy to `nodes` (MPOL_BIND): the whole process's when
  // it is single-threaded, and what execve passes on. Throws Error with the errno.
  void bind_process_memory(const std::vector<int>& nodes) const;

 private:
  explicit Topology(hwloc_topology* t) : topology_(t) {}
  hwloc_topology* topology_;
};

}  // namespace slurmvm::launch
