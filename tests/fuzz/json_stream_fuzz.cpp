// The QMP, guest-agent and OVSDB stream reader: what a guest (through the agent) or a broken
// daemon sends, cut at arbitrary points. The first byte picks where to cut and whether the
// agent's 0xFF resync is on.
#include "fuzz_input.hpp"
#include "json_stream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  slurmvm::JsonStreamDecoder decoder({.peer = "fuzz", .max_message = 1 << 16, .resync_on_ff = (data[0] & 0x80) != 0});
  const auto text = slurmvm::fuzz::as_text(data + 1, size - 1);
  slurmvm::fuzz::expect_parsed_or_refused([&] {
    for (std::size_t at = 0; at < text.size(); at += chunk) {
      decoder.feed(text.substr(at, chunk));
      while (decoder.next()) {
      }
    }
    (void)decoder.idle();
  });
  return 0;
}
