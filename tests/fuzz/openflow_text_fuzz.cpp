// The flow text the prolog writes and vm-node-restore reads back from the node's record
// (state/<job>.flows): parsed back, or refused.
#include "fuzz_input.hpp"
#include "netsetup/openflow_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = slurmvm::fuzz::as_text(data, size);
  slurmvm::fuzz::expect_parsed_or_refused([&] { (void)slurmvm::netsetup::openflow::parse_flows(text); });
  return 0;
}
