// Automatic templates for repository images (image_templates.hpp).
#include "image_templates.hpp"

#include "error.hpp"
#include "image_repo.hpp"

namespace slurmvm {
namespace {

config::Template image_template(const std::string& name, const ImageRepo& repo, const config::ResourceSet& set) {
  config::Template t;
  t.name = name;
  t.origin = config::Origin::system;
  t.file = repo.path();
  t.image = repo.name() + ":" + name;
  t.resource_set = set.name;
  t.description = "image " + repo.name() + ":" + name + " (automatic template)";
  return t;
}

bool add_with(config::Config& cfg, const std::string& name, const std::vector<ImageRepo>& repos,
              const config::ResourceSet& set) {
  if (!valid_image_name(name)) return false;
  for (const auto& repo : repos) {
    if (!repo.find(name, std::nullopt)) continue;
    cfg.system_templates.emplace(name, image_template(name, repo, set));
    return true;
  }
  return false;
}

}  // namespace

void add_image_templates(config::Config& cfg, const ClusterDef& def) {
  const config::ResourceSet* set = cfg.default_resource_set();
  if (set == nullptr || cfg.repos.repos.empty()) return;
  std::optional<std::vector<ImageRepo>> repos;  // opened at the first missing name only
  for (const auto& group : def.groups()) {
    if (cfg.find_template(group.template_name) != nullptr) continue;
    if (!repos) repos = open_repos(cfg.repos, config::SubstitutionContext::for_current_process());
    add_with(cfg, group.template_name, *repos, *set);
  }
}

bool add_image_template(config::Config& cfg, const std::string& name) {
  const config::ResourceSet* set = cfg.default_resource_set();
  if (set == nullptr || cfg.repos.repos.empty() || cfg.find_template(name) != nullptr) return false;
  return add_with(cfg, name, open_repos(cfg.repos, config::SubstitutionContext::for_current_process()), *set);
}

}  // namespace slurmvm
