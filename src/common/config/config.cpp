// Loading the whole configuration (config.hpp): each file is read once, in dependency order
// (networks, then the resource sets naming them, then the templates naming those).
#include "config/config.hpp"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::config {
namespace {

std::vector<Value> read_template_files(const std::filesystem::path& dir) {
  std::vector<Value> roots;
  for (const auto& file : template_files(dir)) roots.push_back(read_yaml_file(file));
  return roots;
}

}  // namespace

const Template* Config::find_template(std::string_view name) const {
  for (const TemplateMap* map : {&user_templates, &system_templates}) {
    if (auto it = map->find(name); it != map->end()) return &it->second;
  }
  return nullptr;
}

const Template& Config::get_template(std::string_view name) const {
  if (const Template* t = find_template(name)) return *t;
  throw Error(
      fmt::format("template \"{}\" not found (`vm template list` shows the templates)", name),
      ErrorKind::not_found);
}

std::vector<const Template*> Config::templates_of(Origin origin) const {
  const TemplateMap& map = origin == Origin::user ? user_templates : system_templates;
  std::vector<const Template*> out;
  out.reserve(map.size());
  for (const auto& [name, t] : map) out.push_back(&t);
  return out;
}

const Template* Config::parent_of(const Template& t) const {
  if (!t.parent || !t.parent_origin) return nullptr;
  const TemplateMap& map = *t.parent_origin == Origin::user ? user_templates : system_templates;
  auto it = map.find(*t.parent);
  return it == map.end() ? nullptr : &it->second;
}

const ResourceSet* Config::default_resource_set() const {
  for (const auto& [name, set] : resource_sets) {
    if (set.is_default) return &set;
  }
  return nullptr;
}

Config load_config(const ConfigDirs& dirs) {
  Config c;
  c.dirs = dirs;
  // pcocc's site file: its batch-args (the partition, the account) would be lost without a word.
  std::error_code ec;
  if (std::filesystem::exists(dirs.system / files::pcocc_batch, ec) && !std::filesystem::exists(dirs.system / files::site, ec)) {
    throw Error(fmt::format("{}: pcocc's batch.yaml is not read by slurm-vm: move its batch-args (and store settings) "
                            "to {} (docs/config.md, \"Differences from pcocc\"), then remove it",
                            (dirs.system / files::pcocc_batch).string(), (dirs.system / files::site).string()),
                ErrorKind::config);
  }
  c.networks = parse_networks(read_yaml_file(dirs.system / files::networks));
  c.resource_sets = parse_resource_sets(read_yaml_file(dirs.system / files::resources), c.networks);

  const std::vector<Value> system_roots = read_template_files(dirs.system);
  const std::vector<Value> user_roots =
      dirs.user ? read_template_files(*dirs.user) : std::vector<Value>{};
  TemplateSet templates = load_templates(system_roots, user_roots, c.resource_sets);
  c.system_templates = std::move(templates.system);
  c.user_templates = std::move(templates.user);

  RepoConfig user_repos = dirs.user
                              ? parse_repos(read_yaml_file(*dirs.user / files::repos), Origin::user)
                              : RepoConfig{};
  c.repos = merge_repos(std::move(user_repos),
                        parse_repos(read_yaml_file(dirs.system / files::repos), Origin::system));
  c.site = parse_site_settings(read_yaml_file(dirs.system / files::site));
  return c;
}

}  // namespace slurmvm::config
