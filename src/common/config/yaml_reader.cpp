// Reading YAML configuration with errors that say where (yaml_reader.hpp).
#include "config/yaml_reader.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <limits>

#include <mutex>
#include <set>

#include "config/substitutions.hpp"
#include "config/yaml_charset.hpp"
#include "config/yaml_documents.hpp"
#include "error.hpp"
#include "log.hpp"
#include "unique_fd.hpp"

namespace slurmvm::config {
namespace {

bool is_word_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Printable and short: a value may be a whole multi-line cloud-config.
std::string quote_for_message(std::string_view text) {
  constexpr std::size_t kMax = 60;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == kMax) {
      out += "...";
      break;
    }
    const char c = text[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// What a node is, for "got ..." in messages: "an empty value", "a list", "a mapping" or the
// quoted text.
std::string describe_node(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "an empty value";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return quote_for_message(node.Scalar());
}

std::string range_text(std::int64_t min, std::int64_t max) {
  // A bound at the type's limit is not a limit anyone wrote: leave it out.
  const bool unbounded = max >= std::numeric_limits<int>::max();
  if (unbounded && min == 0) return "a non-negative integer";
  if (unbounded && min == 1) return "a positive integer";
  if (unbounded) return fmt::format("an integer of at least {}", min);
  return fmt::format("an integer between {} and {}", min, max);
}

// Levenshtein distance, to suggest the key a typo meant.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

int line_of(const YAML::Node& node, int fallback) {
  // yaml-cpp places an empty value at the next token, often on the next line: use the key's.
  if (node.IsNull() || node.Mark().is_null()) return fallback;
  return node.Mark().line + 1;
}

std::string_view line_text(std::string_view text, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index && start != std::string_view::npos; ++i) {
    start = text.find('\n', start);
    if (start != std::string_view::npos) ++start;
  }
  if (start == std::string_view::npos || start > text.size()) return {};
  return text.substr(start, text.find('\n', start) - start);
}

[[noreturn]] void throw_syntax_error(std::string_view text, const std::filesystem::path& file,
                                     const YAML::Mark& mark, const std::string& what) {
  std::string message = fmt::format("{}:{}:{}: YAML syntax error: {}", file.string(), mark.line + 1,
                                    mark.column + 1, what);
  // yaml-cpp often says only "illegal map value" for the commonest mistake.
  const std::string_view line = line_text(text, mark.line);
  const std::size_t indent_end = line.find_first_not_of(" \t");
  if (line.substr(0, indent_end).find('\t') != std::string_view::npos &&
      what.find("tab") == std::string::npos) {
    message += " (tabs cannot indent YAML: use spaces)";
  }
  throw Error(message, ErrorKind::config);
}

}  // namespace

void throw_config_error(std::string_view file, int line, std::string_view path,
                        std::string_view message) {
  if (path.empty()) throw Error(fmt::format("{}:{}: {}", file, line, message), ErrorKind::config);
  throw Error(fmt::format("{}:{}: {}: {}", file, line, path, message), ErrorKind::config);
}

std::optional<bool> parse_yaml_bool(std::string_view text) noexcept {
  static constexpr std::array<std::string_view, 9> kTrue = {"true", "True", "TRUE", "yes", "Yes",
                                                            "YES",  "on",   "On",   "ON"};
  static constexpr std::array<std::string_view, 9> kFalse = {"false", "False", "FALSE", "no", "No",
                                                             "NO",    "off",   "Off",   "OFF"};
  for (auto t : kTrue) {
    if (text == t) return true;
  }
  for (auto f : kFalse) {
    if (text == f) return false;
  }
  return std::nullopt;
}

std::string join_key_path(std::string_view parent, std::string_view key) {
  const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), is_word_char);
  std::string component = plain ? std::string(key) : quote_for_message(key);
  if (parent.empty()) return component;
  return fmt::format("{}.{}", parent, component);
}

// ---- Value ----------------------------------------------------------------------------------

