// The names configuration objects go by (names.hpp).
#include "config/names.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace slurmvm::config {
namespace {

bool is_letter(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_word_char(char c) noexcept {
  return is_letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

}  // namespace

bool is_valid_name(std::string_view name) noexcept {
  return !name.empty() && is_letter(name[0]) && std::all_of(name.begin(), name.end(), is_word_char);
}

void check_name(const Mapping::Entry& entry, std::string_view what) {
  if (!is_valid_name(entry.name)) {
    entry.key.fail(
        fmt::format("invalid {} name (expected a letter, then letters, digits, '_' or '-')", what));
  }
}

std::string as_sysfs_name(const Value& value) {
  std::string name = value.as_nonempty_string();
  if (!std::all_of(name.begin(), name.end(), is_word_char)) {
    value.fail_expected("a device or driver name (letters, digits, '_' or '-')");
  }
  return name;
}

}  // namespace slurmvm::config
