// JSON to block-style YAML (cloud_yaml.hpp).
#include "launch/cloud_yaml.hpp"

#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "config/yaml_json.hpp"

namespace slurmvm::launch {
namespace {

using nlohmann::json;

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// True when PyYAML would read `text`, written plain, back as this very string (not a bool,
// null, number or date) and nothing in it is a YAML indicator. Deliberately narrow: a quoted
// string is always right, a wrongly plain one changes the guest's configuration.
bool plain_is_safe(std::string_view text) {
  if (text.empty() || text.size() > 1024) return false;
  const char first = text.front();
  if (!is_letter(first) && first != '/' && first != '_') return false;
  if (text.back() == ' ') return false;
  for (const char c : text) {
    const bool ok = is_letter(c) || is_digit(c) || c == ' ' || c == '.' || c == '_' || c == '/' ||
                    c == '+' || c == '=' || c == '@' || c == '-';
    if (!ok) return false;
  }
  // YAML 1.1 booleans (yes, On, ...) and nulls; single y/n are booleans in the spec too.
  if (text == "y" || text == "Y" || text == "n" || text == "N") return false;
  return config::plain_scalar_to_json(std::string(text)).is_string();
}

bool key_is_plain(std::string_view key) {
  if (key.empty() || !(is_letter(key.front()) || key.front() == '_')) return false;
  for (const char c : key) {
    if (!(is_letter(c) || is_digit(c) || c == '_' || c == '-')) return false;
  }
  return plain_is_safe(key);
}

// The length of a UTF-8 sequence at `at` that YAML must not see raw, 0 for any other: DEL and
// the C1 controls are not printable (YAML 1.1 §5.1: PyYAML refuses the whole document), and NEL
// (a C1 control), LS and PS are line breaks to YAML 1.1, which a quoted scalar folds into a
// space and a literal block splits a line at; U+FFFE and U+FFFF are not printable either.
// Found by tests/fuzz/user_data_fuzz.cpp (a DEL in a cloud-config key).
std::size_t yaml_unsafe_at(std::string_view s, std::size_t at) {
  const auto byte = [&](std::size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0U; };
  const unsigned b0 = byte(at);
  if (b0 == 0x7f) return 1;
  if (b0 == 0xc2 && byte(at + 1) >= 0x80 && byte(at + 1) <= 0x9f) return 2;
  if (b0 == 0xe2 && byte(at + 1) == 0x80 && (byte(at + 2) == 0xa8 || byte(at + 2) == 0xa9)) return 3;
  if (b0 == 0xef && byte(at + 1) == 0xbf && (byte(at + 2) == 0xbe || byte(at + 2) == 0xbf)) return 3;
  return 0;
}

// A JSON string literal is a valid YAML double-quoted scalar: the escapes it uses (\" \\ \n \t
// \uXXXX ...) are YAML escapes with the same meaning. JSON leaves the characters above raw: they
// become \uXXXX escapes too.
std::string quoted(const std::string& text) {
  const std::string dumped = json(text).dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(dumped.size());
  for (std::size_t i = 0; i < dumped.size();) {
    const std::size_t n = yaml_unsafe_at(dumped, i);
    if (n == 0) {
      out += dumped[i++];
      continue;
    }
    // Decode the 1-3 byte sequence (all of them are well-formed: checked above).
    unsigned cp = static_cast<unsigned char>(dumped[i]);
    if (n == 2) cp = ((cp & 0x1fU) << 6) | (static_cast<unsigned char>(dumped[i + 1]) & 0x3fU);
    if (n == 3) {
      cp = ((cp & 0x0fU) << 12) | ((static_cast<unsigned char>(dumped[i + 1]) & 0x3fU) << 6) |
           (static_cast<unsigned char>(dumped[i + 2]) & 0x3fU);
    }
    out += fmt::format("\\u{:04x}", cp);
    i += n;
  }
  return out;
}

std::string scalar_text(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case json::value_t::number_float: {
      const double d = value.get<double>();
      if (std::isnan(d)) return ".nan";
      if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
      // PyYAML's float needs a dot ("1e+20" would be a string): 1e+20 -> 1.0e+20.
      std::string text = value.dump();
      if (text.find('.') == std::string::npos) {
        const std::size_t e = text.find_first_of("eE");
        text.insert(e == std::string::npos ? text.size() : e, ".0");
      }
      return text;
    }
    case json::value_t::string: {
      const std::string& s = value.get_ref<const std::string&>();
      return plain_is_safe(s) ? s : quoted(s);
    }
    default:
      return value.dump();  // integers
  }
}

// A multi-line string that a literal block scalar (|) carries unchanged: no carriage returns or
// other control characters, and no line starting with a space (the indentation would be
// misread) or made of spaces only.
bool literal_block_fits(const std::string& s) {
  if (s.find('\n') == std::string::npos) return false;
  bool line_start = true;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\n' && c != '\t') return false;
    if (line_start && (c == ' ' || c == '\t')) return false;
    line_start = c == '\n';
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (yaml_unsafe_at(s, i) != 0) return false;
  }
  return true;
}

