// Templates from all templates files: read, linked to their parents, checked for cycles, and
// resolved (inheritance, then defaults). The rules, after pcocc:
// - names are unique per level (system files, user files); a user template may shadow a
//   system template of the same name, and may inherit from it (`foo: {inherits: foo}`);
// - a user template inherits from a user template first, then from a system one; a system
//   template inherits from system templates only, so the system configuration never depends
//   on a user's files;
// - every key but `inherits` and `description` is inherited; an empty value (or
//   `image: false`) restores the default and stops inheritance;
// - resource-set is required unless resources.yaml has a default set, and must exist.
#pragma once

#include <map>
#include <span>
#include <string>

#include "config/resources.hpp"
#include "config/template.hpp"
#include "config/yaml_reader.hpp"

namespace slurmvm::config {

using TemplateMap = std::map<std::string, Template, std::less<>>;

struct TemplateSet {
  TemplateMap system;
  TemplateMap user;
};

// The root values of each level's templates files, in reading order.
// Throws Error(ErrorKind::config) at the first problem.
TemplateSet load_templates(std::span<const Value> system_files, std::span<const Value> user_files,
                           const ResourceSetMap& resource_sets);

}  // namespace slurmvm::config