Value::Value(YAML::Node node, std::shared_ptr<const std::string> file, std::string path, int line)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)), line_(line) {}

bool Value::is_null() const noexcept { return !node_.IsDefined() || node_.IsNull(); }
bool Value::is_scalar() const noexcept { return node_.IsScalar(); }
bool Value::is_list() const noexcept { return node_.IsSequence(); }
bool Value::is_map() const noexcept { return node_.IsMap(); }
bool Value::is_quoted() const noexcept { return node_.IsScalar() && node_.Tag() == "!"; }

bool Value::is_false() const noexcept {
  return is_scalar() && !is_quoted() && parse_yaml_bool(node_.Scalar()) == false;
}

void Value::fail(std::string_view message) const {
  throw_config_error(*file_, line_, path_, message);
}

void Value::warn_no_effect(std::string_view why) const {
  static std::mutex mutex;
  static std::set<std::string> warned;
  std::string where = fmt::format("{}:{}: {}", *file_, line_, path_);
  {
    const std::lock_guard lock(mutex);
    if (!warned.insert(where).second) return;
  }
  log_warning("{}: accepted for pcocc compatibility but has no effect: {}", where, why);
}

void Value::fail_expected(std::string_view what) const {
  fail(fmt::format("expected {}, got {}", what, describe()));
}

std::string Value::describe() const { return describe_node(node_); }

std::string Value::as_string() const {
  if (!is_scalar()) fail_expected("a string");
  return node_.Scalar();
}

std::string Value::as_nonempty_string() const {
  if (!is_scalar() || node_.Scalar().empty()) fail_expected("a non-empty string");
  return node_.Scalar();
}

std::string Value::as_expandable_string() const {
  std::string text = as_nonempty_string();
  if (auto error = substitution_error(text)) fail(*error);
  return text;
}

std::string Value::as_absolute_path() const {
  std::string path = as_nonempty_string();
  if (path.front() != '/') fail_expected("an absolute path");
  return path;
}

bool Value::as_bool() const {
  if (is_scalar()) {
    if (auto b = parse_yaml_bool(node_.Scalar())) return *b;
  }
  fail_expected("true or false");
}

std::int64_t Value::as_int(std::int64_t min, std::int64_t max) const {
  if (is_scalar()) {
    const std::string& text = node_.Scalar();
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec == std::errc() && ptr == end && value >= min && value <= max) return value;
  }
  fail_expected(range_text(min, max));
}

int Value::as_int32(int min, int max) const { return static_cast<int>(as_int(min, max)); }

std::vector<Value> Value::as_list() const {
  std::vector<Value> out;
  if (is_null()) return out;
  if (!is_list()) fail_expected("a list");
  out.reserve(node_.size());
  std::size_t i = 0;
  for (const auto& item : node_) {
    out.emplace_back(item, file_, fmt::format("{}[{}]", path_, i++), line_of(item, line_));
  }
  return out;
}

std::vector<std::string> Value::as_string_list() const {
  std::vector<std::string> out;
  for (const Value& item : as_list()) out.push_back(item.as_string());
  return out;
}

Mapping Value::as_map() const { return Mapping(*this); }

Value Value::child(YAML::Node node, std::string_view key, int fallback_line) const {
  const int line = line_of(node, fallback_line);
  return Value(std::move(node), file_, join_key_path(path_, key), line);
}

// ---- Mapping --------------------------------------------------------------------------------

Mapping::Mapping(const Value& self) : self_(self) {
  if (self.is_null()) return;
  if (!self.is_map()) self.fail_expected("a mapping");
  add_entries(self, false);
}

