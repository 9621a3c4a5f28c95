// What a user types at submission and an administrator writes on the plugstack line: the
// --vm-template value as the SPANK plugin reads it, the plugin's plugstack arguments, and the
// image references and sizes of `vm image` and `--image`. The first byte picks the reader.
#include <string_view>
#include <vector>

#include "definition.hpp"
#include "fuzz_input.hpp"
#include "image_repo.hpp"
#include "plugin_args.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto text = slurmvm::fuzz::as_text(data + 1, size - 1);
  using slurmvm::fuzz::expect_parsed_or_refused;
  switch (data[0] % 4) {
    case 0:
      expect_parsed_or_refused([&] {
        (void)slurmvm::spank::parse_definition({std::string(text), "--vm-template"});
      });
      break;
    case 1: {
      // The plugstack line's arguments, split at blanks as Slurm splits them.
      std::vector<std::string_view> args;
      for (std::size_t at = 0; at < text.size();) {
        const auto end = std::min(text.find_first_of(" \t", at), text.size());
        if (end > at) args.push_back(text.substr(at, end - at));
        at = end + 1;
      }
      expect_parsed_or_refused([&] { (void)slurmvm::spank::parse_plugin_args(args); });
      break;
    }
    case 2: expect_parsed_or_refused([&] { (void)slurmvm::parse_image_ref(text); }); break;
    default: expect_parsed_or_refused([&] { (void)slurmvm::parse_image_size(text, 1ULL << 40); }); break;
  }
  return 0;
}
