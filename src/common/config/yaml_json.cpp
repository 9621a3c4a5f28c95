// YAML to JSON with YAML 1.1 types (yaml_json.hpp).
#include "config/yaml_json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>

namespace slurmvm::config {
namespace {

bool all_in(std::string_view s, std::string_view chars) noexcept {
  return !s.empty() && s.find_first_not_of(chars) == std::string_view::npos;
}

constexpr std::string_view kDigits = "0123456789";

std::optional<std::int64_t> parse_int(std::string_view digits, int base, bool negative) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return negative ? -value : value;
}

// [-+]? then 0x<hex> | 0<octal> | 0 | [1-9][0-9]*
std::optional<std::int64_t> yaml11_int(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.starts_with("0x")) {
    if (!all_in(s.substr(2), "0123456789abcdefABCDEF")) return std::nullopt;
    return parse_int(s.substr(2), 16, negative);
  }
  if (s.size() > 1 && s[0] == '0') {
    if (!all_in(s.substr(1), "01234567")) return std::nullopt;
    return parse_int(s.substr(1), 8, negative);
  }
  if (!all_in(s, kDigits)) return std::nullopt;
  return parse_int(s, 10, negative);
}

// [-+]? then [0-9]+ . [0-9]* | . [0-9]+, then an optional exponent [eE][-+][0-9]+
bool is_yaml11_float(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  const std::size_t dot = s.find('.');
  if (dot == std::string_view::npos) return false;
  std::string_view fraction = s.substr(dot + 1);
  std::string_view exponent;
  if (const std::size_t e = fraction.find_first_of("eE"); e != std::string_view::npos) {
    exponent = fraction.substr(e + 1);
    fraction = fraction.substr(0, e);
    if (exponent.size() < 2 || (exponent[0] != '-' && exponent[0] != '+') ||
        !all_in(exponent.substr(1), kDigits)) {
      return false;
    }
  }
  const std::string_view whole = s.substr(0, dot);
  if (!whole.empty() && !all_in(whole, kDigits)) return false;
  if (!fraction.empty() && !all_in(fraction, kDigits)) return false;
  return !whole.empty() || !fraction.empty();
}

}  // namespace

nlohmann::json plain_scalar_to_json(const std::string& text) {
  static constexpr std::array<std::string_view, 5> kNull = {"", "~", "null", "Null", "NULL"};
  if (std::find(kNull.begin(), kNull.end(), text) != kNull.end()) return nullptr;
  if (auto b = parse_yaml_bool(text)) return *b;
  if (auto i = yaml11_int(text)) return *i;
  if (is_yaml11_float(text)) return std::strtod(text.c_str(), nullptr);
  return text;  // including .inf and .nan, which JSON cannot hold
}

nlohmann::json yaml_to_json(const Value& value) {
  if (value.is_null()) return nullptr;
  if (value.is_list()) {
    nlohmann::json out = nlohmann::json::array();
    for (const Value& item : value.as_list()) out.push_back(yaml_to_json(item));
    return out;
  }
  if (value.is_map()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& e : value.as_map().entries()) out[e.name] = yaml_to_json(e.value);
    return out;
  }
  // Quoted and explicitly tagged scalars (`!!str 0644`) are strings; only plain ones resolve.
  if (value.node().Tag() != "?") return value.node().Scalar();
  return plain_scalar_to_json(value.node().Scalar());
}

}  // namespace slurmvm::config