void emit_literal_block(std::string& out, const std::string& s, int indent) {
  std::size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
  // Chomping: "|-" strips the final newline, "|" keeps one, "|+" keeps them all.
  out += trailing == 0 ? "|-\n" : trailing == 1 ? "|\n" : "|+\n";
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  std::size_t start = 0;
  const std::size_t body_end = s.size() - trailing;
  while (start < body_end) {
    std::size_t end = s.find('\n', start);
    if (end == std::string::npos || end > body_end) end = body_end;
    if (end > start) out += pad + s.substr(start, end - start);
    out += '\n';
    start = end + 1;
  }
  for (std::size_t i = 1; i < trailing; ++i) out += '\n';
}

bool is_nonempty_container(const json& v) {
  return (v.is_object() || v.is_array()) && !v.empty();
}

void emit_container(std::string& out, const json& value, int indent);

// The value after "key:" or "- ", the block content at `indent`.
void emit_after_indicator(std::string& out, const json& value, int indent) {
  if (is_nonempty_container(value)) {
    out += '\n';
    emit_container(out, value, indent);
  } else if (value.is_object()) {
    out += " {}\n";
  } else if (value.is_array()) {
    out += " []\n";
  } else if (value.is_string() && literal_block_fits(value.get_ref<const std::string&>())) {
    out += ' ';
    emit_literal_block(out, value.get_ref<const std::string&>(), indent);
  } else {
    out += ' ';
    out += scalar_text(value);
    out += '\n';
  }
}

void emit_container(std::string& out, const json& value, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      out += pad;
      out += key_is_plain(key) ? key : quoted(key);
      out += ':';
      emit_after_indicator(out, item, indent + 2);
    }
    return;
  }
  for (const json& item : value) {
    if (is_nonempty_container(item)) {
      // "- key: v" / "- - x": the item's block written two columns in, its first line's
      // indentation then replaced by the dash.
      std::string inner;
      emit_container(inner, item, indent + 2);
      inner.replace(0, static_cast<std::size_t>(indent) + 2, pad + "- ");
      out += inner;
    } else {
      out += pad;
      out += '-';
      emit_after_indicator(out, item, indent + 2);
    }
  }
}

}  // namespace

std::string to_block_yaml(const nlohmann::json& document) {
  std::string out;
  if (is_nonempty_container(document)) {
    emit_container(out, document, 0);
  } else if (document.is_object()) {
    out = "{}\n";
  } else if (document.is_array()) {
    out = "[]\n";
  } else if (document.is_string() && literal_block_fits(document.get_ref<const std::string&>())) {
    emit_literal_block(out, document.get_ref<const std::string&>(), 2);
  } else {
    out = scalar_text(document) + "\n";
  }
  return out;
}

}  // namespace slurmvm::launch
