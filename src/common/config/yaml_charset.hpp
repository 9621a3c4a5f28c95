// What a YAML stream may contain, checked before yaml-cpp sees it. YAML 1.2 §5.1 allows only
// printable characters (c-printable: tab, LF, CR, U+0020-U+007E, U+0085, U+00A0-U+D7FF,
// U+E000-U+FFFD, U+10000-U+10FFFF) in UTF-8 here. yaml-cpp 0.7 (Debian 12) loops forever on
// some text that breaks the rule (`,"\x01\x06` is five such bytes: found by
// tests/fuzz/config_fuzz), and a configuration file is user input (~/.slurm-vm).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace slurmvm::config {

struct CharsetProblem {
  std::size_t offset = 0;  // of the first offending byte
  int line = 0;            // 0-based, as YAML::Mark counts
  int column = 0;          // 0-based, in characters as an editor shows them
  std::string what;        // "a control character (U+0001)", "a byte that is not UTF-8 (0xff)"
};

// The first character of `text` YAML does not allow, or nullopt. A leading byte-order mark is
// allowed.
std::optional<CharsetProblem> yaml_charset_problem(std::string_view text);

}  // namespace slurmvm::config
