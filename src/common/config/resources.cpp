// Resource sets of resources.yaml (resources.hpp).
#include "config/resources.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "config/names.hpp"

namespace slurmvm::config {

ResourceSetMap parse_resource_sets(const Value& root, const NetworkMap& networks) {
  ResourceSetMap sets;
  const ResourceSet* default_set = nullptr;
  for (const auto& entry : root.as_map().entries()) {
    check_name(entry, "resource set");
    Mapping m = entry.value.as_map();
    ResourceSet set{entry.name, {}, false, entry.key.file(), entry.key.line()};
    if (auto list = m.get("networks")) {
      for (const Value& item : list->as_list()) {
        std::string name = item.as_nonempty_string();
        if (!networks.contains(name)) {
          item.fail(fmt::format("unknown network \"{}\" ({})", name,
                                defined_names(networks, "networks.yaml defines none")));
        }
        // The same network twice would give a VM two NICs on one segment with one address.
        if (std::find(set.networks.begin(), set.networks.end(), name) != set.networks.end()) {
          item.fail(fmt::format("network \"{}\" is listed twice", name));
        }
        set.networks.push_back(std::move(name));
      }
    }
    const auto is_default = m.get("default");
    if (is_default) set.is_default = is_default->as_bool();
    m.reject_unknown_keys();
    if (set.is_default && default_set != nullptr) {
      is_default->fail(
          fmt::format("resource set \"{}\" is already the default ({}:{}); only one "
                      "set can be",
                      default_set->name, default_set->file.string(), default_set->line));
    }
    const auto it = sets.emplace(entry.name, std::move(set)).first;
    if (it->second.is_default) default_set = &it->second;
  }
  return sets;
}

}  // namespace slurmvm::config
