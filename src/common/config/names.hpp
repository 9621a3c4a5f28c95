// The names configuration objects go by: networks, resource sets and repositories share pcocc's
// rule (a letter, then letters, digits, '_' or '-'); templates also allow '.' (cluster_def.hpp),
// since template names often carry versions (centos-7.9).
#pragma once

#include <string>
#include <string_view>

#include "config/yaml_reader.hpp"

namespace slurmvm::config {

bool is_valid_name(std::string_view name) noexcept;

// Fails at the entry's key unless it is a valid name for a `what` ("network", ...).
void check_name(const Mapping::Entry& entry, std::string_view what);

// Fails at `value` unless it is a valid identifier for the kernel or sysfs (a driver, a device):
// letters, digits, '_' and '-'. These end up in paths under /sys written by root helpers.
std::string as_sysfs_name(const Value& value);

// "defined: a, b" from a map's keys, or `none` when it is empty: the hint of "unknown X" errors.
template <class Map>
std::string defined_names(const Map& map, std::string_view none) {
  if (map.empty()) return std::string(none);
  std::string out = "defined: ";
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it != map.begin()) out += ", ";
    out += it->first;
  }
  return out;
}

}  // namespace slurmvm::config
