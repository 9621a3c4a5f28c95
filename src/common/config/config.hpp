// The whole configuration of slurm-vm, loaded and validated in one call: networks, resource
// sets, system and user templates, image repositories and site settings. The entry point of
// this directory; docs/config.md describes every file and key.
//
//   const auto cfg = config::load_config(config::config_dirs_from_env());
//   const config::Template& t = cfg.get_template("compute");
#pragma once

#include <string_view>
#include <vector>

#include "config/dirs.hpp"
#include "config/network.hpp"
#include "config/origin.hpp"
#include "config/repos.hpp"
#include "config/resources.hpp"
#include "config/site_settings.hpp"
#include "config/template.hpp"
#include "config/templates_loader.hpp"

namespace slurmvm::config {

struct Config {
  ConfigDirs dirs;
  NetworkMap networks;
  ResourceSetMap resource_sets;
  TemplateMap system_templates;
  TemplateMap user_templates;  // a user template shadows a system one of the same name
  RepoConfig repos;
  SiteSettings site;

  // The user's template of that name, else the system's; nullptr when neither exists.
  const Template* find_template(std::string_view name) const;
  // find_template(), or Error(ErrorKind::not_found).
  const Template& get_template(std::string_view name) const;
  // The templates of one level, sorted by name.
  std::vector<const Template*> templates_of(Origin origin) const;
  // The template `t` inherits from; nullptr when none.
  const Template* parent_of(const Template& t) const;
  // The set marked `default: true`; nullptr when none is.
  const ResourceSet* default_resource_set() const;
};

// Reads every file of `dirs` (missing files are empty) and validates everything.
// Throws Error(ErrorKind::config) naming the file, the line and the key of the first problem.
Config load_config(const ConfigDirs& dirs);

}  // namespace slurmvm::config
