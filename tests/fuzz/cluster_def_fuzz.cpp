// Cluster definitions ("master:1,compute:128", the --vm-template value a user types) and VM
// sets ("vm[0-3,5]").
#include "cluster_def.hpp"
#include "fuzz_input.hpp"
#include "vm_set.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = slurmvm::fuzz::as_text(data, size);
  slurmvm::fuzz::expect_parsed_or_refused([&] { (void)slurmvm::ClusterDef::parse(text); });
  slurmvm::fuzz::expect_parsed_or_refused([&] { (void)slurmvm::cli::parse_vm_set(text, 128); });
  return 0;
}
