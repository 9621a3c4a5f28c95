// base64 (user-data, cloud-init seeds): decoding anything either refuses it or gives bytes that
// encode back to the same canonical text; encoding anything decodes back to it.
#include <cstdlib>
#include <string>

#include "base64.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = slurmvm::fuzz::as_text(data, size);
  if (slurmvm::base64_decode(slurmvm::base64_encode(text)) != text) std::abort();
  slurmvm::fuzz::expect_parsed_or_refused([&] { (void)slurmvm::base64_decode(text); });
  return 0;
}
