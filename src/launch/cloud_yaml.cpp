// JSON to block-style YAML (cloud_yaml.hpp).
#include "launch/cloud_yaml.hpp"

#include <cmath>
#include <string_view>

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

// A JSON string literal is a valid YAML double-quoted scalar: the escapes it uses (\" \\ \n \t
// \uXXXX ...) are YAML escapes with the same meaning.
std::string quoted(const std::string& text) {
  return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
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
    if (u == 0x7f) return false;
    if (line_start && (c == ' ' || c == '\t')) return false;
    line_start = c == '\n';
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
