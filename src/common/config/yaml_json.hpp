// YAML to JSON with YAML 1.1 types, for inline cloud-config (template `user-data: {...}`).
// cloud-init reads user-data with PyYAML, as pcocc did, so plain scalars take the types PyYAML
// gives them (`yes` is true, `0644` is 420, `1.5` is a float) and quoted ones stay strings. The
// JSON is what the seed ISO receives: a JSON document is valid YAML, and its types are explicit.
#pragma once

#include <nlohmann/json.hpp>

#include "config/yaml_reader.hpp"

namespace slurmvm::config {

// Mapping keys must be strings; duplicate keys are errors, merge keys are applied (Mapping).
nlohmann::json yaml_to_json(const Value& value);

// The JSON value PyYAML would give a plain (unquoted) scalar: null, bool, int, float or string.
// Sexagesimal (`1:30`) and binary forms stay strings.
nlohmann::json plain_scalar_to_json(const std::string& text);

}  // namespace slurmvm::config
