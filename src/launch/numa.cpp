// NUMA memory binding (numa.hpp).
#include "launch/numa.hpp"

#include <hwloc.h>

#include <cerrno>
#include <memory>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "error.hpp"

namespace slurmvm::launch {
namespace {

struct BitmapFree {
  void operator()(hwloc_bitmap_s* b) const noexcept { hwloc_bitmap_free(b); }
};
using Bitmap = std::unique_ptr<hwloc_bitmap_s, BitmapFree>;

Bitmap new_bitmap() {
  Bitmap b(hwloc_bitmap_alloc());
  if (!b) throw Error("hwloc_bitmap_alloc failed", ErrorKind::internal);
  return b;
}

hwloc_topology* init_topology() {
  hwloc_topology* t = nullptr;
  if (hwloc_topology_init(&t) != 0) throw Error::from_errno("hwloc_topology_init", errno);
  return t;
}

void load(hwloc_topology* t, const char* what) {
  if (hwloc_topology_load(t) != 0) {
    const int e = errno;
    hwloc_topology_destroy(t);
    throw Error::from_errno(fmt::format("cannot read the machine's topology ({})", what), e);
  }
}

}  // namespace

Topology Topology::this_system() {
  hwloc_topology* t = init_topology();
  // Only what the task needs: no I/O devices, no caches (faster load, less sysfs reading).
  hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
  hwloc_topology_set_cache_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
  load(t, "hwloc");
  return Topology(t);
}

Topology Topology::synthetic(const std::string& description) {
  hwloc_topology* t = init_topology();
  if (hwloc_topology_set_synthetic(t, description.c_str()) != 0) {
    hwloc_topology_destroy(t);
    throw Error(fmt::format("bad synthetic topology \"{}\"", description), ErrorKind::internal);
  }
  load(t, description.c_str());
  return Topology(t);
}

Topology::Topology(Topology&& other) noexcept : topology_(std::exchange(other.topology_, nullptr)) {}

Topology::~Topology() {
  if (topology_ != nullptr) hwloc_topology_destroy(topology_);
}

int Topology::node_count() const { return hwloc_get_nbobjs_by_type(topology_, HWLOC_OBJ_NUMANODE); }

std::vector<int> Topology::nodes_of_cpus(const std::vector<int>& cpus) const {
  Bitmap cpuset = new_bitmap();
  for (const int c : cpus) hwloc_bitmap_set(cpuset.get(), static_cast<unsigned>(c));
  Bitmap nodeset = new_bitmap();
  hwloc_cpuset_to_nodeset(topology_, cpuset.get(), nodeset.get());
  std::vector<int> nodes;
  for (int i = hwloc_bitmap_first(nodeset.get()); i >= 0; i = hwloc_bitmap_next(nodeset.get(), i)) nodes.push_back(i);
  return nodes;
}

void Topology::bind_process_memory(const std::vector<int>& nodes) const {
  Bitmap nodeset = new_bitmap();
  for (const int n : nodes) hwloc_bitmap_set(nodeset.get(), static_cast<unsigned>(n));
  // Linux keeps a memory policy per thread (hwloc has no process-wide binding there: ENOSYS);
  // vm-launch is single-threaded and execve keeps the calling thread's policy, so binding this
  // thread binds QEMU. STRICT: fail rather than fall back to another policy silently.
  if (hwloc_set_membind(topology_, nodeset.get(), HWLOC_MEMBIND_BIND,
                        HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_STRICT) != 0) {
    throw Error::from_errno(fmt::format("cannot bind memory to NUMA node {}", fmt::join(nodes, ",")), errno);
  }
}

}  // namespace slurmvm::launch