void Mapping::add_entries(const Value& from, bool merged) {
  std::vector<Value> merges;
  for (const auto& kv : from.node()) {
    const YAML::Node& k = kv.first;
    const int key_line = line_of(k, from.line());
    if (!k.IsScalar()) {
      throw_config_error(from.file(), key_line, from.path(),
                         "expected a string key, got " + describe_node(k));
    }
    const std::string& name = k.Scalar();
    if (name == "<<" && k.Tag() == "?") {
      merges.push_back(from.child(kv.second, name, key_line));
      continue;
    }
    if (const Entry* first = find(name)) {
      if (merged) continue;  // explicit keys, then earlier merges, take precedence
      throw_config_error(from.file(), key_line, join_key_path(self_.path(), name),
                         fmt::format("duplicate key, first defined at {}:{}", first->key.file(),
                                     first->key.line()));
    }
    index_.emplace(name, entries_.size());
    entries_.push_back(
        {name, self_.child(k, name, key_line), self_.child(kv.second, name, key_line)});
  }
  for (const Value& m : merges) {
    if (m.is_map()) {
      add_entries(m, true);
    } else if (m.is_list()) {
      for (const Value& item : m.as_list()) {
        if (!item.is_map()) item.fail_expected("a mapping to merge");
        add_entries(item, true);
      }
    } else {
      m.fail_expected("a mapping or a list of mappings to merge");
    }
  }
}

const Mapping::Entry* Mapping::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::optional<Value> Mapping::get(std::string_view key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
  if (const Entry* e = find(key)) return e->value;
  return std::nullopt;
}

Value Mapping::require(std::string_view key) {
  if (auto v = get(key)) return *v;
  self_.fail(fmt::format("missing required key \"{}\"", key));
}

void Mapping::reject_unknown_keys() const {
  for (const Entry& e : entries_) {
    if (std::find(known_.begin(), known_.end(), e.name) != known_.end()) continue;
    const std::string* closest = nullptr;
    std::size_t best = 3;  // suggest only near misses
    for (const std::string& k : known_) {
      if (const std::size_t d = edit_distance(e.name, k); d < best) {
        best = d;
        closest = &k;
      }
    }
    if (closest != nullptr) e.key.fail(fmt::format("unknown key, did you mean \"{}\"?", *closest));
    e.key.fail(fmt::format("unknown key; expected one of: {}", fmt::join(known_, ", ")));
  }
}

// ---- Documents ------------------------------------------------------------------------------


Value parse_yaml(std::string_view text, const std::filesystem::path& file) {
  auto name = std::make_shared<const std::string>(file.string());
  if (const auto problem = yaml_charset_problem(text)) {
    YAML::Mark at;
    at.pos = static_cast<int>(problem->offset);
    at.line = problem->line;
    at.column = problem->column;
    throw_syntax_error(text, file, at, problem->what);
  }
  // One document per file. Not YAML::LoadAll: yaml-cpp 0.7 loops forever when a ',' stands
  // where a document's root node would start (`,` or `[a]\n,`: it yields empty documents
  // without consuming it; found by tests/fuzz/config_fuzz). The parser is driven here one
  // document at a time, two at most, then the first is built.
  const std::string owned(text);
  YAML::Node document;
  try {
    const DocumentCount counter = count_documents(owned, 2);
    if (counter.documents == 0) return Value(YAML::Node(), name, "", 1);
    if (counter.documents > 1) {
      const auto at = static_cast<std::size_t>(std::max(counter.second.pos, 0));
      if (at < owned.size() && owned[at] == ',') {
        throw_syntax_error(text, file, counter.second, "a `,` outside a flow collection ([...] or {...})");
      }
      throw_config_error(*name, counter.second_root.line + 1, "",
                         "expected one YAML document, found several (remove the `---` separators)");
    }
    document = YAML::Load(owned);
  } catch (const YAML::Exception& e) {
    throw_syntax_error(text, file, e.mark, e.msg);
  }
  return Value(document, name, "", line_of(document, 1));
}

Value read_yaml_file(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return parse_yaml("", file);
    throw Error("cannot read " + file.string(), ErrorKind::config, errno);
  }
  std::string text;
  std::array<char, 16384> buffer;
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot read " + file.string(), ErrorKind::config, errno);
    }
    text.append(buffer.data(), static_cast<std::size_t>(n));
  }
  return parse_yaml(text, file);
}

}  // namespace slurmvm::config
