// The table of templates.yaml keys, used by the loader and by Template::settings(): one row
// per key, in the documented order, saying whether the key is inherited and how its value is
// read, copied into a template, and shown as (and read back from) JSON. Adding a key means adding a member to
// Template and a row here; nothing else lists keys.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>

#include "config/template.hpp"
#include "config/yaml_reader.hpp"

namespace slurmvm::config {

struct SettingSpec {
  std::string_view key;
  bool inheritable;
  // Reads a non-empty value into `t`. Returns false when the value means "the default"
  // (`image: false`), which, like an empty value, stops inheritance.
  bool (*parse)(const Value& value, Template& t);
  void (*copy)(const Template& from, Template& to);
  nlohmann::json (*to_json)(const Template& t);
  // The inverse of to_json (a resolved cluster's snapshot, resolved_cluster.hpp). Throws
  // Error(config) naming what is wrong.
  void (*from_json)(const nlohmann::json& value, Template& t);
};

std::span<const SettingSpec> setting_specs() noexcept;

// The row of `key`, which must be in the table.
std::size_t setting_index(std::string_view key) noexcept;

}  // namespace slurmvm::config
