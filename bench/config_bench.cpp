// Cost of what every `vm` command and the SPANK plugin do first: load and validate the
// configuration, parse a cluster definition, compute addresses. Figures only.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "addressing.hpp"
#include "cluster_def.hpp"
#include "config/config.hpp"

namespace {

void BM_LoadConfig(benchmark::State& state) {
  slurmvm::config::ConfigDirs dirs;
  dirs.system = SLURM_VM_SOURCE_DIR "/templates";
  dirs.user = SLURM_VM_SOURCE_DIR "/bench/user-config";
  for (auto _ : state) benchmark::DoNotOptimize(slurmvm::config::load_config(dirs));
}
BENCHMARK(BM_LoadConfig)->Unit(benchmark::kMicrosecond);

void BM_ParseClusterDef(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(slurmvm::ClusterDef::parse("master:1,compute:128,nfs-server:2"));
  }
}
BENCHMARK(BM_ParseClusterDef);

void BM_AddressesFor1024Vms(benchmark::State& state) {
  const auto plan = slurmvm::AddressPlan::default_plan();
  for (auto _ : state) {
    for (std::uint32_t r = 0; r < 1024; ++r) benchmark::DoNotOptimize(plan.vm(42, r));
  }
}
BENCHMARK(BM_AddressesFor1024Vms)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
