// What every fuzz target shares: the input as text, split into a selector byte and the rest,
// and the one error model (docs/design.md §4: parsers throw slurmvm::Error and nothing else;
// any other exception escaping a parser is a finding, and libFuzzer reports it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "error.hpp"

namespace slurmvm::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Where a target puts the files its parser reads: $SVM_FUZZ_SCRATCH, a directory the runner
// (run_fuzz_target.sh, bench/fuzz-all) creates and removes (libFuzzer ends a timed run without
// running atexit handlers), else /dev/shm.
inline std::string scratch_dir() {
  const char* dir = std::getenv("SVM_FUZZ_SCRATCH");
  return dir != nullptr && *dir != '\0' ? dir : "/dev/shm";
}

// Runs `parse`, accepting the refusal every parser owes bad input.
template <class F>
void expect_parsed_or_refused(F&& parse) {
  try {
    parse();
  } catch (const slurmvm::Error&) {
  }
}

}  // namespace slurmvm::fuzz
