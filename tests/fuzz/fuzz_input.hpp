// What every fuzz target shares: the input as text, split into a selector byte and the rest,
// and the one error model (docs/design.md §4: parsers throw slurmvm::Error and nothing else;
// any other exception escaping a parser is a finding, and libFuzzer reports it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "error.hpp"

namespace slurmvm::fuzz {

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
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
