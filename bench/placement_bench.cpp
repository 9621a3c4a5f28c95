// What placing a VM costs vm-launch before it becomes QEMU (numa.hpp, pinning.hpp): reading the
// node's topology with libhwloc, finding the vCPUs' NUMA nodes and planning the pinning. It is
// on every VM's start; pcocc forked one hwloc-calc per core instead.
#include <benchmark/benchmark.h>

#include "launch/numa.hpp"
#include "launch/pinning.hpp"

using namespace slurmvm::launch;

static void BM_TopologyOfThisMachine(benchmark::State& state) {
  for (auto _ : state) {
    const Topology t = Topology::this_system();
    benchmark::DoNotOptimize(t.node_count());
  }
}
BENCHMARK(BM_TopologyOfThisMachine)->Unit(benchmark::kMillisecond);

static void BM_PlaceVm(benchmark::State& state) {
  const auto mask = current_affinity();
  for (auto _ : state) {
    const Topology t = Topology::this_system();
    const PinPlan plan = plan_vcpu_pinning(mask, static_cast<std::uint32_t>(mask.size()), 0);
    std::vector<int> cpus;
    for (const auto& c : plan.cpus_of_vcpu) cpus.insert(cpus.end(), c.begin(), c.end());
    benchmark::DoNotOptimize(t.nodes_of_cpus(cpus));
  }
}
BENCHMARK(BM_PlaceVm)->Unit(benchmark::kMillisecond);

// A 4-socket, 64-core node from hwloc's synthetic description: the lookup alone.
static void BM_NodesOfCpusLargeNode(benchmark::State& state) {
  const Topology t = Topology::synthetic("package:4 numa:2 core:8 pu:2");
  std::vector<int> cpus;
  for (int c = 0; c < 128; c += 2) cpus.push_back(c);
  for (auto _ : state) benchmark::DoNotOptimize(t.nodes_of_cpus(cpus));
}
BENCHMARK(BM_NodesOfCpusLargeNode);

BENCHMARK_MAIN();
