// Reading YAML configuration with errors that say where. Every value read through this layer
// knows its file, its 1-based line and its key path, so every error it raises reads like
//   templates.yaml:12: compute.emulator-cores: expected a non-negative integer, got "two"
// and is a slurmvm::Error of kind config. Loaders never touch yaml-cpp nodes directly.
//
// Quoting never changes how a setting is read (`mtu: "1500"` is `mtu: 1500`): pcocc sites quote
// freely, and one rule is easier to document than YAML's. Only inline cloud-config keeps YAML
// types, since cloud-init will see them (yaml_json.hpp).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/enum_names.hpp"

namespace slurmvm::config {

class Mapping;

// Throws Error(ErrorKind::config) "FILE:LINE: PATH: MESSAGE" (no "PATH: " when path is empty).
[[noreturn]] void throw_config_error(std::string_view file, int line, std::string_view path,
                                     std::string_view message);

// YAML 1.1 booleans as PyYAML reads them (pcocc's files were written for PyYAML): yes/no,
// true/false, on/off in lower, Capitalised or UPPER case.
std::optional<bool> parse_yaml_bool(std::string_view text) noexcept;

// "parent.key", with keys that are not plain words quoted: compute.persistent-drives[0]."/a.raw".
std::string join_key_path(std::string_view parent, std::string_view key);

class Value {
 public:
  Value(YAML::Node node, std::shared_ptr<const std::string> file, std::string path, int line);

  const YAML::Node& node() const noexcept { return node_; }
  const std::string& file() const noexcept { return *file_; }
  const std::string& path() const noexcept { return path_; }
  int line() const noexcept { return line_; }

  bool is_null() const noexcept;
  bool is_scalar() const noexcept;
  bool is_list() const noexcept;
  bool is_map() const noexcept;
  // A scalar YAML would read as false (`image: false` means "no image" in pcocc).
  bool is_false() const noexcept;
  // True for quoted scalars, which YAML always reads as strings.
  bool is_quoted() const noexcept;

  [[noreturn]] void fail(std::string_view message) const;
  // "expected WHAT, got DESCRIPTION"
  [[noreturn]] void fail_expected(std::string_view what) const;
  // A pcocc key slurm-vm accepts but does not act on: a warning naming the file, the line and
  // the key, and why (never silently ignored), once per process for each place.
  void warn_no_effect(std::string_view why) const;
  // What this value is, for messages: "an empty value", "a list", "a mapping" or "\"text\"".
  std::string describe() const;

  // Any scalar, as written (numbers and booleans included).
  std::string as_string() const;
  std::string as_nonempty_string() const;
  // A non-empty string in which pcocc's %{...} substitutions are allowed (substitutions.hpp):
  // their syntax is checked here, they are expanded only when used.
  std::string as_expandable_string() const;
  // A non-empty string starting with '/'.
  std::string as_absolute_path() const;
  bool as_bool() const;
  // A decimal integer in [min, max].
  std::int64_t as_int(std::int64_t min, std::int64_t max) const;
  int as_int32(int min, int max) const;
  template <class E>
  E as_enum(std::span<const EnumName<E>> names) const;
  // A list; an empty value reads as an empty list.
  std::vector<Value> as_list() const;
  std::vector<std::string> as_string_list() const;
  // A mapping; an empty value reads as an empty mapping.
  Mapping as_map() const;

  // A child of this value (a mapping entry or a list item) located at `fallback_line` when
  // YAML gives it no position of its own (empty values).
  Value child(YAML::Node node, std::string_view key, int fallback_line) const;

 private:
  YAML::Node node_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
  int line_;
};

// A mapping read strictly: duplicate keys are errors, keys must be strings, and every key a
// loader did not ask for is reported by reject_unknown_keys(). YAML merge keys (`<<: *base`)
// are applied, with explicit keys taking precedence, because PyYAML sites may use them.
class Mapping {
 public:
  struct Entry {
    std::string name;
    Value key;    // located at the key
    Value value;  // located at the value (or at the key when the value is empty)
  };

  explicit Mapping(const Value& self);

  const Value& self() const noexcept { return self_; }
  // In file order (merged entries last). On a temporary Mapping (`v.as_map().entries()` in a
  // range-for) the entries are moved out, since the Mapping dies before the loop runs.
  const std::vector<Entry>& entries() const& noexcept { return entries_; }
  std::vector<Entry> entries() && noexcept { return std::move(entries_); }
  bool empty() const noexcept { return entries_.empty(); }

  // The value of `key`, if present; either way `key` becomes a known key.
  std::optional<Value> get(std::string_view key);
  // Like get(), but a missing key is an error located at this mapping.
  Value require(std::string_view key);
  // An error at the first key nobody asked for, listing the known ones.
  void reject_unknown_keys() const;

 private:
  void add_entries(const Value& from, bool merged);

  const Entry* find(std::string_view name) const;

  Value self_;
  std::vector<Entry> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;  // name -> entries_ index
  std::vector<std::string> known_;                         // keys asked for, in asking order
};

// Parses YAML text (one document; empty text is an empty document). `file` names it in errors.
// Syntax errors read "FILE:LINE:COLUMN: YAML syntax error: ...".
Value parse_yaml(std::string_view text, const std::filesystem::path& file);

// Reads and parses a file. A missing file reads as an empty document (configuration files are
// optional); any other failure to read it is an error.
Value read_yaml_file(const std::filesystem::path& file);

template <class E>
E Value::as_enum(std::span<const EnumName<E>> names) const {
  if (is_scalar()) {
    const std::string& text = node_.Scalar();
    for (const auto& n : names) {
      if (n.name == text) return n.value;
    }
  }
  fail_expected(names.size() == 1 ? std::string(names[0].name) : "one of " + list_names(names));
}

}  // namespace slurmvm::config
