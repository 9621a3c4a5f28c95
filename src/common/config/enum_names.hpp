// One table per configuration enum maps its YAML spellings to values. The same table parses a
// value and names it back (`template show`, JSON), so a spelling can never differ between the two.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace slurmvm::config {

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

// The spelling of `value`; every enumerator is in its table, so this never falls through.
template <class E>
std::string_view name_of(std::span<const EnumName<E>> names, E value) noexcept {
  for (const auto& n : names) {
    if (n.value == value) return n.name;
  }
  return "?";
}

// "a, b or c", for "expected one of ..." messages.
template <class E>
std::string list_names(std::span<const EnumName<E>> names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += (i + 1 == names.size()) ? " or " : ", ";
    out += names[i].name;
  }
  return out;
}

}  // namespace slurmvm::config
