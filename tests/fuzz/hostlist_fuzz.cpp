// Slurm's compressed lists as they reach the helpers and the CLI (SLURM_JOB_NODELIST
// "n[001-004,7]", SLURM_JOB_CPUS_PER_NODE "2(x3),1"): refused or expanded, never unbounded.
#include "fuzz_input.hpp"
#include "slurm_lists.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = slurmvm::fuzz::as_text(data, size);
  slurmvm::fuzz::expect_parsed_or_refused([&] { (void)slurmvm::expand_hostlist(text); });
  slurmvm::fuzz::expect_parsed_or_refused([&] { (void)slurmvm::expand_counts(text); });
  return 0;
}
